"""The UI model: what the UI draws and shows, built in the session thread and never changed after.

A :class:`Snapshot` holds a :class:`GroupRow` per group and a :class:`ProcRow` per member, with
the htop columns; :class:`SnapshotRows` builds one from a tracker, rebuilding only the rows that
changed. The other types are what one command returns to a dialog (:class:`Details`,
:class:`QuitPlan`, :class:`Resolved` for an attach's preview). Plain frozen data: the UI reads
it from any thread.

No Textual here, and no engine: :mod:`tractui.session` runs the engine and builds these.
"""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeGuard

from tractui.events import ExitStatus
from tractui.gate import no_pause
from tractui.kernel import procfs
from tractui.kernel.meters import Meters
from tractui.kernel.peek import Peek
from tractui.kernel.sample import Sample
from tractui.kernel.threads import Thread
from tractui.model.account import Account
from tractui.model.adopt import Planned
from tractui.model.changes import Key
from tractui.model.store import UNKNOWN_EXEC_TIME, Proc
from tractui.model.tracker import Tracker
from tractui.model.trend import Series
from tractui.text import count_of, escape


@dataclass(frozen=True, slots=True)
class ProcRow:
    """One process of a snapshot, with its htop columns."""

    key: Key
    pid: int
    group: str
    parent: Key | None  # genealogical
    ppid: int  # current
    children: tuple[Key, ...]
    depth: int
    user: str
    state: str  # "R", "S", ...; "-" once exited
    cpu: float
    rss_kb: int
    ticks: int
    threads: int
    nice: int | None
    command: str  # escaped (tractui.text): what the tree shows
    alive: bool
    reparented: bool
    status: str  # "alive", "exit 3", "SIGKILL", "SIGABRT (core)", "gone"
    failed: bool  # a failure: a non-zero exit or a signal, not caused by tractui (by_you)
    by_you: bool = False  # ended because of a signal sent from tractui (Proc.by_you)
    # the timeline's (wall clock, epoch s): when it ended (None while alive), and the time of
    # each exec whose time is known
    ended: float | None = None
    exec_walls: tuple[float, ...] = ()
    priority: int | None = None  # PRI (stat field 18); None until sampled
    virt_kb: int = 0  # VIRT (statm)
    shr_kb: int = 0  # SHR (statm)
    mem_pct: float = 0.0  # MEM%: RSS over MemTotal
    started: float = 0.0  # START: wall clock (epoch s)
    path_len: int = 0  # how much of ``command`` is argv[0]'s directory (p hides it)


@dataclass(frozen=True, slots=True)
class GroupRow:
    """One group of a snapshot, with its aggregates."""

    name: str
    roots: tuple[Key, ...]
    live: int
    total: int
    cpu: float
    rss_kb: int
    # CPU seconds of every member that ever ran: the live ones' TIME+ (/proc) plus the ended
    # ones' exact accounts (the kernel's exit records), pruned members included
    cpu_time_s: float
    forks: int
    execs: int
    exits: int
    failed: int
    launched: bool  # has programs this UI launched (quitting may end them)
    log_path: str = ""  # where its launched programs write their output (the daemon's, if it runs)
    ended_by_you: int = 0  # members ended by a signal sent from tractui (not in failed)
    roots_failed: int = 0  # of failed, the group's roots (launched or attached)
    # the program launched last: "" (none), "running", or how it ended ("exit 3 after 1.2 s")
    last_outcome: str = ""
    last_failed: bool = False
    # its CPU% over the last 10 minutes, a point per sampling round, oldest first: the same
    # tuple until the next round (the header's sparkline); () without a history (a replay's)
    cpu_history: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One line of the event log: a fork, exec or exit of a member."""

    wall: float
    group: str
    kind: str  # "fork", "exec", "exit", "root"
    pid: int
    text: str  # escaped: shown as it is


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything the UI draws, at one instant. Never changes after it is published."""

    seq: int
    wall: float
    groups: tuple[GroupRow, ...]
    procs: Mapping[Key, ProcRow]
    events: int
    rate: float  # events/s over the last second or so
    lost: int
    state: str  # "running", "restarting", "down"
    banner: str  # empty, or what went wrong with the collector
    # per group, oldest first
    logs: Mapping[str, tuple[LogEntry, ...]] = field(default_factory=dict)
    branches: frozenset[Key] = frozenset()  # the processes with children
    mode: str = "embedded"  # or "daemon": who runs the engine
    # the threads of each multi-threaded live process (its main thread left out), by its key:
    # filled only while the tree shows thread rows (Session.show_threads); comm unescaped
    threads: Mapping[Key, tuple[Thread, ...]] = field(default_factory=dict)
    # the wall clock (epoch s) at the boot clock's 0: a process's start (its key's second
    # half, ns since boot) is at boot_wall + start / 1e9 on the wall clock
    boot_wall: float = 0.0
    meters: Meters | None = None  # the machine's meters (None: not read, as in a replay)

    def log(self, group: str | None) -> list[LogEntry]:
        """The event log of one group, or of every group (by time) when ``group`` is None."""
        if group is not None:
            return list(self.logs.get(group, ()))
        return sorted((e for entries in self.logs.values() for e in entries), key=lambda e: e.wall)


EMPTY = Snapshot(0, 0.0, (), MappingProxyType({}), 0, 0.0, 0, "starting", "")


@dataclass(frozen=True, slots=True)
class Details:
    """The details view of one process."""

    row: ProcRow
    argv: tuple[str, ...]
    exe: str
    cwd: str
    uid: int
    started: float  # wall clock
    parent: str  # "1234 sh -c ..." or "" for a root
    ppid_text: str
    peak_threads: int
    execs: tuple[tuple[str, ...], ...]
    # each exec's time, seconds after the process started (None: not known)
    exec_after: tuple[float | None, ...] = ()
    account: Account | None = None  # the kernel's account of an ended process, if it came
    accounting: str = ""  # why there are no accounts of ended processes; "" when there are
    lifetime: float | None = None  # seconds from its start to its exit; None while it runs
    peek: Peek | None = None  # open files, environment, PSS: read on opening (None: exited)
    trend: Series | None = None  # CPU% and RSS over the last 10 minutes


def lifetime_s(proc: Proc) -> float | None:
    """Seconds from a process's start to its exit (kernel times), None while it runs."""
    return (proc.ended - proc.start) / 1e9 if proc.ended is not None else None


@dataclass(frozen=True, slots=True)
class Ended:
    """One ended member of a group's history (kept on disk), as the group details list it.
    Its command is the process's own text, unescaped: whoever shows it escapes it."""

    ended: float  # wall clock (epoch s); 0.0 when unknown
    pid: int
    status: str  # "exit 0", "exit 1", "SIGKILL", ...
    failed: bool
    cpu_s: float | None  # from its kernel account; None without one
    peak_rss_kib: int | None
    command: str
    on_disk: bool = True  # False: still in the tree (not pruned yet), so not in the files yet
    by_you: bool = False  # ended by a signal sent from tractui (then never failed)


def ended_in_tree(proc: Proc, wall_now: float, now_ns: int) -> Ended:
    """An ended member still in memory as a history row (marked not on disk yet)."""
    ended_ns = proc.ended if proc.ended is not None else now_ns
    account = proc.account
    return Ended(
        ended=wall_now - (now_ns - ended_ns) / 1e9,
        pid=proc.pid,
        status=proc.exit.describe() if proc.exit is not None else "gone",
        failed=proc.counted_failed(),
        cpu_s=account.cpu_s if account is not None else None,
        peak_rss_kib=account.peak_rss_kib if account is not None else None,
        command=proc.command(),
        on_disk=False,
        by_you=proc.by_you(),
    )


@dataclass(frozen=True, slots=True)
class GroupDetails:
    """The details view of one group: its aggregates, the account of its ended members, its
    launch log, and its history (the ended members kept on disk, newest first)."""

    row: GroupRow
    ended: Account  # the kernel's accounts of its ended members, merged
    accounting: str  # why there are no accounts of ended processes; "" when there are
    created: float  # wall clock
    has_launches: bool = False  # programs were launched into it (here, earlier, by the daemon)
    daemon: bool = False  # a daemon's group (its launched programs are the daemon's)
    history: tuple[Ended, ...] = ()  # newest first
    # what to say of the history besides its entries: why there is none, what the cap cut,
    # damaged lines skipped ("" when nothing)
    history_notes: tuple[str, ...] = ()
    more: int = 0  # older entries not listed (over HISTORY_SHOWN)
    # ended members still in memory (the tree shows them; not on disk yet): the first rows of
    # history, on_disk False
    in_tree: int = 0
    trend: Series | None = None  # the live members' summed CPU% and RSS, the last 10 minutes
    # the CPU the exit records lack, from what its reapers were given (Group.unrecorded_s)
    unrecorded_s: float = 0.0


HISTORY_SHOWN = 1000  # the newest entries a group's details list; the rest are counted


def ended_entries(entries: Iterable[Mapping[str, Any]]) -> list[Ended]:
    """History entries in ``list --all`` form (:func:`tractui.model.history.entry_wire`) as
    :class:`Ended` rows, newest first; a field of the wrong type is left out, never trusted."""
    rows = []
    for e in entries:
        account = e.get("account")
        cpu: float | None = None
        rss: int | None = None
        if isinstance(account, Mapping):
            user, system = account.get("cpu_user_s"), account.get("cpu_system_s")
            if _number(user) and _number(system):
                cpu = float(user) + float(system)
            peak = account.get("peak_rss_kib")
            rss = peak if type(peak) is int else None
        try:
            failed = ExitStatus.from_json(e.get("exit")).failed
        except ValueError:
            failed = False  # none, or not one we can read
        status = e.get("status")
        wall = e.get("ended_wall")
        by_you = e.get("by_you") is True  # an older daemon's entries have none
        rows.append(
            Ended(
                ended=float(wall) if _number(wall) else 0.0,
                pid=e["pid"] if type(e.get("pid")) is int else 0,
                status=status if isinstance(status, str) else "gone",
                failed=failed and not by_you,
                cpu_s=cpu,
                peak_rss_kib=rss,
                command=str(e.get("command") or ""),
                by_you=by_you,
            )
        )
    rows.sort(key=lambda r: r.ended, reverse=True)
    return rows


def _number(v: object) -> TypeGuard[float]:
    """An int or a float, not a bool (JSON's true is not a time)."""
    return type(v) is int or type(v) is float


@dataclass(frozen=True, slots=True)
class Listed:
    """One live process named in the quit dialog."""

    group: str
    pid: int
    command: str  # escaped: shown as it is


@dataclass(frozen=True, slots=True)
class QuitPlan:
    """What "end them" at quit would end: the live programs this UI launched and everything
    they forked; and the live members it leaves running (attached, or launched by an earlier
    tractui or a daemon: not this UI's to end)."""

    ending: tuple[Listed, ...]
    left: tuple[Listed, ...]


@dataclass(frozen=True, slots=True)
class Adding:
    """One process an attach adds, as its preview lists it."""

    pid: int
    user: str
    command: str  # escaped: shown as it is
    comm: str  # raw: a new group is named after it
    depth: int  # 0: a PID given; 1 its child, ...
    below: int  # how many of the processes added come under it


@dataclass(frozen=True, slots=True)
class Resolved:
    """Exactly what attaching some PIDs adds, as an attach would now: each PID given and the
    descendants that come with it (not tractui's own, not members already tracked, not
    zombies), parents first. What the attach dialog previews and its confirm lists."""

    adding: tuple[Adding, ...]

    @classmethod
    def of(cls, planned: Iterable[Planned], user_name: Callable[[int], str]) -> Resolved:
        items = list(planned)
        depth: dict[int, int] = {}
        below: dict[int, int] = {}
        for item in items:
            parent = item.parent
            depth[item.info.pid] = 0 if parent is None else depth[parent] + 1
            below[item.info.pid] = 0
        for item in reversed(items):  # children after their parents: counted up the chain
            if item.parent is not None:
                below[item.parent] += below[item.info.pid] + 1
        return cls(
            tuple(
                Adding(
                    item.info.pid,
                    user_name(item.info.uid),
                    escape(" ".join(item.info.argv) or f"[{item.info.comm}]"),
                    item.info.comm,
                    depth[item.info.pid],
                    below[item.info.pid],
                )
                for item in items
            )
        )

    @property
    def roots(self) -> list[Adding]:
        return [a for a in self.adding if a.depth == 0]

    def describe(self, root: Adding) -> str:
        """One PID given: "PID USER: COMMAND + N descendants" (escaped)."""
        more = f" + {count_of(root.below, 'descendant')}" if root.below else ""
        return f"{root.pid} {root.user}: {root.command}{more}"

    def summary(self) -> str:
        """How many processes: the roots (PIDs given that no other one given is an ancestor
        of) and the descendants that come with them."""
        total = count_of(len(self.adding), "process", "processes")
        below = len(self.adding) - len(self.roots)
        if not below:
            return total
        return f"{total} ({count_of(len(self.roots), 'root')} + {count_of(below, 'descendant')})"


PAUSE_EVERY = 128  # rows built between two pauses of SnapshotRows.build (~0.5 ms)


def only_ours(obj: object, refs: int = 1) -> bool:
    """Nothing but the caller's ``refs`` references (its variables) holds ``obj``: no other
    thread can reach it, so it may be changed. CPython's reference count, which also counts
    this call's parameter and getrefcount's argument: exact on 3.11 to 3.13 with the GIL, and
    checked once at import (:data:`EXACT_REFS`). Elsewhere it says False: 3.10's caller keeps
    one more, 3.14 may count neither (borrowed references), and a free-threaded build's
    counts are not exact while other threads run."""
    return EXACT_REFS and sys.getrefcount(obj) <= refs + 2


def _counts_exactly() -> bool:
    if not (3, 11) <= sys.version_info[:2] <= (3, 13):
        return False
    if not getattr(sys, "_is_gil_enabled", lambda: True)():
        return False
    alone: list[object] = []
    was_alone = only_ours(alone)
    holder = [alone]
    return was_alone and not only_ours(alone) and bool(holder)


# only_ours is to be trusted here: it said True of a lone list and False of one held
# elsewhere (True only while _counts_exactly tries it)
EXACT_REFS = True
EXACT_REFS = _counts_exactly()


class SnapshotRows:
    """The :class:`ProcRow` of every member of one tracker, kept from one snapshot to the next.

    Thousands of rows, a few snapshots a second, nearly all unchanged: a snapshot rebuilds only
    the rows of the members the tracker's journal names (came, changed, exited, went; and the
    parents of those that came or went, whose children changed) and those whose sampled
    columns changed (:meth:`touch`). The groups' CPU and RSS sums are kept the same way.
    """

    def __init__(
        self,
        tracker: Tracker,
        users: procfs.UserNames,
        log_path: Callable[[str], str] = lambda _group: "",
        boot_wall: float | None = None,
        mem_total_kb: int | None = None,
    ) -> None:
        self.tracker = tracker
        self.users = users
        # the wall clock (epoch s) at the boot clock's 0, for each row's START: one value for
        # good, so that a row kept from one snapshot to the next equals one built anew
        self.boot_wall = BOOT_WALL if boot_wall is None else boot_wall
        self.mem_total_kb = MEM_TOTAL_KB if mem_total_kb is None else mem_total_kb
        self.log_path = log_path  # a group's launch log, by its name
        self.journal = tracker.journal()
        self.rows: dict[Key, ProcRow] = {}
        # the rows of the last two snapshots (their ``procs``), the older first, and the keys
        # the last build changed: see _publish_rows
        self._published: tuple[dict[Key, ProcRow] | None, dict[Key, ProcRow] | None] = (None, None)
        self._last_dirty: set[Key] | None = None  # None: every row (the journal's everything)
        self.reused = 0  # how many snapshots had a dict filled again (tests)
        self._branches: set[Key] = set()  # the rows with children
        self._touched: set[Key] = set()
        # per group, the sums over its live rows: CPU in millionths of a percent (integers, so
        # that what a row adds is exactly what it takes away when it changes)
        self._cpu: dict[str, int] = {}
        self._rss: dict[str, int] = {}
        self._ticks: dict[str, int] = {}  # TIME+ of the live rows
        # called every PAUSE_EVERY rows built: the UI's gate (tractui.gate)
        self.pause: Callable[[], bool] = no_pause

    def touch(self, keys: Iterable[Key]) -> None:
        """These members' samples changed: rebuild their rows at the next snapshot."""
        self._touched.update(keys)

    def build(
        self,
        samples: Mapping[Key, Sample],
        last_samples: Mapping[Key, Sample],
        launched: set[str],
        histories: Mapping[Hashable, tuple[float, ...]] | None = None,
        **fields: Any,
    ) -> Snapshot:
        """A :class:`Snapshot` of the tracker now, with the sampled columns; ``histories``:
        each group's CPU% history, by name."""
        tracker, rows = self.tracker, self.rows
        tracked = tracker.procs
        keys, everything = self.journal.take()
        if everything:
            rows.clear()
            self._branches.clear()
            self._cpu.clear()
            self._rss.clear()
            self._ticks.clear()
            dirty: set[Key] = set(tracked)
        else:
            dirty = keys | self._touched
            for key in keys:  # one that came or went changes its parent's children
                proc = tracked.get(key)
                old = rows.get(key)
                if proc is not None and old is None and proc.parent is not None:
                    dirty.add(proc.parent)
                elif proc is None and old is not None and old.parent is not None:
                    dirty.add(old.parent)
        self._touched = set()
        pause = self.pause
        for n, key in enumerate(dirty):
            if not n & (PAUSE_EVERY - 1):
                pause()
            old = rows.get(key)
            if old is not None:
                self._count(old, -1)
            proc = tracked.get(key)
            if proc is None:
                rows.pop(key, None)
                self._branches.discard(key)
                continue
            depth = old.depth if old is not None else self._depth(proc)
            kids = proc.children  # always tracked members: the tracker keeps them so
            children = tuple(kids) if kids else ()
            if children:
                self._branches.add(key)
            else:
                self._branches.discard(key)
            row = proc_row(
                proc,
                depth,
                children,
                samples.get(key),
                last_samples.get(key),
                self.users,
                self.boot_wall,
                self.mem_total_kb,
            )
            rows[key] = row
            self._count(row, 1)
        groups = tuple(
            GroupRow(
                name=group.name,
                roots=tuple(k for k in group.roots if k in tracked),
                live=group.live,
                total=len(group.members),
                cpu=max(0, self._cpu.get(group.name, 0)) / 1e6,
                rss_kb=self._rss.get(group.name, 0),
                cpu_time_s=self._ticks.get(group.name, 0) / procfs.CLK_TCK + group.accounted_cpu_s,
                forks=group.forks,
                execs=group.execs,
                exits=group.exits,
                failed=group.failed,
                launched=group.name in launched,
                log_path=self.log_path(group.name),
                ended_by_you=group.ended_by_you,
                roots_failed=group.roots_failed,
                last_outcome=group.last_outcome or ("running" if group.last_launch else ""),
                last_failed=group.last_failed,
                cpu_history=histories.get(group.name, ()) if histories else (),
            )
            for group in tracker.groups.values()
        )
        return Snapshot(
            groups=groups,
            procs=MappingProxyType(self._publish_rows(None if everything else dirty)),
            branches=frozenset(self._branches),
            **{**fields, "boot_wall": self.boot_wall},  # the rows' own: START, ends, execs
        )

    def _publish_rows(self, dirty: set[Key] | None) -> dict[Key, ProcRow]:
        """A copy of the rows for a snapshot (``dirty``: the keys this build changed; None:
        all). The copy made two snapshots ago, brought up to date, when nothing else holds it
        any more (the UI has long dropped that snapshot): a new dict of tens of thousands of
        entries at every snapshot was the biggest object each of the session thread's
        garbage collections walked (a young one: one reference a row); an old dict changed in
        place is not walked again. Its order may differ from the rows' (new keys come in set
        order): the flat list breaks a sort's ties by PID, not by it."""
        older, newer = self._published
        self._published = (None, None)  # ours alone while we look: the check counts on it
        rows = self.rows
        last = self._last_dirty
        if older is not None and dirty is not None and last is not None and only_ours(older):
            self.reused += 1
            pause, get = self.pause, rows.get
            # a key in both is done twice: cheaper than a set of both. A dict update is ~16x
            # cheaper than building a row: pause as often in time
            for n, key in enumerate(itertools.chain(last, dirty)):
                if not n & (PAUSE_EVERY * 16 - 1):
                    pause()
                row = get(key)
                if row is None:
                    older.pop(key, None)
                else:
                    older[key] = row
            fresh = older
        else:
            fresh = dict(rows)
        self._published = (newer, fresh)
        self._last_dirty = dirty
        return fresh

    def _count(self, row: ProcRow, sign: int) -> None:
        if row.alive:
            group = row.group
            self._cpu[group] = self._cpu.get(group, 0) + sign * int(row.cpu * 1e6)
            self._rss[group] = self._rss.get(group, 0) + sign * row.rss_kb
            self._ticks[group] = self._ticks.get(group, 0) + sign * row.ticks

    def _depth(self, proc: Proc) -> int:
        """How far below its group's root a new member is: one more than the nearest ancestor
        that has a row (a row's depth never changes: parents are for life)."""
        tracked, rows = self.tracker.procs, self.rows
        depth = 0
        parent = proc.parent
        while parent is not None:
            row = rows.get(parent)
            if row is not None:
                return depth + 1 + row.depth
            above = tracked.get(parent)
            if above is None:
                break
            depth += 1
            parent = above.parent
        return depth


MEM_TOTAL_KB = procfs.mem_total_kb()
# the wall clock at the boot clock's 0 (a process's start is on the boot clock)
BOOT_WALL = time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)


def path_length(argv: tuple[str, ...] | list[str], command: str) -> int:
    """How many characters of the shown (escaped) ``command`` are argv[0]'s directory: what
    the tree leaves out when the program's path is hidden (``p``, as htop's)."""
    if not argv:
        return 0
    slash = argv[0].rfind("/")
    if slash < 0:
        return 0
    directory = escape(argv[0][: slash + 1])
    return len(directory) if command.startswith(directory) else 0


def proc_row(
    proc: Proc,
    depth: int,
    children: tuple[Key, ...],
    sample: Sample | None,
    last: Sample | None,
    users: procfs.UserNames,
    boot_wall: float = BOOT_WALL,
    mem_total_kb: int = MEM_TOTAL_KB,
) -> ProcRow:
    """A process's row; ``boot_wall``: the wall clock at the boot clock's 0, for START;
    ``mem_total_kb``: the memory MEM% is a share of."""
    alive = proc.alive
    by_you = not alive and proc.by_you()
    nice: int | None
    if alive and sample is not None:
        state, cpu, rss, ticks, threads = (
            sample.state,
            sample.cpu,
            sample.rss_kb,
            sample.ticks,
            sample.threads,
        )
        nice = sample.nice
        priority: int | None = sample.priority
        virt, shr = sample.virt_kb, sample.shr_kb
    else:
        # not sampled yet, or exited: what we last knew, and no CPU
        state = "?" if alive else "Z" if proc.zombie else "-"
        cpu = 0.0
        rss = last.rss_kb if (last is not None and alive) else 0
        account = proc.account
        if account is not None and not alive:  # the kernel's exact count, not the last sample
            ticks = (account.utime_us + account.stime_us) * procfs.CLK_TCK // 1_000_000
        else:
            ticks = last.ticks if last is not None else 0
        threads = proc.threads if alive else 0
        nice = last.nice if last is not None else None
        priority = last.priority if last is not None else None
        virt = last.virt_kb if (last is not None and alive) else 0
        shr = last.shr_kb if (last is not None and alive) else 0
    command = escape(proc.command())  # once per row built, not at each paint
    return ProcRow(
        key=proc.key,
        pid=proc.pid,
        group=proc.group,
        parent=proc.parent,
        ppid=proc.ppid,
        children=children,
        depth=depth,
        user=users.name(proc.uid),
        state=state,
        cpu=cpu,
        rss_kb=rss,
        ticks=ticks,
        threads=threads,
        nice=nice,
        command=command,
        alive=alive,
        reparented=proc.reparented,
        status=proc.status_text(),
        failed=proc.counted_failed(),
        by_you=by_you,
        ended=boot_wall + proc.ended / 1e9 if proc.ended is not None else None,
        exec_walls=tuple(boot_wall + t / 1e9 for t in proc.exec_times if t != UNKNOWN_EXEC_TIME)
        if proc.exec_times
        else (),
        priority=priority,
        virt_kb=virt,
        shr_kb=shr,
        mem_pct=rss * 100.0 / mem_total_kb if mem_total_kb else 0.0,
        started=boot_wall + proc.start / 1e9,
        path_len=path_length(proc.argv, command),
    )
