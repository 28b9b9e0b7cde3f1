"""The session thread over a replay: what its snapshots say after the commands the UI sends."""

from __future__ import annotations

import time
from collections.abc import Callable

from tractui.replay import demo_session
from tractui.session import Session
from tractui.snapshot import Snapshot


def _until(session: Session, ok: Callable[[Snapshot], object], timeout: float = 5.0) -> Snapshot:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        snapshot = session.snapshot
        if ok(snapshot):
            return snapshot
        time.sleep(0.02)
    raise AssertionError(f"no such snapshot in {timeout} s; the last: {session.snapshot}")


def test_a_renamed_groups_events_are_in_the_log_of_every_group_once() -> None:
    session = demo_session()
    session.engine.start()
    session.start()
    try:
        before = _until(session, lambda s: s.log("web") and s.log("build"))
        assert session.rename("web", "www").result(5) == "www"
        after = _until(session, lambda s: [g.name for g in s.groups] == ["www", "build"])
        assert sorted(after.logs) == ["build", "www"]
        assert after.log("www") == before.log("web")
        assert after.log(None) == before.log(None)  # each event once, not the old name's too
    finally:
        session.stop()
