"""The timeline of the selected group (``v``): its processes as bars on one time axis.

The cursor is the tree's: the screen opens on the tree's process, and each move here puts the
tree's cursor on the same process (``select``), so Esc leaves it there. Enter opens the
process's details. Each snapshot redraws it (:meth:`TimelineScreen.update_snapshot`); a timer
lets running bars grow between snapshots.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import ModalScreen
from textual.widgets import Footer

from tractui.errors import UserError
from tractui.model.changes import Key
from tractui.screens.details import DetailsScreen
from tractui.snapshot import Details, Snapshot
from tractui.text import escape
from tractui.widgets.timeline import Timeline

TICK = 1.0  # seconds between redraws while bars grow


class TimelineScreen(ModalScreen[None]):
    """One group's timeline, over the whole screen."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,v", "close", "Close", id="timeline.close"),
        Binding("enter", "details", "Info", id="timeline.details", tooltip="The process's details"),
    ]

    def __init__(
        self,
        group: str,
        snapshot: Snapshot,
        key: Key | None,
        select: Callable[[Key], None],
        details: Callable[[Key], Future[Details]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(classes="timeline-screen")
        self.group = group
        self._snapshot = snapshot
        self._key = key
        self.select = select  # puts the tree's cursor on a process
        self.details = details
        self.clock = clock

    def compose(self) -> ComposeResult:
        yield Timeline(self.group, self.clock, id="timeline")
        yield Footer(compact=True)

    @property
    def timeline(self) -> Timeline:
        return self.query_one(Timeline)

    def on_mount(self) -> None:
        timeline = self.timeline
        # opened on a group header: the tree's cursor stays on it until a move here
        timeline.update_snapshot(self._snapshot, select=self._key, quiet=True)
        timeline.focus()
        self.set_interval(TICK, timeline.tick)

    def update_snapshot(self, snapshot: Snapshot) -> None:
        """Redraw from a new snapshot (one that comes before the timeline is on screen is
        kept: it starts from it)."""
        self._snapshot = snapshot
        for timeline in self.query(Timeline):
            timeline.update_snapshot(snapshot)

    @on(Timeline.Moved)
    def moved(self, message: Timeline.Moved) -> None:
        self.select(message.key)

    async def action_details(self) -> None:
        row = self.timeline.current
        if row is None:
            return
        try:
            found = await asyncio.wrap_future(self.details(row.key))
        except UserError as err:
            self.notify(escape(str(err)), severity="error", markup=False)
            return
        self.app.push_screen(DetailsScreen(found))

    def action_close(self) -> None:
        self.dismiss(None)
