"""A live process's details against the real kernel: its open files and environment read
from /proc as the details open, its PSS, and its CPU%/RSS history (and its group's) kept
round by round by the session. The process is launched into a group by a real engine;
the engine fixture kills it at teardown."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.support import poll_until
from tractui.control import LaunchSpec
from tractui.engine import Engine
from tractui.session import Session
from tractui.snapshot import Details

pytestmark = pytest.mark.kernel

TIMEOUT = 20.0


def test_open_files_environment_pss_and_history(
    make_engine: Callable[..., Engine], tmp_path: Path
) -> None:
    held = tmp_path / "held \x1b[2J.txt"  # a hostile name: shown escaped
    held.write_text("x")
    script = 'exec 7<"$0"; exec env TRACTUI_PEEK_MARK=here sleep 60'
    session = Session(make_engine(), watch_collector=False)
    session.start()
    try:
        pid = session.launch("peek", LaunchSpec(["sh", "-c", script, str(held)])).result(TIMEOUT)
        found: list[Details] = []

        def ready() -> bool:
            key = next((k for k in session.snapshot.procs if k[0] == pid), None)
            if key is None:
                return False
            d = session.details(key).result(TIMEOUT)
            found[:] = [d]
            environ = d.peek.environ if d.peek else ()
            trend = d.trend
            return "TRACTUI_PEEK_MARK=here" in environ and trend is not None and len(trend.cpu) >= 2

        poll_until(ready, "sleep's environment read and two rounds of its history", TIMEOUT)
        d = found[0]
        assert d.peek is not None
        fds = {f.fd: f for f in d.peek.fds}
        assert fds[7].kind == "REG" and fds[7].target == str(held)
        assert d.peek.environ == tuple(sorted(d.peek.environ))
        assert d.peek.pss_kb is not None and d.peek.rss_rollup_kb is not None
        assert 0 < d.peek.pss_kb <= d.peek.rss_rollup_kb
        assert d.trend is not None
        # its latest point is sleep's; an earlier one may have caught it mid-exec (no memory)
        assert d.trend.rss_kb[-1] > 0 and not d.trend.ended
        assert 0.5 <= d.trend.step_s <= 5.0  # a round a second, slower on a loaded machine

        group = session.group_details("peek").result(TIMEOUT)
        assert group.trend is not None and len(group.trend.cpu) >= 2
        # the group's header row gets its CPU% history too (its sparkline)
        poll_until(
            lambda: any(len(g.cpu_history) >= 2 for g in session.snapshot.groups),
            "the group's CPU% history in a snapshot",
            TIMEOUT,
        )

        # as another user, the environment may not be read: it says why
        probe = (
            "import os, sys; from tractui.kernel.peek import peek; "
            "os.setgid(65534); os.setuid(65534); p = peek(int(sys.argv[1])); "
            "print(p.environ_error); print(len(p.environ))"
        )
        if os.geteuid() != 0:
            pytest.skip("needs root to read as another user (nobody)")
        out = subprocess.run(
            [sys.executable, "-c", probe, str(pid)],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=True,
            cwd=Path(__file__).resolve().parents[2],
        ).stdout.split("\n")
        assert out[0].startswith("permission denied") and out[1] == "0"
    finally:
        session.stop()
