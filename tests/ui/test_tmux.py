"""End to end in a real terminal: tmux runs ``tractui`` (the ``tmux`` fixture of conftest.py);
keys go in, the screen comes out."""

from __future__ import annotations

import re
import shutil
import sys
import time
from pathlib import Path

import pytest

from bench.common.tmux import Pane, Tmux
from bench.common.tools import tractui_command
from tests.ui.conftest import Reaper
from tractui.kernel import procfs

COMMAND = "sh -c 'sleep 30 & (setsid sleep 31 &); wait'"


def pid_on_screen(screen: str, command: str) -> int:
    match = re.search(rf"^\s*(\d+) .*── {re.escape(command)}\b", screen, re.M)
    assert match, f"{command!r} is not on the screen:\n{screen}"
    return int(match.group(1))


def alive(pid: int) -> bool:
    stat = procfs.read_stat(pid)
    return stat is not None and stat.state not in ("Z", "X")


def test_launch_then_group_sigterm_ends_the_double_forked_daemon(
    tmux: Pane, reaper: Reaper
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
    # signals sent from tractui are no failures: counted apart, each end marked "by you"
    screen = tmux.wait_for(lambda s: "[SIGTERM, by you] sleep 31" in s)
    assert re.search(r"▾ e2e .*live  3 ended by you  last: SIGTERM \(by you\)", screen), screen
    assert "failed" not in screen.split("▾ e2e")[1].splitlines()[0]
    tmux.keys("q")
    deadline = time.monotonic() + 5
    while tmux.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not tmux.alive(), "tractui did not quit on q"


@pytest.mark.options("--keep-exited 1")
def test_keep_exited_sets_how_long_an_exited_process_stays(tmux: Pane) -> None:
    tmux.wait_for(lambda s: "engine running" in s)
    tmux.keys("n")
    tmux.wait_for(lambda s: "Launch a program" in s)
    tmux.keys("brief", literal=True)
    tmux.keys("Tab")
    tmux.keys("sh -c 'exit 0'", literal=True)
    tmux.keys("Enter")
    tmux.wait_for(lambda s: "[exit 0] sh -c exit 0" in s)
    started = time.monotonic()
    screen = tmux.wait_for(lambda s: "[exit 0]" not in s, timeout=5)
    assert "▾ brief  0/0 live" in screen and time.monotonic() - started < 4  # not the 10 s
    assert "last: exit 0 after" in screen
    tmux.keys("q")


@pytest.mark.options("--keep-exited 1")
def test_a_failed_launch_stays_in_the_tree_until_the_next_launch(tmux: Pane) -> None:
    tmux.wait_for(lambda s: "engine running" in s)
    tmux.keys("n")
    tmux.wait_for(lambda s: "Launch a program" in s)
    tmux.keys("brief", literal=True)
    tmux.keys("Tab")
    time.sleep(0.5)  # the focus moves first (typing at once after Tab: the prompts' issue)
    tmux.keys("sh -c 'exit 3'", literal=True)
    tmux.keys("Enter")
    tmux.wait_for(lambda s: "[exit 3] sh -c exit 3" in s)
    time.sleep(3)  # three times --keep-exited: a failed launch is kept all the same
    screen = tmux.wait_for(lambda s: "[exit 3] sh -c exit 3" in s)
    assert re.search(r"▾ brief  0/1 live .* 1 failed  last: exit 3 after", screen), screen
    tmux.keys("n")
    tmux.wait_for(lambda s: "Launch a program" in s)
    tmux.keys("Tab")
    time.sleep(0.5)  # the focus moves first (typing at once after Tab: the prompts' issue)
    tmux.keys("true", literal=True)
    tmux.keys("Enter")
    # the next launch: the failed one goes as any exited process does
    screen = tmux.wait_for(lambda s: "[exit 3]" not in s and "▾ brief  0/0 live" in s, timeout=8)
    assert "last: exit 0 after" in screen
    tmux.keys("q")


def test_k_on_an_exited_shell_reaches_its_live_setsid_child(tmux: Pane, reaper: Reaper) -> None:
    tmux.wait_for(lambda s: "engine running" in s)
    tmux.keys("n")
    tmux.wait_for(lambda s: "Launch a program" in s)
    tmux.keys("orphan", literal=True)
    tmux.keys("Tab")
    time.sleep(0.5)  # the focus moves first (typing at once after Tab: the prompts' issue)
    tmux.keys("sh -c 'setsid sleep 60 & exit 0'", literal=True)
    tmux.keys("Enter")
    screen = tmux.wait_for(lambda s: "[exit 0] sh -c" in s and "── sleep 60" in s)
    child = pid_on_screen(screen, "sleep 60")
    reaper.add(child)
    tmux.keys("Home")
    tmux.keys("Down")  # the exited shell
    tmux.keys("k")
    screen = tmux.wait_for(lambda s: "Send signal" in s)
    assert "has exited" in screen and "1 live descendant" in screen, screen
    assert re.search(rf"\b{child} sleep 60", screen), screen
    tmux.keys("Enter")  # SIGTERM, in subtree scope (preselected: the process has exited)
    deadline = time.monotonic() + 5
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(child)
    screen = tmux.wait_for(lambda s: "[SIGTERM, by you] sleep 60" in s)
    assert "1 ended by you" in screen
    tmux.keys("q")


# What `make run` does on a hang-up: make (the pane's first process, the session's leader) is the
# one the kernel signals; it catches SIGHUP and waits for its child, which no one signals
WRAPPER = """
import signal, subprocess, sys
signal.signal(signal.SIGHUP, lambda *_: None)
child = subprocess.Popen(sys.argv[2:])
open(sys.argv[1], "w").write(str(child.pid))
child.wait()
"""


def test_a_terminal_that_goes_away_ends_the_ui_that_is_not_its_sessions_leader(
    tmp_path: Path, reaper: Reaper
) -> None:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    state = tmp_path / "state"
    env = {"TRACTUI_STATE_DIR": str(state), "TRACTUI_SOCKET": f"{state}/no-daemon.sock"}
    pid_file = tmp_path / "ui.pid"
    server = Tmux(tmp_path / "tmux.sock")
    argv = [sys.executable, "-c", WRAPPER, str(pid_file), *tractui_command(), "--embedded"]
    try:
        pane = server.pane("hangup", argv, env, 0.3)
        reaper.add(pane.pid)
        pane.wait_for(lambda s: "engine running" in s)
        ui = int(pid_file.read_text())
        reaper.add(ui)
    finally:
        server.kill_all()  # the terminal goes: its window closed, its ssh connection dropped
    deadline = time.monotonic() + 15
    while alive(ui) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(ui), "the UI runs on with no terminal"
