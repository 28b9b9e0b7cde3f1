"""The help screen: every key, by context, from the bindings themselves."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

KEY_NAMES = {
    "up": "↑",
    "down": "↓",
    "left": "←",
    "right": "→",
    "pageup": "PgUp",
    "pagedown": "PgDn",
    "home": "Home",
    "end": "End",
    "minus": "-",
    "plus": "+",
    "asterisk": "*",
    "slash": "/",
    "backslash": "\\",
    "question_mark": "?",
    "enter": "Enter",
    "escape": "Esc",
}


def keys_text(keys: str) -> str:
    """'k,f9' -> 'k F9'."""
    return " ".join(
        KEY_NAMES.get(k, k.upper() if k.startswith("f") and k[1:].isdigit() else k)
        for k in keys.split(",")
    )


def help_content(sections: Iterable[tuple[str, Iterable[Binding]]]) -> Content:
    lines: list[Content] = []
    for title, bindings in sections:
        lines.append(Content.from_markup("[b]$title[/b]", title=title))
        for binding in bindings:
            text = binding.tooltip or binding.description
            lines.append(
                Content.from_markup(
                    "  $keys $text", keys=f"{keys_text(binding.key):<14}", text=text
                )
            )
        lines.append(Content(""))
    return Content("\n").join(lines)


class HelpScreen(ModalScreen[None]):
    """Every key of the main screen and of the tree, grouped by where they act."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark,f1", "close", "Close", id="help.close"),
    ]

    def __init__(self, sections: list[tuple[str, list[Binding]]]) -> None:
        super().__init__(classes="dialog-screen")
        self.sections = sections

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog wide") as dialog:
            dialog.border_title = "tractui keys"
            yield Static(help_content(self.sections))
        yield Footer()

    def action_close(self) -> None:
        self.dismiss(None)
