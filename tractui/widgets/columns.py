"""The tree's columns before COMMAND, as htop has them: their titles, widths, cells and sorts.

Each :class:`Column` formats its own cell (padded to its width), so that a row is drawn with
the formatters of the columns shown, picked once per layout (:func:`layout`), not a test per
column per row. Which columns are shown, and in which order, is the user's choice (F2, saved in
ui.json as ``columns``); without one, the set follows the terminal's width (:func:`default_ids`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from tractui.snapshot import ProcRow
from tractui.text import human_kb


@dataclass(frozen=True, slots=True)
class Column:
    """One column: its title (also its ID and sort name), width and alignment, its cell,
    what it sorts by and in which natural direction (True: biggest first), and a description."""

    id: str
    width: int
    left: bool
    cell: Callable[[ProcRow], str]  # the text, padded or cut to ``width``
    key: Callable[[ProcRow], object]
    descending: bool
    what: str


def time_plus(ticks: int, hz: int = 100) -> str:
    """htop's TIME+: minutes:seconds.hundredths, or hours once past 100 minutes."""
    hundredths = ticks * 100 // hz
    minutes, rest = divmod(hundredths, 6000)
    if minutes >= 100:
        hours, minutes = divmod(minutes, 60)
        return f"{hours}h{minutes:02d}:{rest // 100:02d}"
    return f"{minutes}:{rest // 100:02d}.{rest % 100:02d}"


class _Today:
    """The local day's bounds, worked out again once the clock passes midnight."""

    start = 0.0
    end = -1.0

    @classmethod
    def contains(cls, t: float, now: float) -> bool:
        if not cls.start <= now < cls.end:
            local = time.localtime(now)
            midnight = time.mktime((*local[:3], 0, 0, 0, 0, 0, -1))
            cls.start = midnight
            # the next midnight (a day is not always 86,400 s long: DST)
            following = time.localtime(midnight + 90_000)
            cls.end = time.mktime((*following[:3], 0, 0, 0, 0, 0, -1))
        return cls.start <= t < cls.end


def start_text(started: float, now: float | None = None) -> str:
    """htop's START: HH:MM for a process started today, else "Mon DD" (local time); "" when
    unknown."""
    if started <= 0:
        return ""
    if _Today.contains(started, time.time() if now is None else now):
        return time.strftime("%H:%M", time.localtime(started))
    return time.strftime("%b %d", time.localtime(started))


_STARTS: dict[float, str] = {}  # START's text of each start time shown, for the day
_STARTS_DAY = [0.0]  # the day they were made in (its midnight)


def _start_cell(r: ProcRow) -> str:
    """START's text, made once per process and day (strftime costs more than the other cells)."""
    now = time.time()
    if not _Today.start <= now < _Today.end or _STARTS_DAY[0] != _Today.start:
        _Today.contains(now, now)
        _STARTS.clear()
        _STARTS_DAY[0] = _Today.start
    text = _STARTS.get(r.started)
    if text is None:
        if len(_STARTS) > 50_000:
            _STARTS.clear()
        text = _STARTS[r.started] = start_text(r.started, now)
    return text


def priority_text(priority: int | None) -> str:
    """htop's PRI: the kernel's priority; "RT" for a real-time one of the top range."""
    if priority is None:
        return ""
    return "RT" if priority <= -100 else str(priority)


Cell = Callable[[ProcRow], str]


def _right(width: int, text: Cell, live_only: bool = True) -> Cell:
    """A right-aligned cell; blank for an exited process when ``live_only``."""
    if live_only:
        return lambda r: (text(r) if r.alive else "").rjust(width)[-width:]
    return lambda r: text(r).rjust(width)[-width:]


def _left(width: int, text: Cell) -> Cell:
    return lambda r: text(r)[:width].ljust(width)


def _or(value: int | None, default: int = 0) -> int:
    return default if value is None else value


# every column, in htop's default order where htop has them
ALL: tuple[Column, ...] = (
    Column(
        "PID",
        7,
        False,
        _right(7, lambda r: str(r.pid), False),
        lambda r: r.pid,
        False,
        "process ID",
    ),
    Column("USER", 8, True, _left(8, lambda r: r.user), lambda r: r.user, False, "owner"),
    Column(
        "PRI",
        3,
        False,
        _right(3, lambda r: priority_text(r.priority)),
        lambda r: _or(r.priority),
        False,
        "kernel priority",
    ),
    Column(
        "NI",
        3,
        False,
        _right(3, lambda r: "" if r.nice is None else str(r.nice)),
        lambda r: _or(r.nice),
        False,
        "nice (F7 ] -, F8 [ +)",
    ),
    Column(
        "VIRT",
        6,
        False,
        _right(6, lambda r: human_kb(r.virt_kb) if r.virt_kb else ""),
        lambda r: r.virt_kb,
        True,
        "virtual memory",
    ),
    Column(
        "RSS",
        6,
        False,
        _right(6, lambda r: human_kb(r.rss_kb) if r.rss_kb else ""),
        lambda r: r.rss_kb,
        True,
        "resident memory",
    ),
    Column(
        "SHR",
        6,
        False,
        _right(6, lambda r: human_kb(r.shr_kb) if r.shr_kb else ""),
        lambda r: r.shr_kb,
        True,
        "shared resident",
    ),
    Column("S", 1, True, lambda r: r.state[:1].ljust(1), lambda r: r.state, False, "state"),
    Column("CPU%", 5, False, _right(5, lambda r: f"{r.cpu:.1f}"), lambda r: r.cpu, True, "CPU use"),
    Column(
        "MEM%",
        5,
        False,
        _right(5, lambda r: f"{r.mem_pct:.1f}"),
        lambda r: r.mem_pct,
        True,
        "RSS / memory",
    ),
    Column(
        "TIME+",
        9,
        False,
        _right(9, lambda r: time_plus(r.ticks), False),
        lambda r: r.ticks,
        True,
        "CPU time used",
    ),
    Column(
        "START",
        6,
        False,
        _right(6, _start_cell, False),
        lambda r: r.started,
        False,
        "start time",
    ),
    Column(
        "THR", 4, False, _right(4, lambda r: str(r.threads)), lambda r: r.threads, True, "threads"
    ),
)
BY_ID: dict[str, Column] = {c.id: c for c in ALL}
# the flat list's column (the tree has group headers instead); not in the chooser
GROUP = Column("GROUP", 10, True, _left(10, lambda r: r.group), lambda r: r.group, False, "group")

# Without a choice saved: htop's own default set (PID USER PRI NI VIRT RES SHR S CPU% MEM%
# TIME+), with START, on a terminal of 120 columns or more: 42 columns are left there for the
# tree and the command. Below that, the columns a tree of groups needs most (no PRI, VIRT, SHR,
# MEM%): at 80, 26 are left for the command, where htop's set would leave 2.
WIDE = ("PID", "USER", "PRI", "NI", "VIRT", "RSS", "SHR", "S", "CPU%", "MEM%", "TIME+", "START")
NARROW = ("PID", "USER", "NI", "S", "CPU%", "RSS", "TIME+", "START")
WIDE_FROM = 120  # terminal columns


def default_ids(width: int) -> tuple[str, ...]:
    """The columns shown when the user chose none: by the terminal's width."""
    return WIDE if width >= WIDE_FROM else NARROW


def valid_ids(value: object) -> tuple[str, ...] | None:
    """A saved choice of columns, or None when it is not one (the default is used): a list of
    known column IDs, each once."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    if len(set(value)) != len(value) or not all(v in BY_ID for v in value):
        return None
    return tuple(value)


COMMAND_MIN = 16  # the COMMAND column is never narrower: columns that don't fit are dropped


def layout(ids: Iterable[str], flat: bool = False, width: int = 0) -> tuple[Column, ...]:
    """The columns shown, in order: the GROUP column last in the flat list. At ``width``
    (0: any), the rightmost ones that would leave COMMAND under COMMAND_MIN cells are not
    shown (the choice itself is kept: a wider terminal shows them again)."""
    columns = [BY_ID[i] for i in ids if i in BY_ID]
    last = [GROUP] if flat else []
    while columns and width > 0 and command_x([*columns, *last]) > width - COMMAND_MIN:
        columns.pop()
    return (*columns, *last)


def command_x(columns: Sequence[Column]) -> int:
    """Where COMMAND starts: each column and the space after it."""
    return sum(c.width + 1 for c in columns)


def cells_text(columns: Sequence[Column]) -> Callable[[ProcRow], str]:
    """The text of a row's columns, each followed by a space: one function per layout."""
    cells = tuple(c.cell for c in columns)
    if not cells:
        return lambda _r: ""
    return lambda r: " ".join([cell(r) for cell in cells]) + " "


def header_line(
    columns: Sequence[Column], sort: str, descending: bool = True, offset: int = 0
) -> str:
    """The column header, the sort column marked ▼ (descending) or ▲ (ascending); the
    COMMAND column's sideways scroll, if any, said after its title."""
    mark = "▼" if descending else "▲"
    line = [" "] * command_x(columns)
    x = 0
    for column in columns:
        label = column.id + (mark if column.id == sort else "")
        # a mark wider than its column (S) takes the separator after it
        start = x if column.left else x + column.width - len(label)
        line[start : start + len(label)] = label
        x += column.width + 1
    text = "".join(line) + "COMMAND" + (mark if sort == "COMMAND" else "")
    return text + (f"  ◂ {offset}" if offset else "")


def column_at(columns: Sequence[Column], x: int) -> str | None:
    """The column under a click at ``x`` on the header (its separator belongs to it)."""
    left = 0
    for column in columns:
        left += column.width + 1
        if x < left:
            return column.id
    return "COMMAND" if x >= 0 else None
