"""What process-exporter reports of one process, read from /proc: CPU, memory, I/O, faults,
context switches, threads, state and file descriptors.

Five small reads per process (``stat``, ``statm``, ``status``, ``io``, the ``fd`` directory)
and ``limits`` once per process: the daemon's metrics sampler reads its live members with it,
in rounds, so that a scrape reads what the daemon already keeps (see
:mod:`tractui.daemon.metrics`). No Textual, no engine.
"""

from __future__ import annotations

import os
from typing import NamedTuple

from tractui.kernel.procfs import CLK_TCK, NS_PER_TICK

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


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


def read(pid: int, fd_limit: int | None = None) -> ProcStats | None:
    """The figures of ``pid``; None if it is gone or its stat can't be parsed.

    ``fd_limit``: the limit read before for the same process (limits rarely change: it is read
    once per process unless None is passed)."""
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
    return ProcStats(
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
