"""The details view of one process: full command line, exe, cwd, genealogy, every exec; its
CPU% and RSS over the last 10 minutes; and for a live one, read as the view opens: its PSS,
open files and environment (scroll, or ``f``/``v`` to jump to them)."""

from __future__ import annotations

import time
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from tractui.kernel import procfs
from tractui.kernel.peek import FDS_SHOWN, Peek
from tractui.snapshot import Details
from tractui.text import escape, human_bytes, human_kb, shell_join
from tractui.widgets.meters import TrendView

LABEL = 12  # the width of the labels, right-aligned


def details_content(d: Details) -> Content:
    """The details as label/value lines; values are never read as markup, and their control
    characters are escaped (command lines quoted as a shell takes them back)."""
    row = d.row
    started = wall_text(d.started)
    pairs: list[tuple[str, str]] = [
        ("command", shell_join(d.argv) if d.argv else row.command),
        ("exe", escape(d.exe) or "-"),
        ("cwd", escape(d.cwd) or "-"),
        ("user", f"{row.user} (uid {d.uid})"),
        ("group", row.group),
        ("started", started),
        *ended_pairs(d),
        ("status", row.status),
        ("forked by", escape(d.parent) or "- (a root of the group)"),
        ("current ppid", d.ppid_text),
        ("threads", f"{row.threads} now, {d.peak_threads} at most"),
        *memory_pairs(d),
        *account_pairs(d),
    ]
    lines = [
        Content.from_markup("[b]$label[/b] $value", label=f"{k:>12}", value=v) for k, v in pairs
    ]
    lines.append(Content.from_markup("[b]$label[/b]", label=f"{'execs':>12}"))
    if not d.execs:
        lines.append(Content("             (none seen since tracked)"))
    after = d.exec_after if len(d.exec_after) == len(d.execs) else (None,) * len(d.execs)
    for argv, at in zip(d.execs, after, strict=True):
        when = f"+{at:.3f}s " if at is not None else ""
        shown = shell_join(argv) if argv else "(unknown: not read in time)"
        lines.append(Content(f"             {when}{shown}"))
    return Content("\n").join(lines)


def clock_text(at: float) -> str:
    """A wall-clock time of day to the millisecond: 14:03:07.250."""
    return f"{time.strftime('%H:%M:%S', time.localtime(at))}.{int(at * 1000) % 1000:03d}"


def wall_text(at: float, same_day: float | None = None) -> str:
    """A wall-clock time to the millisecond, its date first unless it is ``same_day``'s."""
    t = time.localtime(at)
    clock = clock_text(at)
    if same_day is not None and time.localtime(same_day)[:3] == t[:3]:
        return clock
    return f"{time.strftime('%Y-%m-%d', t)} {clock}"


def lifetime_text(seconds: float) -> str:
    """How long a process lived: to the millisecond under a minute, then to the second."""
    if seconds < 60:
        return f"{seconds:.3f} s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{int(seconds)} s ({hours}h{minutes:02d}m{secs:02d}s)"


def ended_pairs(d: Details) -> list[tuple[str, str]]:
    """When an exited process ended, and how long it lived; nothing while it runs."""
    if d.lifetime is None:
        return []
    ended = wall_text(d.started + d.lifetime, same_day=d.started)  # its date if not the start's
    return [("ended", ended), ("lifetime", lifetime_text(d.lifetime))]


def memory_pairs(d: Details) -> list[tuple[str, str]]:
    """A live process's RSS and PSS (read from smaps_rollup as the details opened): PSS
    shares each page among the processes that map it, so the PSS of a group's members add up
    to what they take together, where their RSS count a shared page in each."""
    if not d.row.alive or d.peek is None:
        return []
    p = d.peek
    rss = f"RSS {human_kb(d.row.rss_kb)}"
    if p.pss_kb is None:
        return [("memory", f"{rss}; PSS not readable: {p.pss_error}")]
    swap = f", swap PSS {human_kb(p.swap_pss_kb)}" if p.swap_pss_kb else ""
    return [("memory", f"{rss}, PSS {human_kb(p.pss_kb)}{swap} (PSS: shared pages split)")]


def section_title(title: str) -> Content:
    return Content.from_markup("[b]$title[/b]", title=title)


def files_content(d: Details) -> Content:
    """The open files as htop's ``l`` lists them: fd, type, target (escaped)."""
    p = d.peek
    if p is None:
        why = "the process has exited" if not d.row.alive else "not read here"
        return Content("\n").join([section_title("Open files"), Content(f"  ({why})")])
    if p.fds_error:
        lines = [section_title("Open files"), Content(f"  not readable: {p.fds_error}")]
        return Content("\n").join(lines)
    count = len(p.fds) + p.fds_more
    lines = [section_title(f"Open files ({count})")]
    lines.append(Content.styled(f"{'FD':>6}  {'TYPE':<6}  TARGET", "bold $text-muted"))
    lines.extend(Content(f"{f.fd:>6}  {f.kind:<6}  {escape(f.target)}") for f in p.fds)
    if p.fds_more:
        lines.append(Content(f"  ... and {p.fds_more} more (the first {FDS_SHOWN} listed)"))
    if not p.fds:
        lines.append(Content("  (none)"))
    return Content("\n").join(lines)


def environ_content(d: Details) -> Content:
    """The environment the process started with, sorted, each entry escaped."""
    p: Peek | None = d.peek
    if p is None:
        why = "the process has exited" if not d.row.alive else "not read here"
        return Content("\n").join([section_title("Environment"), Content(f"  ({why})")])
    if p.environ_error:
        lines = [section_title("Environment"), Content(f"  not readable: {p.environ_error}")]
        return Content("\n").join(lines)
    lines = [
        section_title(f"Environment ({len(p.environ)}, sorted; as it started; its first 64 KiB)")
    ]
    lines.extend(Content(f"  {escape(e)}") for e in p.environ)
    if not p.environ:
        lines.append(Content("  (empty)"))
    return Content("\n").join(lines)


def account_pairs(d: Details) -> list[tuple[str, str]]:
    """The kernel's account of an ended process (its exit record): exact CPU, peak memory,
    storage I/O; for a live one, what /proc shows so far."""
    a = d.account
    so_far = ("CPU time", f"{d.row.ticks / procfs.CLK_TCK:.2f} s so far (from /proc)")
    if a is not None and d.row.alive:
        # a record while it runs is an ended thread's, not the process's: said as such
        return [
            so_far,
            (
                "thread exits",
                f"the kernel's account of its ended threads: CPU {a.cpu_s:.3f} s, "
                f"peak RSS {human_kb(a.peak_rss_kib)}",
            ),
        ]
    if a is None:
        if d.row.alive:
            return [so_far]
        if d.accounting:
            return [("accounting", f"unavailable ({d.accounting})")]
        return [("accounting", "no record from the kernel (it ended unseen, or it was lost)")]
    return [
        ("CPU time", f"{a.cpu_s:.3f} s: {a.cpu_user_s:.3f} user, {a.cpu_system_s:.3f} system"),
        (
            "",
            "as its exit record says: read before its last moments (~1 ms), which its "
            "group's CPU adds from what its reaper was given",
        ),
        ("peak RSS", human_kb(a.peak_rss_kib)),
        (
            "storage I/O",
            f"{human_bytes(a.read_bytes)} read, {human_bytes(a.write_bytes)} written",
        ),
        ("ctx switches", f"{a.nvcsw} voluntary, {a.nivcsw} involuntary"),
    ]


class DetailsScreen(ModalScreen[None]):
    """Everything tractui knows of one process."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter,q", "close", "Close", id="details.close"),
        Binding("f", "section('details-files')", "Open files", id="details.files"),
        Binding("v", "section('details-environ')", "Environment", id="details.environ"),
        Binding("t", "section('details-top')", "Top", show=False, id="details.top"),
    ]

    def __init__(self, details: Details) -> None:
        super().__init__(classes="dialog-screen")
        self.details = details

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog wide") as dialog:
            dialog.border_title = f"Process {self.details.row.pid}"
            yield Static(details_content(self.details), id="details-top")
            yield Static(section_title("CPU% and RSS, the last 10 minutes"), classes="section")
            yield TrendView(self.details.trend, LABEL, id="details-trend")
            yield Static(files_content(self.details), id="details-files", classes="section")
            yield Static(environ_content(self.details), id="details-environ", classes="section")
        yield Footer()

    def action_section(self, id: str) -> None:
        self.query_one(f"#{id}").scroll_visible(top=True, animate=False)

    def action_close(self) -> None:
        self.dismiss(None)
