"""Down to 50x14 every dialog shows what it is for, and scrolls to the rest (issue 13: the
signal dialog showed no signal at 50x14), over the replay: no kernel needed."""

from __future__ import annotations

import signal

import pytest
from textual.geometry import Region
from textual.widget import Widget
from textual.widgets import OptionList, RadioButton

from tests.ui.test_small_terminal import DIALOGS, open_dialog
from tests.ui.test_snapshots import replay_app
from tractui.screens.signals import SIGNALS

pytestmark = pytest.mark.usefixtures("under_sudo")

SIZE = (50, 14)
ABOVE_FOOTER = Region(0, 0, 50, 13)


def visible(widget: Widget, dialog: Widget) -> Region:
    """The part of ``widget`` one sees: inside its dialog's scrolled window and the screen."""
    return widget.region.intersection(dialog.scrollable_content_region).intersection(ABOVE_FOOTER)


@pytest.mark.parametrize("keys", [*DIALOGS, pytest.param(("home", "enter"), id="group details")])
async def test_every_dialog_fits_50x14_and_scrolls_to_its_end(keys: tuple[str, ...]) -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        dialog = await open_dialog(pilot, app, keys)
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
        dialog = await open_dialog(pilot, app, ("down", "down", "k"))
        options = app.screen.query_one("#signals", OptionList)
        shown = visible(options, dialog).height - 2  # its border
        assert shown >= 5, f"{shown} signals shown"
        top = int(options.scroll_y)
        assert top <= SIGNALS.index(signal.SIGTERM) < top + shown
        for button in app.screen.query(RadioButton):
            assert visible(button, dialog).height == 1, f"{button.id} is out of view"
