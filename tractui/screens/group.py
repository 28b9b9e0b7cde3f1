"""The details view of one group: its aggregates, its ended members' account, its launch log,
and its history (the ended members kept on disk, newest first)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from tractui.errors import UserError
from tractui.screens.details import clock_text
from tractui.snapshot import Ended, GroupDetails, GroupRow
from tractui.text import escape, human_bytes, human_kb
from tractui.widgets.meters import TrendView

LABEL = 14  # the width of the labels, right-aligned


def _line(label: str, value: str) -> Content:
    return Content.from_markup("[b]$label[/b] $value", label=f"{label:>{LABEL}}", value=value)


def group_content(d: GroupDetails) -> Content:
    """The group's aggregates and account as label/value lines; every value is plain text,
    its control characters escaped (a log path, a daemon's words)."""
    row = d.row
    created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(d.created))
    pairs: list[tuple[str, str]] = [
        ("members", f"{row.live} live of {row.total} tracked"),
        (
            "events",
            f"{row.forks} forks, {row.execs} execs, {row.exits} exits ({row.failed} failed)",
        ),
        *outcome_pairs(row),
        ("CPU now", f"{row.cpu:.1f}%"),
        ("CPU time", cpu_time_text(d)),
        ("RSS Σ now", rss_sum_text(row.rss_kb) if row.live else "-"),
        ("tracked since", created),
        ("launch log", escape(row.log_path) or "-"),
        ("launched", launched_text(d)),
    ]
    lines = [_line(k, v) for k, v in pairs]
    lines.append(Content.from_markup("[b]$title[/b]", title="Ended members (kernel accounts)"))
    lines.extend(_line(k, v) for k, v in ended_pairs(d))
    return Content("\n").join(lines)


def cpu_time_text(d: GroupDetails) -> str:
    """The group's CPU time, and its parts: its live members' (/proc), its ended members'
    (their exit records), and what the records lack (a record is read before its process's
    last moments: those are in what its reaper was given)."""
    row = d.row
    live = max(0.0, row.cpu_time_s - d.ended.cpu_s - d.unrecorded_s)
    text = (
        f"{row.cpu_time_s:.2f} s of every member that ever ran "
        f"({live:.2f} live, {d.ended.cpu_s:.2f} ended"
    )
    if d.unrecorded_s:
        text += f", {d.unrecorded_s:.3f} the records lack, from what their reapers were given"
    return text + ")"


def outcome_pairs(row: GroupRow) -> list[tuple[str, str]]:
    """How its members ended: failures (its roots' apart), those ended by you, and what the
    program launched last did."""
    roots = f", {row.roots_failed} of them a root" if row.roots_failed else ""
    pairs = [
        ("failed", f"{row.failed}{roots}"),
        ("ended by you", f"{row.ended_by_you} (by signals sent from tractui)"),
    ]
    if row.last_outcome:
        pairs.append(("last launch", row.last_outcome))
    return pairs


def rss_sum_text(kb: int) -> str:
    """The group's RSS is a sum over its members: a page they share (a library, a forked
    parent's memory) is in each one's RSS, so the sum can exceed what they take together."""
    return f"{human_kb(kb)}: the sum of its live members' RSS (shared pages added once per member)"


def launched_text(d: GroupDetails) -> str:
    """Whether it has programs launched into it, and by whom."""
    if d.row.launched:
        return "yes, from this UI (quitting may end them)"
    if d.has_launches:
        return "yes, by the daemon (they run on when this UI quits)" if d.daemon else "yes, earlier"
    return "no"


def ended_pairs(d: GroupDetails) -> list[tuple[str, str]]:
    """The merged kernel accounts of the group's ended members, or why there are none."""
    a = d.ended
    if d.accounting and not a.processes:
        return [("accounting", f"unavailable ({escape(d.accounting)})")]
    if not a.processes:
        return [("processes", "none yet: no member ended with the kernel's record")]
    pairs = [
        ("processes", f"{a.processes} counted"),
        ("CPU time", f"{a.cpu_s:.3f} s: {a.cpu_user_s:.3f} user, {a.cpu_system_s:.3f} system"),
        ("largest peak", human_kb(a.peak_rss_kib)),
        (
            "storage I/O",
            f"{human_bytes(a.read_bytes)} read, {human_bytes(a.write_bytes)} written",
        ),
        ("ctx switches", f"{a.nvcsw} voluntary, {a.nivcsw} involuntary"),
    ]
    if d.accounting:  # it stopped: what came before is counted, not what followed
        pairs.append(("accounting", f"unavailable now ({escape(d.accounting)})"))
    return pairs


STATUS_MAX = 18  # a longer status (a rare signal's name) is cut to this
NOT_ON_DISK = "*"  # after the time of an ended member still in the tree (not on disk yet)


def history_content(d: GroupDetails) -> Content:
    """The history: its title and notes (:func:`history_head`), then its table."""
    table = history_table(d)
    return Content("\n").join([history_head(d), table]) if table else history_head(d)


def history_head(d: GroupDetails) -> Content:
    """The history's title, and what to say of it (why there is none, what the cap cut)."""
    on_disk = len(d.history) - d.in_tree + d.more
    title = f"History: {on_disk + d.in_tree} ended"
    if d.in_tree:
        title += f" ({on_disk} kept on disk, {d.in_tree} still in the tree)"
    else:
        title += ", kept on disk"
    lines = [Content.from_markup("[b]$title[/b]", title=title)]
    lines.extend(Content(f"  ({escape(note)})") for note in d.history_notes)
    if d.in_tree:
        lines.append(
            Content(f"  ({NOT_ON_DISK}: still in the tree, written to disk once pruned from it)")
        )
    if not d.history and not d.history_notes:
        lines.append(Content("  (none yet: members are kept here once they are pruned)"))
    return Content("\n").join(lines)


def history_table(d: GroupDetails) -> Content:
    """One line per ended member, newest first: when it ended (the time to the ms; a line with
    the date before each day's first), PID, status, CPU seconds, peak RSS and command. Each
    column is as wide as its longest value, so the command has the rest. The command is the
    process's own text, hostile: escaped, never markup."""
    if not d.history:
        return Content("")
    cells = [history_cells(e) for e in d.history]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(HEADERS)]
    lines = [Content.from_markup("[b]$header[/b]", header=f"{_cells(HEADERS, widths)}  COMMAND")]
    day: tuple[int, ...] = ()
    for e, row in zip(d.history, cells, strict=True):
        if e.ended:
            t = time.localtime(e.ended)
            if t[:3] != day:
                day = t[:3]
                lines.append(Content.styled(time.strftime("%Y-%m-%d", t), "$text-muted"))
        text = f"{_cells(row, widths)}  {escape(e.command)}"
        lines.append(Content.styled(text, "$text-error") if e.failed else Content(text))
    if d.more:
        lines.append(Content(f"  ... and {d.more} older ones (tractui list --all shows all)"))
    return Content("\n").join(lines)


HEADERS = ("ENDED", "PID", "STATUS", "CPU s", "PEAK RSS")
RIGHT = {1, 3, 4}  # the columns aligned right


def _cells(cells: tuple[str, ...], widths: list[int]) -> str:
    return "  ".join(
        c.rjust(w) if i in RIGHT else c.ljust(w)
        for i, (c, w) in enumerate(zip(cells, widths, strict=True))
    )


def history_cells(e: Ended) -> tuple[str, ...]:
    """An entry's cells but its command: plain text, escaped."""
    ended = clock_text(e.ended) if e.ended else "?"
    ended += " " if e.on_disk else NOT_ON_DISK
    status = escape(e.status) + (", by you" if e.by_you else "")
    if len(status) > STATUS_MAX:
        status = status[: STATUS_MAX - 1] + "…"
    cpu = f"{e.cpu_s:.3f}" if e.cpu_s is not None else "-"
    rss = human_kb(e.peak_rss_kib) if e.peak_rss_kib is not None else "-"
    return (ended, str(e.pid), status, cpu, rss)


SIDEWAYS = 8  # columns that ← and → scroll the dialog by (one each takes too many presses)


class DetailsScroll(VerticalScroll):
    """The dialog's content: scrolls down, and sideways to the history's long commands."""

    BINDINGS: ClassVar[list[BindingType]] = [
        # shown: the dialog has no horizontal scrollbar (a stray glyph under the table)
        Binding("left", "columns(-1)", "Scroll sideways", key_display="← →"),
        Binding("right", "columns(1)", "Scroll right", show=False),
    ]

    def action_columns(self, direction: int) -> None:
        self.scroll_to(x=self.scroll_x + direction * SIDEWAYS, animate=False)


class GroupDetailsScreen(ModalScreen[None]):
    """Everything tractui knows of one group; ``r`` reads its history again."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter,q", "close", "Close", id="group.close"),
        Binding("r", "reload", "Read again", id="group.reload", tooltip="Read its history again"),
    ]

    def __init__(
        self, details: GroupDetails, reload: Callable[[], Future[GroupDetails]] | None = None
    ) -> None:
        super().__init__(classes="dialog-screen")
        self.details = details
        self.reload = reload
        self._reading = False

    def compose(self) -> ComposeResult:
        with DetailsScroll(classes="dialog wide group-dialog") as dialog:
            dialog.border_title = f"Group {self.details.row.name}"
            yield Static(group_content(self.details), id="group-summary")
            yield TrendView(self.details.trend, LABEL, "RSS Σ", id="group-trend")
            yield Static(history_head(self.details), id="group-history-head")
            yield Static(history_table(self.details), id="group-history")
        yield Footer()

    def show(self, details: GroupDetails) -> None:
        self.details = details
        self.query_one("#group-summary", Static).update(group_content(details))
        self.query_one("#group-trend", TrendView).show(details.trend)
        self.query_one("#group-history-head", Static).update(history_head(details))
        self.query_one("#group-history", Static).update(history_table(details))

    async def action_reload(self) -> None:
        if self.reload is None or self._reading:
            return
        self._reading = True
        try:
            details = await asyncio.wrap_future(self.reload())
        except UserError as err:
            self.notify(escape(str(err)), severity="error", markup=False)
            return
        finally:
            self._reading = False
        self.show(details)

    def action_close(self) -> None:
        self.dismiss(None)
