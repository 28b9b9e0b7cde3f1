"""The details view of one process: full command line, exe, cwd, genealogy, every exec."""

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
from tractui.snapshot import Details
from tractui.text import escape, human_bytes, human_kb, shell_join


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


def account_pairs(d: Details) -> list[tuple[str, str]]:
    """The kernel's account of an ended process (its exit record): exact CPU, peak memory,
    storage I/O; for a live one, what /proc shows so far."""
    a = d.account
    if a is None:
        if d.row.alive:
            return [("CPU time", f"{d.row.ticks / procfs.CLK_TCK:.2f} s so far (from /proc)")]
        if d.accounting:
            return [("accounting", f"unavailable ({d.accounting})")]
        return [("accounting", "no record from the kernel (it ended unseen, or it was lost)")]
    return [
        ("CPU time", f"{a.cpu_s:.3f} s: {a.cpu_user_s:.3f} user, {a.cpu_system_s:.3f} system"),
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
    ]

    def __init__(self, details: Details) -> None:
        super().__init__(classes="dialog-screen")
        self.details = details

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog wide") as dialog:
            dialog.border_title = f"Process {self.details.row.pid}"
            yield Static(details_content(self.details))
        yield Footer()

    def action_close(self) -> None:
        self.dismiss(None)
