"""The sort picker: which column orders siblings in the tree, and which way (htop's F6)."""

from __future__ import annotations

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
from tractui.widgets.tree import default_descending

# the picker's rows, in the order of the columns on screen; fork order last
CHOICES: tuple[tuple[str, str, str], ...] = (
    *((c.id, c.id, c.what) for c in columns.ALL),
    ("GROUP", "GROUP", "group (flat list)"),
    ("COMMAND", "COMMAND", "command line"),
    ("tree", "tree order", "forks in order"),
)


def direction_text(sort: str, descending: bool) -> str:
    if sort == "tree":
        return "▼ newest first" if descending else "▲ oldest first"
    return "▼ descending" if descending else "▲ ascending"


class SortScreen(ModalScreen[tuple[str, bool] | None]):
    """Pick the sort column (the current one highlighted); returns (sort, descending).

    Enter on another column sorts by it in its natural direction (amounts biggest first, the
    rest ascending); Enter on the current column, or ``i`` on any, inverts the direction.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="sort.cancel", tooltip="Cancel"),
        Binding(
            "i,I",
            "invert",
            "Invert",
            id="sort.invert",
            tooltip="Sort by the highlighted column the other way round",
        ),
    ]

    def __init__(self, sort: str, descending: bool) -> None:
        super().__init__(classes="dialog-screen")
        self.sort = sort
        self.descending = descending

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog sort-dialog") as dialog:
            dialog.border_title = "Sort by"
            yield OptionList(
                *(
                    Option(self._prompt(sort, label, what), id=sort)
                    for sort, label, what in CHOICES
                ),
                id="sorts",
            )
            yield Static(
                "[b]Enter[/b] sort   [b]i[/b] sort the other way   [b]Esc[/b] cancel\n"
                "Enter on the current sort inverts it",
                classes="hint",
            )
        yield Footer()

    @classmethod
    def help_bindings(cls) -> list[Binding]:
        """Its keys for the help screen, Enter (the option list's) included."""
        enter = Binding(
            "enter",
            "",
            "Sort",
            tooltip="Sort by the highlighted column; on the current sort, invert it",
        )
        return [enter, *(b for b in cls.BINDINGS if isinstance(b, Binding))]

    def _prompt(self, sort: str, label: str, what: str) -> Content:
        current = sort == self.sort
        return Content.from_markup(
            "[b]$mark $label[/b] $what $direction" if current else "  $label [$text-muted]$what[/]",
            mark="●",
            label=f"{label:<10}",
            what=f"{what:<16}",
            direction=direction_text(sort, self.descending),
        )

    def on_mount(self) -> None:
        options = self.query_one("#sorts", OptionList)
        options.highlighted = options.get_option_index(self.sort)
        options.focus()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_invert(self) -> None:
        """The highlighted column the other way: against its natural direction, or for the
        current column, against the current one."""
        option = self.query_one("#sorts", OptionList).highlighted_option
        sort = option.id if option is not None and option.id is not None else self.sort
        if sort == self.sort:
            self.dismiss((sort, not self.descending))
        else:
            self.dismiss((sort, not default_descending(sort)))

    @on(OptionList.OptionSelected)
    def selected(self, event: OptionList.OptionSelected) -> None:
        """Another column in its natural direction; the current column inverted."""
        sort = event.option.id
        assert sort is not None
        if sort == self.sort:
            self.dismiss((sort, not self.descending))
        else:
            self.dismiss((sort, default_descending(sort)))
