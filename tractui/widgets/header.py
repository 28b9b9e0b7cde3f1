"""The top line (host, kernel, engine state, event rate, losses, clock) and the column titles."""

from __future__ import annotations

import time

from textual.content import Content
from textual.widgets import Static

from tractui.snapshot import Snapshot


def rate_text(rate: float) -> str:
    return f"{rate / 1000:.1f}k ev/s" if rate >= 1000 else f"{rate:.0f} ev/s"


def count_text(count: int, noun: str, plural: str = "") -> str:
    """1 group, 2 groups; 1 process, 2 processes (``plural`` when not just an s more)."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


class StatusHeader(Static):
    """One line: what is being watched, how fast events come, and whether any were lost."""

    def __init__(self, host: str, kernel: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.host = host
        self.kernel = kernel
        self._shown: tuple[object, ...] = ()  # what the line shows

    def show(self, snapshot: Snapshot) -> None:
        """Redraw from a snapshot (only if what it shows changed: snapshots come 5 times a
        second, the clock moves once)."""
        clock = time.strftime("%H:%M:%S", time.localtime(snapshot.wall)) if snapshot.wall else ""
        fields = (
            snapshot.state,
            "daemon" if snapshot.mode == "daemon" else "engine",
            rate_text(snapshot.rate),
            snapshot.lost,
            count_text(len(snapshot.groups), "group"),
            clock,
        )
        if fields == self._shown:
            return
        self._shown = fields
        state, mode, rate, lost, groups, clock = fields
        state_style = "$success" if state == "running" else "$error"
        lost_style = "$error bold" if lost else "$text-muted"
        self.update(
            Content.from_markup(
                # the kernel last: on 80 columns, what is cut is what changes least
                f"[b]tractui[/b]  $host  $mode [{state_style}]$state[/]  "
                f"$rate  [{lost_style}]$lost[/]  $groups  $clock  Linux $kernel",
                host=self.host,
                kernel=self.kernel,
                state=state,
                mode=mode,
                rate=rate,
                lost=f"lost {lost}",
                groups=groups,
                clock=clock,
            ),
            layout=False,  # one line high: the layout never changes
        )
