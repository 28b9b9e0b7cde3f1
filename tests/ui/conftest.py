"""Fixtures for the UI tests: a real engine (skipped with the reason when the proc connector is
unavailable), a replay session for deterministic snapshots, ``tractui`` in a real terminal (tmux,
through bench.common.tmux, the harness of the UI benchmark too), and cleanup of every process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from textual import events
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Input

from bench.common.tmux import Pane, Tmux
from bench.common.tools import tractui_command
from tractui.app import TractApp
from tractui.engine import Engine
from tractui.events import ConnectorError
from tractui.kernel import procfs
from tractui.screens import launch
from tractui.session import Session


@pytest.fixture(autouse=True)
def _state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Launch logs and settings go to a scratch directory, never the real state directory."""
    monkeypatch.setenv("TRACTUI_STATE_DIR", str(tmp_path / "state"))


@pytest.fixture(autouse=True)
def _no_blink(monkeypatch: pytest.MonkeyPatch) -> None:
    """An Input's cursor shows steadily: a blink half a second long made a dialog's snapshot
    depend on when it was taken (each dialog snapshot failed now and then on a busy machine)."""
    monkeypatch.setattr(Input, "cursor_blink", False)


@pytest.fixture(autouse=True)
def _utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Clocks on screen are local time: pin the zone so snapshots match everywhere."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def under_sudo(monkeypatch: pytest.MonkeyPatch) -> None:
    """The launch dialog at its tallest: the "as root" checkbox shows (as under sudo)."""
    monkeypatch.setattr(launch, "launch_user", lambda: ("alice", True))


class Reaper:
    """Every process a test starts or sees started, killed by (pid, start) at teardown."""

    def __init__(self) -> None:
        self.keys: set[tuple[int, int]] = set()

    def add(self, pid: int) -> None:
        start = procfs.read_start(pid)
        if start is not None:
            self.keys.add((pid, start))

    def kill_all(self) -> None:
        for pid, start in self.keys:
            now = procfs.read_start(pid)
            if now is not None and procfs.same_start(now, start):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


@pytest.fixture
def reaper() -> Iterator[Reaper]:
    reaper = Reaper()
    yield reaper
    reaper.kill_all()


@pytest.fixture
def engine() -> Iterator[Engine]:
    engine = Engine(keep_exited=60.0)
    try:
        engine.start()
    except ConnectorError as err:
        pytest.skip(f"the proc connector is unavailable here: {err.message}")
    yield engine
    engine.stop()


@pytest.fixture
def app(engine: Engine, reaper: Reaper) -> Iterator[TractApp]:
    """The app over a real engine; at teardown, every process its groups hold is killed."""
    app = TractApp(Session(engine), host="test", kernel="test", save_settings=False)
    yield app
    for proc in list(engine.tracker.procs.values()):
        if proc.alive:
            reaper.keys.add(proc.key)


async def wait_for(
    pilot: Pilot[object], predicate: Callable[[], object], timeout: float = 5.0
) -> None:
    """Let the app run until ``predicate()`` is true; fail with the timeout otherwise."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await pilot.pause(0.05)
    await asyncio.sleep(0)


def burst(app: App[object], keys: str | list[str]) -> None:
    """Keys posted all at once, as a terminal delivers a paste or fast typing: none waits for
    the one before it to be handled (pilot.press waits for each). A str's characters (tab and
    space named), or a list of key names ("down") and characters."""
    driver = app._driver
    assert driver is not None
    for key in keys:
        name = {"\t": "tab", " ": "space"}.get(key, key)
        character = key if len(key) == 1 and key != "\t" else None
        event = events.Key(name, character)
        event.set_sender(app)
        driver.send_message(event)


def _connector_reason() -> str:
    engine = Engine()
    try:
        engine.start()
    except ConnectorError as err:
        return err.message
    engine.stop()
    return ""


@pytest.fixture
def tmux(tmp_path: Path, reaper: Reaper, request: pytest.FixtureRequest) -> Iterator[Pane]:
    """``tractui --embedded`` in tmux at 120x40, on a tmux server of its own; a test marked
    ``@pytest.mark.options("...")`` adds those options; ``@pytest.mark.ui_settings({...})``
    writes that ui.json first."""
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    reason = _connector_reason()
    if reason:
        pytest.skip(f"the proc connector is unavailable here: {reason}")
    marker = request.node.get_closest_marker("options")
    options = shlex.split(marker.args[0]) if marker else []
    state = tmp_path / "state"
    saved = request.node.get_closest_marker("ui_settings")
    if saved:
        state.mkdir(mode=0o700, parents=True, exist_ok=True)
        (state / "ui.json").write_text(json.dumps(saved.args[0]))
    env = {"TRACTUI_STATE_DIR": str(state), "TRACTUI_SOCKET": f"{state}/no-daemon.sock"}
    server = Tmux(tmp_path / "tmux.sock")
    try:
        yield server.pane("tractui-test", [*tractui_command(), "--embedded", *options], env, 0.3)
    finally:
        server.kill_all()
