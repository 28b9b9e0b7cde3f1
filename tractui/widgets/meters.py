"""The meters at the top (``#``: off, one line, two lines), as htop draws them, and the
sparklines of the details. Drawn at the widget's width: what does not fit is shortened, then
left out (per-CPU bars become one glyph per CPU; the load's 5 and 15 minutes go, then tasks).
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.content import Content
from textual.widget import Widget

from tractui.kernel.meters import CpuUse, Meters
from tractui.model.trend import Series, spark
from tractui.text import human_kb

BLOCKS = " ▁▂▃▄▅▆▇█"
MODES = (0, 1, 2)  # lines of meters: off, one, two
MIN_BAR = 8  # the narrowest bar worth drawing: "[|| 12%]"

USER, SYSTEM, OTHER = "$success", "$error", "$text-muted"  # htop's green, red, grey
USED, BUFFERS, CACHE = "$success", "$primary", "$warning"


def meter_bar(label: str, parts: Sequence[tuple[float, str]], text: str, width: int) -> Content:
    """``label[|||||    text]`` in ``width`` cells: each part a share of the bar in its style,
    the text over the bar's right end (as htop); the text is cut first when short of room."""
    inner = max(0, width - len(label) - 2)
    if len(text) > inner:
        text = ""
    chars = [" "] * inner
    styles = [""] * inner
    at = 0
    for share, style in parts:
        n = round(max(0.0, share) * inner)
        for i in range(at, min(inner, at + n)):
            chars[i], styles[i] = "|", style
        at = min(inner, at + n)
    for i, ch in enumerate(text):
        j = inner - len(text) + i
        chars[j], styles[j] = ch, "$text-muted" if chars[j] == " " else "bold"
    pieces = [Content.styled(label, "bold $text-accent"), Content("[")]
    run_start = 0
    for i in range(1, inner + 1):
        if i == inner or styles[i] != styles[run_start]:
            piece = "".join(chars[run_start:i])
            style = styles[run_start]
            pieces.append(Content.styled(piece, style) if style else Content(piece))
            run_start = i
    pieces.append(Content("]"))
    return Content("").join(pieces)


def cpu_parts(use: CpuUse) -> list[tuple[float, str]]:
    return [(use.user, USER), (use.system, SYSTEM), (use.other, OTHER)]


def percent(use: CpuUse) -> str:
    return f"{use.busy * 100:.1f}%"


def block(use: CpuUse) -> Content:
    """One CPU in one cell: a block as high as its use."""
    level = round(use.busy * (len(BLOCKS) - 1))
    style = SYSTEM if use.system > use.user else USER
    return Content.styled(BLOCKS[level] if level else "_", style if level else "$text-muted")


def cpus_content(m: Meters, width: int) -> Content:
    """Every CPU in ``width`` cells: a bar each if they fit, else the average's bar and a
    glyph per CPU; on a very narrow line, the average and the glyphs."""
    n = len(m.cpus)
    if n:
        digits = len(str(n - 1))
        cell = (width - (n - 1)) // n
        if cell >= digits + MIN_BAR:
            bars = [
                meter_bar(str(i).rjust(digits), cpu_parts(u), percent(u), cell)
                for i, u in enumerate(m.cpus)
            ]
            return Content(" ").join(bars)
    glyphs = Content("").join(block(u) for u in m.cpus)
    room = width - n - 1 if n else width
    if room >= 3 + MIN_BAR:
        avg = meter_bar("CPU", cpu_parts(m.cpu), percent(m.cpu), room)
        return Content(" ").join([avg, glyphs]) if n else avg
    short = Content.styled("CPU", "bold $text-accent") + Content(f" {m.cpu.busy * 100:.0f}% ")
    return (short + glyphs)[:width]


def mem_bar(m: Meters, width: int, short: bool = False) -> Content:
    mem = m.memory
    if mem is None:
        return Content("Mem ?".ljust(width)[:width])
    total = mem.total_kb
    parts = [
        (mem.used_kb / total, USED),
        (mem.buffers_kb / total, BUFFERS),
        (mem.cached_kb / total, CACHE),
    ]
    text = human_kb(mem.used_kb) if short else f"{human_kb(mem.used_kb)}/{human_kb(total)}"
    return meter_bar("Mem", parts, text, width)


def swap_bar(m: Meters, width: int) -> Content:
    mem = m.memory
    if mem is None or not mem.swap_total_kb:
        return Content.styled("Swp", "bold $text-accent") + Content(" none".ljust(width - 3))
    share = mem.swap_used_kb / mem.swap_total_kb
    text = f"{human_kb(mem.swap_used_kb)}/{human_kb(mem.swap_total_kb)}"
    return meter_bar("Swp", [(share, SYSTEM)], text, width)


def load_text(m: Meters, full: bool) -> str:
    if m.load is None:
        return ""
    load = m.load
    if full:
        return f"load {load.one:.2f} {load.five:.2f} {load.fifteen:.2f}"
    return f"ld {load.one:.2f}"


def tasks_text(m: Meters, full: bool) -> str:
    """The kernel's count (/proc/loadavg): every task, threads included, as "tasks"."""
    if m.load is None:
        return ""
    load = m.load
    if full:
        return f"{load.tasks} tasks, {load.running} running"
    return f"{load.tasks} tasks"


def uptime_text(m: Meters) -> str:
    if m.uptime_s is None:
        return ""
    minutes = int(m.uptime_s) // 60
    days, minutes = divmod(minutes, 24 * 60)
    clock = f"{minutes // 60:02d}:{minutes % 60:02d}"
    return f"up {days}d {clock}" if days else f"up {clock}"


def _tail(texts: Sequence[str]) -> Content:
    return Content.styled("  ".join(t for t in texts if t), "$text-muted")


def _fit(width: int, least: int, choices: Sequence[Sequence[str]]) -> tuple[int, Content]:
    """The richest of ``choices`` (texts after the bars) that leaves ``least`` cells to the
    bars: the cells left, and the texts."""
    for texts in choices:
        tail = _tail(texts)
        rest = width - (len(tail) + 2 if len(tail) else 0)
        if rest >= least:
            return rest, tail
    return width, Content("")


def one_line(m: Meters, width: int) -> Content:
    """CPUs, memory, load and tasks on one line."""
    rest, tail = _fit(
        width,
        44,  # room for a bar per CPU on 80 columns (2 CPUs) before the load's 5 and 15 min
        [
            [load_text(m, True), tasks_text(m, True)],
            [load_text(m, False), tasks_text(m, False)],
            [load_text(m, False)],
        ],
    )
    mem_w = max(3 + MIN_BAR, rest * 2 // 5)
    cpu_w = rest - mem_w - 1
    line = Content(" ").join([cpus_content(m, cpu_w), mem_bar(m, mem_w, short=mem_w < 3 + 2 + 12)])
    return (line + Content("  ") + tail if len(tail) else line)[:width]


def two_lines(m: Meters, width: int) -> tuple[Content, Content]:
    """Every CPU on the first line; memory, swap, load, tasks and uptime on the second."""
    rest, tail = _fit(
        width,
        2 * (3 + MIN_BAR) + 1,
        [
            [load_text(m, True), tasks_text(m, True), uptime_text(m)],
            [load_text(m, True), tasks_text(m, True)],
            [load_text(m, False), tasks_text(m, False)],
            [load_text(m, False)],
        ],
    )
    swapless = m.memory is None or not m.memory.swap_total_kb
    mem_w = rest - 1 - len("Swp none") if swapless else (rest - 1) // 2
    swap_w = rest - 1 - mem_w
    second = Content(" ").join([mem_bar(m, mem_w), swap_bar(m, swap_w)])
    if len(tail):
        second = second + Content("  ") + tail
    return cpus_content(m, width)[:width], second[:width]


def meters_content(m: Meters, lines: int, width: int) -> Content:
    if lines >= 2:
        return Content("\n").join(two_lines(m, width))
    return one_line(m, width)


class MetersBar(Widget):
    """The meters: ``lines`` lines (0: hidden), redrawn when a new reading comes."""

    DEFAULT_CSS = """
    MetersBar {
        height: 1;
        padding: 0 1;
        background: $surface;
    }
    """

    def __init__(self, lines: int = 1, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.meters: Meters | None = None
        self.lines = lines
        self._apply()

    def show(self, meters: Meters | None) -> None:
        if meters is self.meters:
            return  # the same reading (it is read once a second, snapshots come 5 times)
        had = self.meters is not None
        self.meters = meters
        if had != (meters is not None):
            self._apply()
        self.refresh()

    def set_lines(self, lines: int) -> None:
        self.lines = lines if lines in MODES else 1
        self._apply()
        self.refresh(layout=True)

    def _apply(self) -> None:
        self.styles.height = max(1, self.lines)
        self.display = bool(self.lines) and self.meters is not None

    def render(self) -> Content:
        if self.meters is None:
            return Content("")
        return meters_content(self.meters, self.lines, self.content_size.width)


def trend_lines(series: Series | None, width: int, label_width: int, rss: str = "RSS") -> Content:
    """CPU% and RSS sparklines of a history, with their latest and peak values, and the span
    they cover; or why there is none. ``rss``: the RSS line's label."""
    pad = " " * (label_width + 1)
    if series is None or not series.cpu:
        return Content(f"{pad}(no history yet: a point each sampling round of the live processes)")
    cpu, kb, rss_label = series.cpu, series.rss_kb, rss
    rows = [
        ("CPU%", cpu, f"{cpu[-1]:.1f}% now, {max(cpu):.1f}% peak"),
        (rss_label, kb, f"{human_kb(kb[-1])} now, {human_kb(max(kb))} peak"),
    ]
    after = max(len(r[2]) for r in rows)
    room = max(1, width - label_width - 1 - after - 2)
    lines = [
        Content.from_markup("[b]$label[/b] ", label=label.rjust(label_width))
        + Content.styled(spark(values, room).ljust(room), "$text-success")
        + Content(f"  {text}")
        for label, values, text in rows
    ]
    span = (len(cpu) - 1) * series.step_s
    when = "up to its exit" if series.ended else "up to now"
    notes = [f"({len(cpu)} points, {when})"]
    if series.step_s > 0:  # the longest that fits
        apart = f"{series.step_s:.1f} s apart: {span / 60:.1f} min"
        notes.insert(0, f"({len(cpu)} points {apart}, {when})")
    note = next((n for n in notes if label_width + 1 + len(n) <= width), notes[-1])
    lines.append(Content(f"{pad}{note}"))
    return Content("\n").join(line[:width] for line in lines)


class TrendView(Widget):
    """A history's sparklines at the widget's width (a details dialog's)."""

    DEFAULT_CSS = """
    TrendView {
        height: 3;
    }
    """

    def __init__(
        self,
        series: Series | None,
        label_width: int,
        rss: str = "RSS",
        *,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.rss = rss
        self.series = series
        self.label_width = label_width

    def show(self, series: Series | None) -> None:
        self.series = series
        self.refresh()

    def render(self) -> Content:
        width = self.content_size.width
        return trend_lines(self.series, width, self.label_width, self.rss)
