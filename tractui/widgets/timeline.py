"""The timeline of one group: each process a bar from its start to its end on one time axis.

A Line-API ``ScrollView``, as the process tree is: its rows are the group's processes in tree
order (the genealogy, walked by :func:`tractui.guides.walk`), kept as a list of keys; only the
lines on screen are drawn, each from its :class:`~tractui.snapshot.ProcRow` when asked for. The
first three lines (a title, the tick labels, the axis) and the last (the legend) stay put while
the rows scroll between them.

What the view shows of time is two numbers: a span (seconds across the bars; None: fit every
bar) and a right edge (None: now, so the view follows time as processes live on). The pure
parts (outcomes, ticks, a bar's cells) are functions, tested without a screen.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tractui.guides import NARROW, Guides, walk
from tractui.model.changes import Key
from tractui.snapshot import EMPTY, ProcRow, Snapshot

# a process's outcome: its bar's fill (told apart without colour too) and the legend's word
RUNNING, EXIT_0, FAILED, SIGNALLED, GONE = "running", "exit 0", "failed", "signalled", "gone"
FILL = {RUNNING: "█", EXIT_0: "▒", FAILED: "x", SIGNALLED: "!", GONE: "?"}
EXEC_MARK = "◆"  # where the process exec'd, on its bar
HEAD = 3  # lines above the rows: title, tick labels, axis
FOOT = 1  # below them: the legend
MIN_CELL = 0.001  # the finest zoom: a millisecond a column
MAX_SPAN = 90 * 86400.0  # the widest: 90 days across
# tick steps, seconds: the finest whose labels do not touch is used
STEPS = (
    *(m * 10.0**e for e in range(-3, 1) for m in (1, 2, 5)),
    *(10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0),
    *(3600.0 * h for h in (1, 2, 3, 6, 12, 24, 48, 168)),
)


def outcome(row: ProcRow) -> str:
    """How a process ended (RUNNING while it runs): from its status ("exit 3", "SIGKILL",
    "exit 0, zombie", "gone": ended unseen)."""
    if row.alive:
        return RUNNING
    status = row.status.split(",", 1)[0]
    if status == "exit 0":
        return EXIT_0
    if status.startswith("exit "):
        return FAILED
    return GONE if status == "gone" else SIGNALLED


def label_format(step: float) -> tuple[str, int]:
    """The strftime format of a tick's label for ticks ``step`` seconds apart, and how many
    decimals of the second follow it."""
    if step >= 86400:
        return "%b %d", 0
    if step >= 60:
        return "%H:%M", 0
    if step >= 1:
        return "%H:%M:%S", 0
    return "%H:%M:%S", 1 if step >= 0.1 else 2 if step >= 0.01 else 3


def tick_label(at: float, step: float) -> str:
    fmt, decimals = label_format(step)
    if not decimals:
        return time.strftime(fmt, time.localtime(at))
    whole, fraction = divmod(round(at * 10**decimals), 10**decimals)
    return time.strftime(fmt, time.localtime(whole)) + f".{fraction:0{decimals}d}"


def ticks(start: float, cell: float, width: int) -> tuple[float, list[tuple[int, str]]]:
    """The ticks of a view ``width`` columns of ``cell`` seconds from ``start``: their step,
    and each tick's column and label. Steps are whole in local time (hours, days)."""
    step = STEPS[-1]
    for candidate in STEPS:
        fmt, decimals = label_format(candidate)
        wide = len(time.strftime(fmt, time.localtime(start))) + (decimals + 1 if decimals else 0)
        if candidate / cell >= wide + 2:
            step = candidate
            break
    offset = time.localtime(start).tm_gmtoff if step >= 3600 else 0
    first = math.ceil((start + offset) / step) * step - offset
    out: list[tuple[int, str]] = []
    at = first
    end = start + cell * width
    while at < end and len(out) <= width:
        # a thousandth of a column more: the float error of a round time near 1.7e9 s
        out.append((int((at - start) / cell + 1e-3), tick_label(at, step)))
        at = first + len(out) * step
    return step, out


def bar_cells(
    begin: float, end: float, execs: Sequence[float], start: float, cell: float, width: int
) -> tuple[int, int, list[int]]:
    """The columns of a bar from ``begin`` to ``end`` in a view of ``width`` columns from
    ``start``: its first and last (at least one column; clipped to the view: first > last
    when it lies outside, -1 then if left of it), and the columns of its execs in the view,
    in order. The bar's last column is never a mark: a bar one column wide (a process that
    lived less than a column) shows how it ended, not that it exec'd."""
    x0 = math.floor((begin - start) / cell)
    x1 = max(x0, math.floor((end - start) / cell))
    if x1 < 0:
        return -1, -2, []
    if x0 >= width:
        return width, width - 1, []
    marks = [math.floor((t - start) / cell) for t in execs]
    last = x1  # its own last column shows the outcome's fill, never a mark
    x0, x1 = max(x0, 0), min(x1, width - 1)
    return x0, x1, sorted({x for x in marks if x0 <= x <= x1 and x != last})


def duration_text(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    if seconds < 86400 * 2:
        return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"
    return f"{seconds / 86400:.1f} days"


@dataclass(frozen=True, slots=True)
class Frame:
    """The view of time of one drawing: the bars' columns, now, the time at the left edge,
    the seconds per column, the ticks and the bars' background (a dot under each tick), and
    the widget's style."""

    width: int
    now: float
    start: float
    cell: float
    marks: list[tuple[int, str]]
    grid: str
    base: Style  # the widget's own style (Textual works it out anew at each ask)


class Timeline(ScrollView, can_focus=True):
    """The bars of one group's processes, a cursor on one of them, a view of time to zoom and
    pan. Why ~350 lines in one class: as the process tree, Textual's Line API makes one widget
    own its rows, cursor, scrolling, keys and ``render_line``; the parts with no screen (the
    ticks, a bar's columns, outcomes) are the module's functions."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "timeline--cursor",
        "timeline--title",
        "timeline--axis",
        "timeline--grid",
        "timeline--running",
        "timeline--ok",
        "timeline--failed",
        "timeline--signalled",
        "timeline--gone",
        "timeline--exec",
        "timeline--dim",
    }
    _STYLE_OF: ClassVar[dict[str, str]] = {
        RUNNING: "timeline--running",
        EXIT_0: "timeline--ok",
        FAILED: "timeline--failed",
        SIGNALLED: "timeline--signalled",
        GONE: "timeline--gone",
    }

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "first", "First", show=False),
        Binding("end", "last", "Last", show=False),
        Binding("plus,equals_sign,z", "zoom(0.5)", "Zoom in", key_display="+ z"),
        Binding("minus,Z", "zoom(2)", "Zoom out", key_display="- Z"),
        Binding("left,h", "pan(-1)", "Pan", key_display="← →"),
        Binding("right,l", "pan(1)", "Pan later", show=False),
        Binding("f,0", "fit", "Fit all"),
    ]

    cursor: reactive[int] = reactive(0, init=False)

    class Moved(Message):
        """The cursor moved to another process."""

        def __init__(self, key: Key) -> None:
            super().__init__()
            self.key = key

    def __init__(
        self, group: str, clock: Callable[[], float] = time.time, *, id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self.group = group
        self.clock = clock  # now, on the wall clock (a replay's stands still)
        self.snapshot: Snapshot = EMPTY
        self.keys: list[Key] = []  # the rows, in tree order
        self._guides: Guides[Key] = Guides(NARROW)
        self._cursor_key: Key | None = None
        self.span: float | None = None  # seconds across the bars; None: fit them all
        self.right: float | None = None  # the view's right edge; None: now (it follows)
        self._first = 0.0  # the earliest start (wall clock)
        self._last: float | None = None  # the latest end; None while one runs
        self.running = 0
        self.gone = False  # the group is no more (removed, renamed)
        self._frame: Frame | None = None

    # ---- model -------------------------------------------------------------------------------

    @property
    def current(self) -> ProcRow | None:
        if 0 <= self.cursor < len(self.keys):
            return self.snapshot.procs.get(self.keys[self.cursor])
        return None

    def update_snapshot(
        self, snapshot: Snapshot, select: Key | None = None, quiet: bool = False
    ) -> None:
        """Rebuild the rows from a new snapshot; the cursor stays on its process (or goes to
        ``select``), else on the row where it was. ``quiet``: no :class:`Moved` for where it
        lands (the first placement: the tree's cursor stays where the user left it)."""
        before = self.snapshot.procs
        self.snapshot = snapshot
        procs = snapshot.procs
        group = next((g for g in snapshot.groups if g.name == self.group), None)
        self.gone = group is None
        keys: list[Key] = []
        guides: Guides[Key] = Guides(NARROW)
        if group is not None:
            branches = snapshot.branches
            deep = {procs[b].parent for b in branches if b in procs}
            walk(
                group.roots, lambda k: procs[k].children, keys, guides, branches=branches, deep=deep
            )
        self.keys, self._guides = keys, guides
        if group is not None:
            self._extent(group.roots, group.live)
        else:
            self._extent((), 0)
        want = select if select is not None else self._cursor_key
        index = self.cursor
        if want is not None and want in procs:
            with contextlib.suppress(ValueError):
                index = keys.index(want)
        elif want is not None and want in before:  # pruned: its nearest ancestor still here
            found = self._ancestor_index(before[want].parent, before)
            index = found if found is not None else index
        self.virtual_size = Size(self.size.width, len(keys) + HEAD + FOOT)
        self._move(index, scroll=select is not None, tell=not quiet)
        self.refresh()

    def _ancestor_index(self, parent: Key | None, before: Mapping[Key, ProcRow]) -> int | None:
        """Where the nearest of these ancestors still shown is (the last snapshot's rows tell
        the ones pruned since)."""
        procs = self.snapshot.procs
        where: dict[Key, int] | None = None
        while parent is not None:
            if parent in procs:
                where = where or {k: i for i, k in enumerate(self.keys)}
                if parent in where:
                    return where[parent]
            row = procs.get(parent) or before.get(parent)
            parent = row.parent if row is not None else None
        return None

    def _extent(self, roots: Sequence[Key], live: int) -> None:
        """The earliest start (a root's: a process starts after its forker) and the latest
        end (None while one of the ``live`` runs: no walk over the rows then)."""
        procs, boot = self.snapshot.procs, self.snapshot.boot_wall
        self.running = live
        if not self.keys:
            self._first, self._last = self.clock(), None
            return
        self._first = boot + min(k[1] for k in roots) / 1e9
        if live:
            self._last = None
            return
        self._last = max((e for k in self.keys if (e := procs[k].ended) is not None), default=None)

    def window(self, width: int, now: float | None = None) -> tuple[float, float]:
        """The time at the bars' left edge, and the seconds per column."""
        width = max(1, width)
        now = self.clock() if now is None else now
        if self.span is None:  # fit: the earliest start in the first column, the end in the last
            last = now if self._last is None else self._last
            cell = max(MIN_CELL, (last - self._first) / max(1, width - 1))
            return self._first, cell
        cell = self.span / width
        right = now + cell if self.right is None else self.right
        return right - self.span, cell

    def mode(self) -> str:
        if self.span is None:
            return "fit all"
        return "following now" if self.right is None else "panned (f fits all)"

    # ---- view --------------------------------------------------------------------------------

    @property
    def bars_width(self) -> int:
        return max(1, self.scrollable_content_region.width - self.label_width - 1)

    @property
    def label_width(self) -> int:
        return max(16, min(40, self.scrollable_content_region.width // 3))

    def action_zoom(self, factor: float) -> None:
        width = self.bars_width
        start, cell = self.window(width)
        span = min(MAX_SPAN, max(MIN_CELL * width, cell * width * factor))
        following = self.right is None and (self.span is not None or self._last is None)
        if not following:  # around the middle of the view
            self.right = start + cell * width / 2 + span / 2
        self.span = span
        self.refresh()

    def action_pan(self, direction: int) -> None:
        width = self.bars_width
        start, cell = self.window(width)
        span = cell * width
        right = start + span + direction * span / 4
        self.span = span
        self.right = None if right >= self.clock() + cell else right
        self.refresh()

    def action_fit(self) -> None:
        self.span = self.right = None
        self.refresh()

    def tick(self) -> None:
        """Time went on: bars of running processes grow (a snapshot may not come)."""
        if self.running and (self.right is None):
            self.refresh()

    # ---- cursor ------------------------------------------------------------------------------

    @property
    def rows_height(self) -> int:
        return max(1, self.scrollable_content_region.height - HEAD - FOOT)

    def _move(self, index: int, scroll: bool = True, tell: bool = True) -> None:
        keys = self.keys
        index = max(0, min(index, len(keys) - 1))
        key = keys[index] if keys else None
        self.cursor = index
        moved = key != self._cursor_key
        self._cursor_key = key
        if scroll:
            top, height = int(self.scroll_y), self.rows_height
            if index < top:
                self.scroll_to(y=index, animate=False)
            elif index >= top + height:
                self.scroll_to(y=index - height + 1, animate=False)
        if moved and key is not None and tell:
            self.post_message(self.Moved(key))

    def watch_cursor(self) -> None:
        self.refresh()

    def action_cursor(self, step: int) -> None:
        self._move(self.cursor + step)

    def action_page(self, direction: int) -> None:
        self._move(self.cursor + direction * max(1, self.rows_height - 1))

    def action_first(self) -> None:
        self._move(0)

    def action_last(self) -> None:
        self._move(len(self.keys) - 1)

    def on_click(self, event: events.Click) -> None:
        y = event.y
        index = int(self.scroll_y) + y - HEAD
        if HEAD <= y < HEAD + self.rows_height and 0 <= index < len(self.keys):
            self._move(index, scroll=False)

    def on_resize(self, event: events.Resize) -> None:
        self.virtual_size = Size(self.size.width, len(self.keys) + HEAD + FOOT)

    # ---- rendering ---------------------------------------------------------------------------

    def render_lines(self, crop: Region) -> list[Strip]:
        self._frame = None  # one view of time for every line of this pass
        return super().render_lines(crop)

    def frame(self) -> Frame:
        """The view of time the lines are drawn in, made once per pass."""
        frame = self._frame
        if frame is None:
            width = self.bars_width
            now = self.clock()
            start, cell = self.window(width, now)
            marks = ticks(start, cell, width)[1]
            line = [" "] * width
            for x, _label in marks:
                if 0 <= x < width:
                    line[x] = "·"
            grid = "".join(line)
            frame = self._frame = Frame(width, now, start, cell, marks, grid, self.rich_style)
        return frame

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.frame().base
        height = self.scrollable_content_region.height
        if y < HEAD or y >= height - FOOT:
            segments = self._fixed_line(y if y < HEAD else -1)
            return Strip(segments).adjust_cell_length(width, base)
        index = int(self.scroll_y) + y - HEAD
        if not 0 <= index < len(self.keys):
            return Strip.blank(width, base)
        segments = self._row_segments(self.keys[index])
        if index == self.cursor:  # the cursor's background over every cell's own
            style = base + self.get_component_rich_style("timeline--cursor")
            over = Style(bgcolor=style.bgcolor)
            segments = [Segment(text, (s or Style()) + over) for text, s, _ in segments]
            return Strip(segments).adjust_cell_length(width, style)
        return Strip(segments).adjust_cell_length(width, base)

    def _component(self, name: str) -> Style:
        return self.get_component_rich_style(name)

    def _row_segments(self, key: Key) -> list[Segment]:
        proc = self.snapshot.procs[key]
        label_width, width = self.label_width, self.frame().width
        guide = self._guides.guide(key, proc.parent)
        label = Strip([Segment(f"{proc.pid:>7} {guide}{proc.command}")])
        segments = list(label.crop(0, label_width).adjust_cell_length(label_width))
        segments.append(Segment("│", self._component("timeline--dim")))
        frame = self.frame()
        begin = self.snapshot.boot_wall + key[1] / 1e9
        end = proc.ended if proc.ended is not None else frame.now
        x0, x1, marks = bar_cells(begin, end, proc.exec_walls, frame.start, frame.cell, width)
        kind = outcome(proc)
        style = self._component(self._STYLE_OF[kind])
        grid = frame.grid
        grid_style = self._component("timeline--grid")
        if x0 > x1:  # outside the view: a hint at the side it lies
            hint = "◂" if x0 < 0 else "▸"
            side = [Segment(hint, style)]
            rest = [Segment(grid[1:] if x0 < 0 else grid[:-1], grid_style)]
            return segments + (side + rest if x0 < 0 else rest + side)
        segments.append(Segment(grid[:x0], grid_style))
        fill, mark_style = FILL[kind], self._component("timeline--exec")
        x = x0
        for mark in marks:
            segments.append(Segment(fill * (mark - x), style))
            segments.append(Segment(EXEC_MARK, mark_style))
            x = mark + 1
        segments.append(Segment(fill * (x1 + 1 - x), style))
        segments.append(Segment(grid[x1 + 1 :], grid_style))
        return segments

    def _fixed_line(self, y: int) -> list[Segment]:
        label_width, width = self.label_width, self.bars_width
        dim = self._component("timeline--dim")
        if y == 0:
            return [Segment(self.title(), self._component("timeline--title"))]
        if y == -1:
            legend = [Segment(" ")]
            for kind in (RUNNING, EXIT_0, FAILED, SIGNALLED, GONE):
                legend.append(Segment(FILL[kind] * 2, self._component(self._STYLE_OF[kind])))
                legend.append(Segment(f" {kind}  ", dim))
            legend.append(Segment(EXEC_MARK, self._component("timeline--exec")))
            legend.append(Segment(" exec", dim))
            return legend
        marks = self.frame().marks
        axis = self._component("timeline--axis")
        if y == 1:
            line = [" "] * width
            end = -1
            for x, text in marks:
                if x > end and x + len(text) <= width:
                    line[x : x + len(text)] = text
                    end = x + len(text)
            head = "    PID COMMAND".ljust(label_width)[:label_width]
            return [Segment(head + " ", dim), Segment("".join(line), axis)]
        line = ["─"] * width
        for x, _text in marks:
            if 0 <= x < width:
                line[x] = "┬"
        return [Segment(" " * label_width + "┌", dim), Segment("".join(line), axis)]

    def title(self) -> str:
        if self.gone:
            return f" Group {self.group} is no longer tracked (renamed or removed): Esc closes"
        count = len(self.keys)
        frame = self.frame()
        width, cell = frame.width, frame.cell
        return (
            f" {self.group}: {count} process{'es' if count != 1 else ''}, "
            f"{self.running} running · {duration_text(cell * width)} across, {self.mode()}"
        )
