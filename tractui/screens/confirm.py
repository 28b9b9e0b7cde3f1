"""Yes/no and quit dialogs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from tractui.session import END_GRACE
from tractui.snapshot import Listed
from tractui.widgets.header import count_text


class ConfirmScreen(ModalScreen[bool]):
    """Ask a yes/no question: ``y`` confirms, ``n`` or Escape declines."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
    ]

    def __init__(self, question: str, title: str = "Confirm") -> None:
        super().__init__(classes="dialog-screen")
        self.question = question
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as dialog:
            dialog.border_title = self.title_text
            yield Static(Content(self.question), id="question")  # plain text, not markup
            yield Static("[b]y[/b] yes   [b]n[/b] no", classes="hint")
        yield Footer()

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class QuitScreen(ModalScreen[str]):
    """Programs this UI launched are alive: leave them running, or end them, before quitting.

    Names every process "end them" would end, and the live members of the same groups it
    leaves running (attached ones are never this UI's to end)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("l", "choose('leave')", "Leave running", id="quit.leave"),
        Binding("e", "choose('end')", "End them", id="quit.end"),
        Binding("escape,c", "choose('cancel')", "Cancel", id="quit.cancel"),
    ]

    def __init__(self, ending: Sequence[Listed], left: Sequence[Listed] = ()) -> None:
        super().__init__(classes="dialog-screen")
        self.ending = ending
        self.left = left

    def compose(self) -> ComposeResult:
        ending = count_text(len(self.ending), "process", "processes")
        with Vertical(classes="dialog") as dialog:
            dialog.border_title = "Quit"
            yield Static(
                f"Programs you launched here are still running. e ends the {ending} below "
                f"(and what they fork): SIGTERM, then SIGKILL after {END_GRACE:g} s."
            )
            yield _listing(self.ending, "ending")
            if self.left:
                left = count_text(len(self.left), "process", "processes")
                yield Static(
                    f"Left running (attached, not launched by this tractui): {left}", classes="note"
                )
                yield _listing(self.left, "left")
            yield Static(
                f"[b]l[/b] leave all running   [b]e[/b] end the {ending}   [b]Esc[/b] cancel",
                classes="hint",
            )
        yield Footer()

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)


def _listing(procs: Sequence[Listed], kind: str) -> VerticalScroll:
    """One line per process, group and PID first: every one, scrolled when they are many."""
    text = "\n".join(f"  {p.group}  {p.pid}  {p.command}" for p in procs)
    return VerticalScroll(Static(text, markup=False), classes=f"listing {kind}")
