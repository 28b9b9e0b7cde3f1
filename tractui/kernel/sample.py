"""htop's per-process columns (state, CPU%, RSS, TIME+, threads, nice, priority, VIRT, SHR),
sampled from /proc.

The two files htop reads: ``/proc/PID/stat`` (state, times, nice, priority), kept open and
read in place, and ``/proc/PID/statm`` (VIRT, RSS, SHR, in pages: the resident count the kernel
keeps exactly, where stat's rss is an approximation on newer kernels, below VmRSS), read when
the stat changed (see Sampler.STATM_EVERY).
psutil costs ~3x more per process (README), and the UI samples thousands of them, in rounds
paced within a CPU budget. CPU% is
the utime+stime delta between two samples of the same process, keyed by (pid, start) so a reused
PID starts from zero.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import resource
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tractui.gate import no_pause
from tractui.kernel import procfs

Key = tuple[int, int]
_UNREAD = (b"", b"", 0)  # no bytes of a last read to compare (a stat is never empty)
# file descriptors left to the rest of the process when the sampler keeps /proc/PID/stat open
# (see Sampler.fd_budget): at least this many, or a quarter of the soft limit
FD_RESERVE = 512


def _close_all(fds: dict[Key, int]) -> None:
    for fd in fds.values():
        with contextlib.suppress(OSError):  # (a finalizer's error would go to the terminal)
            os.close(fd)
    fds.clear()


def held_fd_budget(limit: int | None = None) -> int:
    """How many /proc/PID/stat files the sampler may keep open: the soft RLIMIT_NOFILE
    (``limit``: this one) less what the rest of tractui may need (FD_RESERVE, or a quarter).
    The limit is not raised: the programs tractui launches inherit it."""
    if limit is None:
        limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if limit == resource.RLIM_INFINITY or limit > 1 << 20:
        limit = 1 << 20
    return max(0, limit - max(FD_RESERVE, limit // 4))


@dataclass(frozen=True, slots=True)
class Sample:
    """One process's htop columns at one instant."""

    state: str
    cpu: float  # percent of one CPU since the previous sample
    rss_kb: int
    ticks: int  # utime + stime, clock ticks (TIME+)
    threads: int
    nice: int
    priority: int = 0  # stat field 18, htop's PRI
    virt_kb: int = 0  # statm: size
    shr_kb: int = 0  # statm: shared (file-backed resident pages)


class Sampler:
    """Samples the live processes in rounds, within a budget of CPU time.

    A round reads every live process once; one starts every ``interval`` seconds at most. Its
    reads are spread over the calls to :meth:`step` (the session's loop, every ~100 ms), at the
    pace of a round per ``interval``, but never faster than ``budget`` (a share of one CPU, at
    the cost per read measured so far) allows. A few thousand processes: a round a second, as
    htop's. Ten thousand: a round every ~1.5 s, each process's CPU% over that time, and no
    pause of the UI thread longer than a slice. Remembers the previous ticks of each process
    for CPU%, keyed by (pid, start) so a reused PID starts from zero.
    """

    SMALL = 256  # a round of up to this many is read at once (a few ms)
    PAUSE_EVERY = 64  # reads between two calls of ``pause`` (~0.3 ms)
    # A process whose stat is the same to the byte as at its last read (no tick of CPU, no page
    # fault, the same state, size and approximate RSS) has its statm read only once in this
    # many rounds: its memory can change unseen in stat only when the kernel reclaims its
    # pages. bench/ui at 10,000 processes, nearly all asleep: half the sampler's reads
    STATM_EVERY = 10

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        interval: float = 1.0,
        budget: float = 0.08,
        timer: Callable[[], float] = time.perf_counter,
        fd_budget: int | None = None,
    ) -> None:
        self.clock = clock
        self.timer = timer  # what a read costs is measured with it
        self.interval = interval
        self.budget = budget
        self.samples: dict[Key, Sample] = {}  # the latest sample of each process still running
        self.changed: list[Key] = []  # whose sample changed or went, since the last take
        self._prev: dict[Key, tuple[float, int]] = {}  # when each was read, its ticks then
        # what /proc/PID/stat and statm said at the last read, and the round statm was read in
        self._raw: dict[Key, tuple[bytes, bytes, int]] = {}
        self._round: list[Key] = []
        self._next = 0  # the index in the round of the next process to read
        self._round_start = -math.inf
        self._last_step: float | None = None
        self._owed = 0.0  # reads due and not done yet
        self.cost = 20e-6  # seconds per read: the first measured, then a moving average
        self._measured = False
        self.mem_total_kb = procfs.mem_total_kb()  # what MEM% is a share of
        self.rounds = 0  # rounds read to their end (each a point of the details' history)
        # called every PAUSE_EVERY reads: the UI's gate (tractui.gate), which parks the reads
        # while the UI answers a key
        self.pause: Callable[[], bool] = no_pause
        self.parked = 0.0  # seconds the reads of the current slice waited at ``pause``
        # Each process's /proc/PID/stat stays open from its first read to its end: read again
        # in place (pread at 0: the kernel writes it anew), 1.4x the reads for the CPU of an
        # open, a read and a close (bench/meters/sampler_cost.py). The file is the process's, not
        # its PID's: once it has ended, a read fails (ESRCH) even if the PID is reused. At most
        # ``fd_budget`` (held_fd_budget()) are kept; the others are opened at each read.
        self.fd_budget = held_fd_budget() if fd_budget is None else fd_budget
        self._fds: dict[Key, int] = {}
        weakref.finalize(self, _close_all, self._fds)  # a sampler dropped without close()

    def step(self, live: Callable[[], Iterable[Key]]) -> int:
        """Read the next slice of the round (a new round of ``live()`` when one is over and
        ``interval`` has passed since it began); how many processes were read."""
        now = self.clock()
        elapsed = 0.0 if self._last_step is None else now - self._last_step
        self._last_step = now
        if self._next >= len(self._round):
            if now - self._round_start < self.interval:
                return 0
            self._round, self._next, self._round_start = list(live()), 0, now
            self._owed = 0.0
            if self._fds:  # a process no longer live that forget() was not told of
                self._close(self._fds.keys() - set(self._round))
        size = len(self._round)
        pace = size * elapsed / self.interval
        cap = elapsed * self.budget / self.cost
        self._owed = min(self._owed + min(pace, cap), size)
        count = size if size <= self.SMALL else int(self._owed)
        if count <= 0:
            return 0
        chunk = self._round[self._next : self._next + count]
        self._next += count
        self._owed = max(0.0, self._owed - count)
        # not one read less than half an interval ago (out of turn: see due(); a resample): its
        # CPU% would be over that short a time, at a tick's 10 ms grain
        prev, soon = self._prev, now - self.interval / 2
        chunk = [k for k in chunk if (last := prev.get(k)) is None or last[0] < soon]
        if not chunk:
            if self._next >= len(self._round):
                self.rounds += 1  # the round's end, all of its last slice read already
            return 0
        started = self.timer()
        self.parked = 0.0
        self.sample(chunk)
        # the time parked at the UI's gate is no cost of reading
        cost = max(0.0, self.timer() - started - self.parked) / len(chunk)
        self.cost = 0.8 * self.cost + 0.2 * cost if self._measured else cost
        self._measured = True
        if self._next >= len(self._round):
            self.rounds += 1
        return len(chunk)

    def due(self, keys: Iterable[Key]) -> list[Key]:
        """Those of ``keys`` last read ``interval`` ago or more, or never: to read out of turn
        (:meth:`sample`), as the rows on the screen are. The round skips a process read less
        than half an interval ago (see :meth:`step`)."""
        now, interval, prev = self.clock(), self.interval, self._prev
        return [k for k in keys if (last := prev.get(k)) is None or now - last[0] >= interval]

    def take_changed(self) -> list[Key]:
        changed, self.changed = self.changed, []
        return changed

    def forget(self, keys: Iterable[Key]) -> None:
        """These processes ended or are no longer tracked: drop what we know of them."""
        keys = list(keys)
        for key in keys:
            if self.samples.pop(key, None) is not None:
                self.changed.append(key)
            self._prev.pop(key, None)
            self._raw.pop(key, None)
        self._close(keys)

    @property
    def held(self) -> int:
        """How many /proc/PID/stat files are kept open."""
        return len(self._fds)

    def close(self) -> None:
        """Close every file kept open (the samples stay)."""
        _close_all(self._fds)

    def _close(self, keys: Iterable[Key]) -> None:
        fds = self._fds
        for key in keys:
            fd = fds.pop(key, None)
            if fd is not None:
                os.close(fd)

    def sample(self, keys: list[Key]) -> dict[Key, Sample]:
        """Read these processes now; their new samples (gone or reused PIDs are left out)."""
        got = self.read(keys)
        samples, changed = self.samples, self.changed
        for key in keys:
            new = got.get(key)
            if new is None:
                if samples.pop(key, None) is not None:
                    changed.append(key)
                self._prev.pop(key, None)
                self._raw.pop(key, None)
                self._close((key,))
            elif new is not samples.get(key):
                samples[key] = new
                changed.append(key)
        return got

    def read(self, keys: Iterable[Key]) -> dict[Key, Sample]:
        """A sample of each (pid, start) still running.

        The hot loop of the UI with thousands of processes: one read of each process's stat
        (open from its first read on: see ``fd_budget``), one open and read of its statm when
        the stat changed, and only the fields used are parsed (as
        :class:`procfs.Stat` parses them). A process
        whose columns did not change keeps its previous Sample object, so that a snapshot
        rebuilds only the rows of the others.
        """
        now = self.clock()
        out: dict[Key, Sample] = {}
        prev, last, raws = self._prev, self.samples, self._raw
        rounds, statm_every = self.rounds, self.STATM_EVERY
        tolerance = procfs.START_TOLERANCE_NS
        ns_per_tick, page_kb, clk_tck = procfs.NS_PER_TICK, procfs.PAGE_KB, procfs.CLK_TCK
        pause, every, timer = self.pause, self.PAUSE_EVERY - 1, self.timer
        fds, pread = self._fds, os.pread
        for n, key in enumerate(keys):
            if not n & every:
                parking = timer()
                if pause():
                    self.parked += timer() - parking
                    now = self.clock()  # CPU% is over the time to this read, pause included
            pid, start = key
            try:
                fd = fds.get(key, -1)
                if fd < 0:
                    fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY)
                    if len(fds) < self.fd_budget:
                        fds[key] = fd
                    else:
                        try:
                            stat = os.read(fd, 4096)
                        finally:
                            os.close(fd)
                        fd = -1
                if fd >= 0:
                    stat = pread(fd, 4096, 0)
                old = last.get(key)
                # the last read's bytes, of a process then asleep (no CPU): compared below
                seen = raws.get(key, _UNREAD) if old is not None and not old.cpu else _UNREAD
                if old is not None and seen[0] == stat and rounds - seen[2] < statm_every:
                    # stat the same to the byte (asleep, no fault, no tick): its statm is not
                    # read again this round (see STATM_EVERY); the same columns, still no CPU
                    prev[key] = (now, old.ticks)
                    out[key] = old
                    continue
                fd = os.open(f"/proc/{pid}/statm", os.O_RDONLY)
                try:
                    statm = os.read(fd, 512)
                finally:
                    os.close(fd)
                if old is not None and seen[0] == stat and seen[1] == statm:
                    # the same bytes (a process asleep): the same columns, still no CPU
                    raws[key] = (stat, statm, rounds)
                    prev[key] = (now, old.ticks)
                    out[key] = old
                    continue
                # comm may hold spaces and parentheses: the fields start after the last ')'
                close = stat.rindex(b")")
                rest = stat[close + 2 :].split()
                if abs(int(rest[19]) * ns_per_tick - start) > tolerance:
                    self._close((key,))
                    continue  # the PID is another process's now
                state = rest[0].decode()
                ticks = int(rest[11]) + int(rest[12])
                priority = int(rest[15])
                nice = int(rest[16])
                threads = int(rest[17])
                # statm (pages): size resident shared text lib data dt
                pages = statm.split()
                virt_kb = int(pages[0]) * page_kb
                rss_kb = int(pages[1]) * page_kb
                shr_kb = int(pages[2]) * page_kb
            except OSError as err:
                self._close((key,))
                if err.errno in (errno.EMFILE, errno.ENFILE):
                    self._fewer_fds()
                continue  # gone (or no file descriptor left: read again next round)
            except (ValueError, IndexError):
                self._close((key,))
                continue  # not a stat we can read: as gone
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
                and old.priority == priority
                and old.virt_kb == virt_kb
                and old.shr_kb == shr_kb
            ):
                sample = old
            else:
                sample = Sample(state, cpu, rss_kb, ticks, threads, nice, priority, virt_kb, shr_kb)
            prev[key] = (now, ticks)
            raws[key] = (stat, statm, rounds)
            out[key] = sample
        return out

    def _fewer_fds(self) -> None:
        """Out of file descriptors (the limit is lower than at the start, or the rest of the
        process holds more than FD_RESERVE): keep half as many open from now on."""
        self.fd_budget = len(self._fds) // 2
        self._close(list(self._fds)[self.fd_budget :])
