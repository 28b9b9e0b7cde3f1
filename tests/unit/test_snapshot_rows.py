"""The UI's snapshot rows, kept from one snapshot to the next, equal rows built anew.

:class:`SnapshotRows` rebuilds only the rows its tracker's journal names, and those whose
sample changed. Random histories (tests/unit/histories.py) check after every step that its
snapshot equals one built from nothing, on the tracker itself and on a client's mirror of it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tractui.daemon.protocol import Mirror, delta_message, encode, snapshot_message
from tractui.kernel import procfs
from tractui.kernel.sample import Sample
from tractui.model.store import UNKNOWN_EXEC_TIME, Group
from tractui.model.tracker import Tracker
from tractui.model.wire import group_to_wire
from tractui.replay import NOW_NS, demo
from tractui.snapshot import EXACT_REFS, Snapshot, SnapshotRows, only_ours

from .histories import ROOT, History, info, op

USERS = procfs.UserNames()


def _wire(group: Group) -> dict[str, Any]:
    return group_to_wire(group, False, "")


def _roundtrip(message: dict[str, Any]) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(encode(message))
    return decoded


def fresh(t: Tracker, samples: dict[Any, Sample]) -> Snapshot:
    return SnapshotRows(t, USERS).build(samples, samples, set(), **FIELDS)


FIELDS: dict[str, Any] = dict(
    seq=1, wall=0.0, events=0, rate=0.0, lost=0, state="running", banner=""
)


def resample(t: Tracker, samples: dict[Any, Sample], i: int, which: int) -> list[Any]:
    """New samples for some live members (and none for some): the keys whose sample changed."""
    touched = []
    for key in list(t.live.values()):
        k = key.key
        if (k[0] + i) % 3 == which % 3:
            samples[k] = Sample("R", float(k[0] % 7 + i) / 3, 100 * i, i, 1, 0)
            touched.append(k)
        elif (k[0] + i) % 5 == 0 and k in samples:
            del samples[k]
            touched.append(k)
    return touched


def same(a: Snapshot, b: Snapshot) -> bool:
    return dict(a.procs) == dict(b.procs) and a.groups == b.groups and a.branches == b.branches


@settings(max_examples=150, deadline=None)
@given(
    st.lists(op, max_size=40),
    st.lists(st.integers(0, 3), max_size=40),
    st.lists(st.booleans(), min_size=41, max_size=41),
)
def test_kept_rows_equal_rows_built_anew_after_every_step(
    ops: list[Any], sampling: list[int], hold: list[bool]
) -> None:
    """Each snapshot's rows equal the rows built anew; and a snapshot still held (here, a
    random choice of them) keeps what it had: the session fills the rows' dict of two
    snapshots ago again only when nothing else holds it (SnapshotRows._publish_rows)."""
    history = History()
    t = history.tracker
    rows = SnapshotRows(t, USERS)
    samples: dict[Any, Sample] = {}
    held: list[tuple[Snapshot, dict[Any, Any]]] = []
    kept = None
    for i, step in enumerate([None, *ops]):
        history.step(i, step)
        if i < len(sampling):
            rows.touch(resample(t, samples, i, sampling[i]))
        kept = rows.build(samples, samples, set(), **FIELDS)
        assert same(kept, fresh(t, samples)), f"after step {i}: {step}"
        if hold[i]:
            held.append((kept, dict(kept.procs)))
    for snapshot, then in held:
        assert dict(snapshot.procs) == then


@settings(max_examples=100, deadline=None)
@given(st.lists(op, max_size=40))
def test_rows_of_a_mirror_equal_rows_built_anew(ops: list[Any]) -> None:
    history = History()
    t = history.tracker
    mirror = Mirror(Tracker(keep_exited=5.0, clock_offset=lambda: 0))
    mirror.load(_roundtrip(snapshot_message(t, list(t.groups.values()), [], _wire, {})))
    rows = SnapshotRows(mirror.tracker, USERS)
    for i, step in enumerate([None, *ops]):
        delta = history.step(i, step)
        message = delta_message(t, delta, [], _wire, {})
        if message is not None:
            mirror.apply(_roundtrip(message))
        kept = rows.build({}, {}, set(), **FIELDS)
        assert same(kept, fresh(mirror.tracker, {})), f"after step {i}: {step}"
        if i == 20:  # the daemon came back: a new snapshot replaces everything
            mirror.load(_roundtrip(snapshot_message(t, list(t.groups.values()), [], _wire, {})))


def five_forks() -> tuple[History, Tracker, SnapshotRows]:
    """A root that forked five children, and its rows (no snapshot built yet)."""
    history = History()
    for n in range(1, 6):
        history.step(n, ("fork", 0, n))
    return history, history.tracker, SnapshotRows(history.tracker, USERS)


def test_only_changed_rows_are_rebuilt() -> None:
    history, t, rows = five_forks()
    first = rows.build({}, {}, set(), **FIELDS)
    history.step(9, ("exec", 3))
    second = rows.build({}, {}, set(), **FIELDS)
    changed = {k for k in second.procs if second.procs[k] is not first.procs.get(k)}
    assert changed == {(ROOT + 3, t.live[ROOT + 3].start)}
    t.add_root("api", info(ROOT + 40, history.clock, ("daemon",)))
    third = rows.build({}, {}, set(), **FIELDS)
    assert [g.name for g in third.groups] == ["web", "api"]
    assert {k for k in third.procs if third.procs[k] is not second.procs.get(k)} == {
        (ROOT + 40, history.clock)
    }


def test_group_sums_follow_samples_and_exits() -> None:
    history = History()
    t = history.tracker
    history.step(1, ("fork", 0, 1))
    history.step(2, ("fork", 0, 2))
    rows = SnapshotRows(t, USERS)
    keys = [p.key for p in t.live.values()]
    samples = {k: Sample("R", 12.5, 1000, 5, 1, 0) for k in keys}
    rows.touch(keys)
    snap = rows.build(samples, samples, set(), **FIELDS)
    assert (snap.groups[0].cpu, snap.groups[0].rss_kb) == (37.5, 3000)
    history.step(3, ("exit", 1, 0))
    snap = rows.build(samples, samples, set(), **FIELDS)
    assert (snap.groups[0].cpu, snap.groups[0].rss_kb) == (25.0, 2000)
    assert same(snap, fresh(t, samples))


def test_rows_carry_their_end_and_exec_times_on_the_wall_clock() -> None:
    """The timeline's fields: a process's end and its known execs' times, put on the wall
    clock by the snapshot's boot_wall; none while it runs, no time for an unknown exec."""
    engine, _sampler = demo()
    engine.poll(0)
    t = engine.tracker
    t.procs[next(k for k in t.procs if k[0] == 5003)].exec_times[0] = UNKNOWN_EXEC_TIME
    boot_wall = 1_000.0
    snapshot = SnapshotRows(t, USERS, boot_wall=boot_wall).build({}, {}, set(), **FIELDS)
    assert snapshot.boot_wall == boot_wall
    by_pid = {r.pid: r for r in snapshot.procs.values()}
    now = boot_wall + NOW_NS / 1e9
    failed = by_pid[5002]  # forked and exec'd 39 s before the replay's now, failed 30 s before
    assert failed.ended == pytest.approx(now - 30, abs=1e-3)
    assert failed.exec_walls == (pytest.approx(now - 39, abs=1e-3),)
    assert by_pid[5003].ended is not None and by_pid[5003].exec_walls == ()  # time unknown
    assert by_pid[5000].ended is None and by_pid[5000].alive  # it runs
    assert by_pid[5004].exec_walls == (pytest.approx(now - 20, abs=1e-3),)


@pytest.mark.skipif(not EXACT_REFS, reason="reference counts are not exact on this Python")
def test_the_rows_dict_of_a_dropped_snapshot_is_filled_again() -> None:
    """Once the UI has dropped a snapshot, the next but one reuses its dict (an old object
    changed in place, which the garbage collector's young generation does not walk again);
    while one is held, a new dict is made."""
    history, t, rows = five_forks()
    first = rows.build({}, {}, set(), **FIELDS)
    second = rows.build({}, {}, set(), **FIELDS)
    del first
    history.step(9, ("exec", 3))
    history.step(10, ("fork", 0, 7))
    third = rows.build({}, {}, set(), **FIELDS)
    assert rows.reused == 1, "the dict of the dropped snapshot is reused"
    assert same(third, fresh(t, {}))
    before = dict(second.procs)  # the UI still draws the second one: its dict stays as it was
    history.step(11, ("exit", 2, 0))
    fourth = rows.build({}, {}, set(), **FIELDS)
    assert rows.reused == 1
    assert same(fourth, fresh(t, {}))
    assert dict(second.procs) == before
    del second
    history.step(12, ("fork", 0, 8))
    fifth = rows.build({}, {}, set(), **FIELDS)  # the third's dict is held: a new one
    assert rows.reused == 1 and same(fifth, fresh(t, {}))
    del third, fourth
    history.step(13, ("fork", 0, 9))  # the fourth's dict, dropped, is filled again
    assert same(rows.build({}, {}, set(), **FIELDS), fresh(t, {}))
    assert rows.reused == 2


def test_only_ours_tells_a_lone_object_from_one_held_elsewhere() -> None:
    """The check the reuse counts on, with the arithmetic of this Python (on one where it
    is not exact, it never says so: nothing is ever reused)."""
    alone: list[int] = []
    assert only_ours(alone) is EXACT_REFS
    held = {"x": alone}
    assert not only_ours(alone)
    assert only_ours(alone, refs=2) is EXACT_REFS  # the caller's own two: its name and held's
    del held
    assert only_ours(alone) is EXACT_REFS
