"""The process tree: every group as a collapsible genealogical tree with htop's columns.

A Line-API ``ScrollView`` over a flattened row list: only the visible lines are rendered, so a
group of 10,000 processes costs a flatten (a list build) per snapshot and ~40 line renders, not a
widget per process (Textual's ``Tree`` re-measures every expanded node on each change; DESIGN.md).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from operator import attrgetter
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tractui.session import EMPTY, GroupRow, ProcRow, Snapshot
from tractui.tracker import Key

RowId = str | Key  # a group's name, or a process's (pid, start)

# (column title, width): the columns before COMMAND, as htop has them
COLUMNS: tuple[tuple[str, int], ...] = (
    ("PID", 7),
    ("USER", 8),
    ("S", 1),
    ("CPU%", 5),
    ("RSS", 6),
    ("TIME+", 9),
    ("THR", 4),
)
_LEFT_ALIGNED = ("USER", "S")
# what siblings can be sorted by: "tree" is fork order, the genealogy as it happened
SORTS: tuple[str, ...] = ("tree", *(title for title, _width in COLUMNS), "COMMAND")
# each column's key and its natural direction (True: descending), as htop has them
_SORT_KEYS: dict[str, tuple[Callable[[ProcRow], object], bool]] = {
    "PID": (lambda r: r.pid, False),
    "USER": (lambda r: r.user, False),
    "S": (lambda r: r.state, False),
    "CPU%": (lambda r: r.cpu, True),
    "RSS": (lambda r: r.rss_kb, True),
    "TIME+": (lambda r: r.ticks, True),
    "THR": (lambda r: r.threads, True),
    "COMMAND": (lambda r: r.command, False),
}
COMMAND_X = sum(width + 1 for _title, width in COLUMNS)
_row_id = attrgetter("id")


def default_descending(sort: str) -> bool:
    """A column's natural direction: biggest first for amounts, A-Z and oldest first otherwise."""
    entry = _SORT_KEYS.get(sort)
    return entry[1] if entry is not None else False


@dataclass(slots=True)
class Row:
    """One line of the tree: a group header or a process."""

    id: RowId
    group: str
    proc: ProcRow | None = None
    info: GroupRow | None = None
    guide: str = ""  # tree guides drawn before the fold mark
    fold: str = " "  # "▾" open, "▸" closed, "─" leaf
    match: bool = False


def human_kb(kb: int) -> str:
    """RSS the way htop prints it: 812K, 23.4M, 1.2G."""
    if kb < 10_000:
        return f"{kb}K"
    if kb < 1024 * 1000:
        return f"{kb / 1024:.1f}M" if kb < 100 * 1024 else f"{kb // 1024}M"
    return f"{kb / 1024 / 1024:.1f}G"


def time_plus(ticks: int, hz: int = 100) -> str:
    """htop's TIME+: minutes:seconds.hundredths, or hours once past 100 minutes."""
    hundredths = ticks * 100 // hz
    minutes, rest = divmod(hundredths, 6000)
    if minutes >= 100:
        hours, minutes = divmod(minutes, 60)
        return f"{hours}h{minutes:02d}:{rest // 100:02d}"
    return f"{minutes}:{rest // 100:02d}.{rest % 100:02d}"


def header_text(sort: str, descending: bool = True) -> str:
    """The column header line, the sort column marked ▼ (descending) or ▲ (ascending)."""
    mark = "▼" if descending else "▲"
    line = [" "] * COMMAND_X
    x = 0
    for title, width in COLUMNS:
        label = title + (mark if title == sort else "")
        # a mark wider than its column (S) takes the separator after it
        start = x if title in _LEFT_ALIGNED else x + width - len(label)
        line[start : start + len(label)] = label
        x += width + 1
    return "".join(line) + "COMMAND" + (mark if sort == "COMMAND" else "")


class ProcessTree(ScrollView, can_focus=True):
    """Groups and their processes, one row each; the cursor stays on the same process."""

    COMPONENT_CLASSES = {
        "tree--cursor",
        "tree--group",
        "tree--exited",
        "tree--failed",
        "tree--guide",
        "tree--reparented",
        "tree--match",
        "tree--dim",
    }

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "Up", show=False, id="tree.up"),
        Binding("down", "cursor(1)", "Down", show=False, id="tree.down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="tree.page_up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="tree.page_down"),
        Binding("home", "first", "First row", show=False, id="tree.home"),
        Binding("end", "last", "Last row", show=False, id="tree.end"),
        Binding("left,minus", "collapse", "Collapse", show=False, id="tree.collapse"),
        Binding("right,plus", "expand", "Expand", show=False, id="tree.expand"),
        Binding("asterisk", "expand_all", "Expand subtree", show=False, id="tree.expand_all"),
    ]

    cursor: reactive[int] = reactive(0, always_update=True, init=False)

    class Highlighted(Message):
        """The cursor moved to another row (or the row under it changed group)."""

        def __init__(self, row: Row | None) -> None:
            super().__init__()
            self.row = row

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.snapshot: Snapshot = EMPTY
        self.rows: list[Row] = []
        self.collapsed: set[RowId] = set()
        self.show_exited = True
        self.filter_text = ""
        self.search_text = ""
        self.sort = "tree"
        self.descending = False  # tree order: oldest fork first
        self._index: dict[RowId, int] = {}
        self._cursor_id: RowId | None = None

    # ---- model -------------------------------------------------------------------------------

    @property
    def current(self) -> Row | None:
        """The row under the cursor."""
        if 0 <= self.cursor < len(self.rows):
            return self.rows[self.cursor]
        return None

    def update_snapshot(self, snapshot: Snapshot) -> None:
        """Redraw from a new snapshot, keeping the cursor on the same process."""
        self.snapshot = snapshot
        self.rebuild()

    def rebuild(self) -> None:
        """Flatten the snapshot into rows; put the cursor back on the row it was on."""
        old_id, old_index = self._cursor_id, self.cursor
        old_row = self.current
        self.rows = list(self._flatten())
        self._index = dict(zip(map(_row_id, self.rows), range(len(self.rows)), strict=True))
        index = self._index.get(old_id) if old_id is not None else None
        if index is None and old_row is not None and old_row.proc is not None:
            # the process was pruned or hidden: its nearest shown ancestor, else its group
            index = self._nearest_ancestor(old_row.proc)
        if index is None:
            index = min(old_index, len(self.rows) - 1)
        self.virtual_size = Size(self.size.width, len(self.rows))
        self._move(max(index, 0), scroll=old_id is not None and index != old_index)
        self.refresh()

    def sort_by(self, sort: str, descending: bool) -> None:
        """Order siblings by a column of :data:`SORTS` ("tree": fork order), then redraw."""
        self.sort = sort
        self.descending = descending
        self.rebuild()

    def _nearest_ancestor(self, proc: ProcRow) -> int | None:
        parent = proc.parent
        procs = self.snapshot.procs
        while parent is not None:
            if parent in self._index:
                return self._index[parent]
            row = procs.get(parent)
            parent = row.parent if row is not None else None
        return self._index.get(proc.group)

    def _flatten(self) -> Iterator[Row]:
        # runs on every snapshot over every row (tens of thousands): leaves take the short way,
        # and a row drawn the same as before (same ProcRow object, guide, fold) is reused
        procs = self.snapshot.procs
        needle = self.filter_text.lower()
        collapsed = self.collapsed
        order = self._order
        before, index_of = self.rows, self._index.get
        for group in self.snapshot.groups:
            # no filter and exited ones shown: _shown would keep every process of the group
            shown: Collection[Key] = (
                procs if self.show_exited and not needle else self._shown(group, needle)
            )
            if needle and not shown and needle not in group.name.lower():
                continue
            name = group.name
            closed = name in collapsed
            yield Row(name, name, info=group, fold="▸" if closed else "▾")
            if closed:
                continue
            roots = order([procs[k] for k in group.roots if k in shown])
            # one frame per open level, not a tuple per row (thousands of them would survive
            # long enough to wake the garbage collector's full passes): the rows still to
            # draw, the last of them, and the guides of the others and of the last
            stack: list[tuple[Iterator[ProcRow], ProcRow | None, tuple[str, str], tuple[str, str]]]
            stack = [(iter(roots), None, ("", ""), ("", ""))]
            while stack:
                rest, last, others, last_guides = stack[-1]
                proc = next(rest, None)
                if proc is None:
                    stack.pop()
                    continue
                guide, child_guide = last_guides if proc is last else others
                kids = (
                    order([procs[k] for k in proc.children if k in shown]) if proc.children else []
                )
                fold = "─" if not kids else ("▸" if proc.key in collapsed else "▾")
                i = index_of(proc.key)
                old = before[i] if i is not None else None
                if (
                    old is not None
                    and old.proc is proc
                    and old.fold == fold
                    and old.guide == guide
                    and old.group == name
                ):
                    yield old
                else:
                    yield Row(proc.key, name, proc=proc, guide=guide, fold=fold)
                if fold != "▾":
                    continue  # a leaf, or folded
                stack.append(
                    (
                        iter(kids),
                        kids[-1],
                        (child_guide + "├─", child_guide + "│ "),
                        (child_guide + "└─", child_guide + "  "),
                    )
                )

    def _shown(self, group: GroupRow, needle: str) -> set[Key]:
        """The processes to draw: exited ones only while shown (or while they have live
        descendants: the genealogy needs them), and with a filter, matches and their ancestors."""
        procs = self.snapshot.procs
        keep: set[Key] = set()
        order: list[ProcRow] = []
        stack = list(group.roots)
        while stack:
            row = procs.get(stack.pop())
            if row is None:
                continue
            order.append(row)
            stack.extend(row.children)
        for row in reversed(order):  # children before parents
            wanted = (row.alive or self.show_exited) and (
                not needle or needle in row.command.lower() or needle == str(row.pid)
            )
            if wanted or any(k in keep for k in row.children):
                keep.add(row.key)
        return keep

    def _order(self, rows: list[ProcRow]) -> list[ProcRow]:
        """Siblings in the sort order; ties stay in fork order."""
        sort = _SORT_KEYS.get(self.sort)
        if sort is None:
            return rows[::-1] if self.descending else rows
        key = sort[0]
        return sorted(rows, key=key, reverse=self.descending)  # type: ignore[arg-type]

    # ---- cursor ------------------------------------------------------------------------------

    def _move(self, index: int, scroll: bool = True) -> None:
        index = max(0, min(index, len(self.rows) - 1))
        changed_row = self.current is None or (
            0 <= index < len(self.rows) and self.rows[index].id != self._cursor_id
        )
        self.cursor = index
        self._cursor_id = self.rows[index].id if self.rows else None
        if scroll:
            self.scroll_to_cursor()
        if changed_row:
            self.post_message(self.Highlighted(self.current))

    def scroll_to_cursor(self) -> None:
        """Scroll just enough to show the cursor row."""
        height = self.scrollable_content_region.height
        top = int(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False)
        elif height and self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False)

    def select(self, row_id: RowId) -> bool:
        """Put the cursor on a row; False if it is not shown."""
        index = self._index.get(row_id)
        if index is None:
            return False
        self._move(index)
        self.refresh()
        return True

    def watch_cursor(self, old: int, new: int) -> None:
        self.refresh()

    def action_cursor(self, step: int) -> None:
        self._move(self.cursor + step)

    def action_page(self, direction: int) -> None:
        height = max(1, self.scrollable_content_region.height - 1)
        self._move(self.cursor + direction * height)

    def action_first(self) -> None:
        self._move(0)

    def action_last(self) -> None:
        self._move(len(self.rows) - 1)

    def action_collapse(self) -> None:
        """Fold the row; on a leaf or a folded row, go to its parent (as htop's ← does)."""
        row = self.current
        if row is None:
            return
        if row.fold == "▾":
            self.collapsed.add(row.id)
            self.rebuild()
        elif row.proc is not None:
            parent = row.proc.parent
            self.select(parent if parent in self._index else row.group)  # type: ignore[arg-type]

    def action_expand(self) -> None:
        row = self.current
        if row is not None and row.id in self.collapsed:
            self.collapsed.discard(row.id)
            self.rebuild()

    def action_expand_all(self) -> None:
        """Unfold the row and everything below it."""
        row = self.current
        if row is None:
            return
        self.collapsed.discard(row.id)
        procs = self.snapshot.procs
        if row.info is not None:
            stack = list(row.info.roots)
        else:
            assert row.proc is not None
            stack = list(row.proc.children)
        while stack:
            key = stack.pop()
            self.collapsed.discard(key)
            proc = procs.get(key)
            if proc is not None:
                stack.extend(proc.children)
        self.rebuild()

    def toggle(self, index: int) -> None:
        row = self.rows[index]
        if row.fold == "▾":
            self.collapsed.add(row.id)
        elif row.fold == "▸":
            self.collapsed.discard(row.id)
        else:
            return
        self.rebuild()

    def search(self, text: str, start: int | None = None) -> bool:
        """Move the cursor to the next row (from ``start``) whose command or PID matches."""
        self.search_text = text.lower()
        if not text:
            self.refresh()
            return True
        first = self.cursor if start is None else start
        count = len(self.rows)
        for step in range(count):
            index = (first + step) % count
            if self._matches(self.rows[index]):
                self._move(index)
                self.refresh()
                return True
        self.refresh()
        return False

    def _matches(self, row: Row) -> bool:
        needle = self.search_text
        if row.proc is not None:
            return needle in row.proc.command.lower() or needle == str(row.proc.pid)
        return needle in row.group.lower()

    def on_click(self, event: events.Click) -> None:
        index = int(self.scroll_y) + event.y
        if not 0 <= index < len(self.rows):
            return
        self._move(index, scroll=False)
        row = self.rows[index]
        fold_x = len(row.guide) + (COMMAND_X if row.proc is not None else 0)
        if event.x - self.scrollable_content_region.x + int(self.scroll_x) in (fold_x, fold_x + 1):
            self.toggle(index)

    def on_resize(self, event: events.Resize) -> None:
        self.virtual_size = Size(self.size.width, len(self.rows))

    # ---- rendering ---------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        index = int(self.scroll_y) + y
        width = self.scrollable_content_region.width
        base = self.rich_style
        if not self.rows and index == 1:
            hint = "  No groups yet: n launches a program into a group, a attaches running PIDs."
            dim = self.get_component_rich_style("tree--dim")
            return Strip([Segment(hint, dim)]).adjust_cell_length(width, base)
        if not 0 <= index < len(self.rows):
            return Strip.blank(width, base)
        row = self.rows[index]
        segments = self._group_segments(row) if row.info is not None else self._proc_segments(row)
        style = base
        if index == self.cursor:
            # the cursor's background across the whole row, over every cell's own (apply_style
            # would put it beneath them); the cells keep their colours
            style = base + self.get_component_rich_style("tree--cursor")
            over = Style(bgcolor=style.bgcolor)
            segments = [Segment(text, (s or Style()) + over) for text, s, _ in segments]
        strip = Strip(segments).apply_style(style).adjust_cell_length(width, style)
        return strip.apply_offsets(0, index)

    def _group_segments(self, row: Row) -> list[Segment]:
        group = row.info
        assert group is not None
        style = self.get_component_rich_style("tree--group")
        dim = self.get_component_rich_style("tree--dim")
        failed = self.get_component_rich_style("tree--failed")
        parts = [
            Segment(f"{row.fold} {group.name}", style),
            Segment(
                f"  {group.live}/{group.total} live  CPU {group.cpu:.1f}%  "
                f"RSS {human_kb(group.rss_kb)}  forks {group.forks}  execs {group.execs}  "
                f"exits {group.exits}",
                dim,
            ),
        ]
        if group.failed:
            parts.append(Segment(f"  {group.failed} failed", failed))
        return parts

    def _proc_segments(self, row: Row) -> list[Segment]:
        proc = row.proc
        assert proc is not None
        exited = not proc.alive
        text_style = self.get_component_rich_style("tree--exited") if exited else Style()
        cells = [
            str(proc.pid).rjust(7),
            proc.user[:8].ljust(8),
            proc.state[:1],
            (f"{proc.cpu:.1f}" if proc.alive else "").rjust(5),
            (human_kb(proc.rss_kb) if proc.alive and proc.rss_kb else "").rjust(6),
            time_plus(proc.ticks).rjust(9),
            (str(proc.threads) if proc.alive else "").rjust(4),
        ]
        guide_style = self.get_component_rich_style("tree--guide")
        segments = [
            Segment(" ".join(cells) + " ", text_style),
            Segment(row.guide + row.fold + " ", guide_style),
        ]
        if exited:
            # before the command, so a narrow terminal cuts the command, not the status
            status = self.get_component_rich_style("tree--failed" if proc.failed else "tree--dim")
            segments.append(Segment(f"[{proc.status}] ", status))
        command_style = text_style
        if self.search_text and self._matches(row):
            command_style = self.get_component_rich_style("tree--match")
        segments.append(Segment(proc.command, command_style))
        if proc.reparented:
            segments.append(
                Segment(
                    f"  [reparented to {proc.ppid}]",
                    self.get_component_rich_style("tree--reparented"),
                )
            )
        return segments
