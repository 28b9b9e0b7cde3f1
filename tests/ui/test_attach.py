"""The attach dialog over a real engine: a picker of every process on the system, searched by
name and command line as it is typed, several picked, a confirm listing exactly what is attached
(and asking before it makes a group that does not exist); it fits 80x24 and 50x14."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Static

from tests.ui.conftest import Reaper, burst, wait_for
from tests.ui.test_snapshots import loaded, replay_app
from tractui.app import TractApp
from tractui.screens.attach import AttachConfirm, AttachScreen, parse_pids
from tractui.widgets.picker import ProcessPicker

Spawn = Callable[[list[str]], subprocess.Popen[bytes]]


@pytest.fixture
def spawn(reaper: Reaper) -> Iterator[Spawn]:
    started: list[subprocess.Popen[bytes]] = []

    def start(argv: list[str]) -> subprocess.Popen[bytes]:
        popen = subprocess.Popen(argv, start_new_session=True)
        reaper.add(popen.pid)
        started.append(popen)
        return popen

    yield start
    for popen in started:
        popen.kill()
        popen.wait(timeout=5)


def children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return sorted(int(p) for p in f.read().split())


def picker(app: TractApp) -> ProcessPicker:
    return app.screen.query_one(ProcessPicker)


def shown_pids(app: TractApp) -> list[int]:
    p = picker(app)
    return [p.picks[i].pid for i in p.shown]


async def open_picker(pilot: Pilot[object], app: TractApp) -> None:
    """``a``: the dialog, once its list of every process has been read."""
    await pilot.press("a")
    await wait_for(pilot, lambda: isinstance(app.screen, AttachScreen))
    await wait_for(pilot, lambda: not picker(app).reading, timeout=30)


def confirm_text(app: TractApp) -> str:
    return "\n".join(str(s.render()) for s in app.screen.query(Static))


async def test_search_pick_several_confirm_attach(app: TractApp, spawn: Spawn) -> None:
    tag = f"tag{uuid.uuid4().hex[:8]}"
    # the tag is in the command line only ($0 of the shell): the search reads command lines
    first = spawn(["sh", "-c", "sleep 60 & wait", f"{tag}-one"])
    second = spawn(["sh", "-c", "exec sleep 61", f"{tag}-two"])
    third = spawn(["sleep", "62"])
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: bool(children(first.pid)))
        await open_picker(pilot, app)
        assert third.pid in shown_pids(app)  # every process, before a search
        await pilot.press(*tag.upper())  # case ignored
        await wait_for(pilot, lambda: shown_pids(app) == [first.pid])  # second: exec'd away
        await pilot.press("backspace", "space", "s", "h")
        assert shown_pids(app) == [first.pid]  # every word, anywhere
        app.screen.query_one("#query", Input).value = ""
        await pilot.press(*"sleep 6")
        await wait_for(pilot, lambda: {second.pid, third.pid} <= set(shown_pids(app)))
        # pick two: from the search field ↓ goes into the list (and moves its cursor)
        target = shown_pids(app).index(second.pid)
        await pilot.press("down", "up", *["down"] * target, "space")
        await pilot.press(*["up"] * len(shown_pids(app)))
        await pilot.press(*["down"] * shown_pids(app).index(third.pid), "space")
        assert list(picker(app).picked) == [second.pid, third.pid]
        await wait_for(
            pilot, lambda: "and 1 more" in str(app.screen.query_one("#preview").render())
        )
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, AttachConfirm), timeout=30)
        await wait_for(pilot, lambda: bool(app.screen.query("#question")))
        text = confirm_text(app)
        assert "Attach 2 processes to a new group 'sleep'?" in text, text
        assert f"{second.pid} " in text and f"{third.pid} " in text
        await pilot.press("y")
        await wait_for(pilot, lambda: not isinstance(app.screen, (AttachScreen, AttachConfirm)))
        tracker = app.session.engine.tracker
        await wait_for(pilot, lambda: "sleep" in tracker.groups, timeout=30)
        assert {p.pid for p in tracker.members("sleep", alive_only=True)} == {
            second.pid,
            third.pid,
        }


async def test_a_group_that_does_not_exist_is_made_only_when_confirmed(
    app: TractApp, spawn: Spawn
) -> None:
    sleeper = spawn(["sleep", "60"])
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, AttachScreen))
        await pilot.press(*str(sleeper.pid), "tab", *"nosuch", "enter")  # Tab: to the group
        await wait_for(pilot, lambda: isinstance(app.screen, AttachConfirm), timeout=30)
        await wait_for(pilot, lambda: bool(app.screen.query("#question")))
        assert "Group 'nosuch' does not exist: create it, and attach 1 process" in confirm_text(app)
        await pilot.press("n")  # back to the dialog, nothing made
        await wait_for(pilot, lambda: isinstance(app.screen, AttachScreen))
        assert "nosuch" not in app.session.engine.tracker.groups
        assert app.screen.query_one("#group", Input).value == "nosuch"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, AttachConfirm), timeout=30)
        await wait_for(pilot, lambda: bool(app.screen.query("#question")))
        await pilot.press("y")
        await wait_for(pilot, lambda: "nosuch" in app.session.engine.tracker.groups, timeout=30)


async def test_the_preview_counts_exactly_what_is_attached(app: TractApp, spawn: Spawn) -> None:
    """A descendant already in a group is not counted, nor attached again."""
    shell = spawn(["sh", "-c", "sleep 60 & sleep 61 & wait"])
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: len(children(shell.pid)) == 2)
        member, other = children(shell.pid)
        assert app.session.attach("taken", [member]).result(10) == [member]
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, AttachScreen))
        # the field holds the selected row's group ("taken", once the tree shows it): emptied,
        # the attach goes to a new group named after the shell
        app.screen.query_one("#group", Input).value = ""
        await pilot.press(*str(shell.pid))
        preview = app.screen.query_one("#preview", Static)
        await wait_for(pilot, lambda: "+ 1 descendant" in str(preview.render()), timeout=30)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, AttachConfirm), timeout=30)
        await wait_for(pilot, lambda: bool(app.screen.query("#question")))
        text = confirm_text(app)
        assert "2 processes (1 root + 1 descendant)" in text
        assert f"{other} " in text and f"{member} " not in text
        await pilot.press("y")
        tracker = app.session.engine.tracker
        await wait_for(pilot, lambda: not isinstance(app.screen, AttachConfirm), timeout=30)
        await wait_for(pilot, lambda: not isinstance(app.screen, AttachScreen), timeout=30)
        await wait_for(pilot, lambda: "sh" in tracker.groups, timeout=30)
        assert {p.pid for p in tracker.members("sh", alive_only=True)} == {shell.pid, other}
        assert tracker.live[member].group == "taken"


async def test_down_from_the_search_goes_into_the_list_where_space_picks() -> None:
    app = replay_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        await open_picker(pilot, app)
        query = app.screen.query_one("#query", Input)
        await pilot.press("s", "down", "down")
        assert app.screen.focused is picker(app) and picker(app).cursor == 2
        current = picker(app).current
        assert current is not None and not current.group
        await pilot.press("space")
        assert query.value == "s"  # not "s "
        assert list(picker(app).picked) == [current.pid]
        await pilot.press("h")  # a letter goes on with the search
        assert app.screen.focused is query and query.value == "sh"


async def test_search_down_space_typed_in_one_burst_act_in_the_order_typed(
    spawn: Spawn,
) -> None:
    """A fast typist's search, ↓, Space, ↓, Space, ↑ in one burst: the search takes every
    character, the cursor moves on the list it selects, each Space picks (none goes into the
    search)."""
    tag = f"tag{uuid.uuid4().hex[:8]}"
    for n in range(4):  # the tag in the shells' command lines only
        spawn(["sh", "-c", "sleep 60; :", f"{tag}-{n}"])
    app = replay_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        await open_picker(pilot, app)
        burst(app, [*tag, "down", "space", "down", "space", "up"])
        await wait_for(pilot, lambda: len(picker(app).picked) == 2)
        await pilot.pause(0.1)
        shown = shown_pids(app)
        assert app.screen.query_one("#query", Input).value == tag
        assert len(shown) == 4 and app.screen.focused is picker(app)
        # ↓ Space (which moves down) ↓ Space (on the last: it stays) ↑
        assert list(picker(app).picked) == [shown[1], shown[3]]
        assert picker(app).cursor == 2


async def test_the_preview_worker_waking_as_its_screen_closes_is_no_error(spawn: Spawn) -> None:
    """Found in CI: the app quit while the preview's worker slept its 0.15 s; Textual removes
    a closing screen's widgets before it cancels the screen's workers, so the worker woke to
    no '#preview' and its NoMatches ended the app as a WorkerFailed. Here the screen's widgets
    go first (as in that closing, but for sure, not by timing), then a pick wakes the worker."""
    spawn(["sleep", "60"])
    app = replay_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        await open_picker(pilot, app)
        screen = app.screen
        await screen.query_one("#preview").remove()
        await screen.query_one("#error").remove()
        burst(app, ["down", "space"])
        await wait_for(pilot, lambda: bool(picker(app).picked))
        await pilot.pause(0.4)  # past the preview's wait
        assert app.is_running and app.return_code is None
        burst(app, ["enter"])  # the submit's worker meets the same
        await pilot.pause(0.4)
        assert app.is_running and app.return_code is None


@pytest.mark.parametrize("size", [(80, 24), (50, 14)])
async def test_the_picker_fits_small_terminals_and_scrolls(
    size: tuple[int, int], spawn: Spawn
) -> None:
    # enough processes on any machine for the list to scroll (a quiet one has few)
    shell = spawn(["sh", "-c", "for i in $(seq 30); do sleep 60 & done; wait"])
    app = replay_app()
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: len(children(shell.pid)) == 30)
        await loaded(pilot)
        await open_picker(pilot, app)
        dialog = app.screen.query_one(".dialog")
        width, height = size
        assert dialog.region.bottom <= height - 1 and dialog.region.right <= width
        for widget in (picker(app), app.screen.query_one(".hint"), app.screen.query_one("#group")):
            assert dialog.region.contains_region(widget.region), widget
        list_height = picker(app).region.height
        assert list_height >= 3
        # the list scrolls to keep its cursor in view (↓↑ from the search: into the list)
        await pilot.press("down", "up")
        await wait_for(pilot, lambda: app.screen.focused is picker(app))
        await pilot.press(*["down"] * (list_height + 2))
        p = picker(app)
        assert p.cursor == list_height + 2
        assert p.scroll_y <= p.cursor < p.scroll_y + list_height


@pytest.mark.parametrize("size", [(80, 24), (50, 14)])
async def test_the_confirm_fits_small_terminals(
    app: TractApp, spawn: Spawn, size: tuple[int, int]
) -> None:
    """Twelve processes to attach: the list scrolls, the question and the keys stay in view."""
    shell = spawn(["sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10 11; do sleep 60 & done; wait"])
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: len(children(shell.pid)) == 11)
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, AttachScreen))
        await pilot.press(*str(shell.pid), "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, AttachConfirm), timeout=30)
        await wait_for(pilot, lambda: bool(app.screen.query("#question")))
        await pilot.pause(0.2)
        dialog = app.screen.query_one(".dialog")
        width, height = size
        assert dialog.region.bottom <= height - 1 and dialog.region.right <= width
        for widget in (app.screen.query_one("#question"), app.screen.query_one(".hint")):
            assert dialog.region.contains_region(widget.region), widget
        assert "12 processes (1 root + 11 descendants)" in confirm_text(app)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, AttachScreen))


async def test_digits_typed_are_pids_until_a_row_is_chosen(app: TractApp, spawn: Spawn) -> None:
    """Digits match PIDs and command lines alike: Enter attaches the PIDs typed while the
    list's cursor has not moved since, and the row the cursor is on once it has (the trial:
    the row chosen with ↓ lost to the PID typed). Tab from a search goes to the group field:
    a letter typed in the list would go on with the search."""
    sleeper = spawn(["sleep", "60"])
    # the sleeper's PID in another command line only: a second match for those digits
    other = spawn(["sh", "-c", "sleep 61; :", str(sleeper.pid)])
    async with app.run_test(size=(120, 40)) as pilot:
        await open_picker(pilot, app)
        screen = app.screen
        assert isinstance(screen, AttachScreen)
        await pilot.press(*str(sleeper.pid))
        await wait_for(pilot, lambda: {sleeper.pid, other.pid} <= set(shown_pids(app)))
        assert screen.choice() == [sleeper.pid]
        preview = screen.query_one("#preview", Static)
        typed = f"{sleeper.pid} "
        await wait_for(pilot, lambda: str(preview.render()).startswith(typed), timeout=30)
        await pilot.press("down", "up", *["down"] * shown_pids(app).index(other.pid))
        assert picker(app).current is not None and picker(app).current.pid == other.pid
        assert screen.choice() == [other.pid]
        # the typed PIDs' preview goes: the row is the choice now
        await wait_for(pilot, lambda: not str(preview.render()).startswith(typed), timeout=30)
        await pilot.press("0")  # typed in the list: goes on with the search, a new one
        await wait_for(pilot, lambda: screen.focused is screen.query_one("#query", Input))
        assert screen.choice() == parse_pids(f"{sleeper.pid}0")
        query, group = screen.query_one("#query", Input), screen.query_one("#group", Input)
        group.value = ""
        query.value = ""
        await pilot.press(*"sleep 6", "tab", *"web")
        assert (query.value, group.value) == ("sleep 6", "web")
        assert screen.focused is group
        await pilot.press("tab")
        assert screen.focused is query
