"""The restart of a dead source of events and the per-group event rings, which the TUI's session
and the daemon share (tractui.supervise)."""

from __future__ import annotations

import logging
import time

import pytest

from tractui.events import ConnectorError
from tractui.model.tracker import Tracker
from tractui.replay import ReplayEngine
from tractui.supervise import RECOVERED_BANNER, RESTART_BACKOFF, EventRings, Restarter

# noon of a day, in local time: the banner's times of day
NOON = time.mktime((2026, 11, 30, 12, 0, 0, 0, 0, -1))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Dying(ReplayEngine):
    """A replay whose source dies when told, and restarts, or fails to, when asked."""

    def __init__(self) -> None:
        super().__init__(Tracker())
        self.up = True
        self.fails = False
        self.asked = 0

    def alive(self) -> bool:
        return self.up

    def restart_collector(self) -> None:
        self.asked += 1
        if self.fails:
            raise ConnectorError("no proc connector here")
        self.restarts += 1
        self.up = True


def test_a_dead_source_is_restarted_once_per_backoff_and_said_so_for_a_while(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = Clock()
    monkeypatch.setattr("tractui.supervise.time.monotonic", real)
    banner_clock = Clock()
    wall = Clock()
    wall.now = NOON
    engine = Dying()
    restarter = Restarter(engine, banner_clock, wall=wall)
    assert not restarter.check() and restarter.state == "running" and restarter.banner == ""
    engine.up, engine.fails = False, True
    assert restarter.check()
    assert restarter.state == "down" and engine.asked == 1
    assert restarter.banner == (
        "the event collector died at 12:00:00: restarting (try 1)… no proc connector here"
    )
    real.now += RESTART_BACKOFF / 2
    assert not restarter.check() and engine.asked == 1, "not again before the backoff"
    real.now += RESTART_BACKOFF / 2
    wall.now += 2
    assert restarter.check() and engine.asked == 2, "tried again: the same line, counting"
    assert restarter.banner == (
        "the event collector died at 12:00:00: restarting (try 2)… no proc connector here"
    )
    real.now += RESTART_BACKOFF
    wall.now += 2
    engine.fails = False
    banner_clock.now += 3 * RECOVERED_BANNER  # a failure's banner is not old news: it was there
    assert restarter.check() and engine.asked == 3 and restarter.state == "running"
    said = (
        "the event collector died at 12:00:00 and was restarted at 12:00:04; "
        "groups kept, /proc rescanned"
    )
    assert restarter.banner == said
    banner_clock.now += RECOVERED_BANNER - 0.5
    assert restarter.banner == said
    banner_clock.now += 0.5
    assert restarter.banner == ""
    assert not restarter.check()


def test_a_daemon_connection_is_worded_as_such_and_the_engines_banner_follows() -> None:
    engine = Dying()
    engine.mode, engine.source = "daemon", "daemon connection"
    engine.banner = "state not saved: disk full"
    wall = Clock()
    wall.now = NOON
    restarter = Restarter(engine, Clock(), wall=wall)
    assert restarter.banners() == "state not saved: disk full"
    engine.up, engine.fails = False, True
    restarter.check()
    assert restarter.banners() == (
        "daemon gone since 12:00:00: reconnecting (try 1)… no proc connector here"
        " · state not saved: disk full"
    )
    restarter._next_restart = 0.0  # the backoff, passed
    wall.now += 9
    engine.fails = False
    restarter.check()
    assert restarter.banners() == (
        "daemon back at 12:00:09 (gone since 12:00:00); groups reloaded from the daemon"
        " · state not saved: disk full"
    )


def test_a_stuck_banner_stays_until_a_restart(caplog: pytest.LogCaptureFixture) -> None:
    engine = Dying()
    clock = Clock()
    restarter = Restarter(engine, clock, logger=logging.getLogger("test"))
    restarter.stick("internal error")
    clock.now += 10 * RECOVERED_BANNER
    assert restarter.banner == "internal error"
    engine.up = False
    with caplog.at_level(logging.ERROR):
        restarter.check()
    assert "the event collector died: restarting it" in caplog.text
    assert restarter.banner.startswith("the event collector died at ")
    assert "and was restarted at " in restarter.banner


def test_the_rings_keep_the_newest_events_of_each_group_and_follow_renames() -> None:
    rings: EventRings[int] = EventRings(size=3)
    for i in range(5):
        rings.add("a", i)
    rings.add("b", 10)
    assert list(rings.get("a")) == [2, 3, 4] and list(rings.get("none")) == []
    assert dict(rings.tuples()) == {"a": (2, 3, 4), "b": (10,)}
    rings.rename("a", "c")
    assert dict(rings.tuples()) == {"c": (2, 3, 4), "b": (10,)}
    rings.add("b", 11)
    rings.keep({"c"})
    assert dict(rings.tuples()) == {"c": (2, 3, 4)}
    assert list(rings.get("b")) == []
