"""The search and filter bar, over the replay: labelled, with its keys; Enter ends a search
(the match stays selected, the next key is a command); a kept filter stays on show."""

from __future__ import annotations

from textual.widgets import Input, Label, Static

from tests.ui.test_snapshots import loaded, replay_app
from tractui.app import TractApp
from tractui.widgets.tree import ProcessTree

SIZE = (120, 30)


def bar(app: TractApp) -> tuple[bool, str, str, str]:
    """Whether the bar shows, its label, its text and its keys."""
    return (
        app.query_one("#findbar").display,
        str(app.query_one("#find-label", Label).render()),
        app.query_one("#find", Input).value,
        str(app.query_one("#find-keys", Static).render()),
    )


def shown_pids(app: TractApp) -> list[int | str]:
    return [r.proc.pid if r.proc else r.group for r in app.query_one(ProcessTree).rows]


def current_pid(app: TractApp) -> int | None:
    row = app.query_one(ProcessTree).current
    return row.proc.pid if row is not None and row.proc is not None else None


async def test_search_bar_is_labelled_and_enter_closes_it_on_the_match() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        tree = app.query_one(ProcessTree)
        await pilot.press("slash", *"cc -c")
        assert bar(app) == (True, "Search:", "cc -c", "F3 next  Enter done  Esc close")
        assert current_pid(app) == 5001
        await pilot.press(*"zz")  # no command has "cc -czz": the bar says so, in red
        assert bar(app)[1] == "No match:" and app.query_one("#findbar").has_class("-nomatch")
        assert current_pid(app) == 5001  # the cursor stays where it was
        await pilot.press("backspace", "backspace")
        assert bar(app)[1] == "Search:" and not app.query_one("#findbar").has_class("-nomatch")
        await pilot.press("enter")
        assert not app.query_one("#findbar").display
        assert tree.has_focus and current_pid(app) == 5001
        await pilot.press("x")  # a command again (hide exited), not more search text
        assert not tree.show_exited
        assert 5001 not in shown_pids(app)


async def test_f3_finds_the_next_match_in_the_bar_and_after_it_closed() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("slash", *"sleep")
        assert current_pid(app) == 4100  # its command line has "sleep 30" in it
        await pilot.press("f3")
        assert current_pid(app) == 4101
        assert app.query_one("#find", Input).has_focus  # still searching
        await pilot.press("enter", "f3")
        assert current_pid(app) == 4102


async def test_escape_closes_the_search_and_f3_then_starts_a_new_one() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("slash", *"make", "escape")
        assert not app.query_one("#findbar").display
        assert current_pid(app) == 5000
        await pilot.press("f3")
        assert bar(app)[:3] == (True, "Search:", "")


async def test_a_kept_filter_stays_shown_until_escape_clears_it() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        tree = app.query_one(ProcessTree)
        await pilot.press("backslash", *"cc")
        assert bar(app) == (True, "Filter:", "cc", "Enter keep  Esc clear")
        await pilot.press("enter")
        assert tree.has_focus
        assert bar(app) == (True, "Filter:", "cc", "\\ edit  Esc clear")
        assert shown_pids(app) == ["build", 5000, 5001, 5002]  # the matches, their ancestors
        await pilot.press("slash", *"util", "enter")  # a search meanwhile: the filter stays
        assert current_pid(app) == 5002
        assert bar(app) == (True, "Filter:", "cc", "\\ edit  Esc clear")
        await pilot.press("escape")
        assert not app.query_one("#findbar").display
        assert tree.filter_text == ""
        assert len(shown_pids(app)) == 12


async def test_toasts_stand_above_the_find_bar() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await loaded(pilot)
        await pilot.press("backslash", "c", "enter", "x")
        await pilot.pause(0.2)
        toast = app.screen.query_one("Toast")
        findbar = app.query_one("#findbar")
        assert toast.region.bottom <= findbar.region.y


async def test_a_filter_that_matches_nothing_says_so() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("backslash", *"zzz", "enter")
        await pilot.pause()
        tree = app.query_one(ProcessTree)
        assert shown_pids(app) == []
        screen = "\n".join(strip.text for strip in (tree.render_line(y) for y in range(3)))
        assert "Nothing matches the filter 'zzz'" in screen
        assert "No groups yet" not in screen
        await pilot.press("escape")  # the filter cleared: every group back
        assert shown_pids(app)
