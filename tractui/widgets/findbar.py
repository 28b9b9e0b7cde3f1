"""The find bar at the bottom: an incremental search (/, F3) or a filter (\\) of the tree's rows.

It holds what it is doing (searching or filtering) and the last search (what F3 finds again once
it is closed), and acts on the :class:`~tractui.widgets.tree.ProcessTree` it is given. Its keys
are the app's bindings (they work from the tree, where the focus is), which call :meth:`open`,
:meth:`find_next` and :meth:`close`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import Input, Label, Static

from tractui.widgets.tree import ProcessTree

Mode = Literal["search", "filter"]

# the bar's keys: while typing a search or a filter, and while a filter is kept
SEARCH_KEYS = (("F3", "next"), ("Enter", "done"), ("Esc", "close"))
FILTER_KEYS = (("Enter", "keep"), ("Esc", "clear"))
FILTER_KEPT_KEYS = (("\\", "edit"), ("Esc", "clear"))


def keys_hint(keys: Iterable[tuple[str, str]]) -> Content:
    """(("Esc", "close"), ...) -> "Esc close  ..." with the keys in bold."""
    return Content("  ").join(
        Content.from_markup("[b]$key[/b] $what", key=k, what=w) for k, w in keys
    )


class FindBar(Horizontal):
    """One line: "Search:" or "Filter:", the text typed, and the keys that apply now."""

    def __init__(self, tree: ProcessTree, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.process_tree = tree
        self.mode: Mode = "search"
        self.last_search = ""  # what F3 finds again once the search bar is closed

    def compose(self) -> ComposeResult:
        yield Label("Search:", id="find-label")
        yield Input(id="find", compact=True)
        yield Static("", id="find-keys")

    @property
    def input(self) -> Input:
        return self.query_one("#find", Input)

    def on_mount(self) -> None:
        self.display = False

    def open(self, mode: Mode) -> None:
        """Start typing a search (from nothing) or edit the filter."""
        find = self.input
        self.mode = mode
        self.show(editing=True)
        with find.prevent(Input.Changed):
            find.value = self.process_tree.filter_text if mode == "filter" else ""
        find.placeholder = "command or PID" if mode == "search" else "show only matching processes"
        find.focus()

    def find_next(self) -> None:
        """F3: the next match, in the search bar or after it closed; else a new search."""
        searching = self.input.has_focus and self.mode == "search"
        text = self.input.value if searching else self.last_search
        if not text:
            self.open("search")
            return
        tree = self.process_tree
        found = tree.search(text, start=tree.cursor + 1)
        if searching:
            self._found(found)
            return
        if not found:
            self.app.bell()
        tree.search_text = ""  # the cursor is on the match; no highlight left behind
        tree.refresh()

    def close(self) -> None:
        """Esc: close the search (the cursor stays), or clear the filter."""
        tree = self.process_tree
        if self.mode == "search" and self.input.has_focus:
            self.last_search = ""
            tree.search("")
        elif tree.filter_text:
            tree.filter_text = ""
        tree.focus()
        self.show(editing=False)

    def show(self, editing: bool) -> None:
        """The bar while a search or a filter is typed; closed, it stays only while a filter is
        on, to say so (as htop does): "Filter: sleep  \\ edit  Esc clear"."""
        tree = self.process_tree
        self.display = editing or bool(tree.filter_text)
        self.screen.set_class(self.display, "-findbar")  # toasts go above it
        if self.display and not editing:
            self.mode = "filter"  # what the bar shows, and what Esc clears
            find = self.input
            with find.prevent(Input.Changed):
                find.value = tree.filter_text
        filtering = self.mode == "filter"
        self.set_class(False, "-nomatch")
        self.query_one("#find-label", Label).update("Filter:" if filtering else "Search:")
        keys = (FILTER_KEYS if filtering else SEARCH_KEYS) if editing else FILTER_KEPT_KEYS
        self.query_one("#find-keys", Static).update(keys_hint(keys))

    @on(Input.Changed, "#find")
    def find_changed(self, event: Input.Changed) -> None:
        if self.mode == "filter":
            self.process_tree.filter_text = event.value
        else:
            self._found(self.process_tree.search(event.value))

    def _found(self, found: bool) -> None:
        """A search found nothing: a bell, and the bar says so until one does."""
        if not found:
            self.app.bell()
        self.set_class(not found, "-nomatch")
        label = "Search:" if found else "No match:"
        self.query_one("#find-label", Label).update(label)

    @on(Input.Submitted, "#find")
    def find_submitted(self, event: Input.Submitted) -> None:
        """Enter: done; the search's match stays selected, the filter stays on."""
        tree = self.process_tree
        if self.mode == "search":
            self.last_search = event.value
            tree.search("")  # the cursor stays on the match; the highlight goes
        tree.focus()
        self.show(editing=False)
