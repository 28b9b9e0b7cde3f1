"""Random tracker histories for property tests: forks, execs, exits, threads, renames, removals,
new roots and pruning, applied to a real :class:`Tracker` with a clock of its own.

Shared by the tests of everything that follows a tracker by its deltas or journal: a client's
mirror, the UI's snapshot rows, the state file's encoded members.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from tractui.events import Event, Exec, Exit, Fork, ProcInfo
from tractui.model.changes import Delta
from tractui.model.tracker import Tracker

from .fakeproc import FakeProc

SEC = 1_000_000_000
ROOT = 5_000_000  # the tracker reads an empty FakeProc: no process runs there, at any PID


def ops(pids: int = 30) -> st.SearchStrategy[Any]:
    """One step of a history; forks, execs, exits and threads name pids ROOT..ROOT+``pids``
    (fewer: each op more often hits a process that exists)."""
    return st.one_of(
        st.tuples(st.just("fork"), st.integers(0, pids), st.integers(1, pids)),
        st.tuples(st.just("exec"), st.integers(0, pids)),
        st.tuples(st.just("exit"), st.integers(0, pids), st.integers(0, 300)),
        st.tuples(st.just("end"), st.integers(0, 50)),  # the n-th live member, whatever its pid
        st.tuples(st.just("thread"), st.integers(0, pids)),
        st.tuples(st.just("rename"), st.sampled_from(["web", "api", "db"])),
        st.tuples(st.just("remove"), st.sampled_from(["web", "api", "db"])),
        st.tuples(st.just("root"), st.sampled_from(["web", "api", "db"]), st.integers(31, 40)),
        st.tuples(
            st.just("prune"),
        ),
    )


op = ops()


def info(pid: int, start: int, argv: tuple[str, ...], ppid: int = 1) -> ProcInfo:
    return ProcInfo(pid, start, ppid, argv[0], argv, "/bin/" + argv[0], 0, 1, "S", False)


class History:
    """A tracker with one group "web" (root pid ROOT) and a clock that each step moves 1 s."""

    def __init__(self) -> None:
        self.clock = 10 * SEC
        self.tracker = t = Tracker(keep_exited=5.0, clock_offset=lambda: 0, reader=FakeProc())
        t.now = lambda: self.clock  # type: ignore[method-assign]
        t.add_root("web", info(ROOT, 1 * SEC, ("sh",)))
        t.take_delta()

    def step(self, i: int, step: Any) -> Delta:
        """Apply step ``i`` (None: nothing; else one of :data:`op`); its delta."""
        t = self.tracker
        self.clock += SEC
        ts = self.clock
        events: list[Event] = []
        if step is None:
            pass
        elif step[0] == "fork":
            events = [Fork(ts, ROOT + step[1], ROOT + step[1], ROOT + 100 + i, ROOT + 100 + i)]
            if step[1] == 0:
                events = [Fork(ts, ROOT, ROOT, ROOT + step[2], ROOT + step[2])]
        elif step[0] == "exec":
            pid = ROOT + step[1]
            proc = t.live.get(pid)
            if proc is not None:
                events = [Exec(ts, pid, pid, info(pid, proc.start, ("prog", str(i))))]
        elif step[0] == "exit":
            events = [Exit(ts, ROOT + step[1], ROOT + step[1], step[2], 1, 1)]
        elif step[0] == "end":
            live = sorted(t.live)
            if live:
                pid = live[step[1] % len(live)]
                events = [Exit(ts, pid, pid, 0, 1, 1)]
        elif step[0] == "thread":
            pid = ROOT + step[1]
            events = [Fork(ts, pid, pid, ROOT + 1000 + i, pid)]
        elif step[0] == "rename":
            if "web" in t.groups and step[1] not in t.groups:
                t.rename_group("web", step[1])
        elif step[0] == "remove":
            if step[1] in t.groups:
                t.remove_group(step[1])
        elif step[0] == "root":
            pid = ROOT + step[2]
            if pid not in t.live:
                t.add_root(step[1], info(pid, ts, ("daemon",)))
        elif step[0] == "prune":
            t.prune()
        return t.apply(events)
