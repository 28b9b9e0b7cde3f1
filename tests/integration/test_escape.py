"""Another user's text on the CLI's terminal (issue 10): ``list`` (lines and tree), ``groups``,
``events`` (a group's and the whole system's), ``trace``'s report and a refusal that quotes a
process show each control character escaped, one line per process, and ``list``'s lines paste
back into bash as the very same argv. JSON keeps the text exact.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bench.common.daemon import Daemon
from tests.evil import EVIL, QUOTED
from tests.integration.support import poll_until
from tractui.daemon.link import DaemonEngine
from tractui.session import Session

pytestmark = pytest.mark.kernel

Spawn = Callable[..., subprocess.Popen[bytes]]

SHOWN = r"\e[41mEVIL\e[0m \e]2;pwned\a cr\rXX nl\nYY"
# what a terminal acts on: every C0 control but the newline that ends a line, DEL, C1
CONTROLS = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def controls(text: str) -> list[str]:
    return CONTROLS.findall(text)


def bash_argv(line: str) -> list[bytes]:
    """What bash makes of a command line: its words, byte for byte."""
    out = subprocess.run(
        ["bash", "-c", "printf '%s\\0' " + line], capture_output=True, check=True, timeout=10
    ).stdout
    return out.split(b"\0")[:-1]


def test_list_events_and_groups_escape_a_process_text(daemon: Daemon) -> None:
    daemon.cli("add", "esc", "--", *EVIL)
    poll_until(
        lambda: len(daemon.cli("list", "esc", "--format", "pids").stdout.split()) == 2,
        "the shell and its sleep listed",
    )
    lines = daemon.cli("list", "esc").stdout.splitlines()
    assert len(lines) == 2, lines  # one per process (was 4: the CR and LF split them)
    assert not controls("\n".join(lines))
    shell = next(line for line in lines if "sleep 60; true" in line)
    command = shell.split(": ", 1)[1]
    assert command == QUOTED
    if shutil.which("bash"):  # pasted into a shell, it is the very same argv
        assert bash_argv(command) == [a.encode() for a in EVIL]

    tree = daemon.cli("list", "esc", "--format", "tree").stdout
    assert len(tree.splitlines()) == 3 and not controls(tree), tree
    assert QUOTED in tree

    doc = json.loads(daemon.cli("list", "esc", "--format", "json").stdout)
    assert EVIL in [m["argv"] for m in doc["members"]]  # exact: JSON escapes it itself

    events = daemon.cli("events", "--group", "esc", "--duration", "0.5").stdout
    assert SHOWN in events and not controls(events), events
    groups = daemon.cli("groups").stdout
    assert not controls(groups) and len(groups.splitlines()) == 2

    # the UI's session on the daemon: its rows and its event log hold the text escaped
    engine = DaemonEngine(daemon.socket)
    engine.start()
    session = Session(engine)
    session.start()
    try:
        deadline = time.monotonic() + 10
        while not any(SHOWN in r.command for r in session.snapshot.procs.values()):
            assert time.monotonic() < deadline, list(session.snapshot.procs.values())
            time.sleep(0.05)
        assert any(SHOWN in e.text for e in session.snapshot.log("esc"))
    finally:
        session.stop()


def test_refusals_quoting_a_process_or_a_name_are_escaped(
    daemon: Daemon,
    spawn: Spawn,
    tmp_path: Path,
) -> None:
    # a program whose name (so its comm) is an escape sequence
    sleep = shutil.which("sleep")
    assert sleep is not None
    named = tmp_path / "\x1b[41mE\x07"
    shutil.copy(sleep, named)
    named.chmod(0o755)
    proc = spawn([str(named), "60"])
    poll_until(lambda: _comm(proc.pid) == named.name, "the renamed sleep to run")
    daemon.cli("attach", "one", "--create", str(proc.pid))
    done = daemon.cli("attach", "two", "--create", str(proc.pid), check=False)
    assert done.returncode == 1
    assert rf"PID {proc.pid} (\e[41mE\a) is already in group 'one'" in done.stderr
    assert not controls(done.stderr) and len(done.stderr.splitlines()) == 1, done.stderr

    # a group's name cannot hold control characters: refused, saying so, nothing created
    done = daemon.cli("add", "bad\x1b[41mname", "--", "true", check=False)
    assert done.returncode == 1 and "bad group name" in done.stderr, done.stderr
    assert not controls(done.stderr) and len(done.stderr.splitlines()) == 1, done.stderr
    groups = json.loads(daemon.cli("groups", "--json").stdout)
    assert [g["name"] for g in groups] == ["one"]


def test_the_groups_banner_is_escaped(
    make_daemon: Callable[..., Daemon],
    tmp_path: Path,
) -> None:
    # a corrupt state file in a directory whose name is an escape sequence: the banner names it
    served = make_daemon(start=False, root=tmp_path / "st\x1b[41mate")
    served.state.mkdir(parents=True)
    (served.state / "groups.json").write_text("{")
    served.start()
    done = served.cli("groups")
    assert r"st\e[41mate" in done.stderr and "is not valid JSON" in done.stderr, done.stderr
    assert not controls(done.stderr) and len(done.stderr.splitlines()) == 1, done.stderr


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm", "rb") as f:
            return f.read().rstrip(b"\n").decode()
    except OSError:
        return ""


def _tractui(spawn: Spawn, tmp_path: Path, *args: str) -> tuple[str, str]:
    """Run tractui to its end; its stdout and stderr (files: no pipe a leftover could hold)."""
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with open(out, "wb") as o, open(err, "wb") as e:
        proc = spawn([sys.executable, "-m", "tractui", *args], stdout=o, stderr=e)
    proc.wait(timeout=30)
    return out.read_bytes().decode(), err.read_bytes().decode()


def test_events_shows_another_users_escapes_escaped(spawn: Spawn, tmp_path: Path) -> None:
    """Root's ``tractui events`` sees every exec on the machine: a nobody's too."""
    nobody: dict[str, Any] = (
        {"user": 65534, "group": 65534, "extra_groups": [], "cwd": "/"} if os.geteuid() == 0 else {}
    )
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with open(out, "wb") as o, open(err, "wb") as e:
        events = spawn(
            [sys.executable, "-m", "tractui", "events", "--duration", "2"], stdout=o, stderr=e
        )
    argv = ["sh", "-c", "exit 0", *EVIL[3:]]
    started = time.monotonic()
    while events.poll() is None and time.monotonic() - started < 10:
        spawn(argv, **nobody).wait(timeout=5)
        time.sleep(0.2)
    assert events.wait(timeout=10) == 0, err.read_text()
    text = out.read_bytes().decode()
    assert r"sh -c 'exit 0' x $'\e[41mEVIL\e[0m' $'\e]2;pwned\a' $'cr\rXX' $'nl\nYY'" in text
    assert not controls(text), [line for line in text.splitlines() if controls(line)][:3]


def test_trace_report_escapes_the_command_lines(spawn: Spawn, tmp_path: Path) -> None:
    _, report = _tractui(spawn, tmp_path, "trace", "--", "sh", "-c", "sleep 0.1; true", *EVIL[3:])
    assert not controls(report), report
    lines = report.splitlines()
    quoted = QUOTED.replace("sleep 60", "sleep 0.1")
    assert lines[0].startswith(f"tractui trace: {quoted} ended with exit 0"), lines[0]
    assert lines[-1] == "survivors: none", lines
    # found by what they say: with kernel accounting, the totals, wait4's line and the top 2 by
    # CPU follow the table; without it, one line says so before the table, and nothing follows
    titles = next(i for i, line in enumerate(lines) if line.split()[:2] == ["PID", "START"])
    assert lines[titles + 1].endswith(quoted) and lines[titles + 2].endswith("sleep 0.1"), lines
    totals = [i for i, line in enumerate(lines) if line.startswith("total of ")]
    if totals:
        (at,) = totals
        assert at == titles + 3 and lines[at].startswith("total of 2 ended processes"), lines
        assert lines[at + 1].startswith("wait4 of CMD") and lines[at + 2] == "top 2 by CPU:", lines
        top = {line.split("s  ", 1)[1] for line in lines[at + 3 : at + 5]}
        assert top == {quoted, "sleep 0.1"} and len(lines) == at + 6, lines
    else:
        assert lines[1].startswith("ended processes' CPU and memory: unavailable ("), lines
        assert titles == 2 and len(lines) == titles + 4, lines
