"""A group's launch log (the output of programs tractui launched), following new output."""

from __future__ import annotations

import os
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Footer, Log, Static

from tractui.text import escape, escape_output

TAIL_BYTES = 256 * 1024  # show at most this much of an old log at open
FOLLOW_INTERVAL = 0.25


class LaunchLogScreen(ModalScreen[None]):
    """Tail a log file like ``tail -f``: the last 256 KiB, then whatever is appended; control
    characters escaped (tabs kept), as ``less`` shows them."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,l,q", "close", "Close", id="log.close")
    ]

    def __init__(self, group: str, path: str) -> None:
        super().__init__()
        self.group = group
        self.path = path
        self._read_at = 0
        self._partial = ""

    def compose(self) -> ComposeResult:
        yield Static(
            Content(f"Launch log of {self.group}: {escape(self.path)}"), classes="log-title"
        )
        yield Log(id="log", highlight=False)
        yield Footer()

    def on_mount(self) -> None:
        try:
            size = os.path.getsize(self.path)
        except OSError:
            size = 0
            self.query_one(Log).write_line(
                "(no output yet: only programs launched with n write here)"
            )
        self._read_at = max(0, size - TAIL_BYTES)
        self.follow()
        self.set_interval(FOLLOW_INTERVAL, self.follow)
        self.query_one(Log).focus()

    def follow(self) -> None:
        """Append what was written since the last look (the file is only ever appended to)."""
        try:
            with open(self.path, "rb") as f:
                f.seek(self._read_at)
                data = f.read(TAIL_BYTES)
        except OSError:
            return
        if not data:
            return
        self._read_at += len(data)
        text = self._partial + data.decode("utf-8", "replace")
        lines = text.split("\n")
        self._partial = lines.pop()  # an unfinished last line waits for its newline
        if lines:
            # another user's output: its escape sequences shown, not obeyed
            self.query_one(Log).write_lines([escape_output(line) for line in lines])

    def action_close(self) -> None:
        self.dismiss(None)
