"""Down to 50x14 every dialog shows what it is for, and scrolls to the rest (issue 13: the
signal dialog showed no signal at 50x14), over the replay: no kernel needed."""

from __future__ import annotations

import signal

import pytest
from textual.geometry import Region
from textual.widget import Widget
from textual.widgets import OptionList, RadioButton

from tests.ui.conftest import wait_for
from tests.ui.test_snapshots import loaded, replay_app
from tractui.app import TractApp
from tractui.screens import launch
from tractui.screens.signals import SIGNALS

SIZE = (50, 14)
ABOVE_FOOTER = Region(0, 0, 50, 13)


@pytest.fixture(autouse=True)
def _under_sudo(monkeypatch: pytest.MonkeyPatch) -> None:
    """The launch dialog at its tallest: the "as root" checkbox shows (as under sudo)."""
    monkeypatch.setattr(launch, "launch_user", lambda: ("alice", True))


def visible(widget: Widget, dialog: Widget) -> Region:
    """The part of ``widget`` one sees: inside its dialog's scrolled window and the screen."""
    return widget.region.intersection(dialog.scrollable_content_region).intersection(ABOVE_FOOTER)


async def open_dialog(app: TractApp, pilot: object, keys: tuple[str, ...]) -> Widget:
    assert hasattr(pilot, "press")
    await loaded(pilot)  # type: ignore[arg-type]
    await pilot.press(*keys)
    await wait_for(pilot, lambda: bool(app.screen.query(".dialog")))  # type: ignore[arg-type]
    await pilot.pause(0.2)  # type: ignore[attr-defined]
    return app.screen.query_one(".dialog")


@pytest.mark.parametrize(
    "keys",
    [
        pytest.param(("n",), id="launch"),
        pytest.param(("a",), id="attach"),
        pytest.param(("down", "down", "k"), id="signal"),
        pytest.param(("down", "r"), id="rename"),
        pytest.param(("s",), id="sort"),
        pytest.param(("home", "d"), id="confirm"),
        pytest.param(("down", "enter"), id="details"),
        pytest.param(("home", "enter"), id="group details"),
        pytest.param(("question_mark",), id="help"),
    ],
)
async def test_every_dialog_fits_50x14_and_scrolls_to_its_end(keys: tuple[str, ...]) -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        dialog = await open_dialog(app, pilot, keys)
        assert ABOVE_FOOTER.contains_region(dialog.region), f"{dialog.region} is cut"
        focused = app.screen.focused
        if focused is not None and focused is not dialog:
            assert visible(focused, dialog).height > 0, f"{focused} is out of view"
        dialog.scroll_end(animate=False)
        await pilot.pause(0.1)
        last = dialog.children[-1]  # its end, in view (all of it, if it fits)
        seen = visible(last, dialog)
        assert seen.height > 0 and seen.bottom == last.region.bottom, f"{last}'s end is not seen"


async def test_the_signal_dialog_at_50x14_shows_signals_around_sigterm_and_every_scope() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        dialog = await open_dialog(app, pilot, ("down", "down", "k"))
        options = app.screen.query_one("#signals", OptionList)
        shown = visible(options, dialog).height - 2  # its border
        assert shown >= 5, f"{shown} signals shown"
        top = int(options.scroll_y)
        assert top <= SIGNALS.index(signal.SIGTERM) < top + shown
        for button in app.screen.query(RadioButton):
            assert visible(button, dialog).height == 1, f"{button.id} is out of view"
