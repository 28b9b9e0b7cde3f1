"""A replay source: recorded or synthetic events through a real Tracker, no kernel, no /proc.

The UI's snapshot tests and screenshots need the same screen on every machine: this engine
applies a fixed list of events, its clock stands still, and its sampler returns fixed columns.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from tractui import control
from tractui.control import LaunchSpec, LogChunk, SignalResult
from tractui.engine import Counters, log_path_for, targets
from tractui.errors import UserError
from tractui.events import Event, Exec, Exit, Fork, ProcInfo
from tractui.kernel.sample import Sample, Sampler
from tractui.kernel.taskstats import TaskRecord
from tractui.model.adopt import Planned, ProcReader
from tractui.model.changes import Delta, Key
from tractui.model.history import GroupHistory
from tractui.model.store import Group, Proc
from tractui.model.tracker import Tracker
from tractui.session import Session

NOW_NS = 3_600 * 10**9  # the replay's "now": one hour after boot
WALL = 1_767_261_600.0  # 2026-01-01 10:00:00 UTC, the replay's wall clock


def no_clock_offset() -> int:
    """The replay's event clock is its boot clock: no offset between them."""
    return 0


class ReplayTracker(Tracker):
    """A tracker whose clock stands still at :data:`NOW_NS`, its events' clock the same.

    Not the machine's offset between the two (read anew at each apply): two reads of it
    differ by up to microseconds (the two clocks are read one after the other), which moved
    a replayed start time by that much across a millisecond boundary (a details snapshot
    showed 09:59:40.000 on one run, 09:59:39.999 on another)."""

    def __init__(self, keep_exited: float, reader: ProcReader | None = None) -> None:
        super().__init__(keep_exited, clock_offset=no_clock_offset, reader=reader)

    def now(self) -> int:
        return NOW_NS


class FixedSampler(Sampler):
    """Returns the same columns for a PID at every sample."""

    def __init__(self, by_pid: Mapping[int, Sample]) -> None:
        super().__init__()
        self.by_pid = dict(by_pid)
        self.mem_total_kb = 16 * 1024 * 1024  # 16 GiB, on every machine

    def read(self, keys: Iterable[Key]) -> dict[Key, Sample]:
        return {key: self.by_pid[key[0]] for key in keys if key[0] in self.by_pid}


class ReplayEngine:
    """An :class:`~tractui.engine.EngineLike` without a collector: ``poll`` applies the queued
    events once, in order. Nothing can be launched or attached; signals reach nobody."""

    mode = "embedded"
    source = "event collector"
    banner = ""

    def __init__(
        self,
        tracker: Tracker,
        events: Iterable[Event] = (),
        histories: Mapping[str, GroupHistory] | None = None,
    ) -> None:
        self.tracker = tracker
        self.pending = list(events)
        self.histories = dict(histories or {})  # fixed histories, by group
        self.counters = Counters()
        self.restarts = 0

    def start(self) -> dict[str, Any]:
        return {"pid": 0, "filter": True}

    def stop(self) -> None:
        return None

    def alive(self) -> bool:
        return True

    def restart_collector(self) -> None:
        return None

    def poll(self, timeout: float) -> Delta:
        events, self.pending = self.pending, []
        if not events:
            time.sleep(timeout)
        delta = self.tracker.apply(events)
        # as the engine counts them: the proc connector's events, not the exit records
        types = list(map(type, events))
        self.counters.events += len(events) - types.count(TaskRecord) - types.count(bytes)
        return delta

    def launch(self, group: str, spec: LaunchSpec) -> Proc:
        raise UserError("this is a replay: nothing can be launched")

    def attach(self, group: str, pids: list[int], create: bool = True) -> list[Proc]:
        raise UserError("this is a replay: nothing can be attached")

    def plan_attach(self, pids: list[int]) -> list[Planned]:
        """What the PIDs are, as a preview shows it (the attach itself is refused)."""
        return self.tracker.plan_attach(pids)

    def targets(self, group: str, pid: int | None = None, subtree: bool = False) -> list[Proc]:
        return targets(self.tracker, group, pid, subtree)

    def signal(self, procs: list[Proc], sig: int) -> list[SignalResult]:
        return [SignalResult(p.pid, True) for p in procs]

    def rename_group(self, old: str, new: str) -> Group:
        return self.tracker.rename_group(old, new)

    def remove_group(self, name: str) -> list[Key]:
        return self.tracker.remove_group(name)

    def log_path(self, group: str) -> Path:
        return log_path_for(group)

    def has_launches(self, group: str) -> bool:
        return False

    def history_of(self, name: str, newest: int | None = None) -> GroupHistory:
        """The fixed history given for the group (all of it); else none, and why."""
        group = self.tracker.group(name)
        found = self.histories.get(group.name)
        if found is None:
            return GroupHistory(error="a replay keeps no history")
        return found

    def read_log(self, group: str, offset: int | None = None, lines: int | None = None) -> LogChunk:
        return control.read_log(log_path_for(self.tracker.group(group).name), offset, lines)


class Script:
    """Builds a synthetic history: roots, forks, execs and exits at given seconds before now."""

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker
        self.events: list[Event] = []
        self.offset = tracker.clock_offset()  # the tracker adds it back to each event's time

    def _ts(self, ago: float) -> int:
        return NOW_NS - int(ago * 1e9) - self.offset

    def root(self, group: str, pid: int, argv: tuple[str, ...], ago: float, uid: int = 0) -> None:
        info = _info(pid, NOW_NS - int(ago * 1e9), 1, argv, uid)
        proc = self.tracker.add_root(group, info, ts=NOW_NS - int(ago * 1e9))
        created = self.tracker.groups[proc.group]
        created.created = min(created.created, WALL - ago)  # by the replay's clock

    def fork(self, parent: int, child: int, ago: float) -> None:
        self.events.append(Fork(self._ts(ago), parent, parent, child, child))

    def exec(
        self, pid: int, argv: tuple[str, ...], born_ago: float, ago: float, ppid: int, uid: int = 0
    ) -> None:
        info = _info(pid, NOW_NS - int(born_ago * 1e9), ppid, argv, uid)
        self.events.append(Exec(self._ts(ago), pid, pid, info))

    def exit(self, pid: int, status: int, ago: float, ppid: int = 1) -> None:
        self.events.append(Exit(self._ts(ago), pid, pid, status, ppid, ppid))


def _info(pid: int, start: int, ppid: int, argv: tuple[str, ...], uid: int) -> ProcInfo:
    comm = argv[0].rsplit("/", 1)[-1][:15] if argv else "?"
    return ProcInfo(pid, start, ppid, comm, argv, f"/usr/bin/{comm}", uid, 1, "S", False)


def demo() -> tuple[ReplayEngine, FixedSampler]:
    """Two groups: a shell that leaves a setsid'd daemon behind, and a build with failures."""
    tracker = ReplayTracker(keep_exited=float("inf"))
    s = Script(tracker)
    shell = ("sh", "-c", "sleep 30 & (setsid sleep 31 &); wait")
    s.root("web", 4100, shell, ago=12)
    s.fork(4100, 4101, ago=11.9)
    s.exec(4101, ("sleep", "30"), born_ago=11.9, ago=11.9, ppid=4100)
    s.fork(4100, 4102, ago=11.9)
    s.fork(4102, 4103, ago=11.8)
    s.exec(4103, ("setsid", "sleep", "31"), born_ago=11.8, ago=11.8, ppid=4102)
    s.exit(4102, 0, ago=11.8, ppid=4100)
    s.exec(4103, ("sleep", "31"), born_ago=11.8, ago=11.7, ppid=1)
    s.fork(4100, 4104, ago=5)
    s.exec(4104, ("python3", "-m", "http.server", "8000"), born_ago=5, ago=5, ppid=4100)
    make = ("make", "-j2", "all")
    s.root("build", 5000, make, ago=40, uid=65534)
    for pid, argv, status in (
        (5001, ("cc", "-c", "main.c"), 0),
        (5002, ("cc", "-c", "util.c"), 1 << 8),
        (5003, ("ld", "-o", "app"), 9),
    ):
        s.fork(5000, pid, ago=39)
        s.exec(pid, argv, born_ago=39, ago=39, ppid=5000, uid=65534)
        s.exit(pid, status, ago=30, ppid=5000)
    s.fork(5000, 5004, ago=20)
    s.exec(5004, ("./app", "--serve"), born_ago=20, ago=20, ppid=5000, uid=65534)
    samples = {
        4100: Sample("S", 0.0, 3_412, 2, 1, 0, 20, 2_592, 1_716),
        4101: Sample("S", 0.0, 1_024, 0, 1, 0, 20, 2_920, 1_024),
        4103: Sample("S", 0.0, 1_032, 0, 1, 0, 20, 2_920, 1_032),
        4104: Sample("R", 12.5, 24_576, 157, 1, 0, 20, 31_744, 10_240),
        5000: Sample("S", 0.3, 5_120, 310, 1, 0, 20, 9_216, 3_072),
        5004: Sample("R", 97.0, 210_944, 1_934, 4, 5, 25, 1_183_744, 8_192),
    }
    return ReplayEngine(tracker, s.events), FixedSampler(samples)


def demo_session() -> Session:
    """A session over :func:`demo`, with a still clock: the same screen on every machine."""
    engine, sampler = demo()
    return Session(
        engine,
        sampler=sampler,
        clock=lambda: WALL,
        watch_collector=False,
        monotonic=lambda: 0.0,
        read_cwd=lambda _pid: "/srv/www",
        machine=False,
    )
