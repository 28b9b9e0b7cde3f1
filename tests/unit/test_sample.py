"""The sampler: htop's columns read from /proc, in rounds paced within a CPU budget.

The pacing tests use a clock and a cost of their own and a read that makes up samples; the
others read real processes this test starts (and kills at teardown).
"""

from __future__ import annotations

import fcntl
import gc
import os
import resource
import select
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from tractui.kernel import feed, procfs
from tractui.kernel import sample as sampler_module
from tractui.kernel.sample import Sample, Sampler

Key = tuple[int, int]
ASLEEP = Sample("S", 0.0, 1000, 0, 1, 0)


class Paced(Sampler):
    """A sampler whose reads cost ``cost`` seconds each on its own timer, and take no time."""

    def __init__(self, cost: float, budget: float = 0.08) -> None:
        self.now = 0.0
        self.spent = 0.0
        self.cost_each = cost
        self.reads: list[list[Key]] = []
        super().__init__(clock=lambda: self.now, budget=budget, timer=lambda: self.spent)

    def read(self, keys: Iterable[Key]) -> dict[Key, Sample]:
        keys = list(keys)
        self.reads.append(keys)
        self.spent += self.cost_each * len(keys)
        return {k: self.samples.get(k, ASLEEP) for k in keys if k[0] > 0}


def run(sampler: Paced, keys: list[Key], seconds: float, step: float = 0.05) -> list[int]:
    """Step the sampler every ``step`` for ``seconds``; how many it read at each step."""
    counts = []
    for _ in range(round(seconds / step)):
        counts.append(sampler.step(lambda: keys))
        sampler.now += step
    return counts


def test_a_small_round_is_read_at_once_and_once_a_second() -> None:
    sampler = Paced(cost=20e-6)
    keys = [(pid, 0) for pid in range(1, 101)]
    counts = run(sampler, keys, 3.0)
    assert [c for c in counts if c] == [100, 100, 100]
    assert counts.index(100) == 0 and counts[20] == 100 and counts[40] == 100
    assert set(sampler.samples) == set(keys)


def test_a_big_round_is_spread_over_the_interval_when_it_is_cheap() -> None:
    sampler = Paced(cost=1e-6)  # 10,000 reads: 10 ms a round, far within the budget
    keys = [(pid, 0) for pid in range(1, 10_001)]
    counts = run(sampler, keys, 3.0)
    assert sum(counts[:22]) == 10_000  # a round in the first second (the first step reads none)
    assert max(counts) <= 600  # in slices of ~500 (a twentieth), not at once
    assert 25_000 <= sum(counts) <= 30_000  # a round a second


def test_reads_stay_within_the_budget_when_they_are_dear() -> None:
    sampler = Paced(cost=20e-6)  # 10,000 reads: 200 ms a round, 20% of a CPU at one a second
    keys = [(pid, 0) for pid in range(1, 10_001)]
    counts = run(sampler, keys, 10.0)
    share = sampler.spent / 10.0
    assert 0.06 <= share <= 0.085, share  # 8% of a CPU, not 20%
    assert sum(counts) >= 3 * 10_000  # every process still read every ~2.5 s


def test_processes_that_went_are_dropped_and_reported_changed() -> None:
    sampler = Paced(cost=1e-6)
    keys = [(1, 0), (2, 0), (-3, 0)]  # a negative pid reads as gone
    sampler.sample(keys)
    assert set(sampler.take_changed()) == {(1, 0), (2, 0)}
    sampler.sample(keys)
    assert sampler.take_changed() == []  # the same samples: nothing changed
    sampler.forget([(2, 0)])
    assert sampler.take_changed() == [(2, 0)]
    assert set(sampler.samples) == {(1, 0)}


def _key(pid: int) -> Key:
    start = procfs.read_start(pid)
    assert start is not None
    return (pid, start)


def test_real_processes_asleep_and_busy(spawn: Callable[..., subprocess.Popen[Any]]) -> None:
    asleep = spawn(["sleep", "30"])
    busy = spawn([sys.executable, "-c", "while True: pass"])
    time.sleep(0.2)
    sampler = Sampler()
    keys = [_key(asleep.pid), _key(busy.pid)]
    first = sampler.sample(keys)
    time.sleep(0.5)
    second = sampler.sample(keys)
    assert first[keys[0]] is second[keys[0]]  # asleep: the same bytes, the same Sample
    assert second[keys[0]].state == "S" and second[keys[0]].rss_kb > 0
    assert second[keys[1]].state == "R" and second[keys[1]].cpu > 30.0
    assert second[keys[1]].ticks > first[keys[1]].ticks
    assert sampler.held == 2  # the busy one's CPU was read through its open stat
    reused = (asleep.pid, keys[0][1] + 10 * procfs.START_TOLERANCE_NS)  # another start time
    assert sampler.sample([reused]) == {}
    assert sampler.held == 2  # the file opened for the other start time is closed


def test_memory_columns_are_the_kernels_exact_counts(
    spawn: Callable[..., subprocess.Popen[Any]],
) -> None:
    """RSS from statm is VmRSS (stat's rss is an approximation on newer kernels), VIRT is
    VmSize and SHR the resident file and shared memory pages, as htop shows them."""
    code = "import sys, time; b = bytearray(24 << 20); print(flush=True); time.sleep(30)"
    proc = spawn([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    proc.stdout.readline()  # the memory is touched: it stays as it is while it sleeps
    key = _key(proc.pid)
    sample = Sampler().sample([key])[key]
    status = procfs.read_status(proc.pid)

    def kb(field: str) -> int:
        return int(status[field].split()[0])

    assert sample.rss_kb == kb("VmRSS") >= 24 << 10
    assert sample.virt_kb == kb("VmSize")
    assert sample.shr_kb == kb("RssFile") + kb("RssShmem")
    assert sample.priority == 20 + sample.nice  # a normal (not real-time) process


def test_statm_of_a_process_whose_stat_did_not_change_is_read_once_in_statm_every_rounds(
    spawn: Callable[..., subprocess.Popen[Any]], monkeypatch: Any
) -> None:
    """A process asleep (its stat the same to the byte) costs one read a round, not two; its
    statm is read again at least every STATM_EVERY rounds, and at once when stat changes: a
    process that touches memory shows its new RSS in the next round."""
    code = (
        "import sys, time\n"
        "sys.stdin.readline(); b = bytearray(16 << 20); print(flush=True); time.sleep(30)"
    )
    proc = spawn([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    key = _key(proc.pid)
    opened: list[str] = []
    real_open = sampler_module.os.open

    def counting_open(path: str, flags: int) -> int:
        opened.append(path.rsplit("/", 1)[-1])
        return real_open(path, flags)

    monkeypatch.setattr(sampler_module.os, "open", counting_open)
    sampler = Sampler(fd_budget=0)  # stat opened at each read: its reads are counted
    time.sleep(0.3)  # the interpreter's start is over: it waits on its stdin
    before = sampler.sample([key])[key]
    sampler.rounds += 1
    sampler.sample([key])  # stat changed since (its last moments of start-up) or not
    opened.clear()
    for _ in range(Sampler.STATM_EVERY - 2):
        sampler.rounds += 1
        assert sampler.sample([key])[key] is sampler.samples[key]
    assert opened.count("statm") == 0 and opened.count("stat") == Sampler.STATM_EVERY - 2
    sampler.rounds += 2
    sampler.sample([key])
    assert opened.count("statm") == 1  # STATM_EVERY rounds since its statm was read
    proc.stdin.write(b"\n")
    proc.stdin.flush()
    proc.stdout.readline()  # 16 MiB touched: page faults, so its stat changed
    sampler.rounds += 1
    after = sampler.sample([key])[key]
    assert after.rss_kb >= before.rss_kb + (15 << 10)
    assert after.rss_kb == int(procfs.read_status(proc.pid)["VmRSS"].split()[0])


def test_stat_stays_open_until_the_process_ends_and_is_closed_then(
    spawn: Callable[..., subprocess.Popen[Any]],
) -> None:
    """Each process's /proc/PID/stat is opened once and read again in place; once the process
    has ended (reaped: its PID free for reuse) the read fails, the sample goes and so does the
    open file. forget() and a new round close the files of processes no longer read."""
    procs = [spawn(["sleep", "30"]) for _ in range(3)]
    time.sleep(0.1)
    keys = [_key(p.pid) for p in procs]
    sampler = Sampler(fd_budget=100)
    first = sampler.sample(keys)
    assert set(first) == set(keys) and sampler.held == 3
    assert sampler.sample(keys)[keys[0]] is first[keys[0]]  # read in place: the same bytes
    procs[0].kill()
    procs[0].wait()
    assert set(sampler.sample(keys)) == set(keys[1:])
    assert sampler.held == 2 and keys[0] not in sampler.samples
    sampler.forget([keys[1]])
    assert sampler.held == 1
    sampler.step(lambda: [])  # a round without the last one: its file is closed
    assert sampler.held == 0
    sampler.sample(keys[2:])
    sampler.close()
    assert sampler.held == 0 and keys[2] in sampler.samples


def test_within_the_fd_budget_the_rest_are_opened_at_each_read(
    spawn: Callable[..., subprocess.Popen[Any]],
) -> None:
    procs = [spawn(["sleep", "30"]) for _ in range(4)]
    time.sleep(0.1)
    keys = [_key(p.pid) for p in procs]
    sampler = Sampler(fd_budget=2)
    assert set(sampler.sample(keys)) == set(keys) and sampler.held == 2
    assert set(sampler.sample(keys)) == set(keys) and sampler.held == 2
    assert set(Sampler(fd_budget=0).sample(keys)) == set(keys)


def test_the_fd_budget_leaves_the_rest_of_the_process_its_share() -> None:
    assert sampler_module.held_fd_budget(1024) == 512
    assert sampler_module.held_fd_budget(20_000) == 15_000
    assert sampler_module.held_fd_budget(256) == 0
    assert sampler_module.held_fd_budget(resource.RLIM_INFINITY) == (1 << 20) * 3 // 4


def test_out_of_file_descriptors_the_sampler_keeps_fewer_open_and_misses_no_process(
    tmp_path: Any,
) -> None:
    """A limit lower than the budget assumed (lowered after the start, or the rest of the
    process holding more): the reads that get EMFILE halve the budget and are read again next
    round; no process is lost for good. In a child process: the limit is the whole process's."""
    code = textwrap.dedent(
        """
        import resource, subprocess, time
        from tractui.kernel import procfs
        from tractui.kernel.sample import Sampler
        procs = [subprocess.Popen(["sleep", "30"], start_new_session=True) for _ in range(60)]
        try:
            time.sleep(0.2)
            keys = [(p.pid, procfs.read_start(p.pid)) for p in procs]
            hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
            resource.setrlimit(resource.RLIMIT_NOFILE, (48, hard))
            sampler = Sampler(fd_budget=1000)
            first = len(sampler.sample(keys))
            second = len(sampler.sample(keys))
            print(first, second, sampler.fd_budget, sampler.held)
        finally:
            for p in procs:
                p.kill()
            for p in procs:
                p.wait()
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    first, second, budget, held = map(int, done.stdout.split())
    assert first < 60  # some reads found no descriptor left
    assert second == 60  # the next round read them all, with fewer kept open
    assert budget < 48 and held <= budget


def test_readable_takes_a_descriptor_select_refuses() -> None:
    """The engine waits on its collector's pipe with poll(2): with thousands of /proc files
    held open, a collector started again gets a descriptor numbered above 1023."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft != resource.RLIM_INFINITY and soft <= 1500:
        pytest.skip(f"RLIMIT_NOFILE {soft}: no descriptor 1500 to make here")
    r, w = os.pipe()
    high = fcntl.fcntl(r, fcntl.F_DUPFD_CLOEXEC, 1500)  # the first free from 1500 on
    try:
        with pytest.raises(ValueError):
            select.select([high], [], [], 0)
        assert not feed.readable(high, 0)
        os.write(w, b"x")
        assert feed.readable(high, 0.5)
    finally:
        for fd in (r, w, high):
            os.close(fd)
    with pytest.raises(OSError):  # closed: EBADF, as select says
        feed.readable(high, 0)


def test_a_sampler_dropped_without_close_closes_its_files(
    spawn: Callable[..., subprocess.Popen[Any]],
) -> None:
    proc = spawn(["sleep", "30"])
    time.sleep(0.1)
    sampler = Sampler(fd_budget=10)
    sampler.sample([_key(proc.pid)])
    fd = next(iter(sampler._fds.values()))
    path = f"/proc/{proc.pid}/stat"
    assert os.readlink(f"/proc/self/fd/{fd}") == path
    del sampler
    gc.collect()
    try:
        now = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        now = ""  # closed
    assert now != path


class Timed(Paced):
    """Paced, noting each read's time as a real read does (what due() goes by)."""

    def read(self, keys: Iterable[Key]) -> dict[Key, Sample]:
        keys = list(keys)
        for key in keys:
            self._prev[key] = (self.now, 0)
        return super().read(keys)


def test_a_process_read_out_of_turn_is_due_an_interval_later_and_the_round_skips_it() -> None:
    """The rows on the screen are read out of turn every interval (Snapshots.sample); the
    round leaves them for half an interval after, so that no CPU% is over a few ms."""
    sampler = Timed(cost=1e-6)
    keys = [(1, 0), (2, 0), (3, 0)]
    assert sampler.due([(1, 0)]) == [(1, 0)]  # never read
    sampler.sample([(1, 0)])
    sampler.now += 0.2
    assert sampler.due([(1, 0)]) == []
    assert sampler.step(lambda: keys) == 2  # a small round, read at once: but not (1, 0)
    assert sampler.reads[-1] == [(2, 0), (3, 0)]
    sampler.now += sampler.interval
    assert sampler.due([(1, 0)]) == [(1, 0)]
    sampler.step(lambda: keys)
    assert sampler.reads[-1] == keys  # half an interval on: the round reads it again


def test_a_round_whose_last_slice_was_all_read_out_of_turn_still_ends() -> None:
    """Each round's end is a point of the details' history: one must not be lost when the
    round had nothing left to read."""
    sampler = Timed(cost=1e-6)
    keys = [(1, 0)]
    sampler.due(keys)
    sampler.sample(keys)
    sampler.now += 0.1
    assert sampler.step(lambda: keys) == 0  # read 0.1 s ago, out of turn: skipped
    assert sampler.rounds == 1
