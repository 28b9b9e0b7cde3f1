"""The process tree: every group as a collapsible genealogical tree with htop's columns.

A Line-API ``ScrollView`` over a flattened list of row IDs: only the visible lines are rendered,
so a group of 10,000 processes costs a flatten (a list of keys, extended a whole run of leaves
at a time) per snapshot and ~40 line renders, not a widget per process (Textual's ``Tree``
re-measures every expanded node on each change; README). A row's guides and fold mark are
worked out when it is drawn, from the last shown child and the guide prefix the flatten keeps for
each open parent: a few hundred entries, not one per row.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, ClassVar, overload

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive, var
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tractui.guides import NARROW, Guides, walk
from tractui.model.changes import Key
from tractui.snapshot import EMPTY, GroupRow, ProcRow, Snapshot
from tractui.text import human_kb

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


class Rows(Sequence[Row]):
    """The tree's rows, in order: each made when asked for (the tree keeps only their IDs)."""

    def __init__(self, tree: ProcessTree) -> None:
        self._tree = tree

    def __len__(self) -> int:
        return len(self._tree.ids)

    @overload
    def __getitem__(self, index: int) -> Row: ...

    @overload
    def __getitem__(self, index: slice) -> list[Row]: ...

    def __getitem__(self, index: int | slice) -> Row | list[Row]:
        ids = self._tree.ids
        if isinstance(index, slice):
            return [self._tree.row(i) for i in range(*index.indices(len(ids)))]
        if index < 0:
            index += len(ids)
        if not 0 <= index < len(ids):
            raise IndexError(index)
        return self._tree.row(index)


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
    """Groups and their processes, one row each; the cursor stays on the same process.

    Why one class of ~500 lines: Textual's Line API makes one ``ScrollView`` own its rows, its
    cursor and scrolling, its folding, its keys and mouse, and ``render_line``; every part reads
    the one flattened row list and the cursor, and each method is short. What needs no widget is
    already outside: the guides (:mod:`tractui.guides`), the rows a snapshot holds
    (:class:`tractui.snapshot.SnapshotRows`), the header, and the row formatting helpers here.
    Splitting the rest would put the row list behind an object that both halves reach into."""

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
        Binding(
            "left,minus",
            "collapse",
            "Collapse",
            show=False,
            id="tree.collapse",
            tooltip="Fold the row, a group header too (or click its ▾); on a leaf, go up",
        ),
        Binding(
            "right,plus",
            "expand",
            "Expand",
            show=False,
            id="tree.expand",
            tooltip="Unfold the row (or click its ▸)",
        ),
        Binding("asterisk", "expand_all", "Expand subtree", show=False, id="tree.expand_all"),
    ]

    cursor: reactive[int] = reactive(0, init=False)
    # what is shown, and in which order: a change rebuilds the rows (no caller has to)
    show_exited: var[bool] = var(True, init=False)
    filter_text: var[str] = var("", init=False)
    # siblings sorted by a column of SORTS ("tree": fork order), descending or not; one value,
    # so that a new sort rebuilds once
    order: var[tuple[str, bool]] = var(("tree", False), init=False)

    class Highlighted(Message):
        """The cursor moved to another row (or the row under it changed group)."""

        def __init__(self, row: Row | None) -> None:
            super().__init__()
            self.row = row

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.snapshot: Snapshot = EMPTY
        self.ids: list[RowId] = []  # every row shown, in order
        self.rows = Rows(self)
        self.collapsed: set[RowId] = set()
        self.search_text = ""
        self._cursor_id: RowId | None = None
        # the guides of the open processes (shown with their children), and the processes shown
        # (None: every one)
        self._guides: Guides[Key] = Guides(NARROW)
        self._shown_keys: Collection[Key] | None = None
        self._groups: dict[str, GroupRow] = {}
        self._previous: Mapping[Key, ProcRow] = {}  # the processes of the last flatten
        # what _repaint last saw on screen: the view, and its rows
        self._painted: tuple[tuple[Any, ...], list[Row | None]] = ((), [])

    # ---- model -------------------------------------------------------------------------------

    @property
    def current(self) -> Row | None:
        """The row under the cursor."""
        if 0 <= self.cursor < len(self.ids):
            return self.row(self.cursor)
        return None

    def index_of(self, row_id: RowId) -> int | None:
        """Where a row is shown; None if it is not."""
        try:
            return self.ids.index(row_id)
        except ValueError:
            return None

    def row(self, index: int) -> Row:
        """The row at ``index``, with its guides and fold mark."""
        row_id = self.ids[index]
        if isinstance(row_id, str):
            group = self._groups[row_id]
            return Row(row_id, row_id, info=group, fold="▸" if row_id in self.collapsed else "▾")
        proc = self.snapshot.procs[row_id]
        guide = self._guides.guide(row_id, proc.parent)
        if row_id in self._guides:
            fold = "▾"
        elif proc.children and row_id in self.collapsed and self._has_shown(proc.children):
            fold = "▸"
        else:
            fold = "─"
        return Row(row_id, proc.group, proc=proc, guide=guide, fold=fold)

    def _has_shown(self, keys: Iterable[Key]) -> bool:
        shown = self._shown_keys
        return shown is None or any(k in shown for k in keys)

    def update_snapshot(self, snapshot: Snapshot) -> None:
        """Redraw from a new snapshot, keeping the cursor on the same process."""
        self.snapshot = snapshot
        self.rebuild()

    def rebuild(self) -> None:
        """Flatten the snapshot into rows; put the cursor back on the row it was on."""
        old_id, old_index = self._cursor_id, self.cursor
        old_proc = self.snapshot_proc(old_id)
        self.ids = self._flatten()
        index = self.index_of(old_id) if old_id is not None else None
        if index is None and old_proc is not None:
            # the process was pruned or hidden: its nearest shown ancestor, else its group
            index = self._nearest_ancestor(old_proc)
        if index is None:
            index = min(old_index, len(self.ids) - 1)
        self._set_rows(len(self.ids))
        self._move(max(index, 0), scroll=old_id is not None and index != old_index)
        self._repaint()

    def _set_rows(self, count: int) -> None:
        """The scrollable height: ``count`` rows. Through the reactive only when the
        scrollbar shows or hides (that takes a layout anyway): at each snapshot it would
        repaint every line and lay the whole screen out again (as its rows come and go,
        thousands of processes change the count nearly every time). Otherwise the scrollbar's
        own sizes are set, and the lines are left to :meth:`_repaint`. Public API only (no
        ``_scroll_update``), so that the Textual pin can follow its releases."""
        size = Size(self.size.width, count)
        if size == self.virtual_size:
            return
        height = self.container_size.height
        if (count > height) != self.show_vertical_scrollbar:  # overflow-y: auto
            self.virtual_size = size
        else:
            self.set_reactive(ProcessTree.virtual_size, size)
            if self.show_vertical_scrollbar:
                bar = self.vertical_scrollbar
                bar.window_virtual_size = count
                bar.window_size = height - self.scrollbar_size_horizontal
        self.scroll_y = self.validate_scroll_y(self.scroll_y)  # fewer rows: the end moves up

    def _repaint(self) -> None:
        """Repaint the lines on screen whose rows changed since the last call; all of them if
        the view did (scrolled, cursor moved, resized, another search). A snapshot of
        thousands of processes changes a few of the rows on screen, and a row kept from one
        snapshot to the next is the same object (the session keeps unchanged rows)."""
        top = int(self.scroll_y)
        height = self.scrollable_content_region.height
        count = len(self.ids)
        view = (
            top,
            int(self.scroll_x),
            self.cursor,
            self.size,
            height,
            self.search_text,
            None if count else self.filter_text,  # no rows: a hint that names the filter
        )
        lines = [self.row(i) if i < count else None for i in range(top, top + height)]
        old_view, old_lines = self._painted
        self._painted = (view, lines)
        if view != old_view:
            self.refresh()
            return
        for y, (line, old) in enumerate(zip(lines, old_lines, strict=True)):
            if line != old:
                self.refresh_line(top + y)

    def snapshot_proc(self, row_id: RowId | None) -> ProcRow | None:
        """The process of a row ID, in the last snapshot or the one before (None: a group)."""
        if row_id is None or isinstance(row_id, str):
            return None
        return self.snapshot.procs.get(row_id) or self._previous.get(row_id)

    @property
    def sort(self) -> str:
        """The column siblings are sorted by ("tree": fork order)."""
        return self.order[0]

    @property
    def descending(self) -> bool:
        return self.order[1]

    def sort_by(self, sort: str, descending: bool) -> None:
        """Order siblings by a column of :data:`SORTS` ("tree": fork order), then redraw."""
        self.order = (sort, descending)

    def watch_show_exited(self) -> None:
        self._shown_changed()

    def watch_filter_text(self) -> None:
        self._shown_changed()

    def watch_order(self) -> None:
        self._shown_changed()

    def _shown_changed(self) -> None:
        if self.is_mounted:  # else there is nothing on screen yet: the first snapshot builds
            self.rebuild()

    def _nearest_ancestor(self, proc: ProcRow) -> int | None:
        parent = proc.parent
        while parent is not None:
            index = self.index_of(parent)
            if index is not None:
                return index
            row = self.snapshot_proc(parent)
            parent = row.parent if row is not None else None
        return self.index_of(proc.group)

    def _flatten(self) -> list[RowId]:
        """Every row shown, in order: each group's header, then its trees, walked by
        :func:`tractui.guides.walk`. Runs at every snapshot over tens of thousands of rows: a
        run of siblings without shown children is added in one ``extend``."""
        snapshot = self.snapshot
        procs = snapshot.procs
        needle = self.filter_text.lower()
        collapsed = self.collapsed
        order = self._order
        ids: list[RowId] = []
        guides: Guides[Key] = Guides(NARROW)
        self._previous = procs
        self._groups = {g.name: g for g in snapshot.groups}
        every = self.show_exited and not needle
        shown: set[Key] | None = None if every else self._shown(needle)
        branches = snapshot.branches
        # the processes that have a child with children: only below those is there a level
        # deeper than the next
        deep = {procs[b].parent for b in branches if b in procs}

        # a parent's children shown, in order (closed: none): _order, but in fork order (the
        # default) without a call to it per parent, which the walk makes for every one
        fork_order = self.sort == "tree" and not self.descending
        if fork_order and shown is None:

            def children(key: Key) -> Sequence[Key]:
                return () if key in collapsed else procs[key].children
        elif fork_order and shown is not None:

            def children(key: Key) -> Sequence[Key]:
                return () if key in collapsed else [k for k in procs[key].children if k in shown]
        else:

            def children(key: Key) -> Sequence[Key]:
                return () if key in collapsed else order(procs[key].children, shown)

        for group in snapshot.groups:
            if (
                needle
                and shown is not None
                and needle not in group.name.lower()
                and not any(k in shown for k in group.roots)
            ):
                continue  # nothing in it matches
            name = group.name
            ids.append(name)
            if name in collapsed:
                continue
            roots = order(group.roots, shown)
            walk(roots, children, ids, guides, branches=branches, deep=deep)
        self._guides = guides
        self._shown_keys = shown
        return ids

    def _shown(self, needle: str) -> set[Key]:
        """The processes to draw: exited ones only while shown, and with a filter only the
        matches; and the ancestors of those (the genealogy needs them)."""
        snapshot = self.snapshot
        procs = snapshot.procs
        if needle:
            show_exited = self.show_exited
            keep = {
                k
                for k, r in procs.items()
                if (r.alive or show_exited)
                and (needle in r.command.lower() or needle == str(r.pid))
            }
        else:
            keep = {k for k, r in procs.items() if r.alive}
        # an ancestor is a branch (a process with children): the deepest first, so that each
        # knows whether one of its children is kept before its parent asks
        branches = sorted(
            (procs[b] for b in snapshot.branches if b in procs and b not in keep),
            key=attrgetter("depth"),
            reverse=True,
        )
        for row in branches:
            if any(k in keep for k in row.children):
                keep.add(row.key)
        return keep

    def _order(self, keys: Iterable[Key], shown: Collection[Key] | None) -> list[Key]:
        """The shown ones of some siblings, in the sort order; ties stay in fork order."""
        procs = self.snapshot.procs
        # a snapshot's roots and children are all in it: only a filter leaves some out
        kept = list(keys) if shown is None else [k for k in keys if k in shown]
        sort = _SORT_KEYS.get(self.sort)
        if sort is None:
            return kept[::-1] if self.descending else kept
        column = sort[0]
        return sorted(kept, key=lambda k: column(procs[k]), reverse=self.descending)  # type: ignore[arg-type,return-value]

    # ---- cursor ------------------------------------------------------------------------------

    def _move(self, index: int, scroll: bool = True) -> None:
        ids = self.ids
        index = max(0, min(index, len(ids) - 1))
        changed_row = not 0 <= self.cursor < len(ids) or (
            0 <= index < len(ids) and ids[index] != self._cursor_id
        )
        self.cursor = index
        self._cursor_id = ids[index] if ids else None
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
        index = self.index_of(row_id)
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
        self._move(len(self.ids) - 1)

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
            if parent is None or not self.select(parent):
                self.select(row.group)

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
        row = self.row(index)
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
        ids, procs = self.ids, self.snapshot.procs
        count = len(ids)
        for step in range(count):
            index = (first + step) % count
            row_id = ids[index]
            if self._matches(row_id if isinstance(row_id, str) else procs[row_id]):
                self._move(index)
                self.refresh()
                return True
        self.refresh()
        return False

    def _matches(self, what: ProcRow | str) -> bool:
        """Whether a process (its command or PID) or a group (its name) matches the search."""
        needle = self.search_text
        if isinstance(what, str):
            return needle in what.lower()
        return needle in what.command.lower() or needle == str(what.pid)

    def on_click(self, event: events.Click) -> None:
        index = int(self.scroll_y) + event.y
        if not 0 <= index < len(self.ids):
            return
        self._move(index, scroll=False)
        row = self.row(index)
        fold_x = len(row.guide) + (COMMAND_X if row.proc is not None else 0)
        if event.x - self.scrollable_content_region.x + int(self.scroll_x) in (fold_x, fold_x + 1):
            self.toggle(index)

    def on_resize(self, event: events.Resize) -> None:
        self.virtual_size = Size(self.size.width, len(self.ids))

    # ---- rendering ---------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        index = int(self.scroll_y) + y
        width = self.scrollable_content_region.width
        base = self.rich_style
        if not self.ids and index == 1:
            hint = (
                f"  Nothing matches the filter {self.filter_text!r}: \\ edits it, Esc clears it."
                if self.filter_text
                else "  No groups yet: n launches a program into a group, a attaches running PIDs."
            )
            dim = self.get_component_rich_style("tree--dim")
            return Strip([Segment(hint, dim)]).adjust_cell_length(width, base)
        if not 0 <= index < len(self.ids):
            return Strip.blank(width, base)
        row = self.row(index)
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
                f"TIME {time_plus(round(group.cpu_time_s * 100))}  "
                f"RSS Σ {human_kb(group.rss_kb)}  forks {group.forks}  execs {group.execs}  "
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
        if self.search_text and self._matches(proc):
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
