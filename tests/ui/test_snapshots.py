"""Snapshots of the main screen, each dialog, help and details, from a replay of synthetic
events through a real Tracker: no kernel, still clocks, fixed columns, the same everywhere.

The launch dialog offers "as root" only to root under sudo: here it is, as the user alice.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from textual.pilot import Pilot

from tests.ui.conftest import wait_for
from tractui.app import TractApp
from tractui.replay import demo_session
from tractui.screens import launch

SIZE = (120, 30)

SnapCompare = Callable[..., bool]


@pytest.fixture(autouse=True)
def _under_sudo(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whoever runs the tests, the launch dialog is the one root sees under sudo."""
    monkeypatch.setattr(launch, "launch_user", lambda: ("alice", True))


def replay_app() -> TractApp:
    return TractApp(demo_session(), host="demo", kernel="6.18.0", save_settings=False)


async def loaded(pilot: Pilot[object]) -> None:
    """Wait for the replay's first snapshot to be drawn."""
    app = pilot.app
    assert isinstance(app, TractApp)
    await wait_for(pilot, lambda: app.snapshot.seq > 0 and app.snapshot.groups)
    await pilot.pause(0.1)


def keys_then(*keys: str) -> Callable[[Pilot[object]], object]:
    async def run(pilot: Pilot[object]) -> None:
        await loaded(pilot)
        await pilot.press(*keys)
        # a screen's footer fills in after its first refresh: late on a busy machine
        await wait_for(pilot, lambda: bool(pilot.app.screen.query("FooterKey")))
        await pilot.pause(0.3)

    return run


class TestMainScreen:
    def test_groups_as_trees_with_exited_and_reparented(self, snap_compare: SnapCompare) -> None:
        assert snap_compare(replay_app(), terminal_size=SIZE, run_before=loaded)

    def test_collapsed_group_and_event_log(self, snap_compare: SnapCompare) -> None:
        run = keys_then("down", "down", "down", "down", "down", "down", "down", "left", "e")
        assert snap_compare(replay_app(), terminal_size=SIZE, run_before=run)


class TestDialogs:
    @pytest.mark.parametrize(
        "keys",
        [
            pytest.param(("n",), id="launch"),
            pytest.param(("a",), id="attach"),
            pytest.param(("home", "k"), id="signal-group"),
            pytest.param(("down", "down", "k"), id="signal-process"),
            pytest.param(
                ("down", "down", "k", "up", "up", "up", "up", "up", "up", "enter"),
                id="sigkill-confirm",
            ),
            pytest.param(("down", "r"), id="rename"),
            pytest.param(("question_mark",), id="help"),
            pytest.param(("down", "enter"), id="details"),
            # sorted by CPU% (its ▼ in the column titles), then the picker opened again on it
            pytest.param(("s", "up", "up", "up", "up", "up", "enter", "s"), id="sort"),
        ],
    )
    def test_dialog(self, snap_compare: SnapCompare, keys: tuple[str, ...]) -> None:
        assert snap_compare(replay_app(), terminal_size=(120, 40), run_before=keys_then(*keys))


class TestSmallTerminal:
    """80x24: the footer's main keys, and the tallest dialogs whole (their keys, SIGTERM)."""

    @pytest.mark.parametrize(
        "keys",
        [
            pytest.param((), id="main"),
            pytest.param(("n", "enter"), id="launch-error"),
            pytest.param(("down", "down", "k"), id="signal"),
        ],
    )
    def test_80x24(self, snap_compare: SnapCompare, keys: tuple[str, ...]) -> None:
        assert snap_compare(replay_app(), terminal_size=(80, 24), run_before=keys_then(*keys))
