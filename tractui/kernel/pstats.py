"""What process-exporter reports of one process, read from /proc: CPU, memory, I/O, faults,
context switches, threads, state and file descriptors.

Six small reads per process (``stat``, ``schedstat``, ``statm``, ``status``, ``io``, the ``fd``
directory) and ``limits`` once per process: the daemon's metrics sampler reads its live
members with it, in rounds, so that a scrape reads what the daemon already keeps (see
:mod:`tractui.daemon.metrics`). No Textual, no engine.

**CPU to the nanosecond.** ``stat``'s utime and stime are the kernel's exact run time split in
two (cputime_adjust), each then cut down to a clock tick (10 ms): a process that computed 25 ms
shows 20. ``schedstat``'s first field is the thread's run time in ns (sum_exec_runtime), exact
but for the thread alone: a process's is the sum over its threads (``task/*/schedstat``), minus
what its ended threads ran (the kernel keeps that for the process, and only ``stat`` counts
it). So :func:`read` sums the threads' of a process of at most :data:`MAX_THREADS` (one read
for the usual single thread), and holds the sum within what ``stat`` allows: at least its
ticks, below them plus a tick a mode (it is lower when ended threads ran, or when a running
thread's figure was last brought up to date a tick ago); a process that has not run since its
last read is not read again (:func:`idle_since`). :func:`split` then splits that total
between user and system as the kernel does, in stat's ratio, each mode never falling.
"""

from __future__ import annotations

import os
from typing import NamedTuple

from tractui.kernel.procfs import CLK_TCK, NS_PER_TICK

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
# A process of more threads is counted in stat's ticks: a read per thread at each round
# would cost more than the tick it gains (bench/metrics)
MAX_THREADS = 16


class ProcStats(NamedTuple):
    """One process's figures at one instant. Times in seconds, sizes in bytes."""

    start: int  # ns since boot, to check it is the member (pid reuse)
    state: str  # the stat letter: R, S, D, Z, T, ...
    utime_s: float
    stime_s: float
    minflt: int
    majflt: int
    threads: int
    virtual: int
    resident: int
    swapped: int
    read_bytes: int  # storage I/O, as taskstats counts it (0 when unreadable)
    write_bytes: int
    voluntary: int  # context switches
    nonvoluntary: int
    fds: int  # open file descriptors (-1 when unreadable)
    fd_limit: int  # the soft RLIMIT_NOFILE (0 when unknown or unlimited)
    # utime + stime to the ns (schedstat's, held within stat's ticks); -1: stat's ticks only
    run_ns: int = -1


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def read_fd_limit(pid: int) -> int:
    """The soft limit on open files of ``pid`` (0: unlimited or unreadable)."""
    try:
        for line in _read(f"/proc/{pid}/limits").splitlines():
            if line.startswith(b"Max open files"):
                soft = line[len(b"Max open files") :].split()[0]
                return int(soft) if soft.isdigit() else 0
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _schedstat_ns(path: str) -> int:
    """The first field of a schedstat file (a thread's run time, ns); -1 if unreadable."""
    try:
        return int(_read(path).split(maxsplit=1)[0])
    except (OSError, ValueError, IndexError):
        return -1


def run_time_ns(pid: int, utime: int, stime: int, threads: int, known: int = -1) -> int:
    """The CPU time of process ``pid`` to the ns, given its stat's ``utime`` and ``stime``
    (ticks) and thread count: its threads' schedstat summed, held within what the ticks allow
    (see the module's doc); the ticks' floor (-1) when it has more than :data:`MAX_THREADS`
    threads or a read fails. ``known``: its run time as read before, when it has not run
    since (no read then)."""
    if threads > MAX_THREADS:
        return -1
    if known >= 0:
        total = known
    elif threads <= 1:
        total = _schedstat_ns(f"/proc/{pid}/schedstat")
    else:
        total = 0
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            return -1
        for tid in tids:
            ns = _schedstat_ns(f"/proc/{pid}/task/{tid}/schedstat")
            if ns >= 0:  # a thread that ended since the listing: its time is stat's
                total += ns
    if total < 0:
        return -1
    low = (utime + stime) * NS_PER_TICK
    return min(max(total, low), low + 2 * NS_PER_TICK - 1)


def split(run_ns: int, utime: int, stime: int, prev: tuple[int, int]) -> tuple[int, int]:
    """``run_ns`` as (user ns, system ns), as the kernel's cputime_adjust splits a run time:
    in the ratio of ``utime`` to ``stime`` (all user when both are 0), each mode at least
    ``prev``'s (the split of the same process before): a counter of either mode never falls,
    so a dip of one, made up by the other, would be counted twice. A run time below ``prev``'s
    total (a read that fell back to ticks) keeps ``prev``."""
    prev_user, prev_system = prev
    if run_ns <= prev_user + prev_system:
        return prev
    system = run_ns * stime // (utime + stime) if stime else 0
    system = max(system, prev_system)
    user = run_ns - system
    if user < prev_user:
        user = prev_user
        system = run_ns - user
    return user, system


def idle_since(stats: ProcStats, before: ProcStats | None) -> bool:
    """``stats`` shows that the process has not run since ``before`` was read (so its run time
    is ``before``'s): one thread, not running, and as many context switches. A task's run time
    grows only while it is on a CPU, and it leaves the CPU by a switch, which the counts
    count; one that is on a CPU now is read. (The counts in ``status`` are the leader thread's:
    of a process of more threads, each is read.)"""
    return (
        before is not None
        and before.run_ns >= 0
        and stats.threads == 1
        and before.threads == 1
        and stats.state != "R"
        and stats.voluntary + stats.nonvoluntary > 0
        and stats.voluntary == before.voluntary
        and stats.nonvoluntary == before.nonvoluntary
    )


def read(
    pid: int, fd_limit: int | None = None, before: ProcStats | None = None
) -> ProcStats | None:
    """The figures of ``pid``; None if it is gone or its stat can't be parsed.

    ``fd_limit``: the limit read before for the same process (limits rarely change: it is read
    once per process unless None is passed). ``before``: what the last read of the same
    process gave; its run time is not read again if it has not run since
    (:func:`idle_since`): most members sleep, and a round reads one file less of each."""
    base = f"/proc/{pid}/"
    try:
        raw = _read(base + "stat")
        rest = raw[raw.rindex(b")") + 2 :].split()
        state = rest[0].decode()
        minflt, majflt = int(rest[7]), int(rest[9])
        utime, stime = int(rest[11]), int(rest[12])
        threads = int(rest[17])
        start = int(rest[19]) * NS_PER_TICK
        virtual = int(rest[20])
        statm = _read(base + "statm").split()
        resident = int(statm[1]) * PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return None
    swapped = voluntary = nonvoluntary = 0
    try:
        for line in _read(base + "status").splitlines():
            if line.startswith(b"VmSwap:"):
                swapped = int(line.split()[1]) * 1024
            elif line.startswith(b"voluntary_ctxt_switches:"):
                voluntary = int(line.split()[1])
            elif line.startswith(b"nonvoluntary_ctxt_switches:"):
                nonvoluntary = int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    read_bytes = write_bytes = 0
    try:
        for line in _read(base + "io").splitlines():
            if line.startswith(b"read_bytes:"):
                read_bytes = int(line.split()[1])
            elif line.startswith(b"write_bytes:"):
                write_bytes = int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    try:
        fds = len(os.listdir(base + "fd"))
    except OSError:
        fds = -1
    if fd_limit is None:
        fd_limit = read_fd_limit(pid)
    stats = ProcStats(
        start=start,
        state=state,
        utime_s=utime / CLK_TCK,
        stime_s=stime / CLK_TCK,
        minflt=minflt,
        majflt=majflt,
        threads=threads,
        virtual=virtual,
        resident=resident,
        swapped=swapped,
        read_bytes=read_bytes,
        write_bytes=write_bytes,
        voluntary=voluntary,
        nonvoluntary=nonvoluntary,
        fds=fds,
        fd_limit=fd_limit,
    )
    known = before.run_ns if idle_since(stats, before) and before is not None else -1
    return stats._replace(run_ns=run_time_ns(pid, utime, stime, threads, known))
