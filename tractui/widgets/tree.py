"""The process tree: every group as a collapsible genealogical tree with htop's columns.

A Line-API ``ScrollView`` over a flattened list of row IDs: only the visible lines are rendered,
so a group of 10,000 processes costs a flatten (a list of keys, extended a whole run of leaves
at a time) per snapshot and ~40 line renders, not a widget per process (Textual's ``Tree``
re-measures every expanded node on each change; README). A row's guides and fold mark are
worked out when it is drawn, from the last shown child and the guide prefix the flatten keeps for
each open parent: a few hundred entries, not one per row.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from operator import attrgetter, itemgetter
from typing import Any, ClassVar, overload

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive, var
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Static

from tractui.guides import NARROW, Guides, walk
from tractui.kernel.threads import Thread
from tractui.model.changes import Key
from tractui.model.trend import HEADER_SPARK, HEADER_SPARK_MIN, header_spark
from tractui.snapshot import EMPTY, GroupRow, ProcRow, Snapshot, only_ours
from tractui.text import escape, human_kb
from tractui.widgets import columns
from tractui.widgets.columns import command_x, header_line, layout, time_plus


@dataclass(frozen=True, slots=True)
class ThreadId:
    """The row of a thread (H): its process's key and its thread ID."""

    key: Key
    tid: int


RowId = str | Key | ThreadId  # a group's name, a process's (pid, start), or a thread
TAG_MARK = "*"  # in the first cell of a tagged row (also coloured: the mark is for no colour)

# (column title, width): the columns before COMMAND shown by default on a wide terminal
COLUMNS: tuple[tuple[str, int], ...] = tuple((c.id, c.width) for c in layout(columns.WIDE))
# what rows can be sorted by: "tree" is fork order, the genealogy as it happened
SORTS: tuple[str, ...] = ("tree", *(c.id for c in columns.ALL), "GROUP", "COMMAND")
# each column's key and its natural direction (True: descending), as htop has them
_SORT_KEYS: dict[str, tuple[Callable[[ProcRow], object], bool]] = {
    **{c.id: (c.key, c.descending) for c in (*columns.ALL, columns.GROUP)},
    "COMMAND": (lambda r: r.command, False),
}
COMMAND_X = command_x(layout(columns.WIDE))
# how far either side of its old place the cursor's row is looked for first (see index_of)
NEAR_ROWS = 2_000
SCROLL_STEP = 8  # columns the COMMAND column scrolls sideways per key press


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
    thread: Thread | None = None  # a thread row (H): ``proc`` is its process


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


def header_text(sort: str, descending: bool = True, shown: tuple[str, ...] = columns.WIDE) -> str:
    """The column header line, the sort column marked ▼ (descending) or ▲ (ascending)."""
    return header_line(layout(shown), sort, descending)


class ProcessTree(ScrollView, can_focus=True):
    """Groups and their processes, one row each; the cursor stays on the same process.

    Why one class of ~700 lines: Textual's Line API makes one ``ScrollView`` own its rows, its
    cursor and scrolling (sideways too: the COMMAND column), its folding, its keys and mouse,
    and ``render_line``; every part reads the one flattened row list (a tree, or the flat list)
    and the cursor, and each method is short. What needs no widget is already outside: the
    guides (:mod:`tractui.guides`), the rows a snapshot holds
    (:class:`tractui.snapshot.SnapshotRows`), the columns and their cells
    (:mod:`tractui.widgets.columns`), the header, and the row formatting helpers here.
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
        "tree--tagged",
        "tree--thread",
        "tree--spark",
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
        Binding(
            "underscore",
            "fold_everything",
            "Collapse all",
            show=False,
            id="tree.collapse_all",
            tooltip="Fold every group and every subtree",
        ),
        Binding(
            "equals_sign",
            "unfold_everything",
            "Expand all",
            show=False,
            id="tree.expand_everything",
            tooltip="Unfold every group and every subtree",
        ),
        Binding(
            "shift+left",
            "scroll_command(-1)",
            "Scroll left",
            show=False,
            id="tree.scroll_left",
            tooltip="Scroll the COMMAND column sideways (also the mouse's horizontal wheel)",
        ),
        Binding(
            "shift+right",
            "scroll_command(1)",
            "Scroll right",
            show=False,
            id="tree.scroll_right",
            tooltip="Scroll the COMMAND column sideways, to a deep tree's commands",
        ),
    ]

    cursor: reactive[int] = reactive(0, init=False)
    # what is shown, and in which order: a change rebuilds the rows (no caller has to)
    show_exited: var[bool] = var(True, init=False)
    filter_text: var[str] = var("", init=False)
    # siblings sorted by a column of SORTS ("tree": fork order), descending or not; one value,
    # so that a new sort rebuilds once
    order: var[tuple[str, bool]] = var(("tree", False), init=False)
    user_filter: var[str] = var("", init=False)  # u: only this user's processes ("": all)
    show_threads: var[bool] = var(False, init=False)  # H: thread rows under their process
    # the columns the user chose (F2), in order; None: the default for the width
    chosen_columns: var[tuple[str, ...] | None] = var(None, init=False)
    flat: var[bool] = var(False, init=False)  # a flat list of every process, not the tree
    show_path: var[bool] = var(True, init=False)  # argv[0]'s directory in COMMAND (p)
    command_offset: var[int] = var(0, init=False)  # COMMAND scrolled sideways by this much

    class Highlighted(Message):
        """The cursor moved to another row (or the row under it changed group)."""

        def __init__(self, row: Row | None) -> None:
            super().__init__()
            self.row = row

    class HeaderClicked(Message):
        """A click on the column header, on the column ``sort`` (a name of :data:`SORTS`)."""

        def __init__(self, sort: str) -> None:
            super().__init__()
            self.sort = sort

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.snapshot: Snapshot = EMPTY
        self.ids: list[RowId] = []  # every row shown, in order
        self._spare_ids: list[RowId] | None = None  # the rows before: see _fresh_ids
        self.reused_ids = 0  # how many rebuilds filled that list again (tests)
        self.rows = Rows(self)
        self.collapsed: set[RowId] = set()
        self.search_text = ""
        self._cursor_id: RowId | None = None
        # the guides of the open processes (shown with their children), and the processes shown
        # (None: every one)
        self._guides: Guides[Key] = Guides(NARROW)
        self._shown_keys: Collection[Key] | None = None
        self._groups: dict[str, GroupRow] = {}
        # each group's header sparkline: of which history, in how many cells
        self._sparks: dict[str, tuple[tuple[float, ...], int, str]] = {}
        self._previous: Mapping[Key, ProcRow] = {}  # the processes of the last flatten
        # what _repaint last saw on screen: the view, and its rows
        self._painted: tuple[tuple[Any, ...], list[Row | None]] = ((), [])
        # tagged processes (Space, c; U clears): by key, so a reused PID is not tagged; one
        # that exits stays tagged while it is in the snapshot
        self.tagged: set[Key] = set()
        self.following: Key | None = None  # F: the cursor stays on it; a move key stops it
        self._threaded: set[Key] = set()  # the processes shown with thread rows
        self.header: Static | None = None  # the column header above (ColumnHeader)
        # the columns shown, their cells' text (one function per layout: render_line is on
        # the hot path), and where COMMAND starts
        self.column_layout: tuple[columns.Column, ...] = ()
        self._cells: Callable[[ProcRow], str] = columns.cells_text(())
        self.command_x = 0
        self._paint: tuple[Style, int] | None = None  # while render_lines runs: see there
        self._relayout()

    # ---- model -------------------------------------------------------------------------------

    @property
    def current(self) -> Row | None:
        """The row under the cursor."""
        if 0 <= self.cursor < len(self.ids):
            return self.row(self.cursor)
        return None

    def index_of(self, row_id: RowId, near: int | None = None) -> int | None:
        """Where a row is shown; None if it is not. ``near``: where it is likely to be (where
        it was before a snapshot): looked for around there first, NEAR_ROWS either side, then
        everywhere. The cursor's row is found again at each snapshot: at its old place after
        End in a tree of 60,000 rows, a search from the top compared them all (2.5 ms of the
        rebuild's 8), where the rows above it moved by the few that came and went."""
        ids = self.ids
        try:
            if near is not None:
                with contextlib.suppress(ValueError):
                    return ids.index(row_id, max(0, near - NEAR_ROWS), near + NEAR_ROWS + 1)
            return ids.index(row_id)
        except ValueError:
            return None

    def row(self, index: int) -> Row:
        """The row at ``index``, with its guides and fold mark."""
        row_id = self.ids[index]
        if isinstance(row_id, str):
            group = self._groups[row_id]
            return Row(row_id, row_id, info=group, fold="▸" if row_id in self.collapsed else "▾")
        if isinstance(row_id, ThreadId):
            return self._thread_row(index, row_id)
        proc = self.snapshot.procs[row_id]
        if self.flat:
            return Row(row_id, proc.group, proc=proc, fold="")
        guide = self._guides.guide(row_id, proc.parent)
        if row_id in self._guides or row_id in self._threaded:
            fold = "▾"
        elif row_id in self.collapsed and (
            (proc.children and self._has_shown(proc.children))
            or (self.show_threads and row_id in self.snapshot.threads)
        ):
            fold = "▸"
        else:
            fold = "─"
        return Row(row_id, proc.group, proc=proc, guide=guide, fold=fold)

    def _thread_row(self, index: int, row_id: ThreadId) -> Row:
        """A thread's row: below its process, before the process's children, with guides
        that go on to them (or end at its last thread)."""
        proc = self.snapshot.procs[row_id.key]
        thread = next(t for t in self.snapshot.threads[row_id.key] if t.tid == row_id.tid)
        own = self._guides.guide(proc.key, proc.parent)
        style = NARROW
        base = own[:-2] + (style.blank if own.endswith(style.corner) else style.pipe) if own else ""
        following = self.ids[index + 1] if index + 1 < len(self.ids) else None
        more = proc.key in self._guides or (
            isinstance(following, ThreadId) and following.key == proc.key
        )
        guide = base + (style.tee if more else style.corner)
        return Row(row_id, proc.group, proc=proc, guide=guide, fold="·", thread=thread)

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
        procs = self.snapshot.procs
        if self.tagged:  # a tagged process pruned (or a PID reused: another key) is untagged
            self.tagged.intersection_update(procs)
        if self.following is not None:
            if self.following in procs:
                # back on it once a fold or a filter shows it again (meanwhile: its ancestor)
                old_id = self.following
            else:
                self.following = None
        old_proc = self.snapshot_proc(old_id)
        shown = self.ids
        self.ids = self._with_threads(self._flatten())
        self._spare_ids = shown
        index = self.index_of(old_id, near=old_index) if old_id is not None else None
        if index is None and isinstance(old_id, ThreadId):
            index = self.index_of(old_id.key)  # a thread ended, or threads hidden: its process
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
            self.column_layout,
            self.command_offset,
            self.show_path,
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

    def on_screen(self) -> tuple[Key, ...]:
        """The processes whose rows are on the screen now (a thread's row: its process)."""
        top = int(self.scroll_y)
        keys: dict[Key, None] = {}  # a process once, however many of its threads show
        for row_id in self.ids[top : top + self.scrollable_content_region.height]:
            if isinstance(row_id, ThreadId):
                keys[row_id.key] = None
            elif isinstance(row_id, tuple):
                keys[row_id] = None
        return tuple(keys)

    def snapshot_proc(self, row_id: RowId | None) -> ProcRow | None:
        """The process of a row ID, in the last snapshot or the one before (None: a group)."""
        if row_id is None or isinstance(row_id, str):
            return None
        if isinstance(row_id, ThreadId):
            row_id = row_id.key  # a thread: its process
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
        self._show_header()
        self._shown_changed()

    def watch_user_filter(self) -> None:
        self._shown_changed()

    def watch_show_threads(self) -> None:
        self._shown_changed()

    def _with_threads(self, ids: list[RowId]) -> list[RowId]:
        """With thread rows (H): each shown multi-threaded process's threads right below it
        (none while it is folded)."""
        threads = self.snapshot.threads if self.show_threads else {}
        self._threaded = set()
        if not threads:
            return ids
        collapsed, threaded = self.collapsed, self._threaded
        out: list[RowId] = []
        append, extend = out.append, out.extend
        for row_id in ids:
            append(row_id)
            if isinstance(row_id, tuple) and row_id in threads and row_id not in collapsed:
                extend(ThreadId(row_id, t.tid) for t in threads[row_id])
                threaded.add(row_id)
        return out

    def watch_flat(self) -> None:
        self.command_offset = 0  # the other view's rows: from their start
        self._relayout()
        self._shown_changed()

    def watch_chosen_columns(self) -> None:
        self._relayout()

    def watch_show_path(self) -> None:
        self.refresh()

    def watch_command_offset(self) -> None:
        self._show_header()
        self.refresh()

    # ---- columns -----------------------------------------------------------------------------

    @property
    def column_ids(self) -> tuple[str, ...]:
        """The columns shown before COMMAND (GROUP aside): the user's choice, else the
        default for the width."""
        chosen = self.chosen_columns
        return chosen if chosen is not None else columns.default_ids(self.size.width)

    def _relayout(self) -> None:
        """Pick the columns shown and their cells' formatters (again when they or the width
        change), and redraw the header and the rows if they changed."""
        shown = columns.layout(self.column_ids, self.flat, self.size.width)
        if shown == self.column_layout:
            return
        self.column_layout = shown
        self._cells = columns.cells_text(shown)
        self.command_x = columns.command_x(shown)
        self._show_header()
        self.refresh()

    def header_text(self) -> str:
        return header_line(self.column_layout, self.sort, self.descending, self.command_offset)

    def _show_header(self) -> None:
        if self.header is not None:
            self.header.update(self.header_text())

    def column_at(self, x: int) -> str | None:
        """The column under ``x`` on the header."""
        return columns.column_at(self.column_layout, x)

    def _tail_width(self, row: Row) -> int:
        """The cells after the columns on a process's row: guides, status, command."""
        proc = row.proc
        if proc is None:
            return 0
        width = len(row.guide) + len(row.fold) + (1 if row.fold else 0) + len(proc.command)
        if not self.show_path:
            width -= proc.path_len
        if not proc.alive:
            width += len(proc.status) + 3 + (len(", by you") if proc.by_you else 0)
        if proc.reparented:
            width += len(f"  [reparented to {proc.ppid}]")
        return width

    def action_scroll_command(self, direction: int) -> None:
        """Scroll the COMMAND column sideways (the columns before it stay), up to where the
        longest row on screen ends at the right edge."""
        top = int(self.scroll_y)
        height = self.scrollable_content_region.height
        rows = [self.row(i) for i in range(top, min(top + height, len(self.ids)))]
        longest = max((self._tail_width(r) for r in rows), default=0)
        room = self.scrollable_content_region.width - self.command_x
        most = max(0, longest - room)
        offset = max(0, min(most, self.command_offset + direction * SCROLL_STEP))
        if direction > 0 and offset < self.command_offset:
            offset = self.command_offset  # scrolled further earlier (a longer row then)
        self.command_offset = offset

    def on_mouse_scroll_left(self, event: events.MouseScrollLeft) -> None:
        event.stop()
        self.action_scroll_command(-1)

    def on_mouse_scroll_right(self, event: events.MouseScrollRight) -> None:
        event.stop()
        self.action_scroll_command(1)

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
        user = self.user_filter
        collapsed = self.collapsed
        order = self._order
        guides: Guides[Key] = Guides(NARROW)
        self._previous = procs
        self._groups = {g.name: g for g in snapshot.groups}
        if len(self._sparks) > len(self._groups):  # a group went
            self._sparks = {g: s for g, s in self._sparks.items() if g in self._groups}
        ids = self._fresh_ids()
        if self.flat:
            self._guides = guides
            self._shown_keys = None
            return self._flat(needle, ids)
        every = self.show_exited and not needle and not user
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
                (needle or user)
                and shown is not None
                and (user or needle not in group.name.lower())
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

    def _fresh_ids(self) -> list[RowId]:
        """An empty list for the rows: the one of two rebuilds ago when nothing else holds it.
        Tens of thousands of rows in a new list at every snapshot made it one of the biggest
        young objects that each garbage collection walks (one reference a row); an old list
        filled again is not walked (the rows' dict of the snapshot is kept likewise:
        SnapshotRows._publish_rows)."""
        ids, self._spare_ids = self._spare_ids, None
        if ids is None or not only_ours(ids):  # (the list on the screen is held: never)
            return []
        self.reused_ids += 1
        ids.clear()
        return ids

    def _flat(self, needle: str, keys: list[RowId]) -> list[RowId]:
        """The flat list (F5) in ``keys`` (empty): every process of every group shown, in one
        list sorted by the sort column (by start time in fork order); no group headers, no
        ancestors kept."""
        procs = self.snapshot.procs
        show_exited = self.show_exited
        user = self.user_filter
        if needle or user:
            keys.extend(
                k
                for k, r in procs.items()
                if (r.alive or show_exited)
                and (not needle or needle in r.command.lower() or needle == str(r.pid))
                and (not user or r.user == user)
            )
        elif show_exited:
            keys.extend(procs)
        else:
            keys.extend(k for k, r in procs.items() if r.alive)
        sort = _SORT_KEYS.get(self.sort)
        if sort is None:
            keys.sort(key=itemgetter(1, 0), reverse=self.descending)  # type: ignore[arg-type]
        else:
            column = sort[0]
            # ties by PID, as htop breaks them, and the same at every snapshot: the order the
            # rows come in may change from one to the next (SnapshotRows._publish_rows)
            keys.sort()
            keys.sort(key=lambda k: column(procs[k]), reverse=self.descending)  # type: ignore[arg-type,index,return-value]
        return keys

    def _shown(self, needle: str) -> set[Key]:
        """The processes to draw: exited ones only while shown, and with a filter only the
        matches; and the ancestors of those (the genealogy needs them)."""
        snapshot = self.snapshot
        procs = snapshot.procs
        user = self.user_filter
        if needle or user:
            show_exited = self.show_exited
            keep = {
                k
                for k, r in procs.items()
                if (r.alive or show_exited)
                and (not needle or needle in r.command.lower() or needle == str(r.pid))
                and (not user or r.user == user)
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
        self.following = None  # any move key stops following (F)
        self._move(self.cursor + step)

    def action_page(self, direction: int) -> None:
        self.following = None
        height = max(1, self.scrollable_content_region.height - 1)
        self._move(self.cursor + direction * height)

    def action_first(self) -> None:
        self.following = None
        self._move(0)

    def action_last(self) -> None:
        self.following = None
        self._move(len(self.ids) - 1)

    # ---- tags and following ------------------------------------------------------------------

    def toggle_tag(self) -> None:
        """Space: tag or untag the process under the cursor (a thread row: its process), then
        move down, as htop does."""
        row = self.current
        if row is not None and row.proc is not None:
            self.tagged.symmetric_difference_update((row.proc.key,))
        self.action_cursor(1)
        self.refresh()

    def tag_subtree(self) -> int:
        """c: tag the process under the cursor and its descendants; how many were tagged."""
        row = self.current
        if row is None or row.proc is None:
            return 0
        procs = self.snapshot.procs
        stack = [row.proc.key]
        count = 0
        while stack:
            key = stack.pop()
            proc = procs.get(key)
            if proc is None:
                continue
            self.tagged.add(key)
            count += 1
            stack.extend(proc.children)
        self.refresh()
        return count

    def untag_all(self) -> int:
        """U: untag every process; how many were tagged."""
        count = len(self.tagged)
        self.tagged.clear()
        self.refresh()
        return count

    def follow(self) -> Key | None:
        """F: follow the process under the cursor (a thread row: its process), or stop
        following it; what is followed now."""
        row = self.current
        if self.following is not None or row is None or row.proc is None:
            self.following = None
        else:
            self.following = row.proc.key
            self.select(row.proc.key)
        return self.following

    def action_collapse(self) -> None:
        """Fold the row; on a leaf or a folded row, go to its parent (as htop's ← does). In
        the flat list, nothing folds: scroll the COMMAND column left."""
        if self.flat:
            self.action_scroll_command(-1)
            return
        row = self.current
        if row is None:
            return
        if row.fold == "▾":
            self.collapsed.add(row.id)
            self.rebuild()
        elif row.thread is not None and row.proc is not None:
            self.following = None
            self.select(row.proc.key)  # a thread row: up to its process
        elif row.proc is not None:
            self.following = None
            parent = row.proc.parent
            if parent is None or not self.select(parent):
                self.select(row.group)

    def action_expand(self) -> None:
        if self.flat:  # nothing unfolds: scroll the COMMAND column right
            self.action_scroll_command(1)
            return
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

    def action_fold_everything(self) -> None:
        """Fold every group and every process with children (htop's collapse all)."""
        folded: set[RowId] = {g.name for g in self.snapshot.groups}
        folded.update(self.snapshot.branches)
        self.collapsed = folded
        self.rebuild()

    def action_unfold_everything(self) -> None:
        self.collapsed = set()
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
            if isinstance(row_id, ThreadId):
                continue  # the search finds processes and groups
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
        self.following = None
        self._move(index, scroll=False)
        row = self.row(index)
        if not row.fold:
            return  # the flat list: nothing folds
        fold_x = len(row.guide)
        if row.proc is not None:
            fold_x += self.command_x - self.command_offset
            if fold_x < self.command_x:
                return  # scrolled out of sight
        if event.x - self.scrollable_content_region.x + int(self.scroll_x) in (fold_x, fold_x + 1):
            self.toggle(index)

    def on_resize(self, event: events.Resize) -> None:
        self.virtual_size = Size(self.size.width, len(self.ids))
        self._relayout()
        # a smaller terminal keeps the cursor's row on the screen (as htop): k, Enter and F
        # act on it. Once laid out at the new height
        self.call_after_refresh(self.scroll_to_cursor)

    # ---- rendering ---------------------------------------------------------------------------

    def render_lines(self, crop: Region) -> list[Strip]:
        # what every line of one paint shares, worked out once, not at each line: rich_style
        # walks the styles of every ancestor, and the content region is made at each access
        self._paint = (self.rich_style, self.scrollable_content_region.width)
        try:
            return super().render_lines(crop)
        finally:
            self._paint = None

    def render_line(self, y: int) -> Strip:
        index = int(self.scroll_y) + y
        base, width = self._paint or (self.rich_style, self.scrollable_content_region.width)
        if not self.ids and index == 1:
            if self.filter_text:
                hint = (
                    f"  Nothing matches the filter {self.filter_text!r}: \\ edits it, "
                    "Esc clears it."
                )
            elif self.flat and self.snapshot.groups:
                hint = "  No processes to list: F5 or t shows the tree of the groups."
            else:
                hint = (
                    "  No groups yet: n launches a program into a group, a attaches running PIDs."
                )
            dim = self.get_component_rich_style("tree--dim")
            return Strip([Segment(hint, dim)]).adjust_cell_length(width, base)
        if not 0 <= index < len(self.ids):
            return Strip.blank(width, base)
        row = self.row(index)
        if row.info is not None:
            segments = self._group_segments(row, width)
        elif row.thread is not None:
            segments = self._proc_segments(self._thread_view(row))
        else:
            segments = self._proc_segments(row)
            if row.proc is not None and row.proc.key in self.tagged:
                segments = self._tag(segments)
        style = base
        if index == self.cursor:
            # the cursor's background across the whole row, over every cell's own (apply_style
            # would put it beneath them); the cells keep their colours
            style = base + self.get_component_rich_style("tree--cursor")
            over = Style(bgcolor=style.bgcolor)
            segments = [Segment(text, (s or Style()) + over) for text, s, _ in segments]
        # no apply_offsets: its offsets serve Textual's text selection, which the tree does
        # not offer (a click is placed by its own x and y), and they cost a fifth of a line
        return Strip(segments).apply_style(style).adjust_cell_length(width, style)

    def _tag(self, segments: list[Segment]) -> list[Segment]:
        """A tagged row: the mark in its first cell, and the tagged colour over its cells."""
        tag = self.get_component_rich_style("tree--tagged")
        rest = Strip(segments).crop(len(TAG_MARK))
        return [Segment(TAG_MARK, tag), *(Segment(t, (s or Style()) + tag) for t, s, _ in rest)]

    @staticmethod
    def _thread_view(row: Row) -> Row:
        """A thread row drawn with its process's columns: its TID, state, CPU% and TIME+,
        and its name as the command; the memory columns are the process's (shared)."""
        proc, thread = row.proc, row.thread
        assert proc is not None and thread is not None
        shown = replace(
            proc,
            pid=thread.tid,
            state=thread.state,
            cpu=thread.cpu,
            ticks=thread.ticks,
            command=escape(thread.comm),
            path_len=0,  # a thread's name has no path for p to hide
            children=(),
            reparented=False,
        )
        return replace(row, proc=shown)

    def _group_segments(self, row: Row, width: int) -> list[Segment]:
        group = row.info
        assert group is not None
        style = self.get_component_rich_style("tree--group")
        dim = self.get_component_rich_style("tree--dim")
        failed = self.get_component_rich_style("tree--failed")
        # what a narrow terminal cuts last comes first: live/total, failures, the last outcome
        parts = [
            Segment(f"{row.fold} {group.name}", style),
            Segment(f"  {group.live}/{group.total} live", dim),
        ]
        if group.failed:
            parts.append(Segment(f"  {group.failed} failed", failed))
        if group.ended_by_you:
            parts.append(Segment(f"  {group.ended_by_you} ended by you", dim))
        if group.last_outcome:  # what the program launched last did
            last = failed if group.last_failed else dim
            parts.append(Segment(f"  last: {group.last_outcome}", last))
        # then the figures, each whole or not at all (a narrow terminal cut "exits 4" to
        # "exits", or "TIME 0:00." mid-number): those that fit, in this order
        fields = (
            f"CPU {group.cpu:.1f}%",
            f"TIME {time_plus(round(group.cpu_time_s * 100))}",
            f"RSS Σ {human_kb(group.rss_kb)}",
            f"forks {group.forks}",
            f"execs {group.execs}",
            f"exits {group.exits}",
        )
        room = width - Strip(parts).cell_length
        shown: list[str] = []
        for text in fields:
            if len(text) + 2 > room:  # one cell a character: Σ too
                break
            shown.append(text)
            room -= len(text) + 2
        if not shown:
            return parts
        cpu, rest = "  " + shown[0], "".join("  " + text for text in shown[1:])
        # its CPU% of the last 10 minutes after the CPU, in the room the row leaves (up to 20
        # cells, at least 8) once every figure is shown: it never pushes one off
        history = group.cpu_history
        cells = min(HEADER_SPARK, room - 1)
        if history and len(shown) == len(fields) and cells >= HEADER_SPARK_MIN:
            spark = self._spark(group.name, history, cells)
            pad = " " * (1 + cells - len(spark))  # the newest point at the right
            parts.append(Segment(cpu + pad, dim))
            parts.append(Segment(spark, self.get_component_rich_style("tree--spark")))
            parts.append(Segment(rest, dim))
        else:
            parts.append(Segment(cpu + rest, dim))
        return parts

    def _spark(self, group: str, history: tuple[float, ...], cells: int) -> str:
        """A group's header sparkline, drawn once a sampling round (and width), not at each
        paint: the session hands the same history tuple until the next round."""
        cached = self._sparks.get(group)
        if cached is not None and cached[0] is history and cached[1] == cells:
            return cached[2]
        spark = header_spark(history, cells)
        self._sparks[group] = (history, cells, spark)
        return spark

    def _proc_segments(self, row: Row) -> list[Segment]:
        proc = row.proc
        assert proc is not None
        exited = not proc.alive
        text_style = self.get_component_rich_style("tree--exited") if exited else Style()
        guide_style = self.get_component_rich_style("tree--guide")
        fixed = Segment(self._cells(proc), text_style)
        segments = [Segment(row.guide + row.fold + " ", guide_style)] if row.fold else []
        if exited:
            # before the command, so a narrow terminal cuts the command, not the status
            status = self.get_component_rich_style("tree--failed" if proc.failed else "tree--dim")
            by_you = ", by you" if proc.by_you else ""  # a signal sent from tractui ended it
            segments.append(Segment(f"[{proc.status}{by_you}] ", status))
        command_style = text_style
        if row.thread is not None:
            command_style = self.get_component_rich_style("tree--thread")
        elif self.search_text and self._matches(proc):
            command_style = self.get_component_rich_style("tree--match")
        command = proc.command if self.show_path else proc.command[proc.path_len :]
        segments.append(Segment(command, command_style))
        if proc.reparented:
            segments.append(
                Segment(
                    f"  [reparented to {proc.ppid}]",
                    self.get_component_rich_style("tree--reparented"),
                )
            )
        offset = self.command_offset
        if offset:  # the COMMAND column scrolled sideways; the columns before it stay
            segments = list(Strip(segments).crop(offset))
        return [fixed, *segments]


class ColumnHeader(Static):
    """The column header above the tree: the tree's columns, its sort marked; a click on a
    column sorts by it (the tree posts :class:`ProcessTree.HeaderClicked`)."""

    def __init__(self, tree: ProcessTree, *, id: str | None = None) -> None:
        super().__init__(tree.header_text(), id=id, markup=False)
        self.process_tree = tree
        tree.header = self

    def on_click(self, event: events.Click) -> None:
        sort = self.process_tree.column_at(event.x)
        if sort is not None:
            self.process_tree.post_message(ProcessTree.HeaderClicked(sort))
