"""The timeline (``v``): a group's processes as bars on one time axis; zoom, pan, fit; the
cursor shared with the tree; outcomes told apart by colour and by character. The replay's
still clock gives the same bars everywhere; one test runs real programs."""

from __future__ import annotations

import time
from dataclasses import replace
from types import MappingProxyType

from rich.segment import Segment
from textual.pilot import Pilot

from tests.ui.conftest import wait_for
from tests.ui.test_keys import launch
from tests.ui.test_snapshots import loaded, replay_app
from tractui.app import TractApp
from tractui.model.changes import Key
from tractui.replay import WALL
from tractui.screens.details import DetailsScreen
from tractui.screens.timeline import TimelineScreen
from tractui.snapshot import ProcRow
from tractui.widgets import timeline as tl
from tractui.widgets.timeline import HEAD, Timeline, bar_cells, outcome, ticks
from tractui.widgets.tree import ProcessTree


def key_of(app: TractApp, pid: int) -> Key:
    return next(k for k in app.snapshot.procs if k[0] == pid)


def tree_pid(app: TractApp) -> int | str | None:
    row = app.query_one(ProcessTree).current
    if row is None:
        return None
    return row.proc.pid if row.proc is not None else row.group


async def open_on(pilot: Pilot[object], app: TractApp, pid: int) -> Timeline:
    """The timeline opened with the tree's cursor on ``pid``."""
    await loaded(pilot)
    assert app.query_one(ProcessTree).select(key_of(app, pid))
    await pilot.press("v")
    return await opened(pilot, app)


async def opened(pilot: Pilot[object], app: TractApp) -> Timeline:
    """The timeline, once it is on screen with its rows."""
    await wait_for(pilot, lambda: bool(app.screen.query(Timeline)))
    timeline = app.screen.query_one(Timeline)
    await wait_for(pilot, lambda: bool(timeline.keys))
    return timeline


def texts(timeline: Timeline, pid: int) -> list[Segment]:
    """The segments of a process's line (scrolled to the top)."""
    index = next(i for i, k in enumerate(timeline.keys) if k[0] == pid)
    return list(timeline.render_line(HEAD + index - int(timeline.scroll_y)))


def line_text(timeline: Timeline, y: int) -> str:
    return "".join(s.text for s in timeline.render_line(y))


async def test_v_opens_the_groups_processes_in_tree_order_on_the_trees_process() -> None:
    app = replay_app()
    async with app.run_test(size=(120, 30)) as pilot:
        timeline = await open_on(pilot, app, 5002)
        assert [k[0] for k in timeline.keys] == [5000, 5001, 5002, 5003, 5004]
        current = timeline.current
        assert current is not None and current.pid == 5002
        assert "build: 5 processes, 2 running" in line_text(timeline, 0)
        # labelled with PID and command, the genealogy's guides between
        assert "   5002 ├─cc -c util.c" in "".join(s.text for s in texts(timeline, 5002))
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, TimelineScreen))
        assert tree_pid(app) == 5002


async def test_the_cursor_is_shared_with_the_tree_both_ways() -> None:
    app = replay_app()
    async with app.run_test(size=(120, 30)) as pilot:
        timeline = await open_on(pilot, app, 4101)
        await pilot.press("down", "down")  # 4102, then 4103
        current = timeline.current
        assert current is not None and current.pid == 4103
        await wait_for(pilot, lambda: tree_pid(app) == 4103)  # the tree follows each move
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, TimelineScreen))
        assert tree_pid(app) == 4103
        # a process the tree hides below a folded parent: the tree unfolds to it
        tree = app.query_one(ProcessTree)
        assert tree.select(key_of(app, 4100))
        await pilot.press("left")  # folds 4100
        await wait_for(pilot, lambda: tree.index_of(key_of(app, 4104)) is None)
        await pilot.press("v")
        await opened(pilot, app)
        await pilot.press("end")
        await wait_for(pilot, lambda: tree_pid(app) == 4104)
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert tree_pid(app) == 4104


async def test_opened_on_a_group_header_it_starts_on_the_groups_first_process() -> None:
    """The tree's cursor stays on the header until a move in the timeline (the trial: v,
    Esc left it on the first process, and Enter then opened that process, not the group)."""
    app = replay_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await loaded(pilot)
        tree = app.query_one(ProcessTree)
        await pilot.press("home", "v")
        timeline = await opened(pilot, app)
        current = timeline.current
        assert current is not None and current.pid == 4100
        await pilot.pause(0.2)
        assert tree.current is not None and tree.current.proc is None  # still the header
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, TimelineScreen))
        assert tree.current is not None and tree.current.proc is None
        await pilot.press("v")
        await opened(pilot, app)
        await pilot.press("down")
        await wait_for(pilot, lambda: tree_pid(app) == 4101)  # a move: the tree follows


async def test_zoom_in_out_pan_and_fit() -> None:
    app = replay_app()
    async with app.run_test(size=(120, 30)) as pilot:
        timeline = await open_on(pilot, app, 5000)
        width = timeline.bars_width
        _start, fit_cell = timeline.window(width)
        assert timeline.span is None and "fit all" in line_text(timeline, 0)
        await pilot.press("z")
        assert timeline.span is not None
        assert abs(timeline.span - fit_cell * width / 2) < 1e-6
        assert timeline.right is None  # it follows now: something runs
        assert "following now" in line_text(timeline, 0)
        await pilot.press("Z", "Z")
        assert abs(timeline.span - fit_cell * width * 2) < 1e-6
        await pilot.press("left")
        assert timeline.right is not None and timeline.right < WALL
        assert "panned" in line_text(timeline, 0)
        await pilot.press("right")
        assert timeline.right is None  # back to now: following it again
        await pilot.press("minus", "plus", "plus", "f")
        assert timeline.span is None and timeline.right is None


async def test_outcomes_have_their_own_colour_and_character() -> None:
    app = replay_app()
    async with app.run_test(size=(120, 30)) as pilot:
        timeline = await open_on(pilot, app, 5000)
        expected = {
            5000: ("running", "█", "timeline--running"),
            5001: ("exit 0", "▒", "timeline--ok"),
            5002: ("failed", "x", "timeline--failed"),
            5003: ("signalled", "!", "timeline--signalled"),
        }
        colours = set()
        for pid, (kind, fill, component) in expected.items():
            row = app.snapshot.procs[key_of(app, pid)]
            assert outcome(row) == kind
            assert tl.FILL[kind] == fill
            bar = [s for s in texts(timeline, pid) if fill in s.text]
            assert bar, f"no {fill!r} on the bar of {pid}"
            colour = timeline.get_component_rich_style(component).color
            assert all(s.style is not None and s.style.color == colour for s in bar)
            colours.add(colour)
        assert len(colours) == 4
        # cc, ld and ./app exec'd: their exec is marked on the bar
        assert tl.EXEC_MARK in "".join(s.text for s in texts(timeline, 5002))
        assert tl.EXEC_MARK not in "".join(s.text for s in texts(timeline, 5000))
        legend = line_text(timeline, timeline.scrollable_content_region.height - 1)
        for kind in ("running", "exit 0", "failed", "signalled"):
            assert f"{tl.FILL[kind] * 2} {kind}" in legend


async def test_enter_opens_the_details_of_the_timelines_process() -> None:
    app = replay_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await open_on(pilot, app, 5000)
        await pilot.press("down", "down", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailsScreen))
        screen = app.screen
        assert isinstance(screen, DetailsScreen) and screen.details.row.pid == 5002
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, TimelineScreen))


async def test_a_real_group_failing_and_running(app: TractApp) -> None:
    """Real programs: a shell whose children fail and exit cleanly while it runs on."""
    script = 'for i in 1 2; do sleep 0.2; sh -c "exit 3"; done; sleep 30'
    async with app.run_test(size=(120, 30)) as pilot:
        await launch(pilot, app, "fails", f"sh -c '{script}'")

        def ended() -> list[ProcRow]:
            return [r for r in app.snapshot.procs.values() if r.group == "fails" and not r.alive]

        await wait_for(pilot, lambda: len(ended()) >= 4, timeout=10)
        await pilot.press("home", "v")
        timeline = await opened(pilot, app)
        await wait_for(pilot, lambda: len(timeline.keys) >= 5)
        kinds = {outcome(app.snapshot.procs[k]) for k in timeline.keys}
        assert {"running", "exit 0", "failed"} <= kinds
        failed = next(r for r in ended() if r.status == "exit 3")
        assert failed.ended is not None and abs(failed.ended - time.time()) < 30
        assert failed.exec_walls and failed.exec_walls[0] <= failed.ended
        line = "".join(s.text for s in texts(timeline, failed.pid))
        assert tl.FILL["failed"] in line or tl.EXEC_MARK in line


def test_ticks_fall_on_round_times_and_do_not_touch() -> None:
    step, marks = ticks(WALL + 0.3, 0.5, 80)  # 40 s across, half a second a column
    assert step == 5.0  # 10 columns apart: a label's 8 and 2 between
    assert marks[:3] == [(9, "10:00:05"), (19, "10:00:10"), (29, "10:00:15")]
    assert marks[-1] == (79, "10:00:40")
    step, marks = ticks(WALL, 0.001, 100)  # 0.1 s across
    assert step == 0.02 and marks[1] == (20, "10:00:00.02")


def test_a_bar_takes_a_column_at_least_and_is_clipped_to_the_view() -> None:
    assert bar_cells(10.0, 10.0001, (10.00005,), 0.0, 1.0, 50) == (10, 10, [])  # fill, not ◆
    assert bar_cells(5.0, 20.0, (5.2, 12.5, 30.0), 0.0, 1.0, 50) == (5, 20, [5, 12])
    assert bar_cells(-10.0, 100.0, (), 0.0, 1.0, 50) == (0, 49, [])
    assert bar_cells(-10.0, -5.0, (), 0.0, 1.0, 50)[0] == -1  # before the view
    assert bar_cells(60.0, 70.0, (), 0.0, 1.0, 50)[0] == 50  # after it


async def test_a_process_pruned_under_the_cursor_leaves_it_on_its_nearest_ancestor() -> None:
    app = replay_app()
    async with app.run_test(size=(120, 30)) as pilot:
        timeline = await open_on(pilot, app, 4104)  # the last row: its parent is the first
        snapshot = app.snapshot
        gone, root = key_of(app, 4104), key_of(app, 4100)
        procs = {k: r for k, r in snapshot.procs.items() if k != gone}
        procs[root] = replace(procs[root], children=procs[root].children[:-1])
        timeline.update_snapshot(replace(snapshot, procs=MappingProxyType(procs)))
        current = timeline.current
        assert current is not None and current.pid == 4100  # not the row that took its place
        await wait_for(pilot, lambda: tree_pid(app) == 4100)
