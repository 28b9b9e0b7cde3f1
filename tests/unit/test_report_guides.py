"""The tree guides of ``trace``'s report and ``list --format tree``, line for line.

Pinned on a fixed shape, and against a plain recursive walk over random forests (the UI's
are in tests/ui/test_tree_rows.py).
"""

from __future__ import annotations

import math
import time
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.histories import ROOT, SEC, info
from tractui.commands import trace
from tractui.commands.remote import tree_lines
from tractui.engine import Counters
from tractui.events import Event, Exec, ExitStatus, Fork
from tractui.model.tracker import Tracker

# (name, parent index or None): in fork order, a parent before its children
SHAPE: list[tuple[str, int | None]] = [
    ("sh", None),
    ("a", 0),
    ("a1", 1),
    ("b", 0),
    ("a2", 1),
    ("a2x", 4),
    ("b1", 3),
    ("c", 0),
]
SHAPE_TREE = """\
sh
├─ a
│  ├─ a1
│  └─ a2
│     └─ a2x
├─ b
│  └─ b1
└─ c"""

# a parent's index below each node's, None for a root
forests = st.integers(1, 40).flatmap(
    lambda n: st.tuples(
        *(st.none() if i == 0 else st.one_of(st.none(), st.integers(0, i - 1)) for i in range(n))
    )
)


def traced(nodes: list[tuple[str, int | None]]) -> Tracker:
    """A tracker whose group "trace" holds these processes (pid ROOT + index), as trace's."""
    tracker = Tracker(keep_exited=math.inf, clock_offset=lambda: 0)
    clock = 10 * SEC
    tracker.now = lambda: clock  # type: ignore[method-assign]
    events: list[Event] = []
    for i, (name, parent) in enumerate(nodes):
        pid = ROOT + i
        if parent is None:
            tracker.add_root(trace.GROUP, info(pid, clock, (name,)))
            continue
        events.append(Fork(clock, ROOT + parent, ROOT + parent, pid, pid))
        events.append(Exec(clock, pid, pid, info(pid, clock, (name,), ppid=ROOT + parent)))
    tracker.apply(events)
    return tracker


def report_lines(tracker: Tracker) -> list[str]:
    """The process lines of trace's report: the guide and command, after the columns."""
    root = tracker.procs[tracker.groups[trace.GROUP].roots[0]]
    report = trace.Report(
        tracker, root, ["sh"], ExitStatus.from_wait_status(0), 0.0, Counters(), [], []
    )
    lines = list(report.lines())
    assert lines[1].endswith("STATUS        COMMAND") and lines[-1] == "survivors: none"
    width = lines[1].index("COMMAND")
    return [line[width:] for line in lines[2:-1]]


def members(nodes: list[tuple[str, int | None]]) -> list[dict[str, Any]]:
    """What the daemon sends ``list`` for these processes: in tree order, with depths."""
    kids: dict[int | None, list[int]] = {}
    for i, (_name, parent) in enumerate(nodes):
        kids.setdefault(parent, []).append(i)
    out: list[dict[str, Any]] = []
    stack = [(i, 0) for i in reversed(kids[None])]
    while stack:
        i, depth = stack.pop()
        out.append(
            {
                "pid": ROOT + i,
                "depth": depth,
                "argv": [nodes[i][0]],
                "command": nodes[i][0],
                "status": "alive",
                "reparented": False,
                "ppid": 1,
            }
        )
        stack.extend((k, depth + 1) for k in reversed(kids.get(i, [])))
    return out


def list_lines(nodes: list[tuple[str, int | None]]) -> list[str]:
    lines = tree_lines(members(nodes))
    assert lines[0] == f"{'PID':>7}  {'STATUS':<16} COMMAND"
    width = lines[0].index("COMMAND")
    return [line[width:] for line in lines[1:]]


def reference(nodes: list[tuple[str, int | None]]) -> list[str]:
    """A plain recursive walk: each node's guide and name, in tree order."""
    kids: dict[int | None, list[int]] = {}
    for i, (_name, parent) in enumerate(nodes):
        kids.setdefault(parent, []).append(i)
    out: list[str] = []

    def visit(i: int, prefix: str, top: bool, last: bool) -> None:
        out.append(("" if top else prefix + ("└─ " if last else "├─ ")) + nodes[i][0])
        below = kids.get(i, [])
        for j, k in enumerate(below):
            visit(k, "" if top else prefix + ("   " if last else "│  "), False, j == len(below) - 1)

    for root in kids[None]:
        visit(root, "", True, True)
    return out


def test_trace_draws_the_shape() -> None:
    assert report_lines(traced(SHAPE)) == SHAPE_TREE.splitlines()


def test_list_draws_the_shape() -> None:
    assert list_lines(SHAPE) == SHAPE_TREE.splitlines()


def test_the_reference_draws_the_shape() -> None:
    assert reference(SHAPE) == SHAPE_TREE.splitlines()


@settings(max_examples=100, deadline=None)
@given(forests)
def test_trace_and_list_equal_a_plain_walk(parents: tuple[int | None, ...]) -> None:
    nodes = [(f"p{i}", parent) for i, parent in enumerate(parents)]
    expected = reference(nodes)
    assert report_lines(traced(nodes)) == expected
    assert list_lines(nodes) == expected


def test_a_chain_5000_deep_in_trace_and_list() -> None:
    """Each one's child: trace's walk was recursive (RecursionError at 1,000 levels), list's
    looked ahead for each row's last sibling (quadratic)."""
    depth = 5000
    chain = [(f"p{i}", i - 1 if i else None) for i in range(depth)]
    tracker = traced(chain)
    # the last row: under 4,998 blanks (the root has no guide, the first child a corner)
    last = "   " * (depth - 2) + f"└─ p{depth - 1}"
    started = time.perf_counter()
    traced_lines = report_lines(tracker)
    listed = list_lines(chain)
    seconds = time.perf_counter() - started
    assert len(traced_lines) == len(listed) == depth
    assert traced_lines[-1] == listed[-1] == last
    assert traced_lines[1] == listed[1] == "└─ p1"
    assert seconds < 2.0, f"{seconds:.2f} s for a chain {depth} deep"  # ~0.1 s idle


def _member(pid: int, start: int, depth: int, status: str = "alive") -> dict[str, Any]:
    return {
        "pid": pid,
        "start": start,
        "depth": depth,
        "argv": [f"p{pid}"],
        "command": f"p{pid}",
        "status": status,
        "reparented": False,
        "ppid": 1,
    }


def _history(pid: int, start: int, parent: tuple[int, int] | None) -> dict[str, Any]:
    entry = _member(pid, start, 0, "exit 124")
    entry.update(
        history=True,
        ended_wall=time.mktime((2026, 11, 30, 2, 59, 38, 0, 0, -1)),
        parent=parent[0] if parent else None,
        parent_start=parent[1] if parent else None,
    )
    return entry


def test_list_all_tree_places_history_under_its_parent_and_says_the_status_once() -> None:
    members = [
        # from the history, oldest first, as list --all gives them: before the tracked ones
        _history(30, 300, (10, 100)),  # under the tracked root
        _history(31, 310, (30, 300)),  # under another history entry
        _history(40, 400, (99, 990)),  # its parent is not listed: at the top
        _history(50, 500, (51, 600)),  # a "parent" started after it (a bad file): at the top
        _history(51, 600, (50, 500)),  # ... which is this one's parent: no cycle
        _member(10, 100, 0),
        _member(20, 200, 1),
        _member(60, 600, 1),
    ]
    lines = [line[9:] for line in tree_lines(members)[1:]]
    note = "[from history, ended 2026-11-30 02:59:38]"
    assert lines == [
        f"exit 124         p40  {note}",
        f"exit 124         p50  {note}",
        f"exit 124         └─ p51  {note}",
        "alive            p10",
        "alive            ├─ p20",
        f"exit 124         ├─ p30  {note}",
        f"exit 124         │  └─ p31  {note}",
        "alive            └─ p60",
    ]


def test_a_command_without_argv_reads_as_the_store_shows_it_escaped() -> None:
    """trace's command column: argv shell-quoted, else the store's command text, escaped."""
    from tractui.model.store import Proc

    def shown(**fields: Any) -> str:
        return trace._shown(Proc(pid=1, start=0, group="g", parent=None, ppid=0, **fields))

    assert shown(argv=("echo", "a b", "\x1b[2J")) == "echo 'a b' $'\\e[2J'"
    assert shown(comm="kworker\x1b") == "[kworker\\e]"
    assert shown(comm="x\ry", execs=[()]) == "x\\ry [argv unread]"
    assert shown() == "[exec'd; ended before it was read]"
