"""Supervising an engine, as its owners do (the TUI's session and the daemon) besides polling it.

:class:`Restarter` starts the engine's source of events again when it dies (the collector, or the
daemon connection), at most once per :data:`RESTART_BACKOFF`, and words the banner as one state
line: "daemon gone since 12:00:01: reconnecting (try 3)…" while the source is down, then
"daemon back at 12:00:09 (gone since 12:00:01)", which goes :data:`RECOVERED_BANNER` seconds
later.
:class:`EventRings` keeps the newest :data:`EVENTS_KEPT` events of each group (the session's
event-log lines, the daemon's wire events sent with a subscription's snapshot).

Both run in the engine's thread. No Textual here.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Callable, Container, Iterable, Mapping
from types import MappingProxyType
from typing import Generic, TypeVar

from tractui.engine import EngineLike
from tractui.events import ConnectorError

E = TypeVar("E")

EVENTS_KEPT = 1000  # per group
RESTART_BACKOFF = 2.0  # seconds between two restarts of a source that keeps dying
RECOVERED_BANNER = 10.0  # seconds "... was restarted" stays up once all is well again


class Restarter:
    """Restarts an engine's source of events when it dies; says so in :attr:`banner`.

    ``monotonic`` times the banner (a test or a replay stands it still); the backoff is always
    timed by the real clock; ``wall`` gives the times of day the banner shows. ``logger``, if
    given, hears each restart and each failure."""

    def __init__(
        self,
        engine: EngineLike,
        monotonic: Callable[[], float] = time.monotonic,
        logger: logging.Logger | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.monotonic = monotonic
        self.logger = logger
        self.wall = wall
        self.state = "running"  # or "restarting", "down"
        self._banner = ""
        self._recovered: float | None = None  # when a restart worked (self.monotonic)
        self._next_restart = 0.0
        self._gone_at = 0.0  # when the source was found dead (self.wall), for the banner
        self._tries = 0  # restarts tried since then

    def check(self) -> bool:
        """Restart the source if it died and the backoff has passed. True when the state or
        the banner changed: the owner publishes (what a restart rescanned, the new stats)."""
        engine = self.engine
        if engine.alive():
            if self.state == "running":
                return False
            self.state = "running"
            return True
        now = time.monotonic()
        if now < self._next_restart:
            return False
        self._next_restart = now + RESTART_BACKOFF
        if self.state == "running":  # just found dead: a new outage
            self._gone_at, self._tries = self.wall(), 0
            if self.logger is not None:
                self.logger.error("the %s died: restarting it", engine.source)
        self.state = "restarting"
        self._tries += 1
        try:
            engine.restart_collector()
        except ConnectorError as err:
            self.state = "down"
            self.stick(self._down_text(err.message))
            if self.logger is not None and self._tries == 1:
                self.logger.error("%s", self._banner)  # once an outage, not every 2 s
        else:
            self.state = "running"
            self._banner = self._back_text()
            self._recovered = self.monotonic()
            if self.logger is not None and self._tries > 1:
                self.logger.error("%s", self._banner)
        return True

    def _down_text(self, why: str) -> str:
        gone = _clock(self._gone_at)
        if self.engine.mode == "daemon":
            return f"daemon gone since {gone}: reconnecting (try {self._tries})… {why}"
        return f"the {self.engine.source} died at {gone}: restarting (try {self._tries})… {why}"

    def _back_text(self) -> str:
        gone, back = _clock(self._gone_at), _clock(self.wall())
        if self.engine.mode == "daemon":
            return f"daemon back at {back} (gone since {gone}); groups reloaded from the daemon"
        return (
            f"the {self.engine.source} died at {gone} and was restarted at {back}; "
            "groups kept, /proc rescanned"
        )

    def stick(self, text: str) -> None:
        """Show ``text`` until a restart replaces it (not old news after some seconds)."""
        self._banner = text
        self._recovered = None

    @property
    def banner(self) -> str:
        """What went wrong with the source: "" once a restart is old news."""
        recovered = self._recovered
        if recovered is not None and self.monotonic() - recovered >= RECOVERED_BANNER:
            self._banner, self._recovered = "", None
        return self._banner

    def banners(self) -> str:
        """The source's troubles, then the engine's own (see ``EngineLike.banner``)."""
        return " · ".join(b for b in (self.banner, self.engine.banner) if b)


def _clock(when: float) -> str:
    """A time of day as the banner shows it: 12:00:01, local time."""
    return time.strftime("%H:%M:%S", time.localtime(when))


class EventRings(Generic[E]):
    """The newest ``size`` events of each group, oldest first, by group name."""

    def __init__(self, size: int = EVENTS_KEPT) -> None:
        self.size = size
        self._rings: dict[str, collections.deque[E]] = {}
        self._tuples: dict[str, tuple[E, ...]] = {}  # what tuples() handed out, per group
        self._changed: set[str] = set()
        # new name -> old, until the tracker knows the new name: a daemon's mirror learns of a
        # rename at its next poll, and a snapshot made before then must not drop the events
        self._renamed: dict[str, str] = {}

    def add(self, group: str, event: E) -> None:
        ring = self._rings.get(group)
        if ring is None:
            ring = self._rings[group] = collections.deque(maxlen=self.size)
        ring.append(event)
        self._changed.add(group)

    def get(self, group: str) -> Iterable[E]:
        return self._rings.get(group, ())

    def rename(self, old: str, new: str) -> None:
        """The group's events follow it to its new name."""
        if new != old and old in self._rings:
            self._rings[new] = self._rings.pop(old)
            self._tuples.pop(old, None)
            self._changed.add(new)
            self._renamed[new] = old

    def keep(self, groups: Container[str]) -> None:
        """Forget the events of the groups not in ``groups`` (removed ones), but not those of a
        group renamed here whose tracker still has the old name (it has not heard yet)."""
        for new, old in list(self._renamed.items()):
            if new in groups or old not in groups:
                del self._renamed[new]
        for name in list(self._rings):
            if name not in groups and name not in self._renamed:
                del self._rings[name]
                self._tuples.pop(name, None)
                self._changed.discard(name)

    def tuples(self) -> Mapping[str, tuple[E, ...]]:
        """Every group's events as tuples, made anew only for the groups that changed."""
        for name in self._changed:
            ring = self._rings.get(name)
            if ring is not None:
                self._tuples[name] = tuple(ring)
        self._changed.clear()
        return MappingProxyType(dict(self._tuples))
