"""The command palette (ctrl+p): it lists the app's actions, and running one works."""

from __future__ import annotations

from textual.command import Command, CommandList, CommandPalette
from textual.pilot import Pilot

from tests.ui.conftest import wait_for
from tests.ui.test_snapshots import loaded, replay_app
from tractui.app import TractApp
from tractui.screens.sort import SortScreen

SIZE = (120, 40)


def listed(app: TractApp) -> list[str]:
    """The titles of the commands the palette shows now."""
    commands = app.screen.query_one(CommandList)
    return [str(o.hit.text) for o in commands.options if isinstance(o, Command)]


async def open_palette(pilot: Pilot[object], app: TractApp) -> None:
    await pilot.press("ctrl+p")
    await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))


async def run_command(pilot: Pilot[object], app: TractApp, title: str) -> None:
    """Type the title, wait until it is the first hit and highlighted, press Enter."""
    await pilot.press(*title)
    commands = app.screen.query_one(CommandList)
    await wait_for(pilot, lambda: listed(app)[:1] == [title] and commands.highlighted == 0)
    await pilot.press("enter")
    await wait_for(pilot, lambda: not isinstance(app.screen, CommandPalette))


async def test_palette_lists_the_apps_actions() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await open_palette(pilot, app)
        await wait_for(pilot, lambda: "Launch" in listed(app))
        titles = set(listed(app))
        expected = {"Launch", "Attach", "Kill", "Info", "Events", "Exited", "Log", "Sort"}
        assert expected | {"Invert sort", "Search", "Filter", "Rename", "Remove"} <= titles
        assert {"Theme", "Quit"} <= titles  # of Textual's own commands, these two stay


async def test_palette_has_none_of_textuals_commands_that_mean_nothing_here() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await open_palette(pilot, app)
        await wait_for(pilot, lambda: "Launch" in listed(app))
        # the Keys panel (which Esc does not close), Maximize, Screenshot
        assert not {"Keys", "Maximize", "Minimize", "Screenshot"} & set(listed(app))


async def test_running_an_action_from_the_palette() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        events = app.query_one("#events")
        assert not events.display
        await open_palette(pilot, app)
        await run_command(pilot, app, "Events")
        await wait_for(pilot, lambda: events.display)


async def test_sort_from_the_palette_opens_the_sort_picker() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await open_palette(pilot, app)
        await run_command(pilot, app, "Sort")
        await wait_for(pilot, lambda: isinstance(app.screen, SortScreen))
