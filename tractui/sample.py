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
        self._prev: dict[Key, tuple[float, int]] = {}  # when each was sampled, its ticks then
        self._last: dict[Key, Sample] = {}  # the previous sample of each
        self._raw: dict[Key, bytes] = {}  # what /proc/PID/stat said then
        self.changed: list[Key] = []  # the last sample's new Sample objects, and the gone

    def sample(self, keys: Iterable[Key]) -> dict[Key, Sample]:
        """A sample of each (pid, start) still running; gone or reused PIDs are left out.

        The hot loop of the UI with thousands of processes: one os.open/os.read per process
        and only the fields used are parsed (as :class:`procfs.Stat` parses them). A process
        whose columns did not change keeps its previous Sample object; :attr:`changed` lists
        the others, and those no longer sampled, so a snapshot rebuilds only their rows.
        """
        now = self.clock()
        out: dict[Key, Sample] = {}
        prev, last = self._prev, self._last
        seen: dict[Key, tuple[float, int]] = {}
        changed: list[Key] = []
        raws: dict[Key, bytes] = {}
        raw_before = self._raw
        tolerance = procfs.START_TOLERANCE_NS
        ns_per_tick, page_kb, clk_tck = procfs.NS_PER_TICK, procfs.PAGE_KB, procfs.CLK_TCK
        for key in keys:
            pid, start = key
            try:
                fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY)
                try:
                    raw = os.read(fd, 4096)
                finally:
                    os.close(fd)
                old = last.get(key)
                if old is not None and not old.cpu and raw == raw_before.get(key):
                    # the same bytes (a process asleep): the same columns, still no CPU
                    seen[key], out[key], raws[key] = (now, old.ticks), old, raw
                    continue
                # comm may hold spaces and parentheses: the fields start after the last ')'
                rest = raw[raw.rindex(b")") + 2 :].split()
                if abs(int(rest[19]) * ns_per_tick - start) > tolerance:
                    continue  # the PID is another process's now
                state = rest[0].decode()
                ticks = int(rest[11]) + int(rest[12])
                nice = int(rest[16])
                threads = int(rest[17])
                rss_kb = int(rest[21]) * page_kb
            except (OSError, ValueError, IndexError):
                continue  # gone
            before = prev.get(key)
            cpu = 0.0
            if before is not None and now > before[0]:
                cpu = (ticks - before[1]) / clk_tck / (now - before[0]) * 100.0
            cpu = max(cpu, 0.0)
            if (
                old is not None
                and old.ticks == ticks
                and old.cpu == cpu
                and old.rss_kb == rss_kb
                and old.state == state
                and old.threads == threads
                and old.nice == nice
            ):
                sample = old
            else:
                sample = Sample(state, cpu, rss_kb, ticks, threads, nice)
                changed.append(key)
            seen[key] = (now, ticks)
            out[key] = sample
            raws[key] = raw
        changed.extend(last.keys() - out.keys())
        self._prev, self._last, self._raw = seen, out, raws  # forget processes that are gone
        self.changed = changed
        return out
