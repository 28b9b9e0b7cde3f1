"""The member store: groups, their processes and the indexes over them, kept consistent.

A process is keyed by (pid, start) so a reused PID is a new process. Its genealogical parent
(the process that forked it) is kept apart from its current ppid: a double-forked daemon is
reparented to init, but stays in its group, under its forker.

:class:`Store`'s primitives (:meth:`Store.insert`, :meth:`Store.end`, :meth:`Store.revive`,
:meth:`Store.remove`, :meth:`Store.regroup` and the group operations) are the only code that
changes its indexes, and each notes what it changed in :attr:`Store.changes`. The tracker
(:mod:`tractui.model.tracker`) applies kernel events through them; a client's mirror of a
daemon (:class:`tractui.daemon.protocol.Mirror`) applies the daemon's deltas through them.

``Group.members`` and ``Proc.group`` say the same thing both ways (a group's members for the
queries, a member's group in O(1)); the store is the only code that writes either, and keeps
them in step.
"""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tractui.errors import UserError
from tractui.events import ExitStatus, ProcInfo
from tractui.model.account import Account
from tractui.model.changes import Changes, Delta, Journal, Key

if TYPE_CHECKING:
    from tractui.model.reaped import Fix

# ASCII only, on purpose: a name is a file name (its launch log), a CLI argument and a JSON
# key, and is drawn in the tree. Unicode letters would bring names that look the same and
# differ (NFC "ü" and NFD "u" + U+0308; Cyrillic U+0430 and Latin "a") and double-width ones
# that shift the tree's columns; so the messages say "ASCII letters", not "letters".
GROUP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@:+-]{0,63}")
GROUP_NAME_RULE = "1-64 ASCII letters (a-z A-Z), digits or - _ . @ : +"
NO_GROUP_NAME = f"no group name given: type one ({GROUP_NAME_RULE})"
# the command of a process whose exec we saw but that ended (or whose pid was reused) before
# /proc could be read: what it ran is unknown, and no longer its forker's program
UNREAD_EXEC = "[exec'd; ended before it was read]"
# after the name the kernel's exit record gave such a process: its argv stays unknown
ARGV_UNREAD = "[argv unread]"
# the command of an exec whose /proc read came after the same process had exec'd again: what
# the read showed was the later program's, so what this one ran is unknown
SUPERSEDED_EXEC = "[exec'd; exec'd again before it was read]"

# After a signal sent from tractui (k, ``tractui signal``, quit's "end them"), a member that ends
# within this many seconds was ended by the user, whatever its status (a SIGTERM handler's exit
# 1 too); one that died of the very signal sent was, whenever it died
BY_YOU_WINDOW_NS = 60_000_000_000
# signals whose default action is not to end a process: sending one ends nothing
NOT_ENDING = frozenset(
    int(s)
    for s in (
        signal.SIGCHLD,
        signal.SIGCONT,
        signal.SIGSTOP,
        signal.SIGTSTP,
        signal.SIGTTIN,
        signal.SIGTTOU,
        signal.SIGURG,
        signal.SIGWINCH,
    )
)

UNKNOWN_EXEC_TIME = 0
"""An entry of ``Proc.exec_times`` for an exec whose time is not known: one recorded by a
tractui that kept no exec times (its state file, or its daemon). 0 ns since boot is no time an
exec can have. The JSON a user reads (``list``, ``trace --json``, ``export``) says ``null``."""


def aligned_exec_times(times: Sequence[object], n: int) -> list[int | None]:
    """``times`` made one per exec of ``n``, ``None`` for each unknown one (or not an integer:
    a damaged line of the history on disk). Times missing are the earliest execs' (a tractui
    without exec times recorded them; those seen since have theirs); more times than execs
    cannot be matched to them, so all are unknown."""
    known = [t if type(t) is int and t != UNKNOWN_EXEC_TIME else None for t in times]
    if len(known) > n:
        return [None] * n
    return [None] * (n - len(known)) + known


def command_text(argv: Sequence[str], comm: str, execs: Sequence[Sequence[str]]) -> str:
    """What a process runs, as tractui shows it, from its argv, comm and execs."""
    if argv:
        return " ".join(argv)
    if not comm:  # an exec that ended unread, and no exit record named it
        return UNREAD_EXEC
    if execs and not execs[-1]:  # named by its exit record: the program, not its arguments
        return f"{comm} {ARGV_UNREAD}"
    return f"[{comm}]"  # a kernel thread or a zombie has no cmdline


def duration_text(seconds: float) -> str:
    """A lifetime as a person reads it: "0.004 s", "1.2 s", "3 min 4 s", "2 h 5 min"."""
    if seconds < 0.1:
        return f"{seconds:.3f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60)} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"


def outcome_text(proc: Proc) -> str:
    """How an ended member ended, for a launch log and a group's header: "exit 3 after 1.2 s",
    "SIGTERM (by you) after 4.0 s", "gone (ended unseen) after 5 min 2 s"."""
    if proc.ended is None:
        return "running"
    status = proc.exit.describe() if proc.exit is not None else "gone (ended unseen)"
    if proc.by_you():
        status += " (by you)"
    return f"{status} after {duration_text(max(0, proc.ended - proc.start) / 1e9)}"


@dataclass(slots=True, eq=False)
class Proc:
    """One process of a group, alive or exited."""

    pid: int
    start: int
    group: str  # written by the store only (see the module's docstring)
    parent: Key | None  # genealogical: who forked it; None for a group's root
    ppid: int  # current parent pid, as last read
    comm: str = ""
    argv: tuple[str, ...] = ()
    exe: str = ""
    uid: int = -1
    threads: int = 1
    peak_threads: int = 1
    execs: list[tuple[str, ...]] = field(default_factory=list)  # one per exec event seen
    # ns since boot, one per entry of execs (always: UNKNOWN_EXEC_TIME where it is not known)
    exec_times: list[int] = field(default_factory=list)
    children: dict[Key, None] = field(default_factory=dict)  # ordered, O(1) removal
    exit: ExitStatus | None = None
    ended: int | None = None  # ns since boot
    lost_exit: bool = False  # gone without an exit event (events were lost)
    # the kernel's exit record of its own task (not a thread's) is in its account: a process
    # has one per life (an exec from a non-leader thread ends a life: see the tracker's revive)
    own_record: bool = False
    revived_at: int | None = None  # when its leader ended in an exec from another thread
    # exited, and still in /proc in state Z: its parent has not reaped it (looked at a second
    # after the exit, then at each upkeep while it is one: see tractui.model.adopt.Zombies)
    zombie: bool = False
    # its exact kernel account (taskstats): its ended threads' records, then its own at exit;
    # None while no record came (alive, the record lost, or accounting off)
    account: Account | None = None
    # the last signal sent to it from tractui (0: none) and when (ns since boot): see by_you
    signalled: int = 0
    signalled_at: int = 0
    # the CPU its records lack, recovered from what it reaped (tractui.model.reaped): None
    # while it has reaped nothing and joined by its fork
    fix: Fix | None = None
    reaper: Key | None = None  # the member its exit event named its parent, if one was
    # ended, and a reading of its reaper taken since has been applied: its CPU is in what its
    # reaper was given, record or not (a record lost, accounting off)
    reaped_read: bool = False
    # (pid, start): made once, the one tuple every index of the tracker and the UI shares
    key: Key = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.key = (self.pid, self.start)

    @property
    def alive(self) -> bool:
        return self.ended is None

    @property
    def reparented(self) -> bool:
        """Alive, and no longer the child of the process that forked it."""
        return self.alive and self.parent is not None and self.ppid != self.parent[0]

    def command(self) -> str:
        return command_text(self.argv, self.comm, self.execs)

    def by_you(self, status: ExitStatus | None = None, ended: int | None = None) -> bool:
        """It ended (with ``status`` at ``ended``; by default its own) because of a signal
        sent from tractui: it died of that very signal, or it ended within BY_YOU_WINDOW_NS
        after one whose default action ends a process (a SIGTERM handler's exit 1 too)."""
        status = self.exit if status is None else status
        ended = self.ended if ended is None else ended
        sig = self.signalled
        if not sig or status is None or ended is None:
            return False
        if status.signal == sig:
            return True
        return sig not in NOT_ENDING and 0 <= ended - self.signalled_at <= BY_YOU_WINDOW_NS

    def counted_failed(self) -> bool:
        """Its end counts as a failure: a non-zero exit or a death by signal not caused by a
        signal sent from tractui (those count as ended by you)."""
        status = self.exit
        return status is not None and status.failed and not self.by_you()

    @property
    def argv_unread(self) -> bool:
        """Its last exec was seen, but what it ran could not be read."""
        return not self.argv and bool(self.execs) and not self.execs[-1]

    def status_text(self) -> str:
        if self.alive:
            return "alive"
        ended = self.exit.describe() if self.exit is not None else "gone"
        return f"{ended}, zombie" if self.zombie else ended

    def _absorb(self, info: ProcInfo) -> None:
        self.ppid = info.ppid
        self.comm = info.comm
        self.argv = info.argv
        self.exe = info.exe
        self.uid = info.uid
        self.threads = max(1, info.threads)
        self.peak_threads = max(self.peak_threads, self.threads)


@dataclass(slots=True, eq=False)
class Group:
    name: str
    roots: list[Key] = field(default_factory=list)
    members: set[Key] = field(default_factory=set)  # written by the store only
    live: int = 0  # kept by the store's primitives; a mirror takes the daemon's count instead
    forks: int = 0
    execs: int = 0
    exits: int = 0
    failed: int = 0  # non-zero exits and deaths by signal, but those ended by you
    signaled: int = 0  # of those failed, the deaths by signal (not those ended by you)
    # the accounts of every member that ended with one, those pruned since included
    ended: Account = field(default_factory=Account)
    created: float = field(default_factory=time.time)
    # members ended by a signal sent from tractui (Proc.by_you): not failures, whatever status
    ended_by_you: int = 0
    roots_failed: int = 0  # of ``failed``, the group's roots (launched or attached)
    # the program launched into it last (None: none yet), and how it ended ("" while it runs,
    # else "exit 3 after 1.2 s"); a failed one is kept in the tree until the next launch
    last_launch: Key | None = None
    last_outcome: str = ""
    last_failed: bool = False
    # the CPU no exit record holds (a record lacks its process's last moments), recovered
    # from what its members reaped (tractui.model.reaped): µs, pruned members' included
    unrecorded_user_us: int = 0
    unrecorded_system_us: int = 0

    @property
    def unrecorded_s(self) -> float:
        return (self.unrecorded_user_us + self.unrecorded_system_us) / 1e6

    @property
    def accounted_cpu_s(self) -> float:
        """Its CPU that its live members' /proc figures do not show: its ended members'
        records, and every member's correction (what reaping gave beyond the records)."""
        return self.ended.cpu_s + self.unrecorded_s


def validate_group_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise UserError(NO_GROUP_NAME)
    if not GROUP_NAME.fullmatch(name):
        raise UserError(
            f"bad group name {name!r}: use {GROUP_NAME_RULE}, starting with a letter or digit"
        )
    return name


class Store:
    """Groups and their members, the indexes over them, and what changed (:attr:`changes`)."""

    def __init__(self) -> None:
        self.procs: dict[Key, Proc] = {}
        self.live: dict[int, Proc] = {}  # pid -> the live member with that pid
        self.recent_exit: dict[int, Proc] = {}  # pid -> the member that last exited with it
        self.exited: dict[Key, Proc] = {}  # every exited member still kept, oldest exit first
        self.groups: dict[str, Group] = {}
        self.changes = Changes(self.procs)

    # ---- what changed ------------------------------------------------------------------------

    @property
    def revision(self) -> int:
        """Moves at every change a saved state shows (see tractui.model.state)."""
        return self.changes.revision

    def journal(self) -> Journal:
        """A new journal of this store's changes (its first take says "all")."""
        return self.changes.journal()

    def note_group(self, name: str) -> None:
        """A group changed outside the primitives (its launch records): the next delta and
        every journal see it, and the revision moves."""
        self.changes.note_group(name)

    def take_delta(self, events: int = 0, lost: int = 0) -> Delta:
        return self.changes.take(events, lost)

    # ---- groups ------------------------------------------------------------------------------

    def create_group(self, name: str, exist_ok: bool = False) -> Group:
        name = validate_group_name(name)
        group = self.groups.get(name)
        if group is not None:
            if not exist_ok:
                raise UserError(f"group {name!r} already exists: pick another name")
            return group
        return self.add_group(Group(name))

    def add_group(self, group: Group) -> Group:
        """Put ``group`` (with no members yet) in the store, after the others."""
        self.groups[group.name] = group
        self.changes.note_group(group.name)
        return group

    def group(self, name: str) -> Group:
        try:
            return self.groups[name]
        except KeyError:
            raise UserError(f"no group named {name!r} {self.known_groups()}") from None

    def known_groups(self, shown: int = 10) -> str:
        """What to say after "no group named ...": the groups there are, in parentheses, by
        name (the first ``shown`` of them, then how many more)."""
        names = list(self.groups)
        if not names:
            return "(there are no groups yet)"
        if len(names) <= shown:
            return f"(the groups: {', '.join(names)})"
        more = len(names) - shown
        return (
            f"(the groups: {', '.join(names[:shown])} and {more} more: tractui groups lists them)"
        )

    def rename_group(self, old: str, new: str) -> Group:
        group = self.group(old)
        new = validate_group_name(new)
        if new == old:
            return group
        if new in self.groups:
            raise UserError(f"group {new!r} already exists: pick another name")
        group.name = new
        groups = list(self.groups.values())  # the group keeps its place among the others
        self.groups.clear()
        self.groups.update((g.name, g) for g in groups)
        changes = self.changes
        for key in group.members:
            self.procs[key].group = new
            changes.note_changed(key)
        changes.note_group(old)
        changes.note_group(new)
        return group

    def remove_group(self, name: str) -> list[Key]:
        """Stop tracking a group; its processes are left alone."""
        group = self.group(name)
        keys = list(group.members)
        self.drop_group(name)
        for key in keys:
            self.remove(key)
        return keys

    def drop_group(self, name: str) -> Group | None:
        """Take the group out, leaving its members to be removed or moved (:meth:`remove`,
        :meth:`regroup`); None if there is none."""
        group = self.groups.pop(name, None)
        if group is not None:
            self.changes.note_group(name)
        return group

    # ---- members -----------------------------------------------------------------------------

    def insert(self, proc: Proc, parent: Proc | None = None) -> None:
        """A new member, alive or exited, of the group ``proc.group`` names, under ``parent``."""
        key = proc.key
        group = self.groups[proc.group]
        self.procs[key] = proc
        group.members.add(key)
        if proc.ended is None:
            self.live[proc.pid] = proc
            group.live += 1
        else:
            self.exited[key] = proc
        if parent is not None:
            parent.children[key] = None
        self.changes.note_added(key, group.name)

    def end(self, proc: Proc) -> None:
        """The live member ``proc`` has ended (its ``ended`` is set): index it as exited."""
        if self.live.get(proc.pid) is proc:
            del self.live[proc.pid]
        self.recent_exit[proc.pid] = proc
        self.exited[proc.key] = proc
        group = self.groups.get(proc.group)
        if group is not None:
            group.live -= 1
        self.changes.note_exited(proc.key, proc.group)

    def revive(self, proc: Proc) -> None:
        """The exited member ``proc`` lives again (its ``ended`` is None): index it as live."""
        self.live[proc.pid] = proc
        if self.recent_exit.get(proc.pid) is proc:
            del self.recent_exit[proc.pid]
        self.exited.pop(proc.key, None)
        group = self.groups.get(proc.group)
        if group is not None:
            group.live += 1
        self.changes.note_changed(proc.key)

    def remove(self, key: Key) -> Proc | None:
        """Forget a member (from its group, its parent's children, every index); None if it
        was not one."""
        proc = self.procs.pop(key, None)
        if proc is None:
            return None
        if self.live.get(proc.pid) is proc:
            del self.live[proc.pid]
        if self.recent_exit.get(proc.pid) is proc:
            del self.recent_exit[proc.pid]
        self.exited.pop(key, None)
        group = self.groups.get(proc.group)
        if group is not None:
            group.members.discard(key)
            if proc.ended is None:
                group.live -= 1
            if key in group.roots:
                group.roots.remove(key)
        parent = self.procs.get(proc.parent) if proc.parent is not None else None
        if parent is not None:
            parent.children.pop(key, None)
        self.changes.note_removed(key, proc.group)
        return proc

    def regroup(self, proc: Proc, name: str) -> None:
        """Move a member to group ``name`` (made if there is none: a mirror's rename)."""
        old = self.groups.get(proc.group)
        if old is not None:
            old.members.discard(proc.key)
            if proc.ended is None:
                old.live -= 1
        group = self.groups.get(name)
        if group is None:
            group = self.add_group(Group(name))
        group.members.add(proc.key)
        if proc.ended is None:
            group.live += 1
        proc.group = name
        self.changes.note_changed(proc.key)

    def order_exited(self) -> None:
        """Sort the exited members by the time they ended (prune reads them oldest first)."""
        ordered = sorted(self.exited.values(), key=lambda p: p.ended or 0)
        self.exited.clear()
        self.exited.update((p.key, p) for p in ordered)

    def clear(self) -> None:
        """Forget every group and member; readers are told that everything changed."""
        self.procs.clear()
        self.live.clear()
        self.exited.clear()
        self.recent_exit.clear()
        self.groups.clear()
        self.changes.note_reset()

    # ---- queries -----------------------------------------------------------------------------

    def members(self, name: str, alive_only: bool = False) -> list[Proc]:
        """A group's processes in tree order: each root, then its descendants depth-first."""
        group = self.group(name)
        out = [proc for proc in self.walk(group) if proc.alive or not alive_only]
        return out

    def walk(self, group: Group) -> Iterator[Proc]:
        for key in list(group.roots):
            yield from self.subtree(key)

    def tree_order(self, group: Group) -> Iterator[Proc]:
        """A group's members, each after its parent: the trees, then any member they miss."""
        seen: set[Key] = set()
        for proc in self.walk(group):
            if proc.key not in seen and proc.group == group.name:
                seen.add(proc.key)
                yield proc
        for key in sorted(group.members - seen, key=lambda k: k[1]):
            stray = self.procs.get(key)
            if stray is not None:
                yield stray

    def subtree(self, key: Key) -> Iterator[Proc]:
        stack = [key]
        while stack:
            proc = self.procs.get(stack.pop())
            if proc is None:
                continue
            yield proc
            stack.extend(reversed(proc.children))

    def depth(self, proc: Proc) -> int:
        depth = 0
        while proc.parent is not None and (parent := self.procs.get(proc.parent)) is not None:
            depth += 1
            proc = parent
        return depth
