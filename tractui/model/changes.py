"""Change tracking: what a batch changed (:class:`Delta`), what a reader has not seen yet
(:class:`Journal`), and a revision that moves at every change a saved state shows.

A store's primitives (:class:`tractui.model.store.Store`) note each change here as they make it,
so no caller has to remember to: the revision cannot be forgotten, nor set by hand.
"""

from __future__ import annotations

import weakref
from collections.abc import Sized
from dataclasses import dataclass, field
from typing import NamedTuple

Key = tuple[int, int]  # (pid, start in ns since boot)


class MemberEvent(NamedTuple):
    """One thing that happened to a member, in kernel order, for event logs and subscribers."""

    ts: int  # ns since boot (CLOCK_BOOTTIME): the kernel's time for fork/exec/exit
    kind: str  # "root" (launched or attached), "adopt" (found in /proc), "fork", "exec", "exit"
    key: Key
    group: str
    detail: str  # root/adopt/exec: the command line; fork: the forker's PID; exit: the status
    # what the event stream says of the process then (OpenTelemetry's process attributes):
    ppid: int = 0  # fork: the forker; else its parent at the time (0: unknown)
    argv: tuple[str, ...] = ()  # root/adopt/exec: its command line; () if not read
    comm: str = ""
    exe: str = ""
    code: int | None = None  # exit: the status as a shell gives it (128+N for signal N)
    signal: int | None = None  # exit: the signal that ended it


@dataclass(slots=True)
class Delta:
    """What one batch changed. Keys refer to the store's procs (removed ones are gone)."""

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


class Changes:
    """The delta being gathered, the journals that read it, and the revision.

    Every ``note_*`` method but :meth:`note_volatile` moves the revision: the state file
    (:mod:`tractui.model.state`) saves when it moved, and the daemon's replies to ``list`` are
    cached until it does."""

    __slots__ = ("_journals", "_members", "_revision", "delta")

    def __init__(self, members: Sized) -> None:
        self._members = members  # the store's procs: a journal grows no bigger than them
        self.delta = Delta()
        self._journals: weakref.WeakSet[Journal] = weakref.WeakSet()
        self._revision = 0

    @property
    def revision(self) -> int:
        return self._revision

    def note_added(self, key: Key, group: str) -> None:
        delta = self.delta
        delta.added.append(key)
        delta.groups.add(group)
        self._revision += 1

    def note_exited(self, key: Key, group: str) -> None:
        delta = self.delta
        delta.exited.append(key)
        delta.groups.add(group)
        self._revision += 1

    def note_removed(self, key: Key, group: str) -> None:
        delta = self.delta
        delta.removed.append(key)
        delta.groups.add(group)
        self._revision += 1

    def note_changed(self, key: Key) -> None:
        self.delta.changed.add(key)
        self._revision += 1

    def note_volatile(self, key: Key) -> None:
        """A change of what a saved state does not restore (a thread count, a current ppid):
        readers see it, the revision stays (no save for it alone)."""
        self.delta.changed.add(key)

    def note_group(self, name: str) -> None:
        """A group came, went, was renamed, or its counters or launches changed."""
        self.delta.groups.add(name)
        self._revision += 1

    def note_event(self, event: MemberEvent) -> None:
        self.delta.log.append(event)

    def note_reset(self) -> None:
        """Every member may have changed (a mirror loaded anew)."""
        self.delta.reset = True
        self._revision += 1

    def take(self, events: int = 0, lost: int = 0) -> Delta:
        """The delta gathered since the last take (every journal notes it); a new one starts."""
        delta, self.delta = self.delta, Delta()
        for journal in self._journals:
            journal.note(delta)
        delta.events = events
        delta.lost = lost
        return delta

    def journal(self) -> Journal:
        """A new :class:`Journal` of these changes (its first take says "all")."""
        journal = Journal(self)
        self._journals.add(journal)
        return journal

    def _bound(self) -> int:
        return 2 * len(self._members) + 1024


class Journal:
    """The members that changed since its reader last looked (:meth:`Changes.journal`).

    For readers that keep something per member and redo only what changed: the snapshot rows
    of the UI, the encoded members of the state file. A reader that looks seldom still sees
    every change; its journal grows no bigger than the store (past that it says "all")."""

    __slots__ = ("__weakref__", "_changes", "everything", "groups", "keys")

    def __init__(self, changes: Changes) -> None:
        self._changes = changes
        self.keys: set[Key] = set()
        self.groups: set[str] = set()  # names of groups created, changed or removed
        self.everything = True  # a new reader has seen nothing yet

    @property
    def source(self) -> Changes:
        return self._changes

    def note(self, delta: Delta) -> None:
        if self.everything:
            return
        if delta.reset or len(self.keys) > self._changes._bound():
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
        self.note(self._changes.delta)  # changes made since the last take of the delta, too
        keys, groups, everything = self.keys, self.groups, self.everything
        self.keys, self.groups, self.everything = set(), set(), False
        return keys, groups, everything
