"""The meters' readers: sample /proc texts (as kernels write them) and the real /proc."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tractui.kernel.meters import (
    CpuTimes,
    MeterReader,
    cpu_use,
    parse_loadavg,
    parse_meminfo,
    parse_stat,
    parse_uptime,
)

STAT = """\
cpu  10132153 290696 3084719 46828483 16683 0 25195 0 0 0
cpu0 1393280 32966 572056 13343292 6130 0 17875 0 0 0
cpu1 1335 0 1 12 0 0 0 7 0 0
intr 199292 0 0
ctxt 8797416
btime 1700000000
processes 2542
procs_running 3
procs_blocked 1
"""

MEMINFO = """\
MemTotal:       16000000 kB
MemFree:         4000000 kB
MemAvailable:    9000000 kB
Buffers:          500000 kB
Cached:          5000000 kB
SwapCached:         1000 kB
Shmem:            300000 kB
SReclaimable:     200000 kB
SwapTotal:       2000000 kB
SwapFree:        1500000 kB
"""


def test_stat_lines_per_cpu_and_blocked() -> None:
    total, cpus, blocked = parse_stat(STAT)
    assert total == CpuTimes(10132153 + 290696, 3084719 + 25195, 46828483 + 16683, 0)
    assert len(cpus) == 2
    assert cpus[1] == CpuTimes(1335, 1, 12, 7)  # steal is "other"
    assert blocked == 1


def test_a_damaged_stat_line_is_left_out() -> None:
    total, cpus, blocked = parse_stat("cpu  1 2 x 4\ncpu0 1 2 3 4\ncpu1 5\nprocs_blocked ?\n")
    assert total is None  # "x" is not a number
    assert cpus == (CpuTimes(3, 3, 4, 0),)  # cpu1 has too few fields
    assert blocked is None


def test_cpu_use_between_two_readings() -> None:
    before = CpuTimes(100, 50, 1000, 0)
    now = CpuTimes(160, 70, 1010, 10)  # 100 ticks: 60 user, 20 system, 10 idle, 10 steal
    use = cpu_use(before, now)
    assert (use.user, use.system, use.other) == pytest.approx((0.6, 0.2, 0.1))
    assert use.busy == pytest.approx(0.9)
    assert cpu_use(None, now).busy == 0.0  # the first reading: no use yet
    assert cpu_use(now, before).busy == 0.0  # counters that went back: no use, not negative


def test_meminfo_as_htop_counts_used() -> None:
    mem = parse_meminfo(MEMINFO)
    assert mem is not None
    cached = 5000000 + 200000 - 300000
    assert mem.cached_kb == cached
    assert mem.used_kb == 16000000 - 4000000 - 500000 - cached
    assert mem.available_kb == 9000000
    assert mem.swap_used_kb == 2000000 - 1500000 - 1000
    assert parse_meminfo("MemFree: 12 kB\n") is None  # no total: nothing to show


def test_loadavg_and_uptime() -> None:
    load = parse_loadavg("0.52 0.31 0.20 2/345 12345\n")
    assert load is not None
    assert (load.one, load.five, load.fifteen, load.running, load.tasks) == (
        0.52,
        0.31,
        0.2,
        2,
        345,
    )
    assert parse_loadavg("0.52 0.31") is None
    assert parse_loadavg("a b c 1/2 3") is None
    assert parse_uptime("27233.94 53000.10\n") == 27233.94
    assert parse_uptime("") is None


def test_a_reader_over_sample_files_and_missing_ones(tmp_path: Path) -> None:
    (tmp_path / "stat").write_text(STAT)
    (tmp_path / "meminfo").write_text(MEMINFO)
    reader = MeterReader(tmp_path)  # no loadavg, no uptime: those meters are missing
    first = reader.read()
    assert len(first.cpus) == 2 and first.cpu.busy == 0.0
    assert first.load is None and first.uptime_s is None
    assert first.memory is not None
    (tmp_path / "stat").write_text(STAT.replace("cpu1 1335 0 1 12", "cpu1 1395 0 21 32"))
    second = reader.read()
    assert second.cpus[1].user == pytest.approx(60 / 100)
    assert second.cpus[1].system == pytest.approx(20 / 100)
    assert second.cpus[0].busy == 0.0  # unchanged


def test_the_real_proc() -> None:
    reader = MeterReader()
    reader.read()
    # some CPU time passes between two readings
    sum(i * i for i in range(200_000))
    m = reader.read()
    assert len(m.cpus) == os.cpu_count()
    assert all(0.0 <= u.busy <= 1.0 for u in m.cpus)
    assert m.memory is not None and 0 < m.memory.used_kb < m.memory.total_kb
    assert m.load is not None and 1 <= m.load.running <= m.load.tasks
    assert m.uptime_s is not None and m.uptime_s > 0
