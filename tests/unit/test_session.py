"""The session thread over a replay: what its snapshots say after the commands the UI sends."""

from __future__ import annotations

import gc
import itertools
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import cast

import pytest

from tractui import session as session_module
from tractui.daemon.link import Renamed
from tractui.kernel import procfs
from tractui.kernel.sample import Sample, Sampler
from tractui.model.changes import Delta
from tractui.replay import NOW_NS, ReplayEngine, demo, demo_session
from tractui.session import GarbagePacer, Session, event_rate, lower_priority
from tractui.snapshot import Snapshot


def _until(session: Session, ok: Callable[[Snapshot], object], timeout: float = 5.0) -> Snapshot:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        snapshot = session.snapshot
        if ok(snapshot):
            return snapshot
        time.sleep(0.02)
    raise AssertionError(f"no such snapshot in {timeout} s; the last: {session.snapshot}")


def test_a_renamed_groups_events_are_in_the_log_of_every_group_once() -> None:
    session = demo_session()
    session.engine.start()
    session.start()
    try:
        before = _until(session, lambda s: s.log("web") and s.log("build"))
        assert session.rename("web", "www").result(5) == "www"
        after = _until(session, lambda s: [g.name for g in s.groups] == ["www", "build"])
        assert sorted(after.logs) == ["build", "www"]
        assert after.log("www") == before.log("web")
        assert after.log(None) == before.log(None)  # each event once, not the old name's too
    finally:
        session.stop()


class _LateRename(ReplayEngine):
    """A rename that the engine's tracker learns of only at its next poll, as a daemon's
    mirror does: the daemon says yes at once, its delta comes later."""

    later: tuple[str, str] | None = None

    def rename_group(self, old: str, new: str) -> Renamed:
        self.later = (old, new)
        return Renamed(new)

    def poll(self, timeout: float) -> Delta:
        if self.later is not None:
            self.tracker.rename_group(*self.later)
            self.later = None
        return super().poll(timeout)


def test_a_group_renamed_through_a_daemon_keeps_its_events() -> None:
    session = demo_session()
    session.engine.__class__ = _LateRename
    session.engine.start()
    session.start()
    try:
        before = _until(session, lambda s: s.log("web") and s.log("build"))
        time.sleep(0.3)  # the replay is played: the session thread waits for the next command
        assert session.rename("web", "www").result(5) == "www"
        _until(session, lambda s: [g.name for g in s.groups] == ["www", "build"])
        time.sleep(0.3)  # snapshots made after the rename, before and after the tracker knew
        after = session.snapshot
        assert after.log("www") == before.log("web")
        assert after.log(None) == before.log(None)
    finally:
        session.stop()


def test_a_groups_log_path_is_read_from_the_snapshot_never_from_the_engine_on_the_ui_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACTUI_STATE_DIR", str(tmp_path))
    session = demo_session()
    engine = cast(ReplayEngine, session.engine)
    asked_on: set[str] = set()
    log_path = engine.log_path

    def recorded(group: str) -> Path:
        asked_on.add(threading.current_thread().name)
        return log_path(group)

    engine.log_path = recorded  # type: ignore[method-assign]
    engine.start()
    session.start()
    try:
        _until(session, lambda s: [g.name for g in s.groups] == ["web", "build"])
        assert session.log_path("web") == str(tmp_path / "logs" / "web.log")
        assert session.snapshot.groups[0].log_path == str(tmp_path / "logs" / "web.log")
        assert asked_on == {"tractui-session"}
        assert session.log_path("gone") == str(tmp_path / "logs" / "gone.log")
    finally:
        session.stop()


def test_the_event_rate_counts_a_restarted_daemons_counter_from_zero_never_negative() -> None:
    rate, mark = event_rate(0.0, (0.0, 0), 1.0, 30_000)  # 30000 events in the first second
    assert rate == 30_000.0 and mark == (1.0, 30_000)
    rate, mark = event_rate(rate, mark, 1.5, 120)  # the daemon came back: its count restarts
    assert rate == 30_000.0 and mark == (1.0, 0)  # not a second yet: the last rate stands
    rate, mark = event_rate(rate, mark, 2.0, 500)
    assert rate == 500.0 and mark == (2.0, 500)
    rate, _ = event_rate(rate, (2.0, 500), 3.0, 40)  # back again, a whole second later
    assert rate == 40.0


def test_the_details_of_an_exited_process_carry_its_lifetime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACTUI_STATE_DIR", str(tmp_path))
    session = demo_session()
    session.engine.start()
    session.start()
    try:
        snap = _until(session, lambda s: any(not r.alive for r in s.procs.values()))
        exited = next(k for k, r in snap.procs.items() if not r.alive)
        live = next(k for k, r in snap.procs.items() if r.alive)
        proc = session.engine.tracker.procs[exited]
        assert proc.ended is not None
        lifetime = session.details(exited).result(5).lifetime
        assert lifetime == (proc.ended - proc.start) / 1e9
        assert session.details(live).result(5).lifetime is None
    finally:
        session.stop()


def test_while_the_ui_answers_a_key_the_session_thread_waits_unless_the_ui_waits_for_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Held, the thread makes no snapshot; a command opens the gate: a key's action awaits its
    command before the key's release can come, so a held thread would only make the answer
    wait out the whole hold (found in review: +0.1 s on every renice, details, quit)."""
    monkeypatch.setattr(session_module, "KEY_QUIET", 5.0)
    session = demo_session()
    session.engine.start()
    session.start()
    try:
        _until(session, lambda s: s.groups)
        session.hold()
        time.sleep(0.3)  # the thread is at its next pause: waiting
        seq = session.snapshot.seq
        time.sleep(0.5)
        assert session.snapshot.seq == seq  # no snapshot while the key is answered
        assert session.gate.paused >= 1
        assert session.submit(lambda: "ran").result(2) == "ran"  # not 5 s (KEY_QUIET) later
        assert session.gate.is_open()
    finally:
        session.stop()


def test_a_hold_never_released_pauses_the_session_thread_once_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(session_module, "KEY_QUIET", 1.0)
    session = demo_session()
    session.engine.start()
    session.start()
    try:
        session.hold()  # and no release: a key whose answer never reached the screen
        time.sleep(1.2)  # the thread waited KEY_QUIET, then went on
        started = time.monotonic()
        for _ in range(5):  # each at the next step: none waits KEY_QUIET again (5 s)
            assert session.submit(lambda: "ran").result(5) == "ran"
        assert time.monotonic() - started < 2.5
    finally:
        session.stop()


def test_the_session_thread_runs_at_its_own_nice_value_and_the_ui_threads_stays() -> None:
    engine, sampler = demo()
    ui_nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    session = Session(engine, sampler=sampler, watch_collector=False, nice=10)
    session.engine.start()
    session.start()
    try:
        tid = session.submit(threading.get_native_id).result(5)
        assert tid != threading.get_native_id()
        assert os.getpriority(os.PRIO_PROCESS, tid) == min(19, ui_nice + 10)
        # the UI thread's own (and so the process's main thread's) is left as it was
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == ui_nice
    finally:
        session.stop()


def test_lower_priority_goes_no_further_than_19() -> None:
    def run(out: list[int]) -> None:
        out.append(lower_priority(15))
        out.append(lower_priority(15))
        out.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))

    out: list[int] = []
    thread = threading.Thread(target=run, args=(out,))
    thread.start()
    thread.join(5)
    assert out[1:] == [19, 19]
    assert out[0] == min(19, os.getpriority(os.PRIO_PROCESS, 0) + 15)


def test_the_garbage_pacer_collects_when_due_and_only_then() -> None:
    pacer = GarbagePacer(500, 3, 1000)
    gc.collect()
    pacer.start()
    try:
        assert not gc.isenabled()  # no collection of its own: the pacer's ticks only
        assert pacer.tick() is None  # fewer than 500 new objects: none due
        made = []
        for _ in range(4):
            made.append([[] for _ in range(600)])  # 600 more tracked objects
            assert gc.get_count()[0] >= 500
            assert pacer.tick() is not None
            assert gc.get_count()[0] < 500
        # as CPython: every 3rd collection takes generation 1 too
        assert pacer.collections[0] >= 2 and pacer.collections[1] >= 1
        assert pacer.collections[2] == 0
    finally:
        pacer.stop()
    assert gc.isenabled()


def test_a_cycle_is_freed_by_the_pacers_tick_while_automatic_collection_is_off() -> None:
    class Node:
        def __init__(self) -> None:
            self.me = self

    pacer = GarbagePacer(100, 10, 10)
    pacer.start()
    try:
        node = Node()
        gone = weakref.ref(node)
        del node
        assert gone() is not None  # a cycle: only a collection frees it
        kept = []  # objects the collector counts (freed ones are taken off its count)
        while pacer.tick() is None:
            kept.append([[] for _ in range(200)])
        assert gone() is None
    finally:
        pacer.stop()


def test_a_session_with_a_pacer_collects_in_its_thread_and_gives_collection_back() -> None:
    engine, sampler = demo()
    pacer = GarbagePacer(1000, 10, 100)
    session = Session(engine, sampler=sampler, watch_collector=False, garbage=pacer)
    session.engine.start()
    session.start()
    try:
        assert not gc.isenabled()
        junk = [[[] for _ in range(2000)] for _ in range(3)]
        deadline = time.monotonic() + 5
        while pacer.collections[0] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pacer.collections[0] >= 1  # made by the session thread's loop
        del junk
    finally:
        session.stop()
    assert gc.isenabled()


def test_under_a_stream_of_events_the_session_steps_at_most_every_min_step() -> None:
    engine, sampler = demo()
    polls: list[float] = []
    poll = engine.poll

    def busy_poll(timeout: float) -> Delta:
        polls.append(time.monotonic())
        return poll(0.0)  # events every time: it never waits

    engine.poll = busy_poll  # type: ignore[method-assign]
    session = Session(engine, sampler=sampler, watch_collector=False)
    session.engine.start()
    session.start()
    try:
        time.sleep(1.0)
    finally:
        session.stop()
    assert len(polls) >= 3  # it does step (a loaded machine may slow it down a lot)
    assert len(polls) <= 1.0 / session_module.MIN_STEP + 2
    # on average: a step's work before its poll varies (a loaded machine), so two polls may
    # come closer than MIN_STEP while the steps themselves start MIN_STEP apart
    assert (polls[-1] - polls[0]) / (len(polls) - 1) >= session_module.MIN_STEP * 0.9


def test_a_command_does_not_wait_for_the_rest_between_two_steps(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine, sampler = demo()
    monkeypatch.setattr(session_module, "MIN_STEP", 30.0)  # a step every 30 s at most
    session = Session(engine, sampler=sampler, watch_collector=False)
    session.engine.start()
    session.start()
    try:
        time.sleep(0.3)  # past the first step: the thread rests
        for _ in range(3):  # each wakes it (a wake left over would hide a lost one)
            started = time.monotonic()
            assert session.submit(lambda: 42).result(timeout=10) == 42
            assert time.monotonic() - started < 5.0  # not the 30 s rest
        started = time.monotonic()
    finally:
        session.stop()
    assert time.monotonic() - started < 5.0  # stop wakes it too


def test_the_replays_times_do_not_follow_the_machines_clocks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The machine's offset between its boot and monotonic clocks, read twice, differs by the
    time between two clock reads: a replayed start moved by that much across a millisecond
    (the details snapshot showed 09:59:40.000 on one run, 09:59:39.999 on another)."""
    jitter = itertools.cycle([1_500, -1_500, 700, -200])
    monkeypatch.setattr(procfs, "boot_offset_ns", lambda: next(jitter))
    for _ in range(4):
        engine, _sampler = demo()
        engine.poll(0)
        starts = {k[0]: p.start for k, p in engine.tracker.procs.items()}
        assert starts[5004] == NOW_NS - 20 * 10**9  # forked 20 s before the replay's now
        assert starts[5000] == NOW_NS - 40 * 10**9


def test_a_tree_of_many_rows_is_snapshotted_less_often_down_to_once_a_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine, sampler = demo()
    session = Session(engine, sampler=sampler, watch_collector=False, snapshot_interval=0.2)
    engine.start()
    rows = len(engine.tracker.procs)
    assert rows > 0
    assert session.due_interval() == 0.2  # a few rows: the interval asked for
    monkeypatch.setattr(session_module, "ROW_INTERVAL", 0.4 / rows)
    assert session.due_interval() == pytest.approx(0.4)
    monkeypatch.setattr(session_module, "ROW_INTERVAL", 60.0 / rows)
    assert session.due_interval() == session_module.ROWS_INTERVAL_MAX  # one a second at least
    assert session_module.ROWS_INTERVAL_MAX <= session_module.HEARTBEAT  # never rarer than that
    engine.stop()


def _big_tree_session(monkeypatch: pytest.MonkeyPatch) -> tuple[ReplayEngine, Session]:
    """A started session over the demo whose tree counts as "big": any change is snapshotted
    30 s later, a command's effect at once."""
    engine, sampler = demo()
    monkeypatch.setattr(session_module, "HEARTBEAT", 30.0)
    monkeypatch.setattr(session_module, "ROW_INTERVAL", 30.0)  # any change: 30 s on
    monkeypatch.setattr(session_module, "ROWS_INTERVAL_MAX", 30.0)
    session = Session(engine, sampler=sampler, watch_collector=False, snapshot_interval=0.1)
    session.engine.start()
    session.start()
    return engine, session


def test_a_commands_effect_is_snapshotted_at_once_on_a_tree_of_many_rows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _engine, session = _big_tree_session(monkeypatch)
    try:
        first = _until(session, lambda s: s.groups)
        assert session.due_interval() == 30.0
        time.sleep(0.5)
        assert session.snapshot.seq == first.seq  # held back: the tree is "big"
        session.submit(lambda: None).result(5)
        started = time.monotonic()
        _until(session, lambda s: s.seq > first.seq, timeout=5.0)
        assert time.monotonic() - started < 2.0  # not 30 s: after a command, snapshot_interval
        assert session.due_interval() == 30.0  # and then held back again
    finally:
        session.stop()


def test_a_command_that_only_reads_does_not_snapshot_a_tree_of_many_rows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A log followed every 0.25 s, a process's details: nothing changed, so a big tree keeps
    its pace (its rows rebuilt once a second, not at each read)."""
    engine, session = _big_tree_session(monkeypatch)
    try:
        first = _until(session, lambda s: s.groups)
        key = next(iter(engine.tracker.live.values())).key
        for _ in range(5):
            session.details(key).result(5)
            session.read_log("web").result(5)
            session.submit(lambda: None, reads=True).result(5)
        time.sleep(0.5)
        assert session.snapshot.seq == first.seq  # no snapshot for them
        session.submit(lambda: None).result(5)  # one that may change something: at once
        _until(session, lambda s: s.seq > first.seq, timeout=5.0)
    finally:
        session.stop()


def test_drawing_a_snapshot_holds_the_session_unless_a_command_waits() -> None:
    engine, sampler = demo()
    session = Session(engine, sampler=sampler, watch_collector=False)
    session.hold_drawing()
    assert not session.gate.is_open()  # held while the frame is drawn
    session.release()
    assert session.gate.is_open()
    session._queue.put(session_module._Command(lambda: None))  # as submit() queues one
    session.hold_drawing()
    assert session.gate.is_open()  # the UI awaits the command: not held back


def test_the_pacer_never_collects_in_the_step_that_posted_a_snapshot() -> None:
    """The UI draws a snapshot just after it is posted: a collection then (it holds the GIL)
    would hold the refresh up, so it waits for the next step."""
    engine, sampler = demo()
    steps: list[str] = []

    class Pacer(GarbagePacer):
        def tick(self) -> int | None:
            steps.append("tick")
            return None

    poll = engine.poll

    def noted_poll(timeout: float) -> Delta:
        steps.append("poll")
        return poll(timeout)

    engine.poll = noted_poll  # type: ignore[method-assign]
    session = Session(engine, sampler=sampler, watch_collector=False, garbage=Pacer())
    session.subscribe(lambda _snapshot: steps.append("publish"))
    session.engine.start()
    session.start()
    try:
        _until(session, lambda s: s.seq >= 3)
    finally:
        session.stop()
    assert steps.count("publish") >= 3 and "tick" in steps
    after = [b for a, b in itertools.pairwise(steps) if a == "publish"]
    assert "tick" not in after, steps


class _Reads(Sampler):
    """A sampler that records its reads (all asleep) and whose rounds read nothing: a budget
    too small for any read, as a round of thousands of processes is read a slice at a time."""

    SMALL = 0

    def __init__(self) -> None:
        self.now = 0.0
        self.reads: list[list[tuple[int, int]]] = []
        super().__init__(clock=lambda: self.now, budget=1e-12, timer=lambda: 0.0)

    def read(self, keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], Sample]:
        keys = list(keys)
        self.reads.append(keys)
        for key in keys:
            self._prev[key] = (self.now, 0)
        return {key: Sample("S", 0.0, 1000, 0, 1, 0) for key in keys}


def test_the_rows_on_the_screen_are_read_every_interval_however_long_a_round_takes() -> None:
    engine, _ = demo()
    sampler = _Reads()
    session = Session(engine, sampler=sampler, watch_collector=False, machine=False)
    engine.start()
    snapshots = session._snapshots
    live = [p.key for p in engine.tracker.live.values()]
    assert len(live) >= 2
    assert not snapshots.sample() and sampler.reads == []  # the round's slices: nothing yet
    shown = (live[1], (99999, 1))  # the last: a row of a process no longer live
    session.on_screen(shown)
    assert snapshots.sample()
    assert sampler.reads == [[live[1]]]
    assert not snapshots.sample() and len(sampler.reads) == 1  # read less than interval ago
    sampler.now += sampler.interval
    snapshots.sample()
    assert sampler.reads[-1] == [live[1]] and len(sampler.reads) == 2
    session.on_screen(())
    sampler.now += sampler.interval
    snapshots.sample()
    assert len(sampler.reads) == 2  # nothing on the screen: the rounds alone
