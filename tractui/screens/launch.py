"""The launch dialog: a group name, a command line (shlex), an optional working directory."""

from __future__ import annotations

import asyncio
import os
import shlex
from collections.abc import Callable
from concurrent.futures import Future
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Checkbox, Footer, Input, Label, Static

from tractui.control import LaunchSpec, invoking_identity
from tractui.errors import UserError
from tractui.model.store import validate_group_name
from tractui.screens.attach import group_name_error
from tractui.text import escape


def launch_user() -> tuple[str, bool]:
    """Who a launched program runs as, and whether root could be kept instead: under sudo it
    is the user who ran sudo (unless "as root"), otherwise whoever runs tractui."""
    try:
        who = invoking_identity()
    except UserError:  # a SUDO_UID that is no user: a launch says why, unless as root
        return "the user who ran sudo", True
    return who.name, os.geteuid() == 0 and who.uid != 0


# what the dialog may do: launch a program into a group -> its PID
Launch = Callable[[str, LaunchSpec], Future[int]]


class LaunchScreen(ModalScreen[tuple[str, int] | None]):
    """Launch a program into a group; errors show inline and the dialog stays open."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="launch.cancel"),
    ]

    def __init__(self, launch: Launch, groups: list[str], group: str = "") -> None:
        super().__init__(classes="dialog-screen")
        self.launch_into = launch
        self.groups = groups
        self.group = group
        # under sudo a launch runs as the invoking user; root can ask to keep root
        self.user, self.privileged = launch_user()

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog launch-dialog") as dialog:
            dialog.border_title = "Launch a program"
            yield Label("Group (new or existing)")
            yield Input(
                self.group,
                placeholder="e.g. web",
                id="group",
                suggester=SuggestFromList(self.groups, case_sensitive=True),
            )
            yield Label("Command line (no shell unless you write sh -c '...')")
            yield Input(placeholder="e.g. python3 -m http.server 8000", id="command")
            yield Label("Working directory (optional)")
            yield Input(placeholder="default: the directory tractui runs in", id="cwd")
            if self.privileged:
                yield Checkbox(
                    f"as root (else as {self.user}, who ran sudo)", id="as-root", compact=True
                )
            else:
                yield Static(f"It runs as you ({self.user}).", id="runs-as", classes="note")
            yield Static("", id="error", classes="error")
            yield Static(
                "[b]Enter[/b] launch   [b]Tab[/b] next field   [b]Esc[/b] cancel", classes="hint"
            )
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#group", Input).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def show_error(self, text: str) -> None:
        # plain text with its controls escaped: errors quote what was typed, or a daemon's reply
        self.query_one("#error", Static).update(Content(escape(text)))

    @on(Input.Changed)
    def revalidate(self) -> None:
        """An edit clears the last launch's error; a bad group name shows as it is typed."""
        self.show_error(group_name_error(self.query_one("#group", Input).value))

    @on(Input.Submitted)
    async def launch(self) -> None:
        """Validate every field, then launch; any problem stays in the dialog as one line."""
        group = self.query_one("#group", Input).value
        command = self.query_one("#command", Input).value
        cwd = self.query_one("#cwd", Input).value.strip() or None
        as_root = self.privileged and self.query_one("#as-root", Checkbox).value
        try:
            group = validate_group_name(group)
            try:
                argv = shlex.split(command)
            except ValueError as err:
                raise UserError(f"command line: {err} (check the quotes)") from None
            if not argv:
                raise UserError("no command given: type the program to run and its arguments")
            spec = LaunchSpec(argv, cwd=os.path.expanduser(cwd) if cwd else None, as_root=as_root)
            pid = await asyncio.wrap_future(self.launch_into(group, spec))
        except UserError as err:
            self.show_error(str(err))
            return
        self.dismiss((group, pid))
