"""End to end in a real terminal: tmux runs ``tractui``; keys go in, the screen comes out."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.ui.conftest import Reaper
from tractui.engine import Engine
from tractui.events import ConnectorError
from tractui.kernel import procfs

COMMAND = "sh -c 'sleep 30 & (setsid sleep 31 &); wait'"


def _connector_reason() -> str:
    engine = Engine()
    try:
        engine.start()
    except ConnectorError as err:
        return err.message
    engine.stop()
    return ""


class Tmux:
    """One detached tmux session running tractui at 120x40, on a tmux server of its own (a
    server shared with the user's would pass them its environment, and they ours)."""

    def __init__(self, state_dir: Path, options: str = "") -> None:
        self.name = f"tractui-test-{uuid.uuid4().hex[:8]}"
        tractui = Path(sys.executable).parent / "tractui"
        self.run(
            [
                "new-session",
                "-d",
                "-s",
                self.name,
                "-x",
                "120",
                "-y",
                "40",
                # Textual prefers COLUMNS/LINES to the terminal's size: the test runner may set them
                f"env -u COLUMNS -u LINES TRACTUI_STATE_DIR={state_dir} "
                f"TRACTUI_SOCKET={state_dir}/no-daemon.sock {tractui} --embedded {options}",
            ],
            check=True,
        )

    def run(self, args: list[str], check: bool = False) -> subprocess.CompletedProcess[str]:
        """A tmux command to this session's own server (``-L``: its socket is named for it)."""
        return subprocess.run(
            ["tmux", "-L", self.name, *args],
            capture_output=True,
            text=True,
            check=check,
            timeout=10,
        )

    def keys(self, *keys: str, literal: bool = False) -> None:
        self.run(["send-keys", "-t", self.name, *(["-l"] if literal else []), *keys], check=True)
        time.sleep(0.3)  # tmux delivers bursts as one read; a person types slower than this

    def screen(self) -> str:
        return self.run(["capture-pane", "-p", "-t", self.name]).stdout

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if predicate(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"screen never matched; last screen:\n{screen}")
            time.sleep(0.1)

    def kill(self) -> None:
        self.run(["kill-server"])
        tmpdir = Path(os.environ.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.getuid()}"
        (tmpdir / self.name).unlink(missing_ok=True)  # the server's socket, if it left it


@pytest.fixture
def tmux(tmp_path: Path, reaper: Reaper, request: pytest.FixtureRequest) -> Iterator[Tmux]:
    """tractui in tmux; a test marked ``@pytest.mark.options("...")`` adds those options."""
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    reason = _connector_reason()
    if reason:
        pytest.skip(f"the proc connector is unavailable here: {reason}")
    marker = request.node.get_closest_marker("options")
    session = Tmux(tmp_path / "state", marker.args[0] if marker else "")
    yield session
    session.kill()


def pid_on_screen(screen: str, command: str) -> int:
    match = re.search(rf"^\s*(\d+) .*── {re.escape(command)}\b", screen, re.M)
    assert match, f"{command!r} is not on the screen:\n{screen}"
    return int(match.group(1))


def alive(pid: int) -> bool:
    stat = procfs.read_stat(pid)
    return stat is not None and stat.state not in ("Z", "X")


def test_launch_then_group_sigterm_ends_the_double_forked_daemon(
    tmux: Tmux, reaper: Reaper
) -> None:
    tmux.wait_for(lambda s: "engine running" in s)
    tmux.keys("n")
    tmux.wait_for(lambda s: "Launch a program" in s)
    tmux.keys("e2e", literal=True)
    tmux.keys("Tab")
    tmux.keys(COMMAND, literal=True)
    tmux.keys("Enter")
    screen = tmux.wait_for(lambda s: "── sleep 30" in s and "── sleep 31" in s)
    pids = [pid_on_screen(screen, "sleep 30"), pid_on_screen(screen, "sleep 31")]
    for pid in pids:
        reaper.add(pid)
    assert "▾ e2e" in screen
    tmux.wait_for(lambda s: re.search(r"── sleep 31\s+\[reparented to 1\]", s) is not None)
    tmux.keys("Home")
    tmux.keys("k")
    tmux.wait_for(lambda s: "Send signal" in s)
    tmux.keys("Enter")
    tmux.wait_for(lambda s: "Send SIGTERM to group e2e" in s)
    tmux.keys("y")
    deadline = time.monotonic() + 5
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(p) for p in pids)
    tmux.wait_for(lambda s: "[SIGTERM] sleep 31" in s)
    tmux.keys("q")
    deadline = time.monotonic() + 5
    while tmux.name in _sessions(tmux) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert tmux.name not in _sessions(tmux), "tractui did not quit on q"


def _sessions(tmux: Tmux) -> str:
    return tmux.run(["ls"]).stdout


@pytest.mark.options("--keep-exited 1")
def test_keep_exited_sets_how_long_an_exited_process_stays(tmux: Tmux) -> None:
    tmux.wait_for(lambda s: "engine running" in s)
    tmux.keys("n")
    tmux.wait_for(lambda s: "Launch a program" in s)
    tmux.keys("brief", literal=True)
    tmux.keys("Tab")
    tmux.keys("sh -c 'exit 7'", literal=True)
    tmux.keys("Enter")
    tmux.wait_for(lambda s: "[exit 7] sh -c exit 7" in s)
    started = time.monotonic()
    screen = tmux.wait_for(lambda s: "[exit 7]" not in s, timeout=5)
    assert "▾ brief  0/0 live" in screen and time.monotonic() - started < 4  # not the 10 s
    tmux.keys("q")
