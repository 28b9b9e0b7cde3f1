"""App-wide messages of the TUI (UI-only: they carry domain objects to widgets)."""

from __future__ import annotations

from textual.message import Message

from tractui.session import Snapshot


class SnapshotReady(Message):
    """The session published a new snapshot (posted from the session thread)."""

    def __init__(self, snapshot: Snapshot) -> None:
        super().__init__()
        self.snapshot = snapshot

    def can_replace(self, message: Message) -> bool:
        # only the newest snapshot matters: a slow UI skips the ones it had no time to draw
        return isinstance(message, SnapshotReady)
