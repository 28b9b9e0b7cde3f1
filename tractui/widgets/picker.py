"""The attach dialog's process picker: every process on the system, as htop lists them, narrowed
by a search of names and command lines as it is typed, several picked at once.

A Line-API ``ScrollView`` over the rows that match: a few thousand processes cost one pass of
a substring test per keystroke (bench/attach) and the visible lines' renders, not a widget each.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tractui.kernel.listing import Listed
from tractui.text import escape

_PIDS = re.compile(r"^[\d\s,]+$")


@dataclass(frozen=True, slots=True)
class Pick:
    """One process of the picker."""

    pid: int
    user: str
    command: str  # escaped: shown as it is
    group: str  # the group it is tracked in already; "" if none
    haystack: str  # what the search looks in: name, command line and PID, lower case

    @classmethod
    def of(cls, proc: Listed, user: str, group: str = "") -> Pick:
        command = escape(proc.command)
        hay = f"{proc.comm}\0{proc.command}\0{proc.pid}".lower()
        return cls(proc.pid, user, command, group, hay)


def matches(picks: Sequence[Pick], query: str) -> list[int]:
    """The indexes of the picks whose name, command line or PID hold every word of ``query``
    (case ignored), in order."""
    words = query.lower().split()
    if not words:
        return list(range(len(picks)))
    if len(words) == 1:
        word = words[0]
        return [i for i, p in enumerate(picks) if word in p.haystack]
    return [i for i, p in enumerate(picks) if all(w in p.haystack for w in words)]


class ProcessPicker(ScrollView, can_focus=True):
    """Processes, one a line: a mark if picked, PID, user, the group if tracked, command.
    ↑↓ PgUp PgDn Home End move, Space picks (and moves down, as htop's tag), a click picks."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "move(-1)", "Up", show=False),
        Binding("down", "move(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "edge(0)", "First", show=False),
        Binding("end", "edge(1)", "Last", show=False),
        Binding("space", "pick", "Pick", id="picker.toggle"),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "picker--cursor",
        "picker--picked",
        "picker--tracked",
        "picker--dim",
    }

    class Changed(Message):
        """The picked set changed, or the cursor was first moved after a search (``picker``
        says what they are now)."""

        def __init__(self, picker: ProcessPicker) -> None:
            super().__init__()
            self.picker = picker

    class Refused(Message):
        """A tracked process can't be picked: say why."""

        def __init__(self, pick: Pick) -> None:
            super().__init__()
            self.pick = pick

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.picks: list[Pick] = []
        self.shown: list[int] = []  # indexes into picks, the search's matches
        self.picked: dict[int, None] = {}  # PIDs, in the order they were picked
        self.cursor = 0  # into shown
        self.moved = False  # the user moved the cursor (or picked) since the last search
        self.search_text = ""
        self.reading = True

    # ---- data ------------------------------------------------------------------------------------

    def load(self, picks: Iterable[Pick]) -> None:
        """The processes to pick from (read anew: picks of processes now gone are dropped)."""
        current = self.current
        self.picks = list(picks)
        self.reading = False
        alive = {p.pid for p in self.picks}
        self.picked = {pid: None for pid in self.picked if pid in alive}
        self.search(self.search_text, keep=current.pid if current is not None else None)
        self.post_message(self.Changed(self))

    def search(self, query: str, keep: int | None = None) -> None:
        """Show the processes that match ``query``; the cursor on the first (or on ``keep``'s
        PID, if it still shows)."""
        self.search_text = query
        self.shown = matches(self.picks, query)
        if not self.shown and query.strip() and _PIDS.match(query):
            # PIDs typed: those of them listed
            wanted = {int(w) for w in re.split(r"[\s,]+", query.strip()) if w}
            self.shown = [i for i, p in enumerate(self.picks) if p.pid in wanted]
        self.cursor = 0
        kept = False
        if keep is not None:
            for n, i in enumerate(self.shown):
                if self.picks[i].pid == keep:
                    self.cursor, kept = n, True
                    break
        self.moved = self.moved and kept  # a new search: its first match, not a choice
        self.virtual_size = Size(self.size.width, len(self.shown))
        self.scroll_to(y=max(0, self.cursor - self.size.height // 2), animate=False)
        self.refresh()

    @property
    def current(self) -> Pick | None:
        if 0 <= self.cursor < len(self.shown):
            return self.picks[self.shown[self.cursor]]
        return None

    def toggle(self, pick: Pick) -> None:
        if pick.group:
            self.post_message(self.Refused(pick))
            return
        if pick.pid in self.picked:
            del self.picked[pick.pid]
        else:
            self.picked[pick.pid] = None
        self.refresh()
        self.post_message(self.Changed(self))

    def clear(self) -> None:
        self.picked.clear()
        self.refresh()
        self.post_message(self.Changed(self))

    # ---- keys and mouse --------------------------------------------------------------------------

    def move_to(self, index: int) -> None:
        if not self.shown:
            return
        if not self.moved:  # PIDs typed no longer count: the row does (AttachScreen)
            self.moved = True
            self.post_message(self.Changed(self))
        self.cursor = max(0, min(index, len(self.shown) - 1))
        top, height = int(self.scroll_y), max(1, self.scrollable_content_region.height)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False)
        self.refresh()

    def action_move(self, delta: int) -> None:
        self.move_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self.move_to(self.cursor + direction * max(1, self.scrollable_content_region.height - 1))

    def action_edge(self, end: int) -> None:
        self.move_to(len(self.shown) - 1 if end else 0)

    def action_pick(self) -> None:
        pick = self.current
        if pick is not None:
            self.toggle(pick)
            if not pick.group:
                self.move_to(self.cursor + 1)

    def on_click(self, event: events.Click) -> None:
        index = int(self.scroll_y) + event.y
        if 0 <= index < len(self.shown):
            self.move_to(index)
            self.toggle(self.picks[self.shown[index]])

    def on_resize(self, event: events.Resize) -> None:
        self.virtual_size = Size(self.size.width, len(self.shown))

    # ---- rendering -------------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        index = int(self.scroll_y) + y
        width = self.scrollable_content_region.width
        base = self.rich_style
        if not self.shown:
            if y != 0:
                return Strip.blank(width, base)
            if self.reading:
                hint = "  reading the processes..."
            elif self.picks:
                hint = f"  nothing matches {escape(self.search_text)!r}"
            else:
                hint = "  no process to attach"
            dim = self.get_component_rich_style("picker--dim")
            return Strip([Segment(hint, dim)]).adjust_cell_length(width, base)
        if not 0 <= index < len(self.shown):
            return Strip.blank(width, base)
        pick = self.picks[self.shown[index]]
        picked = pick.pid in self.picked
        style = base
        if pick.group:
            style += self.get_component_rich_style("picker--tracked")
        elif picked:
            style += self.get_component_rich_style("picker--picked")
        if index == self.cursor:
            style += self.get_component_rich_style("picker--cursor")
        mark = "[x]" if picked else "   "
        segments = [Segment(f"{mark}{pick.pid:>7} {pick.user[:8]:<8} ")]
        if pick.group:  # before the command, which a narrow screen cuts
            segments.append(Segment(f"(in {pick.group}) ", Style(italic=True)))
        segments.append(Segment(pick.command))
        strip = Strip(segments).apply_style(style).adjust_cell_length(width, style)
        return strip.apply_offsets(0, index)
