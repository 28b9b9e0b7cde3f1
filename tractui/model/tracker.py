"""The tracker model: groups of processes and their genealogy, fed by proc-connector events.

Pure Python and no UI. A process is keyed by (pid, start) so a reused PID is a new process. Its
genealogical parent (the process that forked it) is kept apart from its current ppid: a
double-forked daemon is reparented to init, but stays in its group, under its forker. Every
:meth:`Tracker.apply` returns a :class:`Delta` for consumers.
"""

from __future__ import annotations

import os
import re
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from tractui.errors import UserError
from tractui.events import Comm, Event, Exec, Exit, ExitStatus, Fork, Loss, ProcInfo
from tractui.kernel import procfs

Key = tuple[int, int]  # (pid, start in ns since boot)

GROUP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@:+-]{0,63}")
# An exit followed this soon by an exec of the same pid is execve from a non-leader thread.
EXEC_AFTER_EXIT_NS = 1_000_000_000
# how long an exited member stays (s), unless told: with thousands of short-lived processes,
# ten seconds of them (the daemon keeps them longer: see its --keep-exited)
KEEP_EXITED = 10.0
# an exit is looked at in /proc once, this long after it: a zombie by then is one its parent
# has not reaped (most are reaped within microseconds), shown Z until it is
ZOMBIE_CHECK_NS = 1_000_000_000
# the command of a process whose exec we saw but that ended (or whose pid was reused) before
# /proc could be read: what it ran is unknown, and no longer its forker's program
UNREAD_EXEC = "[exec'd; ended before it was read]"


@dataclass(slots=True, eq=False)
class Proc:
    """One process of a group, alive or exited."""

    pid: int
    start: int
    group: str
    parent: Key | None  # genealogical: who forked it; None for a group's root
    ppid: int  # current parent pid, as last read
    comm: str = ""
    argv: tuple[str, ...] = ()
    exe: str = ""
    uid: int = -1
    threads: int = 1
    peak_threads: int = 1
    execs: list[tuple[str, ...]] = field(default_factory=list)  # one per exec event seen
    children: dict[Key, None] = field(default_factory=dict)  # ordered, O(1) removal
    exit: ExitStatus | None = None
    ended: int | None = None  # ns since boot
    lost_exit: bool = False  # gone without an exit event (events were lost)
    # exited, and still in /proc in state Z: its parent has not reaped it (looked at a second
    # after the exit, then at each upkeep while it is one: see Tracker._check_zombies)
    zombie: bool = False
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
        if self.argv:
            return " ".join(self.argv)
        # a kernel thread or a zombie has no cmdline; an exec that ended unread, not even a comm
        return f"[{self.comm}]" if self.comm else UNREAD_EXEC

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
    members: set[Key] = field(default_factory=set)
    live: int = 0
    forks: int = 0
    execs: int = 0
    exits: int = 0
    failed: int = 0  # non-zero exits and deaths by signal
    created: float = field(default_factory=time.time)


class MemberEvent(NamedTuple):
    """One thing that happened to a member, in kernel order, for event logs and subscribers."""

    ts: int  # ns since boot (CLOCK_BOOTTIME): the kernel's time for fork/exec/exit
    kind: str  # "root" (launched or attached), "adopt" (found in /proc), "fork", "exec", "exit"
    key: Key
    group: str
    detail: str  # root/adopt/exec: the command line; fork: the forker's PID; exit: the status


@dataclass(slots=True)
class Delta:
    """What one batch changed. Keys refer to :attr:`Tracker.procs` (removed ones are gone)."""

    added: list[Key] = field(default_factory=list)
    changed: set[Key] = field(default_factory=set)
    exited: list[Key] = field(default_factory=list)
    removed: list[Key] = field(default_factory=list)
    groups: set[str] = field(default_factory=set)
    lost: int = 0  # events the kernel dropped during this delta (the total: Tracker.lost)
    events: int = 0
    log: list[MemberEvent] = field(default_factory=list)  # members' events, in kernel order
    reset: bool = False  # every member may have changed (a mirror loaded anew)

    @property
    def members_changed(self) -> bool:
        return bool(self.added or self.changed or self.exited or self.removed or self.reset)

    def __bool__(self) -> bool:
        return self.members_changed or bool(self.groups or self.lost)


class Journal:
    """The members that changed since its reader last looked (:meth:`Tracker.journal`).

    For readers that keep something per member and redo only what changed: the snapshot rows
    of the UI, the encoded members of the state file. A reader that looks seldom still sees
    every change; its journal grows no bigger than the tracker (past that it says "all")."""

    __slots__ = ("__weakref__", "_tracker", "everything", "groups", "keys")

    def __init__(self, tracker: Tracker) -> None:
        self._tracker = tracker
        self.keys: set[Key] = set()
        self.groups: set[str] = set()  # names of groups created, changed or removed
        self.everything = True  # a new reader has seen nothing yet

    @property
    def tracker(self) -> Tracker:
        return self._tracker

    def note(self, delta: Delta) -> None:
        if self.everything:
            return
        if delta.reset or len(self.keys) > 2 * len(self._tracker.procs) + 1024:
            self.everything, self.keys, self.groups = True, set(), set()
            return
        self.groups |= delta.groups
        keys = self.keys
        keys.update(delta.added)
        keys |= delta.changed
        keys.update(delta.exited)
        keys.update(delta.removed)

    def take(self) -> tuple[set[Key], bool]:
        """(the keys added, changed or removed since the last take, whether all may have)."""
        keys, _groups, everything = self.take_all()
        return keys, everything

    def take_all(self) -> tuple[set[Key], set[str], bool]:
        """:meth:`take`, with the names of the groups changed meanwhile."""
        self.note(self._tracker._delta)  # changes made since the last take_delta, too
        keys, groups, everything = self.keys, self.groups, self.everything
        self.keys, self.groups, self.everything = set(), set(), False
        return keys, groups, everything


NO_GROUP_NAME = "no group name given: type one (1-64 letters, digits or - _ . @ : +)"


def validate_group_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise UserError(NO_GROUP_NAME)
    if not GROUP_NAME.fullmatch(name):
        raise UserError(
            f"bad group name {name!r}: use 1-64 letters, digits or - _ . @ : +, "
            "starting with a letter or digit"
        )
    return name


def stat_if_present(pid: int) -> procfs.Stat | None:
    """/proc/PID/stat, after a signal 0 says the PID exists at all: the exits a prune forgets
    are mostly reaped, and ESRCH costs ~1 us where a failed open of /proc costs ~10 us (a prune
    of 20,000 exits of a storm: ~30 ms more than without the check, ~300 ms with a read each)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # another user's: it exists
    return procfs.read_stat(pid)


class Tracker:
    """Groups, their processes and genealogy; fed events by :meth:`apply`."""

    def __init__(
        self,
        keep_exited: float = KEEP_EXITED,
        own_pids: Iterable[int] = (),
        clock_offset: Callable[[], int] = procfs.boot_offset_ns,
        read_stat: Callable[[int], procfs.Stat | None] = stat_if_present,
    ) -> None:
        self.keep_exited_ns = int(min(keep_exited, 1e9) * 1e9)  # inf: keep for ever
        self.procs: dict[Key, Proc] = {}
        self.live: dict[int, Proc] = {}  # pid -> the live member with that pid
        self.recent_exit: dict[int, Proc] = {}  # pid -> the member that last exited with it
        self.exited: dict[Key, Proc] = {}  # every exited member still kept, oldest exit first
        self.groups: dict[str, Group] = {}
        self.own_pids: set[int] = {os.getpid(), *own_pids}
        self.clock_offset = clock_offset  # event time (monotonic) -> /proc time (boot clock)
        # /proc/PID/stat of a member in doubt: an exit about to be pruned (zombies stay), a
        # live one whose PID a fork names (a late event of the PID's previous owner)
        self.read_stat = read_stat
        self.offset = clock_offset()
        self.events = 0
        self.lost = 0
        self.unrecovered = 0  # members that ended while events were lost
        self.revision = 0  # bumped at every change a saved state shows (see tractui.model.state)
        self._delta = Delta()
        self._journals: weakref.WeakSet[Journal] = weakref.WeakSet()
        self._launched_argv: dict[Key, tuple[str, ...]] = {}  # see expect_exec
        self._rescanned_at = 0  # /proc time of the last rescan (see _fork)
        self._exits_to_check: deque[Proc] = deque()  # exits, oldest first (see _check_zombies)
        self._zombies: dict[Key, Proc] = {}  # exited members /proc still shows as zombies

    def journal(self) -> Journal:
        """A new :class:`Journal` of this tracker's changes (its first take says "all")."""
        journal = Journal(self)
        self._journals.add(journal)
        return journal

    def mark(
        self,
        added: Iterable[Key] = (),
        changed: Iterable[Key] = (),
        exited: Iterable[Key] = (),
        removed: Iterable[Key] = (),
        groups: Iterable[str] = (),
        reset: bool = False,
    ) -> None:
        """Note changes made to the tracker's members from outside (a mirror of a daemon's):
        the next delta and every journal see them."""
        delta = self._delta
        delta.added.extend(added)
        delta.changed.update(changed)
        delta.exited.extend(exited)
        delta.removed.extend(removed)
        delta.groups.update(groups)
        delta.reset |= reset

    # ---- groups ------------------------------------------------------------------------------

    def create_group(self, name: str, exist_ok: bool = False) -> Group:
        name = validate_group_name(name)
        group = self.groups.get(name)
        if group is not None:
            if not exist_ok:
                raise UserError(f"group {name!r} already exists: pick another name")
            return group
        group = self.groups[name] = Group(name)
        self._delta.groups.add(name)
        self.revision += 1
        return group

    def group(self, name: str) -> Group:
        try:
            return self.groups[name]
        except KeyError:
            raise UserError(f"no group named {name!r}") from None

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
        for key in group.members:
            self.procs[key].group = new
            self._delta.changed.add(key)
        self._delta.groups.update((old, new))
        self.revision += 1
        return group

    def remove_group(self, name: str) -> list[Key]:
        """Stop tracking a group; its processes are left alone."""
        group = self.group(name)
        keys = list(group.members)
        for key in keys:
            proc = self.procs.pop(key)
            if self.live.get(proc.pid) is proc:
                del self.live[proc.pid]
            if self.recent_exit.get(proc.pid) is proc:
                del self.recent_exit[proc.pid]
            self.exited.pop(key, None)
        del self.groups[name]
        self._delta.removed.extend(keys)
        self._delta.groups.add(name)
        self.revision += 1
        return keys

    # ---- adopting running processes ----------------------------------------------------------

    def check_attachable(self, pid: int, allow_zombie: bool = False) -> ProcInfo:
        """The process ``pid`` as /proc shows it, or a UserError saying why it can't be tracked."""
        if pid <= 0:
            raise UserError(f"bad PID {pid}: give a positive process ID")
        if pid == 1:
            raise UserError("PID 1 is init: it is the ancestor of everything and can't be tracked")
        if pid in self.own_pids:
            raise UserError(f"PID {pid} is tractui itself: pick another process")
        info = procfs.read_info(pid)
        if info is None:
            raise UserError(f"no process with PID {pid}: check the PID (it may have just exited)")
        if info.kthread:
            raise UserError(f"PID {pid} ({info.comm}) is a kernel thread: it can't be tracked")
        tgid = procfs.read_tgid(pid)
        if tgid is not None and tgid != pid:
            raise UserError(
                f"{pid} is a thread of process {tgid} ({info.comm}): attach PID {tgid} instead"
            )
        if info.state in ("Z", "X") and not allow_zombie:
            raise UserError(f"PID {pid} ({info.comm}) has already exited")
        member = self.live.get(pid)
        if member is not None:
            raise UserError(f"PID {pid} ({info.comm}) is already in group {member.group!r}")
        return info

    def attach(
        self, group_name: str, pid: int, allow_zombie: bool = False, descendants: bool = True
    ) -> list[Proc]:
        """Adopt a running process and its current descendants into a group (created if new).

        Returns the adopted processes, ``pid`` first. ``allow_zombie`` is for our own children,
        which we have not reaped yet: their exit event is still on its way. Without
        ``descendants`` the /proc scan for them is skipped: right for a process started since
        the last :meth:`apply`, whose every fork is still in the event stream.
        """
        info = self.check_attachable(pid, allow_zombie)
        first = self.add_root(group_name, info)
        adopted = [first]
        if not descendants:
            return adopted
        table = procfs.scan()
        for child in procfs.descendants(pid, table):
            adopted.extend(self._adopt_chain(child, table))
        return adopted

    def add_root(self, group_name: str, info: ProcInfo, ts: int | None = None) -> Proc:
        """Make the process ``info`` describes a root of a group (created if new).

        ``ts`` (ns since boot) is when it joined, for the event log: now unless given."""
        group = self.create_group(group_name, exist_ok=True)
        proc = self._adopt(group, info, parent=None)
        group.roots.append(proc.key)
        self._log(self.now() if ts is None else ts, "root", proc, proc.command())
        return proc

    def _adopt(self, group: Group, info: ProcInfo, parent: Proc | None) -> Proc:
        proc = Proc(
            pid=info.pid,
            start=info.start,
            group=group.name,
            parent=parent.key if parent is not None else None,
            ppid=info.ppid,
        )
        proc._absorb(info)  # a zombie has no cmdline: it shows as [comm], as htop shows it
        self._insert(proc, group, parent)
        return proc

    def _insert(self, proc: Proc, group: Group, parent: Proc | None) -> None:
        key = proc.key
        self.procs[key] = proc
        self.live[proc.pid] = proc
        group.members.add(key)
        group.live += 1
        if parent is not None:
            parent.children[key] = None
        self._delta.added.append(key)
        self._delta.groups.add(group.name)
        self.revision += 1

    def _adopt_chain(self, pid: int, table: dict[int, procfs.Stat]) -> list[Proc]:
        """Adopt ``pid`` if its current ancestry reaches a live member (and not tractui)."""
        chain: list[int] = []
        cursor = pid
        seen: set[int] = set()
        while cursor > 1 and cursor not in seen:
            if cursor in self.own_pids:
                return []
            member = self.live.get(cursor)
            stat = table.get(cursor)
            if (
                member is not None
                and stat is not None
                and procfs.same_start(member.start, stat.start)
            ):
                break
            if stat is None:
                return []
            seen.add(cursor)
            chain.append(cursor)
            cursor = stat.ppid
        else:
            return []
        adopted: list[Proc] = []
        parent = self.live[cursor]
        group = self.groups[parent.group]
        for child_pid in reversed(chain):
            info = procfs.read_info(child_pid)
            if info is None or info.kthread:
                break
            proc = self._adopt(group, info, parent)
            group.forks += 1
            self._log(self.now(), "adopt", proc, proc.command())
            adopted.append(proc)
            parent = proc
        return adopted

    # ---- events ------------------------------------------------------------------------------

    def apply(self, events: Iterable[Event]) -> Delta:
        """Apply a batch of events in kernel order; return what changed since the last call."""
        self.offset = self.clock_offset()
        lost_before = self.lost
        n = 0
        for event in events:
            n += 1
            kind = type(event)
            if kind is Fork:
                self._fork(event)  # type: ignore[arg-type]
            elif kind is Exit:
                self._exit(event)  # type: ignore[arg-type]
            elif kind is Exec:
                self._exec(event)  # type: ignore[arg-type]
            elif kind is Comm:
                self._comm(event)  # type: ignore[arg-type]
            elif kind is Loss:
                self.lost += event.dropped  # type: ignore[union-attr]
        self.events += n
        if self.lost != lost_before:
            self.rescan()
        return self.take_delta(events=n, lost=self.lost - lost_before)

    def take_delta(self, events: int = 0, lost: int = 0) -> Delta:
        delta, self._delta = self._delta, Delta()
        for journal in self._journals:
            journal.note(delta)
        delta.events = events
        delta.lost = lost
        return delta

    def _fork(self, ev: Fork) -> None:
        if ev.child_pid != ev.child_tgid:  # a thread: folded into its process
            proc = self.live.get(ev.child_tgid)
            if proc is not None:
                proc.threads += 1
                if proc.threads > proc.peak_threads:
                    proc.peak_threads = proc.threads
                self._delta.changed.add(proc.key)
            return
        start = ev.ts + self.offset
        old = self.live.get(ev.child_pid)
        if old is not None:
            if procfs.same_start(old.start, start):
                return  # already adopted from /proc
            if start < old.start:
                # a late fork of the pid's previous owner (from the backlog of a loss, after
                # the rescan adopted its new owner): that child is long gone
                return
            stat = self.read_stat(old.pid)
            if stat is not None and procfs.same_start(stat.start, old.start):
                return  # /proc shows the member alive: this fork is not of its pid's new owner
            self._gone(old)  # its exit was lost: the pid was reused
        parent = self.live.get(ev.parent_tgid)
        if parent is None:
            return
        if start < self._rescanned_at:
            # from the backlog of a loss, older than the rescan, which could not reach it if it
            # was reparented: its exit may be among the events lost, so it joins only if /proc
            # shows it still running (else it stayed "alive" for good, a PID for xargs to hit)
            stat = self.read_stat(ev.child_pid)
            if stat is None or stat.ended or not procfs.same_start(stat.start, start):
                return
        group = self.groups[parent.group]
        proc = Proc(
            pid=ev.child_pid,
            start=start,
            group=group.name,
            parent=parent.key,
            ppid=ev.parent_tgid,
            comm=parent.comm,
            argv=parent.argv,
            exe=parent.exe,
            uid=parent.uid,
        )
        self._insert(proc, group, parent)
        group.forks += 1
        self._log(start, "fork", proc, str(parent.pid))

    def _exec(self, ev: Exec) -> None:
        proc = self.live.get(ev.pid)
        if proc is None:
            proc = self._revive(ev)
            if proc is None:
                return
        info = ev.info
        if info is not None and procfs.same_start(info.start, proc.start):
            proc._absorb(info)
        else:  # gone (or its pid reused) before /proc was read: it runs its forker's no more
            proc.argv, proc.comm, proc.exe = (), "", ""
        if self._launched_argv:
            launched = self._launched_argv.pop(proc.key, None)
            if launched is not None and not proc.argv:
                proc.argv = launched  # we started it: what it exec'd is no guess
        proc.execs.append(proc.argv)  # () : gone before we looked
        self.groups[proc.group].execs += 1
        self._delta.changed.add(proc.key)
        self._delta.groups.add(proc.group)  # its counters changed
        self.revision += 1
        detail = proc.command()
        self._log(ev.ts + self.offset, "exec", proc, detail)

    def expect_exec(self, proc: Proc, argv: tuple[str, ...]) -> None:
        """``proc`` is a program we started with ``argv``, its exec event still to come: if
        /proc cannot show its command line by then (it ended within a millisecond, as
        ``sh -c 'exit 7'`` does under load), the exec is known to have run ``argv``."""
        if not proc.argv:
            proc.argv = argv
        self._launched_argv[proc.key] = argv

    def _revive(self, ev: Exec) -> Proc | None:
        """execve from a non-leader thread: the leader "exited" just before; it lives on."""
        proc = self.recent_exit.get(ev.pid)
        if proc is None or proc.ended is None or proc.lost_exit:
            return None
        if not 0 <= ev.ts + self.offset - proc.ended <= EXEC_AFTER_EXIT_NS:
            return None
        group = self.groups[proc.group]
        assert proc.exit is not None
        group.exits -= 1
        group.failed -= proc.exit.failed
        group.live += 1
        proc.exit = None
        proc.ended = None
        self.live[proc.pid] = proc
        del self.recent_exit[proc.pid]
        self.exited.pop(proc.key, None)
        self.revision += 1
        return proc

    def _exit(self, ev: Exit) -> None:
        if ev.pid != ev.tgid:
            proc = self.live.get(ev.tgid)
            if proc is not None and proc.threads > 1:
                proc.threads -= 1
                self._delta.changed.add(proc.key)
            return
        proc = self.live.get(ev.pid)
        if proc is None:
            return
        ended = ev.ts + self.offset
        if ended + procfs.START_TOLERANCE_NS < proc.start:
            return  # a late exit of the pid's previous owner
        status = ev.decoded()
        self._end(proc, ended, status)

    def _end(self, proc: Proc, ended: int, status: ExitStatus | None) -> None:
        del self.live[proc.pid]
        if self._launched_argv:  # its exec event was lost
            self._launched_argv.pop(proc.key, None)
        proc.ended = ended
        proc.exit = status
        proc.threads = 0
        group = self.groups[proc.group]
        group.live -= 1
        group.exits += 1
        if status is None:
            proc.lost_exit = True
        elif status.failed:
            group.failed += 1
        self.recent_exit[proc.pid] = proc
        self.exited[proc.key] = proc
        self._exits_to_check.append(proc)
        self._delta.exited.append(proc.key)
        self._delta.groups.add(group.name)
        self.revision += 1
        self._log(ended, "exit", proc, proc.status_text())
        self._reparented(proc)

    def _log(self, ts: int, kind: str, proc: Proc, detail: str) -> None:
        self._delta.log.append(MemberEvent(ts, kind, proc.key, proc.group, detail))

    def _reparented(self, dead: Proc) -> None:
        """The kernel reparents a process's children before it reports the exit: re-read them."""
        for key in dead.children:
            child = self.procs.get(key)
            if child is None or not child.alive:
                continue
            stat = procfs.read_stat(child.pid)
            if stat is not None and procfs.same_start(stat.start, child.start):
                child.ppid = stat.ppid
                self._delta.changed.add(key)

    def _gone(self, proc: Proc) -> None:
        """A member ended without an exit event reaching us."""
        self._end(proc, self.now(), None)
        self.unrecovered += 1

    def _comm(self, ev: Comm) -> None:
        if ev.pid != ev.tgid:
            return
        proc = self.live.get(ev.pid)
        if proc is not None:
            proc.comm = ev.comm
            self._delta.changed.add(proc.key)
            self.revision += 1

    # ---- recovery, upkeep --------------------------------------------------------------------

    def rescan(self) -> None:
        """After lost events: drop members that are gone, adopt what /proc says they forked."""
        self._rescanned_at = time.monotonic_ns() + self.offset
        table = {pid: stat for pid, stat in procfs.scan().items() if not stat.ended}
        for proc in list(self.live.values()):
            stat = table.get(proc.pid)
            if stat is None or not procfs.same_start(stat.start, proc.start):
                self._gone(proc)  # ended (the kernel reports exits of zombies only)
        for pid in sorted(table):
            if pid not in self.live:
                self._adopt_chain(pid, table)

    def restore(
        self, procs: Iterable[Proc], same_boot: bool = True
    ) -> tuple[list[Proc], list[Proc], list[Proc]]:
        """Put back saved members of existing groups (parents first), reconciled with /proc.

        A member saved alive is kept if a process with its pid and start time runs now (never
        after a reboot: ``same_boot`` False); else it ended unseen and shows as "gone". Then
        what the kept ones forked meanwhile is adopted. Group counters and roots are the
        caller's. Returns (kept, gone, adopted).
        """
        now = self.now()
        self._rescanned_at = time.monotonic_ns() + self.offset
        table = {pid: stat for pid, stat in procfs.scan().items() if not stat.ended}
        kept: list[Proc] = []
        gone: list[Proc] = []
        for proc in procs:
            if proc.key in self.procs:
                continue
            group = self.groups[proc.group]
            parent = self.procs.get(proc.parent) if proc.parent is not None else None
            if proc.alive:
                info = self._running(proc, table) if same_boot else None
                if info is not None:
                    proc._absorb(info)
                    self._insert(proc, group, parent)
                    kept.append(proc)
                    continue
                proc.ended, proc.exit, proc.lost_exit, proc.threads = now, None, True, 0
                group.exits += 1
                gone.append(proc)
                self._log(now, "exit", proc, "gone (ended while not tracked)")
            elif not same_boot:
                proc.ended = now  # a time of another boot: pruned as if it had just ended
            self.procs[proc.key] = proc
            self.exited[proc.key] = proc
            group.members.add(proc.key)
            if parent is not None:
                parent.children[proc.key] = None
            self._delta.added.append(proc.key)
            self._delta.groups.add(group.name)
            self.revision += 1
        ordered = sorted(self.exited.values(), key=lambda p: p.ended or 0)  # prune: oldest first
        self.exited.clear()
        self.exited.update((p.key, p) for p in ordered)
        adopted: list[Proc] = []
        for pid in sorted(table):
            if pid not in self.live:
                adopted.extend(self._adopt_chain(pid, table))
        return kept, gone, adopted

    def _running(self, proc: Proc, table: dict[int, procfs.Stat]) -> ProcInfo | None:
        """The process ``proc`` was, as /proc shows it now; None if it is no longer there."""
        stat = table.get(proc.pid)
        if (
            stat is None
            or not procfs.same_start(stat.start, proc.start)
            or proc.pid in self.live
            or proc.pid in self.own_pids
        ):
            return None
        info = procfs.read_info(proc.pid)
        if info is None or info.kthread or not procfs.same_start(info.start, proc.start):
            return None
        return info

    def prune(self, now: int | None = None) -> None:
        """Forget exited processes older than ``keep_exited`` that have no children left and
        are not zombies (a zombie still exists: it stays until its parent reaps it)."""
        now = self.now() if now is None else now
        self._check_zombies(now)
        limit = now - self.keep_exited_ns
        for proc in list(self.exited.values()):
            if proc.ended is None or proc.ended > limit:
                break  # oldest first: the rest are younger
            self._maybe_prune(proc, limit)

    def _maybe_prune(self, proc: Proc, limit: int) -> None:
        """Forget ``proc``, then its parent if that is now an old exit with no children."""
        while (
            proc.ended is not None
            and proc.ended <= limit
            and not proc.children
            and proc.key in self.procs
            and not self._unreaped(proc)
        ):
            key = proc.key
            del self.procs[key]
            del self.exited[key]
            if self.recent_exit.get(proc.pid) is proc:
                del self.recent_exit[proc.pid]
            group = self.groups[proc.group]
            group.members.discard(key)
            if key in group.roots:
                group.roots.remove(key)
            self._delta.removed.append(key)
            self._delta.groups.add(group.name)
            self.revision += 1
            parent = self.procs.get(proc.parent) if proc.parent is not None else None
            if parent is None:
                return
            del parent.children[key]
            proc = parent

    def _check_zombies(self, now: int) -> None:
        """Show a zombie as one from a second after its exit, not only once it is old enough
        to be pruned: each exit is looked at once (signal 0, then /proc only if the PID
        exists), and each zombie at every upkeep until its parent reaps it."""
        settled = now - ZOMBIE_CHECK_NS
        queue = self._exits_to_check
        while queue and (queue[0].ended or 0) <= settled:
            proc = queue.popleft()  # revived by an exec (ended None again): nothing to check
            if proc.ended is not None and proc.key in self.procs and self._unreaped(proc):
                self._zombies[proc.key] = proc
        for key, proc in list(self._zombies.items()):
            if key not in self.procs:
                del self._zombies[key]  # pruned once reaped
            elif not self._unreaped(proc):
                del self._zombies[key]
                self._delta.changed.add(key)  # reaped: an exit like any other now
                self.revision += 1

    def _unreaped(self, proc: Proc) -> bool:
        """Is the exited ``proc`` a zombie still (its exit event came when it exited, not when
        it was reaped)? One /proc read, if the PID exists at all."""
        stat = self.read_stat(proc.pid)
        zombie = (
            stat is not None and stat.state == "Z" and procfs.same_start(stat.start, proc.start)
        )
        if zombie and not proc.zombie:
            self._delta.changed.add(proc.key)
            self.revision += 1
        # no longer one: _check_zombies tells it, or a prune forgets it at once
        proc.zombie = zombie
        return zombie

    def now(self) -> int:
        return time.clock_gettime_ns(time.CLOCK_BOOTTIME)

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
