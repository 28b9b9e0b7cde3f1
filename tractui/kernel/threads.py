"""The threads of multi-threaded processes, for the tree's thread rows (the UI's H key).

Read only while the thread rows are shown: each pass lists ``/proc/PID/task`` and reads
``/proc/PID/task/TID/stat`` of the processes that have more than one thread (a single-threaded
process has no thread row, as in htop: its one thread is the process). A pass reads at most
``limit`` threads; the processes it did not reach keep their last rows and come first in the
next pass, so that the cost of a pass is bounded however many threads run (bench/threads).
CPU% of a thread is its utime+stime delta between two passes, as the sampler's of a process.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tractui.kernel import procfs

Key = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Thread:
    """One thread of a process (not its main thread), at one instant."""

    tid: int
    state: str
    cpu: float  # percent of one CPU since the previous pass
    ticks: int  # utime + stime, clock ticks
    comm: str  # the thread's name (/proc/PID/task/TID/comm), raw: escape it to show it


class ThreadSampler:
    """Reads the threads of the processes given, at most every ``interval`` seconds and at
    most ``limit`` threads a pass."""

    def __init__(
        self,
        interval: float = 1.0,
        limit: int = 500,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval
        self.limit = limit
        self.clock = clock
        self.threads: dict[Key, tuple[Thread, ...]] = {}  # the last read of each process
        self._prev: dict[tuple[Key, int], tuple[float, int]] = {}  # (when, ticks) per thread
        self._last = -float("inf")
        self._behind: list[Key] = []  # not reached by the last pass: first in the next

    def clear(self) -> None:
        """Forget everything (the thread rows are hidden)."""
        self.threads.clear()
        self._prev.clear()
        self._behind = []
        self._last = -float("inf")

    def due(self) -> bool:
        return self.clock() - self._last >= self.interval

    def read(self, procs: Iterable[tuple[Key, int]]) -> bool:
        """A pass over ``procs`` ((pid, start), thread count): those with more than one thread.
        True if what is known changed."""
        now = self.clock()
        self._last = now
        wanted = {key: count for key, count in procs if count > 1}
        changed = False
        for key in [k for k in self.threads if k not in wanted]:
            del self.threads[key]
            changed = True
        behind = [k for k in self._behind if k in wanted]
        first = set(behind)
        order = behind + [k for k in wanted if k not in first]
        budget = self.limit
        seen: set[tuple[Key, int]] = set()
        self._behind = []
        for index, key in enumerate(order):
            if budget <= 0:
                self._behind = order[index:]
                break
            rows = self._read_one(key, now, seen)
            budget -= max(1, len(rows))
            if rows != self.threads.get(key):
                changed = True
                if rows:
                    self.threads[key] = rows
                else:
                    self.threads.pop(key, None)
        # a thread keeps its previous ticks while its process is one not reached (it keeps its
        # rows); the threads of the others that were not seen now are gone
        kept = set(self._behind)
        for tkey in [t for t in self._prev if t not in seen and t[0] not in kept]:
            del self._prev[tkey]
        return changed

    def _read_one(self, key: Key, now: float, seen: set[tuple[Key, int]]) -> tuple[Thread, ...]:
        pid, start = key
        began = procfs.read_start(pid)
        if began is None or not procfs.same_start(began, start):
            return ()  # gone, or the PID is another process's now
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            return ()
        rows: list[Thread] = []
        prev = self._prev
        clk_tck = procfs.CLK_TCK
        for name in tids:
            tid = int(name)
            if tid == pid:
                continue  # the main thread: the process's own row
            try:
                fd = os.open(f"/proc/{pid}/task/{name}/stat", os.O_RDONLY)
                try:
                    raw = os.read(fd, 4096)
                finally:
                    os.close(fd)
                # comm may hold spaces and parentheses: the fields start after the last ')'
                close = raw.rindex(b")")
                comm = raw[raw.index(b"(") + 1 : close].decode("utf-8", "replace")
                rest = raw[close + 2 :].split()
                state = rest[0].decode()
                ticks = int(rest[11]) + int(rest[12])
            except (OSError, ValueError, IndexError):
                continue  # the thread ended
            tkey = (key, tid)
            seen.add(tkey)
            before = prev.get(tkey)
            cpu = 0.0
            if before is not None and now > before[0]:
                cpu = max(0.0, (ticks - before[1]) / clk_tck / (now - before[0]) * 100.0)
            prev[tkey] = (now, ticks)
            rows.append(Thread(tid, state, cpu, ticks, comm))
        rows.sort(key=lambda t: t.tid)
        return tuple(rows)
