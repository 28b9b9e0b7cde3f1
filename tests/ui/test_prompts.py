"""The launch prompt as a person types into it (issue 13): keys typed in one burst after Tab
land in the next field; VAR=value assignments and shell syntax; the group name's rule."""

from __future__ import annotations

from pathlib import Path

from textual import events
from textual.pilot import Pilot
from textual.widgets import Input, Static

from tests.ui.conftest import burst, wait_for
from tests.ui.test_snapshots import loaded, replay_app
from tractui.app import TractApp
from tractui.screens.launch import LaunchScreen
from tractui.screens.signals import SignalScreen

SIZE = (120, 40)


def field(app: TractApp, name: str) -> str:
    return app.screen.query_one(f"#{name}", Input).value


def text(app: TractApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def open_launch(pilot: Pilot[object], app: TractApp, replay: bool = True) -> None:
    if replay:
        await loaded(pilot)
    else:
        await wait_for(pilot, lambda: app.snapshot.seq > 0)
    await pilot.press("n")
    await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen))
    app.screen.query_one("#group", Input).value = ""


async def test_keys_typed_after_tab_in_one_burst_go_to_the_next_field() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_launch(pilot, app)
        burst(app, "web\tsleep 9")
        await wait_for(pilot, lambda: len(field(app, "group") + field(app, "command")) == 10)
        assert (field(app, "group"), field(app, "command")) == ("web", "sleep 9")


async def test_shift_tab_in_a_burst_goes_back_at_once() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_launch(pilot, app)
        burst(app, "\tsleep")
        driver = app._driver
        assert driver is not None
        back = events.Key("shift+tab", None)
        back.set_sender(app)
        driver.send_message(back)
        burst(app, "web")
        await wait_for(pilot, lambda: field(app, "group") == "web")
        assert field(app, "command") == "sleep"


async def test_a_unicode_group_name_is_refused_saying_ascii_letters() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_launch(pilot, app)
        await pilot.press(*"grüppe")
        assert "use 1-64 ASCII letters (a-z A-Z), digits" in text(app, "#error")
        await pilot.press("backspace", "backspace", "backspace", "backspace", "backspace")
        assert text(app, "#error") == ""


# ---- with a real engine: what the launched program gets -------------------------------------


async def launch_line(pilot: Pilot[object], app: TractApp, group: str, command: str) -> None:
    await open_launch(pilot, app, replay=False)
    await pilot.press(*group, "tab", *command, "enter")


def log_of(app: TractApp, group: str) -> str:
    path = Path(app.session.log_path(group))
    return path.read_text() if path.exists() else ""


async def test_leading_assignments_reach_the_programs_environment(app: TractApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await launch_line(pilot, app, "envs", "PORT=8000 GREETING='a b' printenv PORT GREETING")
        await wait_for(pilot, lambda: not isinstance(app.screen, LaunchScreen))
        await wait_for(pilot, lambda: "8000\na b\n" in log_of(app, "envs"))
        # the log's launch line says what ran, assignments included
        assert "tractui launched: PORT=8000 GREETING='a b' printenv PORT GREETING" in log_of(
            app, "envs"
        )


async def test_shell_syntax_is_warned_of_and_ctrl_s_runs_it_with_sh_c(app: TractApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await launch_line(pilot, app, "piped", "echo one two | wc -w")
        await wait_for(pilot, lambda: "No shell runs this: `|`" in text(app, "#error"))
        assert isinstance(app.screen, LaunchScreen), "nothing launched yet"
        assert app.screen.active_bindings["ctrl+s"].enabled
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, LaunchScreen))
        await wait_for(pilot, lambda: "\n2\n" in log_of(app, "piped"))  # then its exit line
        assert "tractui launched: sh -c 'echo one two | wc -w'" in log_of(app, "piped")


async def test_enter_again_runs_the_line_as_written_and_an_edit_warns_anew(app: TractApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await launch_line(pilot, app, "literal", "echo a > b")
        await wait_for(pilot, lambda: "`>` would reach the program" in text(app, "#error"))
        await pilot.press("backspace", "c")  # edited: warned of again at Enter
        assert "ctrl+s" not in app.screen.active_bindings
        await pilot.press("enter")
        await wait_for(pilot, lambda: "`>` would reach the program" in text(app, "#error"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, LaunchScreen))
        await wait_for(pilot, lambda: "\na > c\n" in log_of(app, "literal"))


# ---- the signal picker's header follows its scope ---------------------------------------------


async def test_the_signal_pickers_header_follows_the_scope_keys_and_clicks() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("down", "down", "k")  # PID 4101, sleep 30
        await wait_for(pilot, lambda: isinstance(app.screen, SignalScreen))
        assert text(app, "#target") == "PID 4101 of web: sleep 30"
        await pilot.press("t")
        await wait_for(pilot, lambda: "(1 process)" in text(app, "#target"))
        assert text(app, "#target") == "subtree of PID 4101 of web: sleep 30 (1 process)"
        await pilot.press("g")
        await wait_for(pilot, lambda: "processes)" in text(app, "#target"))
        assert text(app, "#target") == "group web: every live process (4 processes)"
        await pilot.press("p")
        assert text(app, "#target") == "PID 4101 of web: sleep 30"
        await pilot.click("#scope-group")
        await wait_for(pilot, lambda: text(app, "#target").startswith("group web:"))
        assert isinstance(app.screen, SignalScreen) and app.screen.scope == "group"


async def test_editing_keys_in_a_burst_act_in_the_order_typed() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_launch(pilot, app)
        driver = app._driver
        assert driver is not None

        def key(name: str) -> None:
            event = events.Key(name, None)
            event.set_sender(app)
            driver.send_message(event)

        burst(app, "old")
        key("ctrl+u")  # delete all before the cursor
        burst(app, "webx")
        key("backspace")
        burst(app, "\tsleep 9")
        await wait_for(pilot, lambda: field(app, "command") == "sleep 9")
        assert field(app, "group") == "web"
