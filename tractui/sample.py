"""htop's per-process columns (state, CPU%, RSS, TIME+, threads, nice), sampled from /proc.

One raw read of ``/proc/PID/stat`` per live process and sample: psutil costs ~3x more per process
(DESIGN.md), and the UI samples thousands of them. CPU% is the utime+stime delta between two
samples of the same process, keyed by (pid, start) so a reused PID starts from zero.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tractui import procfs

Key = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Sample:
    """One process's htop columns at one instant."""

    state: str
    cpu: float  # percent of one CPU since the previous sample
    rss_kb: int
    ticks: int  # utime + stime, clock ticks (TIME+)
    threads: int
    nice: int


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
            stat = procfs.read_stat(key[0])
            if stat is None or not procfs.same_start(stat.start, key[1]):
                continue
            ticks = stat.utime_stime
            before = prev.get(key)
            cpu = 0.0
            if before is not None and now > before[0]:
                cpu = (ticks - before[1]) / procfs.CLK_TCK / (now - before[0]) * 100.0
            seen[key] = (now, ticks)
            out[key] = Sample(
                stat.state, max(cpu, 0.0), stat.rss_kb, ticks, stat.threads, stat.nice
            )
        self._prev = seen  # forget processes that are gone
        return out
