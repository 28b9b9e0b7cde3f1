"""A UI on a daemon that is killed -9 says so in one state line, "daemon gone since HH:MM:SS:
reconnecting (try N)…", and "daemon back at HH:MM:SS" once a daemon answers again (issue 13:
it said "could not restart", then "made again (4x)"). A real daemon on a socket of its own."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from bench.common.daemon import Daemon
from tests.integration.support import poll_until
from tractui.daemon.link import DaemonEngine
from tractui.session import Session
from tractui.snapshot import Snapshot

pytestmark = pytest.mark.kernel

CLOCK = r"\d\d:\d\d:\d\d"


def test_a_killed_daemon_is_one_state_line_until_it_is_back(
    make_daemon: Callable[..., Daemon],
) -> None:
    daemon = make_daemon()
    engine = DaemonEngine(daemon.socket)
    engine.start()
    session = Session(engine)
    seen: list[str] = []

    def note(snapshot: Snapshot) -> None:
        if not seen or seen[-1] != snapshot.banner:
            seen.append(snapshot.banner)

    session.subscribe(note)
    session.start()
    try:
        daemon.kill9()
        gone = re.compile(rf"daemon gone since ({CLOCK}): reconnecting \(try (\d+)\)… (.+)")
        poll_until(
            # the reason: a reset, the first time; then what to do about it
            lambda: (
                (m := gone.fullmatch(session.snapshot.banner))
                and int(m[2]) >= 2
                and m[3].startswith("no tractui daemon is running on")
            ),
            "a second try to reconnect, in the banner",
        )
        match = gone.fullmatch(session.snapshot.banner)
        assert match is not None
        daemon.start()
        back = re.compile(rf"daemon back at {CLOCK} \(gone since {match[1]}\); groups reloaded .*")
        poll_until(lambda: back.fullmatch(session.snapshot.banner), "the daemon back")
    finally:
        session.stop()
    # one line at a time, each of them one of the two states (and none before the kill)
    assert seen[0] == ""
    for banner in seen[1:]:
        assert gone.fullmatch(banner) or back.fullmatch(banner), banner
    assert not [b for b in seen if "could not restart" in b or "made again" in b]
