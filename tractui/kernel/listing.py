"""Every process on the system, as htop lists them: what an attach picks from, by hand (the UI's
picker) or by a pattern (``tractui attach NAME --match PATTERN``, as pgrep matches).

Reads /proc/PID/stat (name, parent, state, kernel thread or not), the owner of /proc/PID and
its cmdline: ~40-50 us a process at 3,000 (bench/attach, a loaded machine), so a UI reads it in
a worker thread. No Textual here.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from tractui.errors import UserError
from tractui.kernel import procfs


@dataclass(frozen=True, slots=True)
class Listed:
    """One process as the list shows it."""

    pid: int
    ppid: int
    uid: int
    comm: str  # the kernel's name (15 bytes at most), what pgrep matches
    argv: tuple[str, ...]  # empty for a zombie, or a process that hid it

    @property
    def command(self) -> str:
        """The command line as pgrep -f matches it (arguments joined by spaces), else the
        name in brackets, as htop shows a process without one. Raw: escape it to show it."""
        return " ".join(self.argv) if self.argv else f"[{self.comm}]"


def processes(exclude: Collection[int] = ()) -> list[Listed]:
    """Every process now that could be attached, by PID: not kernel threads, not zombies, not
    the PIDs in ``exclude`` (tractui's own), not init."""
    out: list[Listed] = []
    for pid in procfs.pids():
        if pid == 1 or pid in exclude:
            continue
        stat = procfs.read_stat(pid)
        if stat is None or stat.flags & procfs.PF_KTHREAD or stat.ended:
            continue
        uid = procfs.read_uid(pid)
        if uid < 0:
            continue  # gone meanwhile
        out.append(Listed(pid, stat.ppid, uid, stat.comm, procfs.read_argv(pid)))
    out.sort(key=lambda p: p.pid)
    return out


def pattern(text: str, ignore_case: bool = False) -> re.Pattern[str]:
    """A --match PATTERN compiled (a Python regular expression; pgrep's extended regular
    expressions read the same for the usual ones); UserError saying what is wrong."""
    try:
        return re.compile(text, re.IGNORECASE if ignore_case else 0)
    except re.error as err:
        raise UserError(f"bad pattern {text!r}: {err} (a regular expression, as pgrep's)") from None


def matching(procs: Iterable[Listed], regex: re.Pattern[str], full: bool = False) -> list[Listed]:
    """The processes whose name (``full``: whole command line) the pattern finds, as pgrep
    (and pgrep -f) match: anywhere in it, unless anchored."""
    if full:
        return [p for p in procs if regex.search(p.command)]
    return [p for p in procs if regex.search(p.comm)]


def own_processes(argv: Sequence[str] | None = None, pid: int | None = None) -> set[int]:
    """This process, and the ancestors that only run it: a sudo, env, timeout... whose command
    line ends with this one's arguments, ``argv`` (``sys.argv[1:]`` unless told):
    (``tractui attach x -f --match sleep`` under sudo must
    not match that sudo, whose command line says "sleep" too)."""
    pid = os.getpid() if pid is None else pid
    own = {pid}
    tail = tuple(sys.argv[1:] if argv is None else argv)
    stat = procfs.read_stat(pid)
    cursor = stat.ppid if stat is not None else 0
    while cursor > 1 and tail:
        theirs = procfs.read_argv(cursor)
        if len(theirs) <= len(tail) or theirs[-len(tail) :] != tail:
            break
        own.add(cursor)
        parent = procfs.read_stat(cursor)
        cursor = parent.ppid if parent is not None else 0
    return own
