"""A group's launch log (the output of programs tractui launched), following new output."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Future
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Footer, Log, Static

from tractui.control import LogChunk
from tractui.errors import UserError
from tractui.text import escape, escape_output

FOLLOW_INTERVAL = 0.25

# reads the log: its tail (None), or what follows an offset; through the session, so on a
# daemon through the daemon, whose log files this UI may not be able to open
LogReader = Callable[[int | None], Future[LogChunk]]


class LaunchLogScreen(ModalScreen[None]):
    """Tail a group's launch log like ``tail -f``: the last 256 KiB, then whatever is appended;
    control characters escaped (tabs kept), as ``less`` shows them."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,l,q", "close", "Close", id="log.close")
    ]

    def __init__(self, group: str, path: str, read: LogReader) -> None:
        super().__init__()
        self.group = group
        self.path = path
        self.read = read
        self._offset: int | None = None  # None until the tail is read
        self._partial = ""
        self._reading = False
        self._trouble = ""

    def compose(self) -> ComposeResult:
        yield Static(
            Content(f"Launch log of {self.group}: {escape(self.path)}"), classes="log-title"
        )
        yield Log(id="log", highlight=False)
        yield Footer()

    async def on_mount(self) -> None:
        self.query_one(Log).focus()
        await self.follow()
        self.set_interval(FOLLOW_INTERVAL, self.follow)

    async def follow(self) -> None:
        """Append what was written since the last look (the file is only ever appended to)."""
        if self._reading:  # the last read is still on its way (a busy daemon)
            return
        self._reading = True
        try:
            chunk = await asyncio.wrap_future(self.read(self._offset))
        except UserError as err:
            self._say(f"(cannot read the log: {err})")
            return
        finally:
            self._reading = False
        if self._offset is None and not chunk.exists:
            self._say("(no output yet: only programs launched with n write here)")
        elif self._offset is not None and chunk.start < self._offset:
            self._say("(the log began anew)")
        self._trouble = ""
        self._offset = chunk.offset
        text = self._partial + chunk.text
        lines = text.split("\n")
        self._partial = lines.pop()  # an unfinished last line waits for its newline
        if lines:
            # another user's output: its escape sequences shown, not obeyed
            self.query_one(Log).write_lines([escape_output(line) for line in lines])

    def _say(self, note: str) -> None:
        """A note in the log, once until things change (a daemon away for a while says it once)."""
        if note != self._trouble:
            self._trouble = note
            self.query_one(Log).write_line(note)

    def action_close(self) -> None:
        self.dismiss(None)
