"""htop's per-process columns (state, CPU%, RSS, TIME+, threads, nice), sampled from /proc.

One raw read of ``/proc/PID/stat`` per live process and sample: psutil costs ~3x more per process
(DESIGN.md), and the UI samples thousands of them. CPU% is the utime+stime delta between two
samples of the same process, keyed by (pid, start) so a reused PID starts from zero.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tractui import procfs

Key = tuple[int, int]

PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


@dataclass(frozen=True, slots=True)
class Sample:
    """One process's htop columns at one instant."""

    state: str
    cpu: float  # percent of one CPU since the previous sample
    rss_kb: int
    ticks: int  # utime + stime, clock ticks (TIME+)
    threads: int
    nice: int


def read_stat_fields(pid: int) -> tuple[str, int, int, int, int, int] | None:
    """(state, ticks, rss_kb, threads, nice, start_ns) from one read of /proc/PID/stat."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
        # comm may hold spaces and parentheses: the fields start after the last ')'
        rest = raw[raw.rindex(b")") + 2 :].split()
        return (
            rest[0].decode(),
            int(rest[11]) + int(rest[12]),
            int(rest[21]) * PAGE_KB,
            int(rest[17]),
            int(rest[16]),
            int(rest[19]) * procfs.NS_PER_TICK,
        )
    except (OSError, ValueError, IndexError):
        return None


class Sampler:
    """Samples live processes; remembers the previous ticks of each for CPU%."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._prev: dict[Key, tuple[float, int]] = {}

    def sample(self, keys: Iterable[Key]) -> dict[Key, Sample]:
        """A sample of each (pid, start) still running; gone or reused PIDs are left out."""
        now = self.clock()
        out: dict[Key, Sample] = {}
        prev = self._prev
        seen: dict[Key, tuple[float, int]] = {}
        for key in keys:
            fields = read_stat_fields(key[0])
            if fields is None or not procfs.same_start(fields[5], key[1]):
                continue
            state, ticks, rss_kb, threads, nice, _start = fields
            before = prev.get(key)
            cpu = 0.0
            if before is not None and now > before[0]:
                cpu = (ticks - before[1]) / procfs.CLK_TCK / (now - before[0]) * 100.0
            seen[key] = (now, ticks)
            out[key] = Sample(state, max(cpu, 0.0), rss_kb, ticks, threads, nice)
        self._prev = seen  # forget processes that are gone
        return out
