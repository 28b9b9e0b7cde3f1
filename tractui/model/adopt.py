"""Reconciliation with /proc: adopting running processes, finding what events missed.

Everything here reads /proc through a :class:`ProcReader`, which the tracker is given (the real
one, :class:`ProcFS`, unless told): unit tests inject a table of their own, and need no PIDs
that /proc cannot have.

- :class:`Adopter`: attach a running process and its descendants; after lost events, drop the
  members that are gone and adopt what they forked (:meth:`Adopter.rescan`); put saved members
  back at start (:meth:`Adopter.restore`).
- :class:`Zombies`: which exited members /proc still shows as zombies (not reaped yet).
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from tractui.errors import UserError
from tractui.events import ProcInfo
from tractui.kernel import procfs
from tractui.model.changes import Key
from tractui.model.store import Group, Proc, Store

# an exit is looked at in /proc once, this long after it: a zombie by then is one its parent
# has not reaped (most are reaped within microseconds), shown Z until it is
ZOMBIE_CHECK_NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Planned:
    """One process an attach adds, as /proc showed it when the attach was planned: a PID given
    (``parent`` None) or a descendant of one, under the planned process whose PID ``parent``
    is (always one planned before it)."""

    info: ProcInfo
    parent: int | None


class ProcReader(Protocol):
    """What the model reads of /proc."""

    def stat(self, pid: int) -> procfs.Stat | None:
        """/proc/PID/stat, None if there is no such process."""

    def stat_if_present(self, pid: int) -> procfs.Stat | None:
        """:meth:`stat`, for a PID that is likely gone (an exit, a PID in doubt)."""

    def info(self, pid: int) -> ProcInfo | None:
        """Everything kept of a process (:func:`tractui.kernel.procfs.read_info`)."""

    def tgid(self, pid: int) -> int | None:
        """The process a task id belongs to (another one for a thread)."""

    def scan(self) -> dict[int, procfs.Stat]:
        """Every process now, by pid."""


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


class ProcFS:
    """The real /proc (:mod:`tractui.kernel.procfs`)."""

    def stat(self, pid: int) -> procfs.Stat | None:
        return procfs.read_stat(pid)

    def stat_if_present(self, pid: int) -> procfs.Stat | None:
        return stat_if_present(pid)

    def info(self, pid: int) -> ProcInfo | None:
        return procfs.read_info(pid)

    def tgid(self, pid: int) -> int | None:
        return procfs.read_tgid(pid)

    def scan(self) -> dict[int, procfs.Stat]:
        return procfs.scan()


class Members(Protocol):
    """What reconciliation needs of the tracker (:class:`tractui.model.tracker.Tracker`): its
    store, and the tracker's own ways for a member to join or end. A protocol, so that this
    module does not import the tracker that imports it."""

    procs: dict[Key, Proc]
    live: dict[int, Proc]
    groups: dict[str, Group]
    own_pids: set[int]
    offset: int

    def insert(self, proc: Proc, parent: Proc | None = None) -> None: ...
    def order_exited(self) -> None: ...
    def add_root(self, group_name: str, info: ProcInfo, ts: int | None = None) -> Proc: ...
    def adopt(self, group: Group, info: ProcInfo, parent: Proc | None) -> Proc: ...
    def gone(self, proc: Proc) -> None: ...
    def log_event(self, ts: int, kind: str, proc: Proc, detail: str) -> None: ...
    def now(self) -> int: ...


class Adopter:
    """Reconciles a tracker's members with the processes /proc shows."""

    def __init__(self, tracker: Members, reader: ProcReader) -> None:
        self.tracker = tracker
        self.reader = reader
        self.rescanned_at = 0  # /proc time of the last rescan (see Tracker._fork)

    def check_attachable(self, pid: int, allow_zombie: bool = False) -> ProcInfo:
        """The process ``pid`` as /proc shows it, or a UserError saying why it can't be tracked."""
        if pid <= 0:
            raise UserError(f"bad PID {pid}: give a positive process ID")
        if pid == 1:
            raise UserError("PID 1 is init: it is the ancestor of everything and can't be tracked")
        if pid in self.tracker.own_pids:
            raise UserError(f"PID {pid} is tractui itself: pick another process")
        info = self.reader.info(pid)
        if info is None:
            raise UserError(f"no process with PID {pid}: check the PID (it may have just exited)")
        if info.kthread:
            raise UserError(f"PID {pid} ({info.comm}) is a kernel thread: it can't be tracked")
        tgid = self.reader.tgid(pid)
        if tgid is not None and tgid != pid:
            raise UserError(
                f"{pid} is a thread of process {tgid} ({info.comm}): attach PID {tgid} instead"
            )
        if info.state in ("Z", "X") and not allow_zombie:
            raise UserError(f"PID {pid} ({info.comm}) has already exited")
        member = self.tracker.live.get(pid)
        if member is not None:
            raise UserError(f"PID {pid} ({info.comm}) is already in group {member.group!r}")
        return info

    def attach(
        self, group_name: str, pid: int, allow_zombie: bool = False, descendants: bool = True
    ) -> list[Proc]:
        """:meth:`tractui.model.tracker.Tracker.attach`."""
        if not descendants:
            info = self.check_attachable(pid, allow_zombie)
            return [self.tracker.add_root(group_name, info)]
        return self.attach_planned(group_name, self.plan([pid], allow_zombie))

    def plan(
        self, pids: Sequence[int], allow_zombie: bool = False, exclude: Iterable[int] = ()
    ) -> list[Planned]:
        """Exactly what attaching ``pids`` adds now (all or none: a UserError says why a PID
        cannot be attached), parents before children: each PID given, then its descendants
        by today's parent pointers, one /proc scan for all.

        Left out, with everything below them: tractui's own processes (a descendant of the
        process attached may be this very UI), members already tracked (they and what they
        fork stay in their group), kernel threads, processes gone since the scan. Left out
        alone: zombies (their exit was reported already; they have no children left). A PID
        given twice, or given after an ancestor of it was, is planned once, under it.
        ``exclude``: more PIDs to leave out as tractui's own (a daemon's client asking)."""
        pids = list(dict.fromkeys(pids))
        own = self.tracker.own_pids.union(exclude)
        for pid in pids:
            if pid in own:
                raise UserError(f"PID {pid} is tractui itself: pick another process")
        infos = [self.check_attachable(pid, allow_zombie) for pid in pids]
        table = self.reader.scan()
        children: dict[int, list[int]] = {}
        for pid, stat in table.items():
            children.setdefault(stat.ppid, []).append(pid)
        tracker = self.tracker
        planned: list[Planned] = []
        seen: set[int] = set()
        for info in infos:
            if info.pid in seen:
                continue  # a descendant of a PID given before it
            seen.add(info.pid)
            planned.append(Planned(info, None))
            stack = [
                (child, info.pid) for child in sorted(children.get(info.pid, ()), reverse=True)
            ]
            while stack:
                pid, parent = stack.pop()
                if pid in seen or pid in own or pid in tracker.live:
                    continue
                stat = table[pid]
                if stat.ended:
                    continue
                child = self.reader.info(pid)
                if child is None or child.kthread or not procfs.same_start(child.start, stat.start):
                    continue
                seen.add(pid)
                planned.append(Planned(child, parent))
                stack.extend((c, pid) for c in sorted(children.get(pid, ()), reverse=True))
        return planned

    def attach_planned(self, group_name: str, planned: Sequence[Planned]) -> list[Proc]:
        """Add what :meth:`plan` planned to ``group_name`` (created if new): each PID given a
        root, each descendant under its planned parent. Returns them in the plan's order."""
        tracker = self.tracker
        added: dict[int, Proc] = {}
        for item in planned:
            if item.parent is None:
                proc = tracker.add_root(group_name, item.info)
            else:
                parent = added[item.parent]
                group = tracker.groups[parent.group]
                proc = tracker.adopt(group, item.info, parent)
                group.forks += 1
                tracker.log_event(tracker.now(), "adopt", proc, proc.command())
            added[item.info.pid] = proc
        return list(added.values())

    def rescan(self) -> None:
        """After lost events: drop members that are gone, adopt what /proc says they forked."""
        tracker = self.tracker
        self.rescanned_at = time.monotonic_ns() + tracker.offset
        table = {pid: stat for pid, stat in self.reader.scan().items() if not stat.ended}
        for proc in list(tracker.live.values()):
            stat = table.get(proc.pid)
            if stat is None or not procfs.same_start(stat.start, proc.start):
                tracker.gone(proc)  # ended (the kernel reports exits of zombies only)
        for pid in sorted(table):
            if pid not in tracker.live:
                self.adopt_chain(pid, table)

    def restore(
        self, procs: Iterable[Proc], same_boot: bool = True
    ) -> tuple[list[Proc], list[Proc], list[Proc]]:
        """:meth:`tractui.model.tracker.Tracker.restore`."""
        tracker = self.tracker
        now = tracker.now()
        self.rescanned_at = time.monotonic_ns() + tracker.offset
        table = {pid: stat for pid, stat in self.reader.scan().items() if not stat.ended}
        kept: list[Proc] = []
        gone: list[Proc] = []
        for proc in procs:
            if proc.key in tracker.procs:
                continue
            group = tracker.groups[proc.group]
            parent = tracker.procs.get(proc.parent) if proc.parent is not None else None
            if proc.alive:
                info = self._running(proc, table) if same_boot else None
                if info is not None:
                    proc._absorb(info)
                    tracker.insert(proc, parent)
                    kept.append(proc)
                    continue
                proc.ended, proc.exit, proc.lost_exit, proc.threads = now, None, True, 0
                group.exits += 1
                gone.append(proc)
                tracker.log_event(now, "exit", proc, "gone (ended while not tracked)")
            elif not same_boot:
                proc.ended = now  # a time of another boot: pruned as if it had just ended
            tracker.insert(proc, parent)
        tracker.order_exited()  # prune reads them oldest first
        adopted: list[Proc] = []
        for pid in sorted(table):
            if pid not in tracker.live:
                adopted.extend(self.adopt_chain(pid, table))
        return kept, gone, adopted

    def _running(self, proc: Proc, table: dict[int, procfs.Stat]) -> ProcInfo | None:
        """The process ``proc`` was, as /proc shows it now; None if it is no longer there."""
        stat = table.get(proc.pid)
        if (
            stat is None
            or not procfs.same_start(stat.start, proc.start)
            or proc.pid in self.tracker.live
            or proc.pid in self.tracker.own_pids
        ):
            return None
        info = self.reader.info(proc.pid)
        if info is None or info.kthread or not procfs.same_start(info.start, proc.start):
            return None
        return info

    def adopt_chain(self, pid: int, table: dict[int, procfs.Stat]) -> list[Proc]:
        """Adopt ``pid`` if its current ancestry reaches a live member (and not tractui)."""
        tracker = self.tracker
        chain: list[int] = []
        cursor = pid
        seen: set[int] = set()
        while cursor > 1 and cursor not in seen:
            if cursor in tracker.own_pids:
                return []
            member = tracker.live.get(cursor)
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
        parent = tracker.live[cursor]
        group = tracker.groups[parent.group]
        for child_pid in reversed(chain):
            info = self.reader.info(child_pid)
            if info is None or info.kthread:
                break
            proc = tracker.adopt(group, info, parent)
            group.forks += 1
            tracker.log_event(tracker.now(), "adopt", proc, proc.command())
            adopted.append(proc)
            parent = proc
        return adopted


class Zombies:
    """Exited members that /proc still shows in state Z: their parent has not reaped them.

    Each exit is looked at once, a second after it (signal 0, then /proc only if the PID
    exists), and each zombie at every upkeep until its parent reaps it, so a zombie shows as one
    from then on, not only once it is old enough to be pruned (a zombie is never pruned)."""

    def __init__(self, store: Store, reader: ProcReader) -> None:
        self.store = store
        self.reader = reader
        self.to_check: deque[Proc] = deque()  # exits, oldest first
        self.zombies: dict[Key, Proc] = {}  # exited members /proc still shows as zombies

    def exited(self, proc: Proc) -> None:
        """``proc`` just exited: look at it once it has had a second to be reaped."""
        self.to_check.append(proc)

    def check(self, now: int) -> None:
        """Look at the exits a second old or more, and at every zombie again."""
        settled = now - ZOMBIE_CHECK_NS
        queue = self.to_check
        procs = self.store.procs
        while queue and (queue[0].ended or 0) <= settled:
            proc = queue.popleft()  # revived by an exec (ended None again): nothing to check
            if proc.ended is not None and proc.key in procs and self.unreaped(proc):
                self.zombies[proc.key] = proc
        for key, proc in list(self.zombies.items()):
            if key not in procs:
                del self.zombies[key]  # pruned once reaped
            elif not self.unreaped(proc):
                del self.zombies[key]
                self.store.changes.note_changed(key)  # reaped: an exit like any other now

    def unreaped(self, proc: Proc) -> bool:
        """Is the exited ``proc`` a zombie still (its exit event came when it exited, not when
        it was reaped)? One /proc read, if the PID exists at all."""
        stat = self.reader.stat_if_present(proc.pid)
        zombie = (
            stat is not None and stat.state == "Z" and procfs.same_start(stat.start, proc.start)
        )
        if zombie and not proc.zombie:
            self.store.changes.note_changed(proc.key)
        # no longer one: check() tells it, or a prune forgets it at once
        proc.zombie = zombie
        return zombie
