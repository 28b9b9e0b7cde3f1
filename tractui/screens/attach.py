"""The attach dialog: PIDs to adopt (with their descendants) and the group to put them in."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from concurrent.futures import Future
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Footer, Input, Label, Static

from tractui.errors import UserError
from tractui.model.store import validate_group_name
from tractui.snapshot import Resolved
from tractui.text import escape

PREVIEW_LINES = 2  # PIDs described; the dialog must fit 80x24 however many are typed

# what the dialog may do: say what a PID is (or why it can't be attached); attach PIDs to a
# group -> the roots attached
Resolve = Callable[[int], Future[Resolved]]
Attach = Callable[[str, list[int]], Future[list[int]]]


def parse_pids(text: str) -> list[int]:
    """'12 34,56' -> [12, 34, 56]; UserError on anything that is not a PID."""
    words = [w for w in re.split(r"[\s,]+", text.strip()) if w]
    if not words:
        raise UserError("no PID given: type one or more process IDs")
    pids: list[int] = []
    for word in words:
        if not word.isdigit():
            raise UserError(f"{word!r} is not a PID: give process IDs as numbers")
        pids.append(int(word))
    return pids


def group_name_error(name: str) -> str:
    """Why ``name`` can't be a group's name, or "" (also for an empty one: a default)."""
    if not name.strip():
        return ""
    try:
        validate_group_name(name)
    except UserError as err:
        return str(err)
    return ""


def group_name_for(comm: str, taken: set[str]) -> str:
    """A new group name from a process name: invalid characters dropped, -2, -3... if taken."""
    base = re.sub(r"[^A-Za-z0-9_.@:+-]", "", comm).lstrip("-_.@:+")[:60] or "group"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return name


class AttachScreen(ModalScreen[tuple[str, list[int]] | None]):
    """Attach running processes; shows what the PIDs resolve to before Enter confirms."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="attach.cancel"),
    ]

    def __init__(
        self, resolve: Resolve, attach: Attach, groups: list[str], group: str = ""
    ) -> None:
        super().__init__(classes="dialog-screen")
        self.resolve = resolve
        self.attach_to = attach
        self.groups = groups
        self.group = group  # prefilled: the selected row's group
        self.resolved: list[Resolved] = []

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as dialog:
            dialog.border_title = "Attach running processes"
            yield Label("PID(s)")
            yield Input(placeholder="e.g. 1234 5678", id="pids")
            yield Static("", id="preview", classes="preview")
            yield Label("Group (empty: a new group named after the process)")
            yield Input(
                self.group,
                id="group",
                placeholder="",
                suggester=SuggestFromList(self.groups, case_sensitive=True),
            )
            yield Static("", id="error", classes="error")
            yield Static("[b]Enter[/b] attach   [b]Esc[/b] cancel", classes="hint")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#pids", Input).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Input.Changed, "#pids")
    def pids_changed(self, event: Input.Changed) -> None:
        self.preview(event.value)

    @on(Input.Changed)
    def revalidate(self) -> None:
        """An edit clears the last attach's error (the preview says what is wrong with the
        PIDs now); a bad group name shows as it is typed."""
        self.query_one("#error", Static).update(
            Content(group_name_error(self.query_one("#group", Input).value))
        )

    @work(exclusive=True, group="preview")
    async def preview(self, text: str) -> None:
        """Resolve the PIDs as they are typed: what each is, or why it can't be attached."""
        await asyncio.sleep(0.15)  # typing "1234" resolves once, not four times
        preview = self.query_one("#preview", Static)
        group = self.query_one("#group", Input)
        self.resolved = []
        if not text.strip():
            preview.update("")
            return
        try:
            for pid in parse_pids(text):
                self.resolved.append(await asyncio.wrap_future(self.resolve(pid)))
        except UserError as err:
            preview.update(Content(escape(str(err))))  # it may quote a process's comm
            preview.set_class(True, "invalid")
            return
        preview.set_class(False, "invalid")
        lines = [r.describe() for r in self.resolved[:PREVIEW_LINES]]
        if len(self.resolved) > PREVIEW_LINES:
            lines.append(f"... and {len(self.resolved) - PREVIEW_LINES} more")
        preview.update(Content("\n".join(lines)))  # escaped, and never read as markup
        group.placeholder = group_name_for(self.resolved[0].info.comm, set(self.groups))

    @on(Input.Submitted)
    async def attach(self) -> None:
        error = self.query_one("#error", Static)
        try:
            pids = parse_pids(self.query_one("#pids", Input).value)
            resolved = [await asyncio.wrap_future(self.resolve(pid)) for pid in pids]
            name = self.query_one("#group", Input).value.strip()
            if not name:
                name = group_name_for(resolved[0].info.comm, set(self.groups))
            name = validate_group_name(name)
            roots = await asyncio.wrap_future(self.attach_to(name, pids))
        except UserError as err:
            error.update(Content(escape(str(err))))
            return
        self.dismiss((name, roots))
