"""The help screen: every key, by context, from the bindings themselves."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.keys import key_to_character
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
    "space": "Space",
    "underscore": "_",
    "tab": "Tab",
    "delete": "Del",
    "backspace": "Backspace",
}


def key_text(key: str) -> str:
    """One key as a user types it: 'left_square_bracket' -> '[', 'shift+up' -> 'Shift+↑'."""
    modifiers, _, name = key.rpartition("+")
    if modifiers:
        return "+".join(m.capitalize() for m in modifiers.split("+")) + "+" + key_text(name)
    if name in KEY_NAMES:
        return KEY_NAMES[name]
    if name.startswith("f") and name[1:].isdigit():
        return name.upper()
    character = key_to_character(name)
    return character if character is not None and character.isprintable() else name


def keys_text(keys: str) -> str:
    """'k,f9' -> 'k F9'; 'f7,right_square_bracket' -> 'F7 ]'."""
    return " ".join(key_text(k) for k in keys.split(","))


def help_content(sections: Iterable[tuple[str, Iterable[Binding]]]) -> Content:
    sections = [(title, list(bindings)) for title, bindings in sections]
    width = max((len(keys_text(b.key)) for _, bindings in sections for b in bindings), default=0)
    lines: list[Content] = []
    for title, bindings in sections:
        lines.append(Content.from_markup("[b]$title[/b]", title=title))
        for binding in bindings:
            text = binding.tooltip or binding.description
            lines.append(
                Content.from_markup(
                    "  $keys $text", keys=f"{keys_text(binding.key):<{width}}", text=text
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
