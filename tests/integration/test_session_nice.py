"""The UI's session thread runs niced (+10), and a child inherits the nice value of the thread
that forks it: what the session starts (a launched program, a restarted collector) must still
get the UI's own priority, as the user who launched it expects of their program."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from tests.integration.support import poll_until
from tractui.control import LaunchSpec
from tractui.engine import Engine
from tractui.kernel import procfs
from tractui.session import Session

pytestmark = pytest.mark.kernel

TIMEOUT = 20.0


def nice_of(pid: int) -> int:
    return os.getpriority(os.PRIO_PROCESS, pid)


def test_a_launched_program_and_a_restarted_collector_keep_the_uis_priority(
    engine: Engine,
) -> None:
    ours = nice_of(threading.get_native_id())
    session = Session(engine, watch_collector=False, nice=10)
    session.start()
    try:
        tid = session.submit(threading.get_native_id).result(TIMEOUT)
        assert nice_of(tid) == min(19, ours + 10)  # the session thread itself is niced
        pid = session.launch("nice", LaunchSpec(["sleep", "30"])).result(TIMEOUT)
        try:
            assert nice_of(pid) == ours
            old = engine.collector.pid
            session.submit(engine.restart_collector).result(TIMEOUT)
            new = engine.collector.pid
            assert new is not None and new != old
            assert nice_of(new) == ours
        finally:
            os.kill(pid, signal.SIGKILL)
            poll_until(lambda: not procfs.read_start(pid), "the launched sleep ended", TIMEOUT)
    finally:
        session.stop()


def test_a_launch_that_fails_in_the_spawner_says_why(engine: Engine) -> None:
    session = Session(engine, watch_collector=False, nice=10)
    session.start()
    try:
        with pytest.raises(Exception, match="command not found"):
            session.launch("nice", LaunchSpec(["no-such-program-here"])).result(TIMEOUT)
        assert "nice" not in engine.tracker.groups
    finally:
        session.stop()
