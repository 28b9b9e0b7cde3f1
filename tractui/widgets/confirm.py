"""Yes/no and quit dialogs."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Static


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
            yield Static(self.question, id="question")
            yield Static("[b]y[/b] yes   [b]n[/b] no", classes="hint")
        yield Footer()

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class QuitScreen(ModalScreen[str]):
    """Groups tractui launched are alive: leave them running, or end them, before quitting."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("l", "choose('leave')", "Leave running", id="quit.leave"),
        Binding("e", "choose('end')", "End them", id="quit.end"),
        Binding("escape,c", "choose('cancel')", "Cancel", id="quit.cancel"),
    ]

    def __init__(self, groups: list[str]) -> None:
        super().__init__(classes="dialog-screen")
        self.groups = groups

    def compose(self) -> ComposeResult:
        names = ", ".join(self.groups)
        with Vertical(classes="dialog") as dialog:
            dialog.border_title = "Quit"
            yield Static(f"Groups you launched are still running: {names}")
            yield Static(
                "[b]l[/b] leave them running   [b]e[/b] end them (SIGTERM, then SIGKILL)   "
                "[b]Esc[/b] cancel",
                classes="hint",
            )
        yield Footer()

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)
