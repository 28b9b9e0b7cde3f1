"""The user picker (htop's u): show only one user's processes, or every user's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

ALL = ""  # the choice "all users": no filter


class UserScreen(ModalScreen[str | None]):
    """Pick a user among those whose processes are in the tree; returns the user name, ""
    for "all users" (the filter cleared), or None (Esc: unchanged)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="users.cancel", tooltip="Cancel"),
    ]

    def __init__(self, users: Mapping[str, int], current: str) -> None:
        """``users``: each user's name and how many of the tree's processes are theirs."""
        super().__init__(classes="dialog-screen")
        self.users = dict(sorted(users.items()))
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog user-dialog") as dialog:
            dialog.border_title = "Show the processes of"
            total = sum(self.users.values())
            yield OptionList(
                Option(self._prompt("all users", total, self.current == ALL), id="\0all"),
                *(
                    Option(self._prompt(user, count, user == self.current), id=user)
                    for user, count in self.users.items()
                ),
                id="users",
            )
            yield Static("[b]Enter[/b] show   [b]Esc[/b] cancel", classes="hint")
        yield Footer()

    @staticmethod
    def _prompt(user: str, count: int, current: bool) -> Content:
        processes = f"{count} process" + ("" if count == 1 else "es")
        return Content.from_markup(
            "[b]● $user[/b] [$text-muted]$processes[/]"
            if current
            else "  $user [$text-muted]$processes[/]",
            user=f"{user:<16}",
            processes=processes,
        )

    def on_mount(self) -> None:
        options = self.query_one("#users", OptionList)
        if self.current in self.users:
            options.highlighted = options.get_option_index(self.current)
        else:
            options.highlighted = 0
        options.focus()

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(OptionList.OptionSelected)
    def selected(self, event: OptionList.OptionSelected) -> None:
        choice = event.option.id
        assert choice is not None
        self.dismiss(ALL if choice == "\0all" else choice)
