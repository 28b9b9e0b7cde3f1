"""At 80x24 every dialog fits with its error line and key hints, and the footer shows the main
keys, over the replay: no kernel needed."""

from __future__ import annotations

import signal

import pytest
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import OptionList, Static

from tests.ui.conftest import wait_for
from tests.ui.test_snapshots import loaded, replay_app
from tractui.app import TractApp
from tractui.screens.signals import SIGNALS
from tractui.widgets.tree import ProcessTree

pytestmark = pytest.mark.usefixtures("under_sudo")

SIZE = (80, 24)
# the screen above the footer
ABOVE_FOOTER = Region(0, 0, 80, 23)


def assert_in_view(widget: Widget, dialog: Widget) -> None:
    """The widget is drawn whole: inside its dialog's box, which is inside the screen."""
    assert ABOVE_FOOTER.contains_region(dialog.region), f"{dialog.region} is cut"
    assert dialog.region.contains_region(widget.region), f"{widget} at {widget.region} is cut"


# every dialog, by the keys that open it over the replay
DIALOGS = [
    pytest.param(("n",), id="launch"),
    pytest.param(("a",), id="attach"),
    pytest.param(("down", "down", "k"), id="signal"),
    pytest.param(("down", "r"), id="rename"),
    pytest.param(("s",), id="sort"),
    pytest.param(("home", "d"), id="confirm"),
    pytest.param(("down", "enter"), id="details"),
    pytest.param(("question_mark",), id="help"),
]


async def open_dialog(pilot: Pilot[object], app: TractApp, keys: tuple[str, ...]) -> Widget:
    """The replay drawn, the keys pressed: the dialog they open, once it is laid out."""
    await loaded(pilot)
    await pilot.press(*keys)
    await wait_for(pilot, lambda: bool(app.screen.query(".dialog")))
    await pilot.pause(0.2)
    return app.screen.query_one(".dialog")


@pytest.mark.parametrize("keys", DIALOGS)
async def test_every_dialog_fits_80x24_with_its_key_hints(keys: tuple[str, ...]) -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        dialog = await open_dialog(pilot, app, keys)
        assert ABOVE_FOOTER.contains_region(dialog.region)
        for hint in app.screen.query(".hint"):
            assert_in_view(hint, dialog)


async def test_launch_at_80x24_shows_the_checkbox_and_the_error_of_a_bad_input() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: bool(app.screen.query("#as-root")))
        dialog = app.screen.query_one(".dialog")
        await pilot.press("enter")  # the web group, no command
        error = app.screen.query_one("#error", Static)
        await wait_for(pilot, lambda: "no command given" in str(error.render()))
        await pilot.pause(0.1)
        for widget in (app.screen.query_one("#as-root"), error, app.screen.query_one(".hint")):
            assert_in_view(widget, dialog)


async def test_signal_list_at_80x24_scrolls_to_show_sigterm() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("down", "down", "k")
        await wait_for(pilot, lambda: bool(app.screen.query("#signals")))
        await pilot.pause(0.1)
        options = app.screen.query_one("#signals", OptionList)
        shown = options.scrollable_content_region.height
        assert shown < len(SIGNALS)  # the list is shorter than the signals: it scrolls
        sigterm = SIGNALS.index(signal.SIGTERM)
        assert options.highlighted == sigterm
        top = int(options.scroll_y)
        assert top <= sigterm < top + shown


async def test_footer_at_80_columns_shows_sort_help_and_quit() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        wanted = {"Launch", "Attach", "Kill", "Search", "Filter", "Sort", "Help", "Quit"}

        def shown() -> set[str]:
            return {str(getattr(k, "description", "")) for k in app.screen.query("FooterKey")}

        await wait_for(pilot, lambda: wanted <= shown())  # the footer fills in after a refresh
        await pilot.pause(0.1)
        keys = list(app.screen.query("FooterKey"))
        for key in keys:
            assert key.region.right <= SIZE[0], f"{key} is cut"
        # the rest is still a key away, and in help and the palette
        assert not {"Info", "Events", "Log"} & shown()


def tree_lines(app: TractApp) -> list[str]:
    tree = app.query_one(ProcessTree)
    return [tree.render_line(y).text for y in range(tree.size.height)]


async def test_group_header_at_80_columns_says_failures_before_the_counters() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        header = next(line for line in tree_lines(app) if line.startswith("▾ build"))
        assert header.startswith("▾ build  2/5 live  2 failed  CPU "), header
        assert "forks 4  execs 4  exits" not in header  # cut first: it comes last


async def test_a_smaller_terminal_keeps_the_cursors_row_on_the_screen() -> None:
    """The trial: End at 80x24, then 50x14: the cursor's row was below the screen (k and
    Enter act on it) until the next move key. As htop, the view follows the cursor."""
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        tree = app.query_one(ProcessTree)
        await pilot.press("end")
        last = len(tree.ids) - 1
        assert tree.cursor == last
        await pilot.resize_terminal(50, 14)
        await pilot.pause(0.2)

        def on_screen() -> bool:
            top, height = int(tree.scroll_y), tree.scrollable_content_region.height
            return height > 0 and top <= tree.cursor < top + height

        await wait_for(pilot, on_screen)
        assert tree.cursor == last and tree.scrollable_content_region.height <= last


async def test_a_group_headers_figures_are_whole_or_left_out_at_any_width() -> None:
    """The trial: at 80 columns "… forks 4  execs 4  exits" (its number cut off), at 50
    "TIME 0:2". Each figure is now shown whole or not at all: a narrower header is the whole
    one cut where a figure ends."""
    app = replay_app()
    async with app.run_test(size=(200, 30)) as pilot:
        await loaded(pilot)
        tree = app.query_one(ProcessTree)

        def headers() -> list[str]:
            return [
                tree.render_line(y).text.rstrip()
                for y, row_id in enumerate(tree.ids)
                if isinstance(row_id, str)
            ]

        whole = headers()
        assert len(whole) == 2 and all(h.endswith(("exits 1", "exits 3")) for h in whole)
        for width in range(130, 39, -3):
            await pilot.resize_terminal(width, 30)
            await pilot.pause(0.05)
            for text, full in zip(headers(), whole, strict=True):
                rest = full[len(text) :]
                assert full.startswith(text), f"{width}: {text!r}"
                assert not rest or rest.startswith("  "), text
