"""What the dialogs say as their fields change, over the replay: errors are checked again (a
fixed field clears its error), attach proposes the selected group, launch says who runs it."""

from __future__ import annotations

import os
import pwd
import subprocess
from collections.abc import Iterator

import pytest
from textual.pilot import Pilot
from textual.widgets import Checkbox, Input, Static

from tests.ui.conftest import Reaper, wait_for
from tests.ui.test_snapshots import loaded, replay_app
from tractui.app import TractApp
from tractui.screens import launch
from tractui.screens.attach import AttachScreen
from tractui.screens.launch import LaunchScreen, launch_user
from tractui.screens.rename import RenameScreen

SIZE = (120, 40)


def text(app: TractApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def type_into(pilot: Pilot[object], app: TractApp, selector: str, value: str) -> None:
    """Empty the field, then type ``value`` key by key, as a person would."""
    field = app.screen.query_one(selector, Input)
    field.focus()
    field.value = ""
    await pilot.press(*value)


@pytest.fixture
def sleeper(reaper: Reaper) -> Iterator[int]:
    """A running process to attach (only resolved: the replay attaches nothing)."""
    child = subprocess.Popen(["sleep", "30"], start_new_session=True)
    reaper.add(child.pid)
    yield child.pid
    child.kill()
    child.wait(timeout=5)


async def test_attach_error_shows_once_and_goes_once_the_pids_resolve(sleeper: int) -> None:
    """The issue's error shown twice: a PID that can't be attached is said in the preview
    line, and Enter says it there again, not in a second line."""
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, AttachScreen))
        await type_into(pilot, app, "#query", "1")
        await wait_for(pilot, lambda: "PID 1 is init" in text(app, "#preview"))
        await pilot.press("enter")
        await pilot.pause(0.3)
        shown = [str(s.render()) for s in app.screen.query(Static)]
        assert sum("PID 1 is init" in s for s in shown) == 1, shown
        assert text(app, "#error") == ""
        await type_into(pilot, app, "#query", str(sleeper))
        await wait_for(pilot, lambda: "sleep 30" in text(app, "#preview"))
        assert text(app, "#error") == "" and "init" not in text(app, "#preview")


async def test_attach_group_name_is_checked_as_it_is_typed() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, AttachScreen))
        await type_into(pilot, app, "#group", "a b")
        assert "bad group name 'a b'" in text(app, "#error")
        await pilot.press("backspace", "backspace")
        assert text(app, "#error") == ""


@pytest.mark.parametrize(("moves", "group"), [(("home",), "web"), (("end",), "build")])
async def test_attach_proposes_the_selected_rows_group(moves: tuple[str, ...], group: str) -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press(*moves, "a")
        await wait_for(pilot, lambda: isinstance(app.screen, AttachScreen))
        assert app.screen.query_one("#group", Input).value == group


async def test_rename_error_goes_once_the_name_is_fixed() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("home", "r")
        await wait_for(pilot, lambda: isinstance(app.screen, RenameScreen))
        await type_into(pilot, app, "#name", "a b")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "bad group name 'a b'" in text(app, "#error"))
        await pilot.press("backspace", "backspace", "c")
        assert text(app, "#error") == ""


async def test_launch_error_goes_once_the_input_is_edited() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen))
        await pilot.press("enter")  # the web group, no command
        await wait_for(pilot, lambda: "no command given" in text(app, "#error"))
        await type_into(pilot, app, "#command", "true")
        assert text(app, "#error") == ""
        await type_into(pilot, app, "#group", "a b")
        assert "bad group name" in text(app, "#error")
        await type_into(pilot, app, "#group", "ab")
        assert text(app, "#error") == ""


async def test_launch_under_sudo_offers_root_naming_the_sudo_user(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(launch, "launch_user", lambda: ("alice", True))
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen))
        label = str(app.screen.query_one("#as-root", Checkbox).label)
        assert label == "as root (else as alice, who ran sudo)"
        assert not app.screen.query("#runs-as")


async def test_launch_not_under_sudo_says_who_it_runs_as(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(launch, "launch_user", lambda: ("root", False))
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen))
        assert not app.screen.query("#as-root")
        assert text(app, "#runs-as") == "It runs as you (root)."


def test_launch_user_is_the_sudo_user_only_for_root_under_sudo(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    other = next((e for e in pwd.getpwall() if e.pw_uid != 0), None)
    if other is None:
        pytest.skip("no user other than root in the password database")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.delenv("SUDO_UID", raising=False)
    assert launch_user() == (pwd.getpwuid(0).pw_name, False)
    monkeypatch.setenv("SUDO_UID", str(other.pw_uid))
    assert launch_user() == (other.pw_name, True)
