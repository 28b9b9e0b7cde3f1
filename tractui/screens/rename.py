"""The rename dialog for a group."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Future
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Label, Static

from tractui.errors import UserError
from tractui.screens.attach import group_name_error
from tractui.text import escape

# what the dialog may do: rename its group -> the name it now has
Rename = Callable[[str], Future[str]]


class RenameScreen(ModalScreen[str | None]):
    """Rename a group; a bad or taken name shows inline."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="rename.cancel")
    ]

    def __init__(self, rename: Rename, group: str) -> None:
        super().__init__(classes="dialog-screen")
        self.rename_to = rename
        self.group = group

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as dialog:
            dialog.border_title = f"Rename group {self.group}"
            yield Label("New name")
            yield Input(self.group, id="name")
            yield Static("", id="error", classes="error")
            yield Static("[b]Enter[/b] rename   [b]Esc[/b] cancel", classes="hint")
        yield Footer()

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Input.Changed)
    def name_changed(self, event: Input.Changed) -> None:
        """A name that can't be a group's says so at once; a fixed one clears the error."""
        self.query_one("#error", Static).update(Content(group_name_error(event.value)))

    @on(Input.Submitted)
    async def rename(self, event: Input.Submitted) -> None:
        try:
            name = await asyncio.wrap_future(self.rename_to(event.value))
        except UserError as err:
            self.query_one("#error", Static).update(Content(escape(str(err))))
            return
        self.dismiss(name)
