"""What the app tells: one toast at a time, a restart banner that goes once all is well, the
group count in words; over the replay, with the session's clock in the test's hands."""

from __future__ import annotations

import time

from textual.widgets import Static

from tests.ui.conftest import wait_for
from tests.ui.test_snapshots import loaded, replay_app
from tractui.app import TractApp
from tractui.replay import WALL, ReplayEngine, demo
from tractui.screens.rename import RenameScreen
from tractui.screens.signals import SignalScreen
from tractui.session import Session
from tractui.supervise import RECOVERED_BANNER

SIZE = (120, 30)


async def test_a_toggle_pressed_many_times_shows_one_short_toast() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await loaded(pilot)
        await pilot.press(*"x" * 21)
        await pilot.pause(0.2)
        toasts = list(app.screen.query("Toast"))
        assert len(toasts) == 1
        assert "exited processes hidden" in str(toasts[0].render())
        await wait_for(pilot, lambda: not app.screen.query("Toast"), timeout=3.0)


async def test_sort_toast_says_siblings_in_the_tree_only() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await loaded(pilot)
        await pilot.press("P")
        await wait_for(pilot, lambda: bool(app.screen.query("Toast")))
        assert "siblings sorted by CPU% descending" in str(app.screen.query_one("Toast").render())
        await pilot.press("f5", "M")

        def toasts() -> str:
            return " ".join(str(t.render()) for t in app.screen.query("Toast"))

        await wait_for(pilot, lambda: "RSS" in toasts())
        text = toasts()
        assert "sorted by RSS descending" in text and "siblings" not in text


async def test_a_dialog_opening_clears_the_toasts_that_would_hide_its_keys() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await loaded(pilot)
        await pilot.press("x")
        await wait_for(pilot, lambda: bool(app.screen.query("Toast")))
        await pilot.press("k")
        await wait_for(pilot, lambda: isinstance(app.screen, SignalScreen))
        await pilot.pause(0.2)
        assert not app.screen.query("Toast")


async def test_a_dialogs_outcome_shows_once_back_on_the_main_screen() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await loaded(pilot)
        await pilot.press("home", "r", "ctrl+u", *"www", "enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, RenameScreen))
        await pilot.pause(0.2)
        toast = app.screen.query_one("Toast")
        assert "group web renamed www" in str(toast.render())


def header(app: TractApp) -> str:
    return str(app.query_one("#status", Static).render())


async def test_the_header_counts_groups_in_words() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        assert "  2 groups  " in header(app)
        await pilot.press("home", "d", "y")  # stop tracking web
        await wait_for(pilot, lambda: "  1 group  " in header(app))


class Collector:
    """Stands for the collector process (or the daemon link): up until the test says not."""

    def __init__(self) -> None:
        self.up = True

    def alive(self) -> bool:
        return self.up


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def restartable_app(mode: str, clock: Clock) -> tuple[TractApp, Collector]:
    """The replay with a collector that can die; restarting it brings it back."""
    engine, sampler = demo()
    collector = Collector()

    def restart() -> None:
        engine.restarts += 1
        collector.up = True

    engine.alive = collector.alive  # type: ignore[method-assign]
    engine.restart_collector = restart  # type: ignore[method-assign]
    engine.mode = mode
    engine.source = "daemon connection" if mode == "daemon" else ReplayEngine.source
    session = Session(
        engine,
        sampler=sampler,
        clock=lambda: WALL,
        monotonic=clock,
        read_cwd=lambda _pid: "/srv/www",
        machine=False,
    )
    app = TractApp(session, host="demo", kernel="6.18.0", save_settings=False)
    return app, collector


async def test_the_restart_banner_goes_some_seconds_after_recovery() -> None:
    clock = Clock()
    app, collector = restartable_app("embedded", clock)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        banner = app.query_one("#banner", Static)
        assert not banner.display
        collector.up = False
        await wait_for(pilot, lambda: banner.display)
        text = str(banner.render())
        at = time.strftime("%H:%M:%S", time.localtime(WALL))  # the session's clock
        assert f"the event collector died at {at} and was restarted at {at}" in text
        assert "/proc rescanned" in text
        clock.now += RECOVERED_BANNER - 1
        await pilot.pause(1.5)  # a snapshot or more later (one a second at least)
        assert banner.display
        clock.now += 1
        await wait_for(pilot, lambda: not banner.display, timeout=3.0)


async def test_a_lost_daemon_connection_is_worded_as_such() -> None:
    app, collector = restartable_app("daemon", Clock())
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        banner = app.query_one("#banner", Static)
        collector.up = False
        await wait_for(pilot, lambda: banner.display)
        text = str(banner.render())
        at = time.strftime("%H:%M:%S", time.localtime(WALL))
        assert f"daemon back at {at} (gone since {at}); groups reloaded from the daemon" in text
        assert "/proc" not in text


async def test_the_session_thread_waits_while_a_snapshot_is_drawn() -> None:
    """A snapshot's refresh holds the session's gate, as a key does, and opens it once the
    frame is painted (the session thread's work then goes on)."""
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        session = app.session
        session.stop()  # no snapshot of its own comes in meanwhile
        seen: list[str] = []
        hold, release = session.gate.hold, session.gate.release

        def held() -> None:
            seen.append("hold")
            hold()

        def released() -> None:
            seen.append("release")
            release()

        session.gate.hold = held  # type: ignore[method-assign]
        session.gate.release = released  # type: ignore[method-assign]
        app._post_snapshot(session.snapshot)
        await wait_for(pilot, lambda: "release" in seen)
        assert seen == ["hold", "release"]
        assert session.gate.is_open()
