"""Fixtures for the real-kernel tests: a proc-connector check, an engine, a daemon, helper
processes.

Every process a test starts is killed at teardown, even when the test fails: the engine's
tracked members by (pid, start) through pidfds, launched programs and spawned helpers by their
process group (each runs in a session of its own).
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.common.daemon import Daemon
from tests.conftest import kill_group, wait_for
from tractui import control
from tractui.engine import Engine
from tractui.events import ConnectorError, ProcConnector


@pytest.fixture(scope="session")
def connector_problem() -> str:
    """Why the proc connector can't be used here ("" if it can), checked once per session."""
    try:
        connector = ProcConnector().open()
    except ConnectorError as err:
        return err.message
    connector.close()
    return ""


@pytest.fixture(autouse=True)
def _needs_connector(request: pytest.FixtureRequest) -> None:
    """Tests marked ``kernel`` skip, with the connector's own message, where it can't work."""
    if request.node.get_closest_marker("kernel") is None:
        return
    problem = request.getfixturevalue("connector_problem")
    if problem:
        pytest.skip(f"proc connector unavailable: {problem}")


def _kill_members(engine: Engine) -> None:
    """SIGKILL every live process the tracker lists, by (pid, start)."""
    tracker = engine.tracker
    for proc in list(tracker.live.values()):
        control.send_signal(proc.pid, proc.start, signal.SIGKILL, tracker.own_pids)


@pytest.fixture
def make_engine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Callable[..., Engine]]:
    """Start engines (``Engine(keep_exited=60, **kwargs)``); kill all they track at teardown."""
    monkeypatch.setenv("TRACTUI_STATE_DIR", str(tmp_path / "state"))
    for var in ("SUDO_UID", "SUDO_GID", "SUDO_USER"):
        monkeypatch.delenv(var, raising=False)
    engines: list[Engine] = []

    def make(**kwargs: Any) -> Engine:
        kwargs.setdefault("keep_exited", 60)
        engine = Engine(**kwargs)
        engine.start()
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        try:
            # twice: what a member forked just before the first kill shows up in between
            for _ in range(2):
                with contextlib.suppress(Exception):
                    engine.poll(0.1)
                _kill_members(engine)
            for pid in list(engine.launched):
                kill_group(pid)
            for popen in list(engine.launched.values()):
                wait_for(popen)
        finally:
            engine.stop()


@pytest.fixture
def engine(make_engine: Callable[..., Engine]) -> Engine:
    """A started engine that keeps exited processes for 60 s."""
    return make_engine()


@pytest.fixture
def make_daemon(tmp_path: Path) -> Iterator[Callable[..., Daemon]]:
    """Make daemons (``make_daemon(*extra, start=True, root=None)``), each on a socket and state
    directory of its own; at teardown each is cleaned up (bench.common.daemon: its members, the
    daemon, what it launched)."""
    daemons: list[Daemon] = []

    def make(*extra: str, start: bool = True, root: Path | None = None) -> Daemon:
        daemon = Daemon(root or tmp_path / f"d{len(daemons)}", list(extra))
        daemons.append(daemon)
        if start:
            daemon.start()
        return daemon

    yield make
    for daemon in daemons:
        daemon.cleanup()


@pytest.fixture
def daemon(make_daemon: Callable[..., Daemon]) -> Daemon:
    return make_daemon()
