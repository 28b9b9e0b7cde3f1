"""What a process's details show beyond its columns, read only when they are opened: its open
files (``/proc/PID/fd``, as htop's ``l``), its environment (``/proc/PID/environ``, when we may
read it) and its PSS (``/proc/PID/smaps_rollup``: the kernel walks the process's page tables
for it, so it is never sampled, only read here; bench/meters/pss_cost.py measures it).

Every text is the process's own (hostile): returned raw, escaped by whoever shows it.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass

FDS_SHOWN = 1000  # the open files listed; the rest are counted
ENVIRON_MAX = 64 << 10  # bytes of environment read at most (1 MiB took 0.85 s to show)


@dataclass(frozen=True, slots=True)
class OpenFile:
    """One entry of /proc/PID/fd."""

    fd: int
    kind: str  # REG, DIR, CHR, BLK, FIFO, SOCK, LNK, pipe, socket, anon, ?
    target: str  # what the link says: a path, "socket:[123]", "pipe:[45]", "anon_inode:[...]"


@dataclass(frozen=True, slots=True)
class Peek:
    """The open files, environment and PSS of a live process; a part that could not be read
    has its reason ("" when it was read)."""

    fds: tuple[OpenFile, ...] = ()
    fds_more: int = 0  # not listed (over FDS_SHOWN)
    fds_error: str = ""
    environ: tuple[str, ...] = ()  # NAME=value, sorted
    environ_error: str = ""
    pss_kb: int | None = None
    rss_rollup_kb: int | None = None  # the rollup's own Rss, read with the PSS
    swap_pss_kb: int | None = None
    pss_error: str = ""


def reason(err: OSError) -> str:
    """Why a read failed, in a few words a user acts on."""
    if err.errno in (errno.EACCES, errno.EPERM):
        return "permission denied (another user's process: run tractui as root to see it)"
    if err.errno in (errno.ENOENT, errno.ESRCH):
        return "the process has exited"
    return err.strerror or str(err)


def _kind(target: str, path: str) -> str:
    if target.startswith("socket:"):
        return "socket"
    if target.startswith("pipe:"):
        return "pipe"
    if target.startswith("anon_inode:"):
        return "anon"
    try:
        mode = os.stat(path).st_mode  # the open file itself, through the fd's link
    except OSError:
        return "?"
    for test, name in (
        (stat.S_ISREG, "REG"),
        (stat.S_ISDIR, "DIR"),
        (stat.S_ISCHR, "CHR"),
        (stat.S_ISBLK, "BLK"),
        (stat.S_ISFIFO, "FIFO"),
        (stat.S_ISSOCK, "SOCK"),
    ):
        if test(mode):
            return name
    return "?"


def read_fds(pid: int, limit: int = FDS_SHOWN) -> tuple[tuple[OpenFile, ...], int]:
    """The open files of ``pid`` by fd number (the first ``limit``), and how many more there
    are. OSError if the directory cannot be listed; an fd closed meanwhile is left out."""
    base = f"/proc/{pid}/fd"
    numbers = sorted(int(n) for n in os.listdir(base) if n.isdigit())
    files = []
    for fd in numbers[:limit]:
        path = f"{base}/{fd}"
        try:
            target = os.readlink(path)
        except OSError:
            continue  # closed since the listing
        files.append(OpenFile(fd, _kind(target, path), target))
    return tuple(files), max(0, len(numbers) - limit)


def parse_environ(raw: bytes) -> tuple[str, ...]:
    """NAME=value entries of an environ file, sorted; undecodable bytes kept as escapes."""
    entries = raw.split(b"\0")
    return tuple(sorted(e.decode("utf-8", "backslashreplace") for e in entries if e))


def read_environ(pid: int) -> tuple[str, ...]:
    """The environment ``pid`` started with (OSError if it may not be read)."""
    with open(f"/proc/{pid}/environ", "rb") as f:
        return parse_environ(f.read(ENVIRON_MAX))


def parse_rollup(text: str) -> dict[str, int]:
    """The kB fields of a smaps_rollup text (Rss, Pss, Swap, SwapPss...)."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        fields = rest.split()
        if len(fields) == 2 and fields[1] == "kB" and fields[0].isdigit():
            out[name] = int(fields[0])
    return out


def read_rollup(pid: int) -> dict[str, int]:
    """/proc/PID/smaps_rollup's fields (OSError if it may not be read; empty for a kernel
    thread, which has no memory of its own)."""
    with open(f"/proc/{pid}/smaps_rollup") as f:
        return parse_rollup(f.read())


def peek(pid: int) -> Peek:
    """The open files, environment and PSS of ``pid``, each with why it could not be read."""
    fds: tuple[OpenFile, ...] = ()
    more, fds_error = 0, ""
    try:
        fds, more = read_fds(pid)
    except OSError as err:
        fds_error = reason(err)
    environ: tuple[str, ...] = ()
    environ_error = ""
    try:
        environ = read_environ(pid)
    except OSError as err:
        environ_error = reason(err)
    rollup: dict[str, int] = {}
    pss_error = ""
    try:
        rollup = read_rollup(pid)
    except OSError as err:
        pss_error = reason(err)
    if not pss_error and "Pss" not in rollup:
        pss_error = "none (a kernel thread has no memory of its own)"
    return Peek(
        fds=fds,
        fds_more=more,
        fds_error=fds_error,
        environ=environ,
        environ_error=environ_error,
        pss_kb=rollup.get("Pss"),
        rss_rollup_kb=rollup.get("Rss"),
        swap_pss_kb=rollup.get("SwapPss"),
        pss_error=pss_error,
    )
