"""The event log pane: fork, exec and exit of the selected group's processes, newest last."""

from __future__ import annotations

import time

from textual.widgets import Log

from tractui.snapshot import LogEntry


def entry_line(entry: LogEntry) -> str:
    centis = round(entry.wall * 100)
    clock = time.strftime("%H:%M:%S", time.localtime(centis // 100))
    hundredths = centis % 100
    return f"{clock}.{hundredths:02d}  {entry.kind:<5} {entry.pid:>7}  {entry.text}"


class EventLog(Log):
    """Redrawn from the snapshot's log only when the group or the newest entry changes."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, highlight=False, auto_scroll=True)
        self._shown: tuple[str | None, LogEntry | None] = (None, None)

    def show(self, mine: list[LogEntry], group: str | None) -> None:
        """Show the entries of ``group`` (every group's if None)."""
        newest = mine[-1] if mine else None
        if self._shown == (group, newest):
            return
        self._shown = (group, newest)
        self.clear()
        self.border_title = f"events of {group}" if group else "events"
        self.write_lines([entry_line(e) for e in mine], scroll_end=False)
        # newest last and in view: scroll once the new lines are laid out
        self.call_after_refresh(self.scroll_end, animate=False, immediate=True)
