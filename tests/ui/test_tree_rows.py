"""The tree's rows against a plain recursive walk, over random histories.

The tree keeps only row IDs, adds runs of leaves with one ``extend``, and works out guides and
fold marks for the rows drawn; every combination of exited shown or hidden, a filter, folded
rows and a sort order must give the rows, guides and marks a plain walk of the snapshot gives.
"""

from __future__ import annotations

import random
import time
from dataclasses import replace
from types import MappingProxyType
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.histories import ROOT, SEC, History, info
from tractui.events import Event, Exec, Exit, Fork
from tractui.kernel import procfs
from tractui.model.changes import Key
from tractui.snapshot import EXACT_REFS, ProcRow, Snapshot, SnapshotRows
from tractui.widgets.tree import _SORT_KEYS, SORTS, ProcessTree, RowId

USERS = procfs.UserNames()
FIELDS: dict[str, Any] = dict(
    seq=1, wall=0.0, events=0, rate=0.0, lost=0, state="running", banner=""
)
# forks by any live member (the n-th, by PID), so that trees grow deep; exits of any but the
# first root (exited rows, and exited parents of live ones), execs, new roots, pruning
fork = st.tuples(st.just("fork"), st.integers(0, 50))
tree_op = st.one_of(
    fork,
    fork,
    fork,
    st.tuples(st.just("exit"), st.integers(0, 50), st.integers(0, 300)),
    st.tuples(st.just("exec"), st.integers(0, 50)),
    st.tuples(st.just("root"), st.sampled_from(["web", "api"])),
    st.tuples(st.just("prune")),
)


def grow(history: History, i: int, step: Any) -> None:
    t = history.tracker
    history.clock += SEC
    ts = history.clock
    live = sorted(t.live)
    others = [pid for pid in live if pid != ROOT]
    events: list[Event] = []
    if step[0] == "fork" and live:
        parent = live[step[1] % len(live)]
        events = [Fork(ts, parent, parent, ROOT + 100 + i, ROOT + 100 + i)]
    elif step[0] == "exit" and others:
        pid = others[step[1] % len(others)]
        events = [Exit(ts, pid, pid, step[2], 1, 1)]
    elif step[0] == "exec" and live:
        pid = live[step[1] % len(live)]
        events = [Exec(ts, pid, pid, info(pid, t.live[pid].start, ("prog", str(i))))]
    elif step[0] == "root":
        t.add_root(step[1], info(ROOT + 100 + i, ts, ("daemon",)))
    elif step[0] == "prune":
        t.prune()
    t.apply(events)


def reference(
    snapshot: Snapshot,
    show_exited: bool,
    needle: str,
    collapsed: set[RowId],
    sort: str,
    descending: bool,
) -> list[tuple[RowId, str, str]]:
    procs = snapshot.procs

    def wanted(row: ProcRow) -> bool:
        return (row.alive or show_exited) and (
            not needle or needle in row.command.lower() or needle == str(row.pid)
        )

    def shown(key: Key) -> bool:
        row = procs[key]
        return wanted(row) or any(shown(k) for k in row.children)

    def order(keys: list[Key]) -> list[Key]:
        entry = _SORT_KEYS.get(sort)
        if entry is None:
            return keys[::-1] if descending else keys
        column = entry[0]
        return sorted(keys, key=lambda k: column(procs[k]), reverse=descending)  # type: ignore[arg-type,return-value]

    out: list[tuple[RowId, str, str]] = []

    def walk(keys: list[Key], prefix: str, top: bool) -> None:
        keys = order(keys)
        for i, key in enumerate(keys):
            last = i == len(keys) - 1
            kids = [k for k in procs[key].children if shown(k)]
            fold = "─" if not kids else ("▸" if key in collapsed else "▾")
            out.append((key, "" if top else prefix + ("└─" if last else "├─"), fold))
            if fold == "▾":
                walk(kids, "" if top else prefix + ("  " if last else "│ "), False)

    for group in snapshot.groups:
        roots = [k for k in group.roots if shown(k)]
        if needle and not roots and needle not in group.name.lower():
            continue
        out.append((group.name, "", "▸" if group.name in collapsed else "▾"))
        if group.name not in collapsed:
            walk(roots, "", True)
    return out


@settings(max_examples=300, deadline=None)
@given(
    st.lists(tree_op, min_size=3, max_size=50),
    st.booleans(),
    st.sampled_from(["", "", "", "prog", "sh", "daemon", "5000101", "web", "zzz"]),
    st.sets(st.integers(0, 40), max_size=5),
    st.sampled_from(SORTS),
    st.booleans(),
)
def test_rows_equal_a_plain_walk(
    ops: list[Any],
    show_exited: bool,
    needle: str,
    folded: set[int],
    sort: str,
    descending: bool,
) -> None:
    history = History()
    for i, step in enumerate(ops):
        grow(history, i, step)
    snapshot = SnapshotRows(history.tracker, USERS).build({}, {}, set(), **FIELDS)
    keys = sorted(snapshot.procs)
    collapsed: set[RowId] = {keys[i % len(keys)] for i in folded} if keys else set()
    if 0 in folded and snapshot.groups:
        collapsed.add(snapshot.groups[0].name)
    tree = ProcessTree()
    tree.snapshot = snapshot
    tree.show_exited = show_exited
    tree.filter_text = needle
    tree.collapsed = collapsed
    tree.order = (sort, descending)
    tree.ids = tree._flatten()
    got = [(row.id, row.guide, row.fold) for row in tree.rows]
    assert got == reference(snapshot, show_exited, needle, collapsed, sort, descending)


def test_a_chain_5000_deep() -> None:
    """Each one's child: the flatten walks it without recursion, and the deepest row's guide is
    a blank for each level above its parent's, then a corner."""
    depth = 5000
    history = History()
    t = history.tracker
    history.clock += SEC
    t.apply(
        Fork(history.clock, ROOT + i, ROOT + i, ROOT + i + 1, ROOT + i + 1)
        for i in range(depth - 1)
    )
    snapshot = SnapshotRows(t, USERS).build({}, {}, set(), **FIELDS)
    tree = ProcessTree()
    tree.snapshot = snapshot
    started = time.perf_counter()
    tree.ids = tree._flatten()
    first, middle, last = tree.row(1), tree.row(depth // 2), tree.row(len(tree.ids) - 1)
    seconds = time.perf_counter() - started
    assert len(tree.ids) == depth + 1  # the group's header, then the chain
    assert (first.guide, first.fold) == ("", "▾")
    assert (middle.guide, middle.fold) == ("  " * (depth // 2 - 2) + "└─", "▾")
    assert last.proc is not None and last.proc.pid == ROOT + depth - 1
    assert (last.guide, last.fold) == ("  " * (depth - 2) + "└─", "─")
    assert seconds < 2.0, f"{seconds:.2f} s for a chain {depth} deep"  # ~0.05 s idle


def test_the_rows_list_of_two_rebuilds_ago_is_filled_again_unless_held() -> None:
    """Each rebuild fills the list of the rebuild before last again when nothing else holds it
    (an old list, which the garbage collector's young generation does not walk again), in the
    tree and in the flat list; one still held is never touched."""
    history = History()
    for i in range(30):
        grow(history, i, ("fork", i * 7))
    rows = SnapshotRows(history.tracker, USERS)
    tree = ProcessTree()
    tree.snapshot = rows.build({}, {}, set(), **FIELDS)
    for flat in (False, True):
        tree.flat = flat
        tree.ids = tree._flatten()
        expected = list(tree.ids)
        reused = tree.reused_ids
        tree._spare_ids = ["stale", (1, 1)]
        got = tree._flatten()
        assert got == expected
        assert tree.reused_ids == reused + EXACT_REFS  # never on a Python that can't tell
        held = tree._spare_ids = ["stale", (1, 1)]
        got = tree._flatten()
        assert got is not held and got == expected and held == ["stale", (1, 1)]
        tree._spare_ids = tree.ids
        assert tree._flatten() is not tree.ids  # never the list on the screen
        assert tree.reused_ids == reused + EXACT_REFS


def test_the_flat_lists_ties_go_by_pid_whatever_order_the_rows_come_in() -> None:
    """Sorted by a column, the flat list breaks ties by PID (as htop): the rows' dict of one
    snapshot may list them in another order than the last one's (SnapshotRows reuses an
    older dict), and the list must not reshuffle the tied rows at each snapshot."""
    history = History()
    for i in range(40):
        grow(history, i, ("fork", i * 3))
    snapshot = SnapshotRows(history.tracker, USERS).build({}, {}, set(), **FIELDS)
    tree = ProcessTree()
    tree.flat = True
    tree.order = ("CPU%", True)  # every row's CPU% is 0.0: all tied
    orders = []
    for seed in range(3):
        keys = list(snapshot.procs)
        random.Random(seed).shuffle(keys)
        tree.snapshot = replace(
            snapshot, procs=MappingProxyType({k: snapshot.procs[k] for k in keys})
        )
        orders.append(tree._flatten())
    assert orders[0] == orders[1] == orders[2] == sorted(snapshot.procs)
