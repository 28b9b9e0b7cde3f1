"""The column chooser (htop's setup, F2): which columns the tree shows before COMMAND, and in
which order. Each change shows at once behind the dialog; Esc closes it (the app saves the
choice in ui.json)."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from tractui.widgets import columns


class ColumnsScreen(ModalScreen[tuple[str, ...] | None]):
    """Every column, the shown ones first in their order, each with a check box. Returns the
    columns shown, or None for the default (the set that follows the terminal's width)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,f10,f2", "done", "Done", id="columns.done", tooltip="Close (saved)"),
        Binding(
            "space",
            "show_hide",
            "Show/hide",
            id="columns.toggle",
            tooltip="Show or hide the highlighted column (Enter too)",
        ),
        Binding(
            "shift+up,f7,left_square_bracket",
            "move(-1)",
            "Move up",
            id="columns.up",
            tooltip="Move the highlighted column left (up the list)",
        ),
        Binding(
            "shift+down,f8,right_square_bracket",
            "move(1)",
            "Move down",
            id="columns.down",
            tooltip="Move the highlighted column right (down the list)",
        ),
        Binding(
            "d",
            "default",
            "Default",
            id="columns.default",
            tooltip="Back to the default set, which follows the terminal's width",
        ),
    ]

    def __init__(
        self,
        shown: tuple[str, ...],
        default: tuple[str, ...],
        is_default: bool,
        apply: Callable[[tuple[str, ...] | None], None],
    ) -> None:
        super().__init__(classes="dialog-screen")
        self.default = default
        self.is_default = is_default
        self.apply = apply  # each change, at once: the tree behind shows it
        self.shown = [c for c in shown if c in columns.BY_ID]
        self.order = [*self.shown, *(c.id for c in columns.ALL if c.id not in self.shown)]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog columns-dialog") as dialog:
            dialog.border_title = "Columns"
            yield OptionList(*self._options(), id="column-list")
            yield Static(
                "[b]Space[/b]/[b]Enter[/b] show/hide   [b]Shift+↑↓[/b] [b]F7 F8[/b] move\n"
                "[b]d[/b] default (by the width)   [b]Esc[/b] done",
                classes="hint",
            )
        yield Footer()

    @classmethod
    def help_bindings(cls) -> list[Binding]:
        return [b for b in cls.BINDINGS if isinstance(b, Binding)]

    @property
    def result(self) -> tuple[str, ...] | None:
        return None if self.is_default else tuple(self.shown)

    def _options(self) -> list[Option]:
        out = []
        for column_id in self.order:
            column = columns.BY_ID[column_id]
            on_ = column_id in self.shown
            out.append(
                Option(
                    Content.from_markup(
                        "$box [b]$title[/b] [$text-muted]$what[/]" if on_ else "$box $title $what",
                        box="[x]" if on_ else "[ ]",
                        title=f"{column_id:<6}",
                        what=column.what,
                    ),
                    id=column_id,
                )
            )
        return out

    def on_mount(self) -> None:
        options = self.query_one("#column-list", OptionList)
        options.highlighted = 0
        options.focus()

    def _changed(self, highlight: str) -> None:
        # the shown ones, in the list's order
        self.shown = [c for c in self.order if c in self.shown]
        options = self.query_one("#column-list", OptionList)
        options.clear_options()
        options.add_options(self._options())
        options.highlighted = self.order.index(highlight)
        self.apply(self.result)

    def _highlighted(self) -> str | None:
        option = self.query_one("#column-list", OptionList).highlighted_option
        return option.id if option is not None else None

    def action_show_hide(self) -> None:
        column = self._highlighted()
        if column is None:
            return
        if column in self.shown:
            self.shown.remove(column)
        else:
            self.shown.append(column)
        self.is_default = False
        self._changed(column)

    @on(OptionList.OptionSelected)
    def selected(self) -> None:
        self.action_show_hide()

    def action_move(self, step: int) -> None:
        column = self._highlighted()
        if column is None:
            return
        index = self.order.index(column)
        other = index + step
        if not 0 <= other < len(self.order):
            return
        self.order[index], self.order[other] = self.order[other], self.order[index]
        self.is_default = False
        self._changed(column)

    def action_default(self) -> None:
        column = self._highlighted() or self.order[0]
        self.shown = list(self.default)
        self.order = [*self.shown, *(c.id for c in columns.ALL if c.id not in self.shown)]
        self.is_default = True
        self._changed(column)

    def action_done(self) -> None:
        self.dismiss(self.result)
