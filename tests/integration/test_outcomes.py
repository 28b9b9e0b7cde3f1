"""How members end, against the real kernel: a launched program's end in its launch log (once,
across kill -9 restarts of the daemon), a failed launch kept in the tree, signals sent from
tractui counted apart from failures (and remembered across a restart), and the subtree of an
exited process signalled. Every process started here is killed at teardown."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.common.daemon import Daemon
from tests.integration.support import TIMEOUT, poll_until, running, wait_until
from tractui.control import LaunchSpec
from tractui.engine import Engine
from tractui.kernel import procfs

pytestmark = pytest.mark.kernel


class Pids:
    """PIDs a test saw started (a setsid child escapes its launcher's process group): each
    SIGKILLed at teardown if it is still the same process."""

    def __init__(self) -> None:
        self.keys: set[tuple[int, int]] = set()

    def add(self, pid: int) -> int:
        start = procfs.read_start(pid)
        if start is not None:
            self.keys.add((pid, start))
        return pid

    def kill_all(self) -> None:
        for pid, start in self.keys:
            now = procfs.read_start(pid)
            if now is not None and procfs.same_start(now, start):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


@pytest.fixture
def pids() -> Iterator[Pids]:
    seen = Pids()
    yield seen
    seen.kill_all()


def groups(daemon: Daemon) -> dict[str, dict[str, Any]]:
    return {g["name"]: g for g in json.loads(daemon.cli("groups", "--json").stdout)}


def tree(daemon: Daemon, group: str) -> str:
    return daemon.cli("list", group, "--format", "tree").stdout


def launch_log(daemon: Daemon, group: str) -> str:
    return daemon.cli("log", group).stdout


def exit_lines(text: str, pid: int) -> list[str]:
    return [line for line in text.splitlines() if f" PID {pid} exited: " in line]


def added(daemon: Daemon, group: str, *argv: str) -> int:
    out = daemon.cli("add", group, "--", *argv).stdout
    return int(out.split()[1])


def members(daemon: Daemon, group: str) -> list[dict[str, Any]]:
    return json.loads(daemon.cli("list", group, "--format", "json").stdout)["members"]


# ---- the launch log ----------------------------------------------------------------------------


def test_the_embedded_engine_logs_a_launched_programs_end(engine: Engine) -> None:
    proc = engine.launch("fail", LaunchSpec(["sh", "-c", "echo oops; exit 3"]))
    wait_until(engine, lambda: not proc.alive, "the program's exit")
    wait_until(engine, lambda: engine.launches["fail"][0].outcome, "its end logged")
    text = engine.read_log("fail").text
    (line,) = exit_lines(text, proc.pid)
    assert re.fullmatch(
        rf"──── \d\d:\d\d:\d\d PID {proc.pid} exited: exit 3 after \d+\.\d+ s ────", line
    ), line
    assert text.index("tractui launched:") < text.index("oops") < text.index(line)
    group = engine.tracker.groups["fail"]
    assert group.last_outcome.startswith("exit 3 after") and group.last_failed
    assert (group.failed, group.roots_failed, group.ended_by_you) == (1, 1, 0)


def test_a_programs_end_is_logged_once_across_kill9_restarts(
    make_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    daemon = make_daemon()
    # one ends while the daemon is down, one after it came back: each when told (a file)
    wait = "while [ ! -e {} ]; do sleep 0.05; done; exit {}"
    unseen = added(daemon, "d", "sh", "-c", wait.format(tmp_path / "one", 5))
    later = added(daemon, "d", "sh", "-c", wait.format(tmp_path / "two", 4))
    daemon.kill9()  # just after the launches (each saved at once, as every add is)
    (tmp_path / "one").touch()
    poll_until(lambda: not running(unseen), "the first one's end")
    daemon.start()
    (tmp_path / "two").touch()
    poll_until(lambda: exit_lines(launch_log(daemon, "d"), later), "the later one's end", 10)
    text = launch_log(daemon, "d")
    (line,) = exit_lines(text, unseen)
    assert "gone (ended unseen) after" in line, line  # its status: nobody saw it
    (line,) = exit_lines(text, later)
    assert "exited: exit 4 after " in line, line
    time.sleep(1.5)  # the records' notes saved (within a second)
    daemon.kill9()
    daemon.start()
    time.sleep(1.0)
    text = launch_log(daemon, "d")
    assert len(exit_lines(text, unseen)) == len(exit_lines(text, later)) == 1, text
    assert groups(daemon)["d"]["last_outcome"].startswith("exit 4 after")


# ---- a failed launch stays ---------------------------------------------------------------------


def test_a_failed_launch_is_kept_until_the_next_launch(make_daemon: Callable[..., Daemon]) -> None:
    daemon = make_daemon("--keep-exited", "1")
    failed = added(daemon, "f", "sh", "-c", "exit 3")
    poll_until(lambda: groups(daemon)["f"]["last_outcome"], "its end")
    time.sleep(2.5)  # past --keep-exited, and an upkeep or two
    assert f"{failed}  exit 3" in tree(daemon, "f")
    g = groups(daemon)["f"]
    assert (g["live"], g["total"], g["failed"], g["roots_failed"], g["last_failed"]) == (
        0,
        1,
        1,
        1,
        True,
    )
    out = daemon.cli("groups").stdout
    assert re.search(r"^f\s+0\s+1\s+0\s+1\s+1\s+1\s+0 .* yes       exit 3 after", out, re.M), out
    added(daemon, "f", "true")
    poll_until(lambda: str(failed) not in tree(daemon, "f"), "the failed launch pruned", 8)
    g = groups(daemon)["f"]
    assert g["last_outcome"].startswith("exit 0 after") and not g["last_failed"]


# ---- signals sent from tractui -------------------------------------------------------------------


def test_a_group_sigterm_is_counted_as_ended_by_you(
    make_daemon: Callable[..., Daemon], pids: Pids
) -> None:
    daemon = make_daemon()
    added(daemon, "s", "sh", "-c", "sleep 100 & sleep 100 & wait")
    added(daemon, "s", "sh", "-c", "exit 1")  # a failure of its own
    poll_until(lambda: groups(daemon)["s"]["live"] == 3, "the shell and its sleeps")
    for m in members(daemon, "s"):
        pids.add(m["pid"])
    daemon.cli("signal", "s")
    poll_until(lambda: groups(daemon)["s"]["live"] == 0, "all ended")
    g = groups(daemon)["s"]
    assert (g["exits"], g["failed"], g["ended_by_you"]) == (4, 1, 3), g
    time.sleep(1.5)
    daemon.kill9()
    daemon.start()
    g = groups(daemon)["s"]
    assert (g["exits"], g["failed"], g["ended_by_you"]) == (4, 1, 3), g
    statuses = {m["status"] for m in members(daemon, "s") if m["argv"][:1] == ["sleep"]}
    assert statuses == {"SIGTERM"}


def test_the_child_a_wrapper_forwards_the_signal_to_is_ended_by_you_too(
    make_daemon: Callable[..., Daemon], pids: Pids
) -> None:
    """SIGTERM to `timeout 300 sleep 100` alone: timeout passes it on to sleep, which dies of
    it; neither is a failure (nor counted signaled in the metrics), across a kill -9 restart."""
    daemon = make_daemon()
    root = added(daemon, "w", "timeout", "300", "sleep", "100")
    pids.add(root)
    poll_until(lambda: groups(daemon)["w"]["live"] == 2, "timeout and its sleep")
    for m in members(daemon, "w"):
        pids.add(m["pid"])
    assert "SIGTERM sent" in daemon.cli("signal", "w", "--pid", str(root)).stdout
    poll_until(lambda: groups(daemon)["w"]["live"] == 0, "both ended")
    g = groups(daemon)["w"]
    assert (g["exits"], g["failed"], g["ended_by_you"]) == (2, 0, 2), g
    (sleep,) = [m for m in members(daemon, "w") if m["argv"][:1] == ["sleep"]]
    assert sleep["status"] == "SIGTERM", sleep
    time.sleep(1.5)  # the members' notes in the journal
    daemon.kill9()
    daemon.start()
    g = groups(daemon)["w"]
    assert (g["exits"], g["failed"], g["ended_by_you"]) == (2, 0, 2), g


def test_a_signal_sent_before_a_kill9_restart_is_remembered(
    make_daemon: Callable[..., Daemon], pids: Pids, tmp_path: Path
) -> None:
    daemon = make_daemon()
    # on SIGTERM it ends when told (a file), with a status of its own
    go = tmp_path / "go"
    trap = f"trap 'while [ ! -e {go} ]; do sleep 0.05; done; exit 9' TERM"
    root = added(daemon, "slow", "sh", "-c", f"{trap}; while :; do sleep 0.1; done")
    pids.add(root)
    poll_until(lambda: groups(daemon)["slow"]["execs"] >= 2, "the loop's first sleeps")
    assert "SIGTERM sent" in daemon.cli("signal", "slow", "--pid", str(root)).stdout
    time.sleep(1.2)  # the member's note in the journal (within a second), the program still up
    assert running(root)
    daemon.kill9()
    daemon.start()
    assert running(root)
    go.touch()
    poll_until(lambda: not running(root), "the shell's end", 10)
    poll_until(lambda: groups(daemon)["slow"]["last_outcome"], "its outcome")
    g = groups(daemon)["slow"]
    assert (g["failed"], g["ended_by_you"]) == (0, 1), g
    assert g["last_outcome"].startswith("exit 9 (by you) after"), g
    (line,) = exit_lines(launch_log(daemon, "slow"), root)
    assert "exit 9 (by you)" in line


# ---- the subtree of an exited process ------------------------------------------------------------


def test_signal_subtree_of_an_exited_shell_reaches_its_setsid_child(
    daemon: Daemon, pids: Pids
) -> None:
    shell = added(daemon, "o", "sh", "-c", "setsid sleep 60 & exit 0")

    def child() -> int | None:
        found = [m for m in members(daemon, "o") if m["argv"] == ["sleep", "60"] and m["alive"]]
        return found[0]["pid"] if found else None

    poll_until(lambda: child() is not None and not running(shell), "the shell gone, the sleep on")
    sleep = pids.add(child() or 0)
    refused = daemon.cli("signal", "o", "--pid", str(shell), check=False)
    assert refused.returncode == 1 and "has exited: nothing to signal" in refused.stderr
    assert running(sleep)
    out = daemon.cli("signal", "o", "--pid", str(shell), "--subtree").stdout
    assert out == f"{sleep}: SIGTERM sent\n"
    poll_until(lambda: not running(sleep), "the sleep's end", TIMEOUT)
    again = daemon.cli("signal", "o", "--pid", str(shell), "--subtree", check=False)
    assert again.returncode == 1 and "no descendant of it is alive" in again.stderr
    poll_until(lambda: groups(daemon)["o"]["ended_by_you"] == 1, "the sleep ended by you")
