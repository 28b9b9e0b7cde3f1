"""The signal picker: signals by number and name as htop lists them, and a scope."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.css.query import NoMatches
from textual.screen import ModalScreen
from textual.widgets import Footer, OptionList, RadioButton, RadioSet, Static
from textual.widgets.option_list import Option

from tractui.control import SignalResult
from tractui.errors import UserError
from tractui.screens.confirm import ConfirmScreen
from tractui.text import escape

# htop's list: the standard signals 1-31 by number
SIGNALS: tuple[signal.Signals, ...] = tuple(
    sorted(
        {signal.Signals(n) for n in range(1, 32) if n in signal.Signals._value2member_map_},
        key=int,
    )
)
SCOPES = ("process", "subtree", "group")
# digits typed closer together than this make one number: "1" "5" is 15, not 1 then 5
TYPING_PAUSE = 1.0

# what the dialog may do, for its group only: (PID, None for the whole group; with its
# subtree) -> the live PIDs it would reach; and the same, sending a signal -> what each got
Targets = Callable[[int | None, bool], Future[list[int]]]
Send = Callable[[int | None, bool, signal.Signals], Future[list[SignalResult]]]


@dataclass(frozen=True, slots=True)
class Tagged:
    """The tagged processes (Space, c), the scope "tagged (N)": how many, what the dialog
    lists of them, the live PIDs a signal would reach, and the sending (through pidfds)."""

    count: int
    listing: str  # plain text, shown as it is
    targets: Callable[[], Future[list[int]]]
    send: Callable[[signal.Signals], Future[list[SignalResult]]]


def describe_results(sig: signal.Signals, target: str, results: list[SignalResult]) -> str:
    """One summary line, then one line per PID that failed (at most 10)."""
    sent = sum(r.ok for r in results)
    lines = [f"{sig.name} to {target}: sent to {sent} of {len(results)}"]
    failed = [r for r in results if not r.ok]
    lines.extend(r.describe() for r in failed[:10])
    if len(failed) > 10:
        lines.append(f"... and {len(failed) - 10} more")
    return "\n".join(lines)


class SignalScreen(ModalScreen[list[SignalResult] | None]):
    """Pick a signal (SIGTERM preselected) and a scope; SIGKILL and group scope ask y/n."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="signal.cancel", tooltip="Cancel"),
        Binding("p", "scope('process')", "Process", id="signal.process", tooltip="To the process"),
        Binding(
            "t",
            "scope('subtree')",
            "Subtree",
            id="signal.subtree",
            tooltip="To the process and its descendants",
        ),
        Binding(
            "g",
            "scope('group')",
            "Group",
            id="signal.group",
            tooltip="To every process of the group",
        ),
        Binding(
            "a",
            "scope('tagged')",
            "Tagged",
            id="signal.tagged",
            tooltip="To every tagged process (Space, c tag them)",
        ),
        *(
            Binding(str(d), f"digit({d})", "Signal number", show=False, id=f"signal.digit{d}")
            for d in range(10)
        ),
    ]

    def __init__(
        self,
        targets: Targets,
        send: Send,
        group: str,
        pid: int | None,
        label: str,
        tagged: Tagged | None = None,
        exited: bool = False,  # the process has exited: its subtree scope reaches what lives
    ) -> None:
        super().__init__(classes="dialog-screen")
        self.typed = ""  # the digits of the signal number being typed
        self._typed_at = float("-inf")
        self.targets = targets
        self.send_to = send
        self.group = group
        self.pid = pid  # None: the row is the group's header
        self.label = label  # the row's: "PID 5 of web: sleep 9", or the group's
        self.scope = "process" if pid is not None else "group"
        self.tagged = tagged  # None: nothing tagged
        self.scopes = SCOPES if tagged is None else (*SCOPES, "tagged")
        if tagged is not None:
            self.scope = "tagged"  # tags set: they are what the user means
        self.exited = exited
        if exited:
            self.scope = "subtree"

    @classmethod
    def help_bindings(cls) -> list[Binding]:
        """Its keys for the help screen: Enter, the digits as one line, the scopes, Esc."""
        return [
            Binding("enter", "", "Send", tooltip="Send the highlighted signal"),
            Binding("0-9", "", "Number", tooltip="Type its number: 9 is SIGKILL, 1 then 5 is 15"),
            *(
                b
                for b in cls.BINDINGS
                if isinstance(b, Binding) and not b.action.startswith("digit")
            ),
        ]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog signal-dialog") as dialog:
            dialog.border_title = "Send signal"
            yield Static(Content(self.header()), id="target")  # a command line: never markup
            with Horizontal():
                yield OptionList(
                    *(Option(f"{int(s):2d} {s.name}", id=s.name) for s in SIGNALS),
                    id="signals",
                )
                exited = self.exited
                with RadioSet(id="scope"):
                    for scope in self.scopes:
                        yield RadioButton(
                            scope if scope != "tagged" else f"tagged ({self._tag_count()})",
                            value=scope == self.scope,
                            id=f"scope-{scope}",
                            disabled=(self.pid is None and scope not in ("group", "tagged"))
                            or (exited and scope == "process"),
                        )
            yield Static("", id="error", classes="error")
            scopes = (
                "[b]p[/b]/[b]t[/b]/[b]g[/b]/[b]a[/b] scope"
                if self.tagged is not None
                else "[b]p[/b]/[b]t[/b]/[b]g[/b] process/subtree/group"
            )
            yield Static(
                f"[b]Enter[/b] send  [b]0-9[/b] signal number  {scopes}  [b]Esc[/b] cancel",
                classes="hint",
            )
        yield Footer()

    def on_mount(self) -> None:
        options = self.query_one("#signals", OptionList)
        # once shown, the list scrolls to it: in view when a short terminal shortens the list
        options.highlighted = SIGNALS.index(signal.SIGTERM)
        options.focus()
        self.count_targets()

    def header(self, count: int | None = None) -> str:
        """What the signal goes to, as the scope says (p t g change it), and how many live
        processes that is once known."""
        if self.scope == "tagged" and self.tagged is not None:
            return self.tagged.listing  # it counts them
        if self.scope == "group" or self.pid is None:
            text = f"group {self.group}: every live process"
        elif self.scope == "subtree" and self.exited:
            text = self.label  # it says what the subtree of an exited process reaches
        elif self.scope == "subtree":
            text = f"subtree of {self.label}"  # the process and its descendants
        else:
            text = self.label
        # (an exited process's label counts what its subtree reaches already)
        counted = self.scope != "process" and not (self.exited and self.scope == "subtree")
        if count is not None and counted:
            text += f" ({count} process{'es' if count != 1 else ''})"
        return text

    def show_scope(self) -> None:
        self.query_one("#target", Static).update(Content(self.header()))
        self.count_targets()

    @work(exclusive=True, group="count")
    async def count_targets(self) -> None:
        """The header gains how many live processes the scope reaches (the session's count)."""
        scope = self.scope
        if scope in ("process", "tagged"):
            return  # the one process, or the tagged ones: its header says which
        pid = None if scope == "group" else self.pid
        try:
            pids = await asyncio.wrap_future(self.targets(pid, scope == "subtree"))
        except UserError:
            return  # said when sending; the header stays without a count
        if scope != self.scope:
            return  # another key changed it meanwhile: its own count follows
        with contextlib.suppress(NoMatches):  # the dialog closed before the count came
            self.query_one("#target", Static).update(Content(self.header(len(pids))))

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_digit(self, digit: int) -> None:
        """Jump to the signal whose number is being typed; after a pause, a digit starts anew."""
        now = time.monotonic()
        typed = self.typed + str(digit) if now - self._typed_at < TYPING_PAUSE else str(digit)
        self._typed_at = now
        numbers = [int(s) for s in SIGNALS]
        if int(typed) not in numbers:
            typed = str(digit)  # "3" "2": no signal 32, so the 2 starts a new number
        self.typed = typed
        if int(typed) in numbers:
            self.query_one("#signals", OptionList).highlighted = numbers.index(int(typed))
        else:
            self.app.bell()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The tagged scope's key only while something is tagged (else not in the footer)."""
        if action == "scope" and parameters == ("tagged",):
            return self.tagged is not None
        # an exited process: only what lives below it, or its group
        return not (action == "scope" and parameters == ("process",) and self.exited)

    def _tag_count(self) -> int:
        return self.tagged.count if self.tagged is not None else 0

    def action_scope(self, scope: str) -> None:
        if scope not in self.scopes or (self.pid is None and scope not in ("group", "tagged")):
            return
        if self.exited and scope == "process":
            return
        self.scope = scope
        self.query_one(f"#scope-{scope}", RadioButton).value = True
        self.show_scope()

    @on(RadioSet.Changed)
    def scope_changed(self, event: RadioSet.Changed) -> None:
        if self.scopes[event.index] != self.scope:  # a click (a key has set it already)
            self.scope = self.scopes[event.index]
            self.show_scope()

    @on(OptionList.OptionSelected)
    def selected(self, event: OptionList.OptionSelected) -> None:
        assert event.option.id is not None
        self.send(signal.Signals[event.option.id])

    @work(exclusive=True, group="send")
    async def send(self, sig: signal.Signals) -> None:
        """Confirm if dangerous, send, report per PID, close."""
        pid = None if self.scope == "group" else self.pid
        subtree = self.scope == "subtree"
        target = f"group {self.group}" if pid is None else f"{self.scope} of PID {pid}"
        tagged = self.tagged if self.scope == "tagged" else None
        if tagged is not None:
            target = f"tagged ({tagged.count})"
        error = self.query_one("#error", Static)
        try:
            if tagged is not None:
                pids = await asyncio.wrap_future(tagged.targets())
            else:
                pids = await asyncio.wrap_future(self.targets(pid, subtree))
            if not pids:
                raise UserError(f"no live process in {target}: nothing to signal")
            if sig == signal.SIGKILL or (pid is None and tagged is None):
                question = (
                    f"Send {sig.name} to {target}: {len(pids)} process"
                    f"{'es' if len(pids) != 1 else ''} ({', '.join(map(str, pids[:8]))}"
                    f"{', ...' if len(pids) > 8 else ''})?"
                )
                if not await self.app.push_screen_wait(ConfirmScreen(question, "Confirm signal")):
                    return
            if tagged is not None:
                results = await asyncio.wrap_future(tagged.send(sig))
            else:
                results = await asyncio.wrap_future(self.send_to(pid, subtree, sig))
        except UserError as err:
            error.update(Content(escape(str(err))))
            self.call_after_refresh(error.scroll_visible, animate=False)  # a short terminal
            return
        failed = any(not r.ok for r in results)
        self.app.notify(
            describe_results(sig, target, results),
            title="Signal",
            severity="warning" if failed else "information",
            timeout=8 if failed else 4,
        )
        self.dismiss(results)
