"""The attach dialog: pick running processes (every one on the system, searched as you type, or
typed PIDs), the group to put them in, then a confirm that lists exactly what will be attached.

Two screens: :class:`AttachScreen` (the picker, the group, the live preview) and
:class:`AttachConfirm` (every process the attach adds, descendants too; a group that does not
exist is named there as one to create). Each error shows in one place: what is wrong with the
processes chosen in the preview line, what is wrong with the group or the attach in the error
line.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import ClassVar

from textual import events, on, work
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.css.query import NoMatches
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Footer, Input, Label, Static

from tractui.errors import UserError
from tractui.kernel import listing, procfs
from tractui.model.store import validate_group_name
from tractui.snapshot import Resolved
from tractui.text import count_of, escape
from tractui.widgets.picker import Pick, ProcessPicker

PREVIEW_LINES = 1  # PIDs given described in the preview line; the confirm lists them all

# what the dialog may do: what attaching PIDs would add (or why it can't); attach PIDs to a
# group (creating it: the flag) -> the roots attached; tractui's own PIDs (never listed)
Preview = Callable[[list[int]], Future[Resolved]]
Attach = Callable[[str, list[int], bool], Future[list[int]]]
OwnPids = Callable[[], Future[frozenset[int]]]

_PIDS = re.compile(r"^[\d\s,]+$")


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


def read_picks(own: frozenset[int], tracked: Mapping[int, str]) -> list[Pick]:
    """Every process that could be attached, as the picker lists them (a worker thread's job:
    ~50 us a process, bench/attach)."""
    users = procfs.UserNames()
    return [
        Pick.of(proc, users.name(proc.uid), tracked.get(proc.pid, ""))
        for proc in listing.processes(own)
    ]


class AttachScreen(ModalScreen[tuple[str, list[int]] | None]):
    """Pick processes (Space; or type PIDs), name the group, Enter: a confirm lists exactly
    what the attach adds before it is done."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="attach.cancel"),
        Binding("enter", "submit", "Attach...", id="attach.submit"),
        # priority: they run as the key arrives, before the keys typed after it are routed
        # (see action_picker)
        Binding("up", "picker('move', -1)", "Up", show=False, priority=True),
        Binding("down", "picker('move', 1)", "Down", show=False, priority=True),
        Binding("pageup", "picker('page', -1)", "Page up", show=False, priority=True),
        Binding("pagedown", "picker('page', 1)", "Page down", show=False, priority=True),
        Binding("ctrl+r", "reload", "Reload", id="attach.reload"),
        Binding("tab", "next_field", "Next field", show=False),
    ]

    def __init__(
        self,
        preview: Preview,
        attach: Attach,
        groups: list[str],
        group: str = "",
        own_pids: OwnPids | None = None,
        tracked: Mapping[int, str] | None = None,
    ) -> None:
        super().__init__(classes="dialog-screen")
        self.preview_of = preview
        self.attach_to = attach
        self.groups = groups
        self.group = group  # prefilled: the selected row's group
        self.own_pids = own_pids
        self.tracked = tracked or {}
        self.resolved: Resolved | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog attach-dialog") as dialog:
            dialog.border_title = "Attach running processes"
            yield Input(
                placeholder="search name / command line, or type PIDs",
                id="query",
                compact=True,
                select_on_focus=False,  # a letter typed in the list goes on with the search
            )
            yield Static("", id="status", classes="note")
            yield ProcessPicker(id="picker")
            yield Static("", id="preview", classes="preview")
            with Horizontal(classes="group-row"):
                yield Label("Group ")
                yield Input(
                    self.group,
                    id="group",
                    placeholder="empty: a new group named after the process",
                    suggester=SuggestFromList(self.groups, case_sensitive=True),
                    compact=True,
                )
            yield Static("", id="error", classes="error")
            yield Static(
                "[b]↑↓[/b] move  [b]Space[/b] pick  [b]Tab[/b] next field  "
                "[b]Enter[/b] attach…  [b]Esc[/b] cancel",
                classes="hint",
            )
        yield Footer()

    @property
    def picker(self) -> ProcessPicker:
        return self.query_one(ProcessPicker)

    def on_mount(self) -> None:
        self.query_one("#query", Input).focus()
        self._status()
        self.load()

    # ---- the process list ------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="load")
    def load(self) -> None:
        """Read every process in a worker thread (the UI goes on); the picker gets them."""
        own = self.own_pids().result(10) if self.own_pids is not None else frozenset()
        picks = read_picks(own, self.tracked)
        self.app.call_from_thread(self.picker.load, picks)

    def action_next_field(self) -> None:
        """Tab: from the search, the group field (``sleep``, Tab, ``web``: a letter typed in
        the list would go on with the search); from there, back to the search. ↓↑ go into
        the list."""
        query = self.query_one("#query", Input)
        if self.focused is query:
            self.query_one("#group", Input).focus()
        else:
            self.focus_next()

    def action_reload(self) -> None:
        self.load()

    def action_picker(self, action: str, amount: int) -> None:
        """↑↓ PgUp PgDn from the search move into the list (as htop's search does), so Space
        then picks there; a letter typed in the list goes back to the search. From the group
        field they move the list's cursor; in the list, its own keys act.

        Keys typed in one burst ("sle", ↓, Space) act in the order typed: the focus moves
        now, as the key arrives, so the keys after it go to the list; the cursor moves in
        the list's queue (ahead of them) once the search field has taken the characters
        typed before it, on the list they select."""
        query = self.query_one("#query", Input)
        picker = self.picker
        focused = self.focused
        if focused is picker:
            raise SkipAction()  # the list's own binding, in the order typed
        typed = asyncio.Event()
        if focused is query:
            self.set_focus(picker)
            query.call_later(typed.set)  # after the characters queued before the key
        else:
            typed.set()

        async def move() -> None:
            await typed.wait()
            self._search(query.value)
            if action == "move":
                picker.action_move(amount)
            else:
                picker.action_page(amount)

        # from the group field: in its queue, after the keys typed before
        (picker if focused is query or focused is None else focused).call_later(move)

    def on_key(self, event: events.Key) -> None:
        """A letter typed in the list goes to the search, as in a list that searches."""
        if (
            self.focused is self.picker
            and event.is_printable
            and event.character not in (None, " ")
        ):
            query = self.query_one("#query", Input)
            query.focus()
            query.insert_text_at_cursor(event.character or "")
            event.stop()

    @on(Input.Changed, "#query")
    def query_changed(self) -> None:
        self._search(self.query_one("#query", Input).value)
        self._status()
        self.update_preview()

    def _search(self, text: str) -> None:
        """The list shows what ``text`` matches: the field's value now (a Changed message of
        an earlier value, or of this one once ↓ has searched and moved, changes nothing)."""
        if text != self.picker.search_text:
            self.picker.search(text)

    @on(ProcessPicker.Changed)
    def picked_changed(self) -> None:
        self._status()
        self.update_preview()

    @on(ProcessPicker.Refused)
    def refused(self, event: ProcessPicker.Refused) -> None:
        pick = event.pick
        self.query_one("#preview", Static).update(
            Content(f"PID {pick.pid} is in group {pick.group!r} already: it can't be picked")
        )
        self.query_one("#preview", Static).set_class(True, "invalid")

    def _status(self) -> None:
        picker = self.picker
        if picker.reading:
            text = ""  # the list says it is being read
        else:
            shown = len(picker.shown)
            total = count_of(len(picker.picks), "process", "processes")
            text = total if shown == len(picker.picks) else f"{shown} of {total} match"
            if picker.picked:
                text += f"  ·  {len(picker.picked)} picked (Space unpicks)"
        self.query_one("#status", Static).update(text)

    # ---- what Enter attaches ---------------------------------------------------------------------

    def choice(self) -> list[int]:
        """The PIDs Enter attaches: those typed (unless the list's cursor was moved since:
        digits match command lines too, and the row chosen is what counts), else those
        picked, else the one under the cursor; UserError when there are none."""
        if self._typed_pids():
            return parse_pids(self.query_one("#query", Input).value)
        if self.picker.picked:
            return list(self.picker.picked)
        current = self.picker.current
        if current is None:
            raise UserError("nothing to attach: pick processes (Space) or type PIDs")
        if current.group:
            raise UserError(f"PID {current.pid} is in group {current.group!r} already")
        return [current.pid]

    def _typed_pids(self) -> bool:
        text = self.query_one("#query", Input).value
        return bool(text.strip() and _PIDS.match(text)) and not self.picker.moved

    def _explicit(self) -> bool:
        return bool(self.picker.picked) or self._typed_pids()

    @on(Input.Changed)
    def revalidate(self) -> None:
        """An edit clears the last attach's error; a bad group name shows as it is typed."""
        self.query_one("#error", Static).update(
            Content(group_name_error(self.query_one("#group", Input).value))
        )

    @work(exclusive=True, group="preview")
    async def update_preview(self) -> None:
        """What the typed or picked PIDs would attach, exactly, or why they can't be."""
        await asyncio.sleep(0.15)  # typing "1234" resolves once, not four times
        # the screen may close (or the app quit) while this waits: its widgets are then gone
        with contextlib.suppress(NoMatches):
            await self._update_preview()

    async def _update_preview(self) -> None:
        preview = self.query_one("#preview", Static)
        self.resolved = None
        if not self._explicit():
            preview.update("")
            return
        try:
            resolved = await asyncio.wrap_future(self.preview_of(self.choice()))
        except UserError as err:
            self._pid_error(str(err))
            return
        self._show_preview(resolved)

    def _show_preview(self, resolved: Resolved) -> None:
        self.resolved = resolved
        preview = self.query_one("#preview", Static)
        preview.set_class(False, "invalid")
        roots = resolved.roots
        lines = [resolved.describe(r) for r in roots[:PREVIEW_LINES]]
        if len(roots) > PREVIEW_LINES:
            lines[-1] += f"  (and {len(roots) - PREVIEW_LINES} more: {resolved.summary()})"
        preview.update(Content("\n".join(lines)))  # escaped, and never read as markup
        if roots:
            placeholder = group_name_for(roots[0].comm, set(self.groups))
            self.query_one("#group", Input).placeholder = f"empty: a new group {placeholder!r}"

    def _pid_error(self, message: str) -> None:
        """What is wrong with the processes chosen: in the preview line, and only there."""
        preview = self.query_one("#preview", Static)
        preview.update(Content(escape(message)))  # it may quote a process's comm
        preview.set_class(True, "invalid")
        self.query_one("#error", Static).update("")

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()

    @work(exclusive=True, group="submit")
    async def action_submit(self) -> None:
        with contextlib.suppress(NoMatches):  # the screen closed while it waited (as above)
            await self._submit()

    async def _submit(self) -> None:
        error = self.query_one("#error", Static)
        try:
            pids = self.choice()
            resolved = await asyncio.wrap_future(self.preview_of(pids))
        except UserError as err:
            self._pid_error(str(err))
            return
        self._show_preview(resolved)
        typed = self.query_one("#group", Input).value.strip()
        try:
            name = typed or group_name_for(resolved.roots[0].comm, set(self.groups))
            name = validate_group_name(name)
        except UserError as err:
            error.update(Content(escape(str(err))))
            return
        new = name not in self.groups
        confirmed = await self.app.push_screen_wait(
            AttachConfirm(resolved, name, new=new, named=bool(typed), groups=self.groups)
        )
        if not confirmed:
            return
        try:
            roots = await asyncio.wrap_future(self.attach_to(name, pids, new))
        except UserError as err:
            error.update(Content(escape(str(err))))
            return
        self.dismiss((name, roots))


class AttachConfirm(ModalScreen[bool]):
    """Every process the attach adds, descendants under their parent; y attaches (and makes
    the group if it is new: said first), n or Escape goes back to the picker."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Attach", id="attach.yes"),
        Binding("n,escape", "answer(False)", "Back", id="attach.no"),
    ]

    def __init__(
        self, resolved: Resolved, group: str, new: bool, named: bool, groups: list[str]
    ) -> None:
        super().__init__(classes="dialog-screen")
        self.resolved = resolved
        self.group = group
        self.new = new  # the group does not exist: the attach makes it
        self.named = named  # the user typed its name (else it is named after the process)
        self.groups = groups

    def question(self) -> str:
        what = self.resolved.summary()
        if self.new and self.named:
            return (
                f"Group {self.group!r} does not exist: create it, and attach {what} to it?"
                f" (the groups: {', '.join(self.groups) or 'none yet'})"
            )
        if self.new:
            return f"Attach {what} to a new group {self.group!r}?"
        return f"Attach {what} to group {self.group!r}?"

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide attach-confirm") as dialog:
            dialog.border_title = "Create group and attach" if self.new else "Attach"
            yield Static(Content(self.question()), id="question")
            lines = [
                f"{a.pid:>7} {a.user[:8]:<8} {'  ' * a.depth}{a.command}"
                for a in self.resolved.adding
            ]
            yield VerticalScroll(Static(Content("\n".join(lines))), classes="listing")
            yes = f"create {self.group!r} and attach" if self.new and self.named else "attach"
            yield Static(f"[b]y[/b] {escape(yes)}   [b]n[/b]/[b]Esc[/b] back", classes="hint")
        yield Footer()

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)
