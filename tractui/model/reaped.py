"""The CPU that exit records lack, recovered from what the members' reapers were given.

A taskstats exit record's CPU (``run_ns``, the task's sum_exec_runtime) is read in the exit
path, at taskstats_exit(), and the scheduler updates that runtime lazily (at ticks and
switches): a record lacks the CPU since the last update, and the rest of the exit after it
(exit_mm and more). Measured here (HZ 250): ~1.1 ms a process, a third of ``/bin/true``'s CPU,
29% of ``python3 -S -c pass``'s, 4% of a 30 ms computation. No single record is exact.

What is exact is what reaping gives: wait_task_zombie adds the child's whole CPU (its
cputime_adjusted, to its end) and the child's own cutime/cstime to the parent's cutime/cstime
(/proc/PID/stat fields 16 and 17, in clock ticks), and wait4() returns the same of the child it
reaps (to the µs). So, per member P and per mode (user, system):

    corr(P) = max over readings ( (cut(P) - base(P)) - Σ total(C) )

over the members C whose exit event named P as their parent (their reaper), where
``total(C) = C's record account + corr(C) + what C reaped itself`` (the kernel adds a child's
cutime to its reaper's too). ``base(P)`` is 0 for a member that joined by its fork (the kernel
zeroes cutime at fork), else what the /proc read it joined by showed (what it reaped before is
not its group's). For a launched root, which the engine reaps with wait4(),
the rusage R gives ``corr(root) = R - base - own record - Σ total(kids)``. The group's CPU is
then its live members' /proc CPU, plus its ended members' records, plus every member's
correction (``Group.unrecorded_*``): exact, for the CPU its reapers reaped.

A correction never falls, and is never below 0: a child seen ended and not yet reaped, or a
parent that ignores SIGCHLD (its children are reaped by the kernel, its cutime never grows),
leaves it where it was. Its total is kept, split between the modes so that each only grows
(:func:`raise_to`). /proc's cutime is in clock ticks (USER_HZ: 10 ms), cut down: a reading
counts the middle of the tick it is in (:func:`within_tick`), so it is exact to half a tick a
mode.

Order: a reaper's reading at time T counts the children it reaped by T, whose exit events and
records come on two sockets, a little after. So a reading is applied SETTLE_NS after it was
taken, against the children that ended by then (those that ended after T + MARGIN_NS are taken
out again: they were not reaped by T). A child's late record, or its own correction, is added
to its reaper's sum when it comes.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from tractui.kernel import procfs
from tractui.kernel.procfs import CLK_TCK
from tractui.model.changes import Key
from tractui.model.store import Proc, Store

US_PER_TICK = 1_000_000 // CLK_TCK
# a reading waits this long for the exit events and records of what it reaped (they come a few
# ms after the exit; tens of ms on a loaded machine: see the tracker's EXIT_EVENT_LAG_NS)
SETTLE_NS = 1_000_000_000
# The kernel sends a child's exit event after it woke its parent (exit_notify, then
# proc_exit_connector): the parent may reap it, and a reading count it, just before the event's
# time. A child that ended this soon after a reading counts as reaped by it (at worst that
# makes a reading lower, never higher).
MARGIN_NS = 50_000_000
# a reaper's recent children are kept this long (their end times), for the readings pending
RECENT_NS = 4 * SETTLE_NS


class Reader(Protocol):
    def stat(self, pid: int) -> procfs.Stat | None: ...


@dataclass(slots=True)
class Fix:
    """A member's part of the CPU no record holds: its base, its correction, its reaped sum."""

    base_user: int = 0  # ticks: its cutime, cstime when it joined by a /proc read
    base_system: int = 0
    user_us: int = 0  # its correction, corr(P)
    system_us: int = 0
    # what the members its exit events named it the parent of gave it, as counted here (their
    # records, corrections and what they reaped: given_us)
    reaped_user_us: int = 0
    reaped_system_us: int = 0
    # the children's sums added lately: (their end, user µs, system µs), oldest first
    recent: deque[tuple[int, int, int]] | None = None
    # when its last reading applied was taken (ns since boot; None: none yet): what a child
    # that ended by then gives it later (a late record, a late exit event) is in its
    # correction already (not saved: no record comes late across a restart)
    read_at: int | None = None

    def to_wire(self) -> list[int]:
        return [
            self.base_user,
            self.base_system,
            self.user_us,
            self.system_us,
            self.reaped_user_us,
            self.reaped_system_us,
        ]

    @classmethod
    def from_wire(cls, value: object) -> Fix:
        """The inverse of :meth:`to_wire`; ValueError saying what for anything else."""
        if (
            not isinstance(value, list)
            or len(value) != 6
            or not all(type(v) is int and 0 <= v < 1 << 63 for v in value)
        ):
            raise ValueError(f"bad cpu_fix {value!r:.80}: expected 6 integers >= 0")
        return cls(*value)


class Reading(NamedTuple):
    """What a reaper was given by ``at`` (ns since boot), base taken off: from its cutime and
    cstime (``waited`` False), or from wait4()'s rusage of it (True: its own CPU is in it)."""

    key: Key
    at: int
    user_us: int
    system_us: int
    waited: bool


def raise_to(user: int, system: int, x_user: int, x_system: int) -> tuple[int, int]:
    """A correction (user, system) after a reading that gives (x_user, x_system): its total
    raised to the reading's, if that is higher, each mode growing (never falling) by a share of
    what the reading says it grew by. The total is what is exact: a record's split into user
    and system (by its tick samples) may differ from the kernel's, so a mode alone may read
    lower than it was while the other reads higher."""
    need = x_user + x_system - user - system
    if need <= 0:
        return user, system
    up_user = max(0, x_user - user)
    up_system = max(0, x_system - system)
    add_user = need * up_user // (up_user + up_system)  # need <= up_user + up_system
    return user + add_user, system + need - add_user


def within_tick(read_us: int) -> int:
    """What a reaper was given in a mode, from its /proc reading ``read_us``: whole ticks, cut
    down, so the truth is in [read, read + a tick). The middle of that tick: a reading is cut
    down by half a tick on average, which on a burst of 1.4 s is 0.7% of it. (Not the middle
    of what its reaped members' sum leaves of it: that sum holds their own corrections, each
    a middle too, and the errors would add up a chain of reapers instead of cancelling: the
    group's count is its top reaper's reading, to half a tick.) A reading of 0 ticks stays 0:
    a mode with nothing in it is common (children that made no system call)."""
    return read_us + US_PER_TICK // 2 if read_us > 0 else 0


def total_us(proc: Proc) -> tuple[int, int]:
    """A member's CPU as tractui counts it: its records' account and its correction."""
    user = system = 0
    if proc.account is not None:
        user, system = proc.account.utime_us, proc.account.stime_us
    fix = proc.fix
    if fix is not None:
        user += fix.user_us
        system += fix.system_us
    return user, system


def given_us(proc: Proc) -> tuple[int, int]:
    """What reaping the member ``proc`` gives its reaper, as far as tractui counts it: its
    total, and what it had reaped itself (the kernel adds the child's cutime and cstime to its
    reaper's), its base included (reaped before it joined: in its cutime all the same)."""
    user, system = total_us(proc)
    fix = proc.fix
    if fix is not None:
        user += fix.reaped_user_us + fix.base_user * US_PER_TICK
        system += fix.reaped_system_us + fix.base_system * US_PER_TICK
    return user, system


class Unrecorded:
    """The corrections of a store's members (:mod:`tractui.model.reaped`): readings taken, kept
    until they settle, applied to the members and their groups (``Group.unrecorded_*``)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.pending: deque[Reading] = deque()
        self._waiting: dict[Key, int] = {}  # how many readings of each are pending
        self.reapers: dict[Key, None] = {}  # live members whose exit events named them a parent
        # by reaper: its ended children with no record of their own yet, to mark reaped_read,
        # each with when what it reaped ended (the child's end; a grandchild's, rolled up
        # from a reaper that ended: the end of that reaper, whose cutime holds it)
        self._unrecorded_kids: dict[Key, list[tuple[Key, int]]] = {}

    def joined(self, proc: Proc, cut_ticks: tuple[int, int]) -> None:
        """``proc`` joins by a /proc read that showed ``cut_ticks`` reaped already."""
        if cut_ticks != (0, 0):
            fix = self._fix(proc)
            fix.base_user, fix.base_system = cut_ticks

    def ended(self, proc: Proc, reaper: Proc | None, now: int) -> None:
        """``proc`` ended (its record, if it came, in its account); its exit event named
        ``reaper`` its parent (None: not a member, or no exit event)."""
        self.reapers.pop(proc.key, None)
        if reaper is None or reaper is proc or proc.ended is None:
            return
        proc.reaper = reaper.key
        self.reapers[reaper.key] = None
        kids = self._unrecorded_kids
        if not proc.own_record:
            kids.setdefault(reaper.key, []).append((proc.key, proc.ended))
        unmarked = kids.get(proc.key)
        if unmarked:  # in its cutime, which its reaper reaps now: its reaper's readings mark them
            via = proc.ended
            kids.setdefault(reaper.key, []).extend((key, max(at, via)) for key, at in unmarked)
        user, system = given_us(proc)
        self._reaped(reaper, proc.ended, user, system, now)

    def unended(self, proc: Proc) -> None:
        """``proc``'s end is taken back (its leader ended in an exec from another thread)."""
        reaper = self.store.procs.get(proc.reaper) if proc.reaper is not None else None
        proc.reaper = None
        if reaper is None or reaper.fix is None:
            return
        user, system = given_us(proc)
        fix = reaper.fix
        fix.reaped_user_us = max(0, fix.reaped_user_us - user)
        fix.reaped_system_us = max(0, fix.reaped_system_us - system)
        if fix.recent and proc.ended is not None:  # else a pending reading takes it off again
            fix.recent = deque(entry for entry in fix.recent if entry[0] != proc.ended)

    def recorded(self, proc: Proc, user: int, system: int, now: int) -> None:
        """A record of the ended ``proc`` came after its exit event, with (user, system) µs.
        A launched root's wait4 reading, applied with no record to take off, has it in the
        root's correction already (``reaped_read``): it moves from there."""
        if proc.reaper is None and proc.reaped_read and proc.fix is not None:
            user, system = self._take_back(proc, proc.fix, user, system)
        self.grown(proc, user, system, now)

    def grown(self, proc: Proc, user: int, system: int, now: int) -> None:
        """What the ended ``proc`` gave its reaper grew (a record that came after its exit
        event, its correction, what it reaped): into its reaper's sum, and on up."""
        if proc.reaper is None or proc.ended is None or not (user or system):
            return
        reaper = self.store.procs.get(proc.reaper)
        if reaper is not None:
            self._reaped(reaper, proc.ended, user, system, now)

    def read(self, reader: Reader, now: int) -> int:
        """Read the cutime and cstime of each live reaper (one stat read each): a reading
        each, applied once it settled. How many were read."""
        procs = self.store.procs
        n = 0
        for key in list(self.reapers):
            proc = procs.get(key)
            if proc is None or proc.ended is not None:
                del self.reapers[key]
                if proc is None or not self.waiting(key):
                    self._unrecorded_kids.pop(key, None)
                continue
            stat = reader.stat(key[0])
            if stat is None or not procfs.same_start(stat.start, key[1]):
                continue
            fix = proc.fix
            base_user = fix.base_user if fix is not None else 0
            base_system = fix.base_system if fix is not None else 0
            self.pend(
                Reading(
                    key,
                    now,
                    (stat.cutime - base_user) * US_PER_TICK,
                    (stat.cstime - base_system) * US_PER_TICK,
                    False,
                )
            )
            n += 1
        return n

    def waited(self, key: Key, at: int, user_us: int, system_us: int) -> None:
        """The engine reaped its launched ``key`` with wait4(): its rusage, applied once the
        root's record and its children's have come."""
        proc = self.store.procs.get(key)
        if proc is None:
            return
        fix = proc.fix
        if fix is not None:
            user_us -= fix.base_user * US_PER_TICK
            system_us -= fix.base_system * US_PER_TICK
        self.pend(Reading(key, at, user_us, system_us, True))

    def pend(self, reading: Reading) -> None:
        """Keep ``reading`` until it settles."""
        self.pending.append(reading)
        self._waiting[reading.key] = self._waiting.get(reading.key, 0) + 1

    def waiting(self, key: Key) -> bool:
        """A reading of ``key`` has not settled yet (it is not to be forgotten before)."""
        return key in self._waiting

    def settle(self, now: int) -> None:
        """Apply each reading taken SETTLE_NS ago or more."""
        pending = self.pending
        waiting = self._waiting
        while pending and pending[0].at + SETTLE_NS <= now:
            reading = pending.popleft()
            left = waiting.pop(reading.key, 1) - 1
            if left > 0:
                waiting[reading.key] = left
            self.apply(reading, now)

    def apply(self, reading: Reading, now: int) -> None:
        """One reading: the member's correction raised to what it says, if higher."""
        proc = self.store.procs.get(reading.key)
        if proc is None:
            return
        # what the members it reaped by then gave it, as counted here (records, corrections)
        given_user = given_system = 0
        fix = proc.fix
        if fix is not None:
            given_user, given_system = fix.reaped_user_us, fix.reaped_system_us
            if fix.recent:
                after = reading.at + MARGIN_NS
                oldest = after - SETTLE_NS  # what came before this ended before the reading
                for ended, u, s in reversed(fix.recent):
                    if ended > after:  # not reaped when it was read: not in it
                        given_user -= u
                        given_system -= s
                    elif ended < oldest:
                        break
        if reading.waited:  # wait4's rusage, to the µs: its own record is in it
            user, system = reading.user_us, reading.system_us
            if proc.account is not None:
                user -= proc.account.utime_us
                system -= proc.account.stime_us
            if not proc.own_record:  # no record: its own CPU is in its correction now
                proc.reaped_read = True
        else:
            user = within_tick(reading.user_us)
            system = within_tick(reading.system_us)
        user -= given_user
        system -= given_system
        if fix is not None and (fix.read_at is None or reading.at > fix.read_at):
            fix.read_at = reading.at  # (none: it reaped no member, none to come late)
        old_user, old_system = (fix.user_us, fix.system_us) if fix is not None else (0, 0)
        new_user, new_system = raise_to(old_user, old_system, user, system)
        if (new_user, new_system) != (old_user, old_system):
            self.add(proc, new_user - old_user, new_system - old_system, now)
        kids = self._unrecorded_kids.pop(proc.key, None)
        if kids:  # those with no record that it had reaped by then: in its correction now
            procs = self.store.procs
            later = []
            for key, via in kids:
                child = procs.get(key)
                if child is None or child.own_record or child.reaped_read:
                    continue
                if child.ended is not None and via <= reading.at:
                    child.reaped_read = True
                else:
                    later.append((key, via))
            if later and proc.key in procs:
                self._unrecorded_kids[proc.key] = later

    def add(self, proc: Proc, user: int, system: int, now: int) -> None:
        """``proc``'s correction grows: its group's too, and its reaper's sum if it ended."""
        fix = self._fix(proc)
        fix.user_us += user
        fix.system_us += system
        store = self.store
        group = store.groups.get(proc.group)
        if group is not None:
            group.unrecorded_user_us += user
            group.unrecorded_system_us += system
            store.changes.note_group(group.name)
        store.changes.note_changed(proc.key)
        self.grown(proc, user, system, now)

    def _reaped(self, reaper: Proc, ended: int, user: int, system: int, now: int) -> None:
        fix = self._fix(reaper)
        fix.reaped_user_us += user
        fix.reaped_system_us += system
        if fix.read_at is not None and ended <= fix.read_at + MARGIN_NS:
            # a reading applied already counted this child reaped, and took what it gives
            # now (a record or an exit event later than SETTLE_NS) into the correction: it
            # moves from there, else it counts twice (if that reading was wrong, the next
            # one raises the correction back)
            user, system = self._take_back(reaper, fix, user, system)
        if reaper.ended is not None:
            self.grown(reaper, user, system, now)  # what it gave its own reaper grew
            if not self.waiting(reaper.key):
                return  # no reading of it is to come
        recent = fix.recent
        if recent is None:
            recent = fix.recent = deque()
        recent.append((ended, user, system))
        while recent and recent[0][0] < now - RECENT_NS:
            recent.popleft()
        self.store.changes.note_changed(reaper.key)

    def _take_back(self, proc: Proc, fix: Fix, user: int, system: int) -> tuple[int, int]:
        """Up to (user, system) out of ``proc``'s correction, and its group's: what now
        counts elsewhere (a record). What could not be taken back."""
        back_user, back_system = min(user, fix.user_us), min(system, fix.system_us)
        if back_user or back_system:
            fix.user_us -= back_user
            fix.system_us -= back_system
            group = self.store.groups.get(proc.group)
            if group is not None:
                group.unrecorded_user_us -= back_user
                group.unrecorded_system_us -= back_system
                self.store.changes.note_group(group.name)
            self.store.changes.note_changed(proc.key)
        return user - back_user, system - back_system

    @staticmethod
    def _fix(proc: Proc) -> Fix:
        fix = proc.fix
        if fix is None:
            fix = proc.fix = Fix()
        return fix
