"""The launch dialog: a group name, a command line (shlex, with leading VAR=value assignments),
an optional working directory. No shell runs the program: shell syntax in the command line is
warned of, with a key to run it with ``sh -c`` instead (see tractui.cmdline)."""

from __future__ import annotations

import asyncio
import os
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

from tractui import cmdline
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
        Binding("ctrl+s", "use_shell", "Run with sh -c", id="launch.shell"),
    ]

    def __init__(self, launch: Launch, groups: list[str], group: str = "") -> None:
        super().__init__(classes="dialog-screen")
        self.launch_into = launch
        self.groups = groups
        self.group = group
        # under sudo a launch runs as the invoking user; root can ask to keep root
        self.user, self.privileged = launch_user()
        self.warned = ""  # the command line whose shell syntax was warned of: Enter runs it

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
            yield Label("Command line (no shell: VAR=value first sets the environment)")
            yield Input(placeholder="e.g. PORT=8000 python3 -m http.server", id="command")
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

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # ctrl+s is offered (in the footer) once the command line's shell syntax was warned of
        return action != "use_shell" or bool(self.warned)

    async def action_use_shell(self) -> None:
        """ctrl+s after the warning: the command line as written, run by sh -c."""
        command = self.query_one("#command", Input)
        if self.warned and command.value == self.warned:
            await self.launch(cmdline.shell_argv(command.value))

    def show_error(self, text: str) -> None:
        # plain text with its controls escaped: errors quote what was typed, or a daemon's reply
        error = self.query_one("#error", Static)
        error.update(Content(escape(text)))
        if text:  # on a short terminal the dialog scrolls: to the error, once it is drawn
            self.call_after_refresh(error.scroll_visible, animate=False)

    @on(Input.Changed)
    def revalidate(self) -> None:
        """An edit clears the last launch's error; a bad group name shows as it is typed."""
        self.show_error(group_name_error(self.query_one("#group", Input).value))
        if self.warned and self.query_one("#command", Input).value != self.warned:
            self.warned = ""  # an edited command line is checked again at Enter
            self.refresh_bindings()

    @on(Input.Submitted)
    async def submitted(self) -> None:
        await self.launch()

    def warn_of_shell(self, command: str, line: cmdline.CommandLine) -> bool:
        """Shell syntax in a command line not yet warned of: say so once (True); Enter again
        runs it as written, ctrl+s with sh -c."""
        if not line.shell or command == self.warned:
            return False
        self.warned = command
        self.refresh_bindings()
        self.show_error(
            f"No shell runs this: {cmdline.describe(line.shell)} would reach the program as "
            "text. ctrl+s: run it with sh -c · Enter: run it as written · or edit it"
        )
        return True

    async def launch(self, argv: list[str] | None = None) -> None:
        """Validate every field, then launch; any problem stays in the dialog as one line.
        ``argv``: run that (sh -c and the line) rather than the parsed command line."""
        group = self.query_one("#group", Input).value
        command = self.query_one("#command", Input).value
        cwd = self.query_one("#cwd", Input).value.strip() or None
        as_root = self.privileged and self.query_one("#as-root", Checkbox).value
        try:
            group = validate_group_name(group)
            line = cmdline.parse(command) if argv is None else cmdline.CommandLine(argv)
            if not line.argv:
                raise UserError(
                    "no command given: type the program to run and its arguments"
                    + (" (after the VAR=value assignments)" if line.env else "")
                )
            if self.warn_of_shell(command, line):
                return
            spec = LaunchSpec(
                line.argv,
                cwd=os.path.expanduser(cwd) if cwd else None,
                as_root=as_root,
                assign=line.env or None,
            )
            pid = await asyncio.wrap_future(self.launch_into(group, spec))
        except UserError as err:
            self.show_error(str(err))
            return
        self.dismiss((group, pid))
