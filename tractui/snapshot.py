"""The UI model: what the UI draws and shows, built in the session thread and never changed after.

A :class:`Snapshot` holds a :class:`GroupRow` per group and a :class:`ProcRow` per member, with
the htop columns; :class:`SnapshotRows` builds one from a tracker, rebuilding only the rows that
changed. The other types are what one command returns to a dialog (:class:`Details`,
:class:`QuitPlan`, :class:`Resolved` for an attach's preview). Plain frozen data: the UI reads
it from any thread.

No Textual here, and no engine: :mod:`tractui.session` runs the engine and builds these.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeGuard

from tractui.events import ExitStatus
from tractui.kernel import procfs
from tractui.kernel.sample import Sample
from tractui.model.account import Account
from tractui.model.adopt import Planned
from tractui.model.changes import Key
from tractui.model.store import Proc
from tractui.model.tracker import Tracker
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
    failed: bool


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


def ended_in_tree(proc: Proc, wall_now: float, now_ns: int) -> Ended:
    """An ended member still in memory as a history row (marked not on disk yet)."""
    ended_ns = proc.ended if proc.ended is not None else now_ns
    account = proc.account
    return Ended(
        ended=wall_now - (now_ns - ended_ns) / 1e9,
        pid=proc.pid,
        status=proc.exit.describe() if proc.exit is not None else "gone",
        failed=proc.exit.failed if proc.exit is not None else False,
        cpu_s=account.cpu_s if account is not None else None,
        peak_rss_kib=account.peak_rss_kib if account is not None else None,
        command=proc.command(),
        on_disk=False,
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
        rows.append(
            Ended(
                ended=float(wall) if _number(wall) else 0.0,
                pid=e["pid"] if type(e.get("pid")) is int else 0,
                status=status if isinstance(status, str) else "gone",
                failed=failed,
                cpu_s=cpu,
                peak_rss_kib=rss,
                command=str(e.get("command") or ""),
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
    ) -> None:
        self.tracker = tracker
        self.users = users
        self.log_path = log_path  # a group's launch log, by its name
        self.journal = tracker.journal()
        self.rows: dict[Key, ProcRow] = {}
        self._branches: set[Key] = set()  # the rows with children
        self._touched: set[Key] = set()
        # per group, the sums over its live rows: CPU in millionths of a percent (integers, so
        # that what a row adds is exactly what it takes away when it changes)
        self._cpu: dict[str, int] = {}
        self._rss: dict[str, int] = {}
        self._ticks: dict[str, int] = {}  # TIME+ of the live rows

    def touch(self, keys: Iterable[Key]) -> None:
        """These members' samples changed: rebuild their rows at the next snapshot."""
        self._touched.update(keys)

    def build(
        self,
        samples: Mapping[Key, Sample],
        last_samples: Mapping[Key, Sample],
        launched: set[str],
        **fields: Any,
    ) -> Snapshot:
        """A :class:`Snapshot` of the tracker now, with the sampled columns."""
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
        for key in dirty:
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
                proc, depth, children, samples.get(key), last_samples.get(key), self.users
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
                cpu_time_s=self._ticks.get(group.name, 0) / procfs.CLK_TCK + group.ended.cpu_s,
                forks=group.forks,
                execs=group.execs,
                exits=group.exits,
                failed=group.failed,
                launched=group.name in launched,
                log_path=self.log_path(group.name),
            )
            for group in tracker.groups.values()
        )
        return Snapshot(
            groups=groups,
            procs=MappingProxyType(dict(rows)),
            branches=frozenset(self._branches),
            **fields,
        )

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


def proc_row(
    proc: Proc,
    depth: int,
    children: tuple[Key, ...],
    sample: Sample | None,
    last: Sample | None,
    users: procfs.UserNames,
) -> ProcRow:
    alive = proc.alive
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
        command=escape(proc.command()),  # once per row built, not at each paint
        alive=alive,
        reparented=proc.reparented,
        status=proc.status_text(),
        failed=proc.exit is not None and proc.exit.failed,
    )
