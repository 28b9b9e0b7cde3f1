"""``tractui trace`` and ``tractui events`` end to end, as a user runs them."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tractui import control
from tractui.commands import trace
from tractui.kernel import procfs

from .support import poll_until, running

pytestmark = pytest.mark.kernel

Spawn = Callable[..., subprocess.Popen[bytes]]
TRACTUI = [sys.executable, "-m", "tractui"]


class Run:
    def __init__(self, code: int, stdout: str, stderr: str, seconds: float) -> None:
        self.code = code
        self.stdout = stdout
        self.stderr = stderr
        self.seconds = seconds


def _tractui(spawn: Spawn, tmp_path: Path, *args: str, timeout: float = 20.0) -> Run:
    """Run tractui to its end. Output goes to files: a leaked daemon may hold a pipe open."""
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    started = time.monotonic()
    with open(out, "wb") as o, open(err, "wb") as e:
        proc = spawn([*TRACTUI, *args], stdout=o, stderr=e)
    code = proc.wait(timeout=timeout)
    seconds = time.monotonic() - started
    return Run(code, out.read_text(), err.read_text(), seconds)


def _kill(pid: int, argv: tuple[str, ...]) -> None:
    """SIGKILL a survivor, if that PID still runs ``argv``."""
    start = procfs.read_start(pid)
    if start is not None and procfs.read_argv(pid) == argv:
        control.send_signal(pid, start, signal.SIGKILL)


@pytest.fixture
def survivors() -> Any:
    """PIDs of leaked ``sleep 30`` daemons to kill at teardown (their cmdline is checked)."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        _kill(pid, ("sleep", "30"))


@pytest.fixture
def leaked() -> Any:
    """Note a leaked PID (with its start time, read now) to SIGKILL at teardown, by PID."""
    noted: list[tuple[int, int]] = []

    def note(pid: int) -> None:
        start = procfs.read_start(pid)
        if start is not None:
            noted.append((pid, start))

    yield note
    for pid, start in noted:
        control.send_signal(pid, start, signal.SIGKILL)


def _by_pid(report: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {p["pid"]: p for p in report["processes"]}


def test_trace_lists_the_double_forked_daemon_as_a_survivor(
    spawn: Spawn, tmp_path: Path, survivors: list[int]
) -> None:
    out = tmp_path / "report.json"
    script = "(sleep 30 &); sleep 0.2"
    run = _tractui(spawn, tmp_path, "trace", "--json", "-o", str(out), "--", "sh", "-c", script)
    report = json.loads(out.read_text())
    survivors.extend(report["survivors"])
    assert run.code == 0, run.stderr
    assert report["command"] == ["sh", "-c", script]
    assert report["exit"] == {"code": 0}
    procs = _by_pid(report)
    root = procs[report["root"]]
    assert root["parent"] is None
    assert len(report["survivors"]) == 1, report["survivors"]
    daemon = procs[report["survivors"][0]]
    assert daemon["argv"] == ["sleep", "30"] and daemon["alive"] and daemon["exit"] is None
    forker = procs[daemon["parent"]]
    assert forker["pid"] != root["pid"], "the daemon's parent must be the intermediate subshell"
    assert forker["parent"] == root["pid"]
    assert forker["exit"] == {"code": 0} and not forker["alive"]
    assert running(daemon["pid"]), "the survivor should still be running"
    assert run.stdout == "", "the report went to stdout"
    _kill(daemon["pid"], ("sleep", "30"))
    poll_until(lambda: not running(daemon["pid"]), "the survivor to die")


def test_trace_o_dash_puts_the_report_alone_on_stdout(spawn: Spawn, tmp_path: Path) -> None:
    """``-o -``: the report on stdout, CMD's stdout on stderr, so ``| jq`` reads the report."""
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    for extra in (["--json"], []):
        with open(out, "wb") as o, open(err, "wb") as e:
            argv = [*TRACTUI, "trace", *extra, "-o", "-", "--", "sh", "-c", "echo from-cmd"]
            code = spawn(argv, stdout=o, stderr=e, cwd=tmp_path).wait(timeout=20)
        assert code == 0, err.read_text()
        assert err.read_text() == "from-cmd\n", "CMD's stdout, and nothing of the report"
        if extra:
            assert json.loads(out.read_text())["command"] == ["sh", "-c", "echo from-cmd"]
        else:
            assert out.read_text().startswith("tractui trace: sh -c 'echo from-cmd' ended")
    assert not (tmp_path / "-").exists()
    # a reader that leaves (| head) gets what it read; no report on stderr, no traceback
    with open(err, "wb") as e:
        argv = [*TRACTUI, "trace", "--json", "-o", "-", "--", "sleep", "0.2"]
        proc = spawn(argv, stdout=subprocess.PIPE, stderr=e, cwd=tmp_path)
    assert proc.stdout is not None
    proc.stdout.close()
    assert proc.wait(timeout=20) == 0
    assert err.read_text() == ""
    # stdout is the report's only: not the Perfetto export's
    ran = tmp_path / "ran"
    run = _tractui(spawn, tmp_path, "trace", "--perfetto", "-", "--", "sh", "-c", f"touch {ran}")
    assert run.code == 2 and len(run.stderr.splitlines()) == 1, run.stderr
    assert "--perfetto needs a file name" in run.stderr and not ran.exists()


def test_trace_help_says_where_the_report_goes() -> None:
    done = subprocess.run(
        [*TRACTUI, "trace", "--help"], capture_output=True, text=True, timeout=20, check=True
    )
    text = " ".join(done.stdout.split())
    assert "The report goes to stderr (stdout is CMD's)" in text
    assert "-o - puts it on stdout" in text


def test_trace_exits_with_the_commands_code(spawn: Spawn, tmp_path: Path) -> None:
    run = _tractui(spawn, tmp_path, "trace", "--", "sh", "-c", "exit 3")
    assert run.code == 3, run.stderr
    assert "ended with exit 3" in run.stderr
    assert "survivors: none" in run.stderr


def test_trace_exits_128_plus_signal_when_killed(spawn: Spawn, tmp_path: Path) -> None:
    run = _tractui(spawn, tmp_path, "trace", "--", "sh", "-c", "kill -KILL $$")
    assert run.code == 128 + signal.SIGKILL, run.stderr
    assert "SIGKILL" in run.stderr


def test_trace_kill_leftovers_leaves_no_survivor(
    spawn: Spawn, tmp_path: Path, survivors: list[int]
) -> None:
    out = tmp_path / "report.json"
    args = ["trace", "--json", "-o", str(out), "--kill-leftovers", "--grace", "1"]
    run = _tractui(spawn, tmp_path, *args, "--", "sh", "-c", "(sleep 30 &); true")
    report = json.loads(out.read_text())
    survivors.extend(report["survivors"])
    assert run.code == 0, run.stderr
    assert len(report["survivors"]) == 1
    assert report["killed"] == report["survivors"]
    daemon = _by_pid(report)[report["survivors"][0]]
    assert daemon["argv"] == ["sleep", "30"]
    assert daemon["exit"] == {"signal": signal.SIGTERM, "core": False}
    assert not daemon["alive"]
    poll_until(lambda: not running(daemon["pid"]), "the leftover to be gone")


def _sleep_30(report: dict[str, Any]) -> dict[str, Any]:
    """The one leaked ``setsid sleep 30`` of the report (``setsid`` execs it: one process)."""
    sleeps = [p for p in report["processes"] if p["argv"] == ["sleep", "30"]]
    assert len(sleeps) == 1, report["processes"]
    return sleeps[0]


LEAKER = "setsid sleep 30 & sleep 0.2"


def test_trace_fail_on_leak_exits_193_and_lists_the_survivor(
    spawn: Spawn, tmp_path: Path, survivors: list[int]
) -> None:
    run = _tractui(spawn, tmp_path, "trace", "--fail-on-leak", "--", "sh", "-c", LEAKER)
    lines = run.stderr.splitlines()
    assert "survivors:" in lines, run.stderr
    listed = lines[lines.index("survivors:") + 1 :]
    pid = int(listed[0].split()[0])
    survivors.append(pid)
    assert run.code == 193 == trace.EXIT_LEAKED, run.stderr
    assert "ended with exit 0; 3 processes, 1 survivor," in lines[0]
    assert listed == [
        f"{pid:>7}  sleep 30  (still running)",
        "--fail-on-leak: 1 survivor leaked: exit status 193 (the command's own: exit 0)",
    ]
    assert running(pid), "--fail-on-leak alone must leave the survivor running"


def test_trace_fail_on_leak_escapes_the_listing_and_says_which_in_json(
    spawn: Spawn, tmp_path: Path, leaked: Callable[[int], None]
) -> None:
    # the leaked process names itself with control characters: listed escaped, on one line
    renamer = tmp_path / "renamer"
    renamer.write_text("#!/bin/bash\nexec -a \"$(printf 'sl\\033[2Jeep')\" sleep 30\n")
    renamer.chmod(0o755)
    leaker = f"setsid {renamer} & sleep 0.2; exit 5"
    out = tmp_path / "report.json"
    args = ["trace", "--fail-on-leak", "--json", "-o", str(out)]
    run = _tractui(spawn, tmp_path, *args, "--", "sh", "-c", leaker)
    report = json.loads(out.read_text())
    for pid in report["survivors"]:
        leaked(pid)
    assert run.code == trace.EXIT_LEAKED, run.stderr
    assert report["exit"] == {"code": 5}
    assert report["status"] == trace.EXIT_LEAKED
    assert len(report["survivors"]) == 1, report["processes"]
    assert report["leaked"] == report["survivors"] and report["killed"] == []
    daemon = _by_pid(report)[report["survivors"][0]]
    assert daemon["argv"] == ["sl\x1b[2Jeep", "30"] and daemon["alive"]
    # with -o the report is in the file, and stderr says why the status is 193
    assert run.stderr.splitlines()[-1] == (
        f"tractui trace: 1 survivor leaked (--fail-on-leak): exit status 193; "
        f"the report is in {out}"
    )
    text = _tractui(spawn, tmp_path, "trace", "--fail-on-leak", "--", "sh", "-c", leaker)
    lines = text.stderr.splitlines()
    pid = int(lines[lines.index("survivors:") + 1].split()[0])
    leaked(pid)
    assert text.code == trace.EXIT_LEAKED, text.stderr
    assert lines[lines.index("survivors:") + 1 :] == [
        f"{pid:>7}  $'sl\\e[2Jeep' 30  (still running)",
        "--fail-on-leak: 1 survivor leaked: exit status 193 (the command's own: exit 5)",
    ]


def test_trace_fail_on_leak_without_a_leak_passes_the_status_through(
    spawn: Spawn, tmp_path: Path
) -> None:
    out = tmp_path / "report.json"
    args = ["trace", "--fail-on-leak", "--json", "-o", str(out)]
    run = _tractui(spawn, tmp_path, *args, "--", "sh", "-c", "sleep 0.1 & wait; exit 3")
    report = json.loads(out.read_text())
    assert run.code == 3, run.stderr
    assert report["survivors"] == [] and report["leaked"] == [] and report["status"] == 3
    assert run.stderr == ""
    run = _tractui(spawn, tmp_path, "trace", "--fail-on-leak", "--", "true")
    assert run.code == 0, run.stderr
    assert run.stderr.splitlines()[-1] == "survivors: none"


def test_trace_fail_on_leak_fails_even_when_kill_leftovers_ended_them(
    spawn: Spawn, tmp_path: Path, survivors: list[int]
) -> None:
    out = tmp_path / "report.json"
    args = ["trace", "--fail-on-leak", "--kill-leftovers", "--grace", "1", "--json", "-o", str(out)]
    run = _tractui(spawn, tmp_path, *args, "--", "sh", "-c", LEAKER)
    report = json.loads(out.read_text())
    survivors.extend(report["survivors"])
    assert run.code == trace.EXIT_LEAKED, run.stderr
    daemon = _sleep_30(report)
    assert report["survivors"] == report["killed"] == report["leaked"] == [daemon["pid"]]
    assert daemon["exit"] == {"signal": signal.SIGTERM, "core": False} and not daemon["alive"]
    poll_until(lambda: not running(daemon["pid"]), "the leftover to be gone")
    text = _tractui(
        spawn,
        tmp_path,
        "trace",
        "--fail-on-leak",
        "--kill-leftovers",
        "--grace",
        "1",
        "--",
        "sh",
        "-c",
        LEAKER,
    )
    lines = text.stderr.splitlines()
    pid = int(lines[lines.index("survivors:") + 1].split()[0])
    survivors.append(pid)
    assert text.code == trace.EXIT_LEAKED
    assert lines[lines.index("survivors:") + 1 :] == [
        f"{pid:>7}  sleep 30  (ended by tractui)",
        "--fail-on-leak: 1 survivor leaked: exit status 193 (the command's own: exit 0)",
    ]


def test_trace_without_fail_on_leak_passes_the_status_through_despite_a_leak(
    spawn: Spawn, tmp_path: Path, survivors: list[int]
) -> None:
    out = tmp_path / "report.json"
    run = _tractui(spawn, tmp_path, "trace", "--json", "-o", str(out), "--", "sh", "-c", LEAKER)
    report = json.loads(out.read_text())
    survivors.extend(report["survivors"])
    assert run.code == 0, run.stderr
    assert report["leaked"] is None and report["status"] == 0
    assert report["survivors"] == [_sleep_30(report)["pid"]]


def test_trace_wait_all_waits_for_the_daemon(
    spawn: Spawn, tmp_path: Path, survivors: list[int]
) -> None:
    out = tmp_path / "report.json"
    args = ["trace", "--json", "-o", str(out), "--wait-all"]
    run = _tractui(spawn, tmp_path, *args, "--", "sh", "-c", "(sleep 1 &); true")
    report = json.loads(out.read_text())
    survivors.extend(report["survivors"])
    assert run.code == 0, run.stderr
    assert run.seconds >= 0.95
    assert report["survivors"] == []
    sleeps = [p for p in report["processes"] if p["argv"] == ["sleep", "1"]]
    assert len(sleeps) == 1
    assert sleeps[0]["exit"] == {"code": 0} and not sleeps[0]["alive"]
    assert sleeps[0]["end"] - sleeps[0]["start"] >= 0.95


def test_trace_of_a_missing_command_exits_127_with_one_line(spawn: Spawn, tmp_path: Path) -> None:
    run = _tractui(spawn, tmp_path, "trace", "--", "nosuchcommand-tractui")
    assert run.code == 127
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert "nosuchcommand-tractui" in lines[0] and "not found" in lines[0]


def test_trace_of_a_non_executable_file_exits_126(spawn: Spawn, tmp_path: Path) -> None:
    plain = tmp_path / "plain.sh"
    plain.write_text("true\n")
    plain.chmod(0o644)
    run = _tractui(spawn, tmp_path, "trace", "--", str(plain))
    assert run.code == 126
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "not an executable" in lines[0], run.stderr


def test_trace_returns_promptly_while_the_system_is_busy(spawn: Spawn, tmp_path: Path) -> None:
    # another program forking every 20 ms: events never stop coming, none of them ours
    spawn(["sh", "-c", "while :; do /bin/true; sleep 0.02; done"])
    run = _tractui(spawn, tmp_path, "trace", "--", "true")
    assert run.code == 0, run.stderr
    assert run.seconds < 3.0, f"trace of 'true' took {run.seconds:.1f} s"


def _marker(tmp_path: Path) -> Path:
    """A copy of sleep with a unique name (<= 15 bytes: the kernel's comm length)."""
    name = f"trmark{os.getpid() % 100000:05d}"
    path = tmp_path / name
    sleep = shutil.which("sleep")
    assert sleep is not None
    shutil.copy(sleep, path)
    path.chmod(0o755)
    return path


def _events_with_markers(
    spawn: Spawn, tmp_path: Path, marker: Path, *args: str
) -> tuple[Run, list[int]]:
    """Run ``tractui events ARGS`` and the marker every 0.2 s while it listens."""
    out, err = tmp_path / "events.out", tmp_path / "events.err"
    with open(out, "wb") as o, open(err, "wb") as e:
        events = spawn([*TRACTUI, "events", *args], stdout=o, stderr=e)
    started = time.monotonic()
    pids: list[int] = []
    while events.poll() is None and time.monotonic() - started < 15:
        run = subprocess.Popen([str(marker), "0.01"])  # ends by itself at once
        assert run.wait(timeout=5) == 0
        pids.append(run.pid)
        time.sleep(0.2)
    code = events.wait(timeout=10)
    return Run(code, out.read_text(), err.read_text(), time.monotonic() - started), pids


def _records(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_events_shows_every_exec_with_its_command_line(spawn: Spawn, tmp_path: Path) -> None:
    marker = _marker(tmp_path)
    run, pids = _events_with_markers(spawn, tmp_path, marker, "--duration", "3", "--json")
    assert run.code == 0, run.stderr
    assert 2.5 <= run.seconds < 10
    records = _records(run.stdout)
    ours = [r for r in records if r["process.executable.name"] == marker.name]
    assert ours, f"no exec of {marker.name} among {len(records)} records"
    kinds = {r["tractui.event"] for r in records}
    assert kinds == {"exec"}, "forks or exits shown without --all"
    for record in ours:
        assert record["process.command_args"] == [str(marker), "0.01"]
        assert record["process.parent_pid"] == os.getpid()
        assert record["process.pid"] in pids
        assert record["process.executable.path"] == str(marker)
        assert record["process.owner"] == "root"
        created = datetime.fromisoformat(record["process.creation.time"].replace("Z", "+00:00"))
        assert abs(created.timestamp() - record["time"]) < 1.0
    assert "events seen" in run.stderr


def test_events_all_shows_forks_and_decoded_exits(spawn: Spawn, tmp_path: Path) -> None:
    marker = _marker(tmp_path)
    args = ("--all", "--json", "--duration", "2")
    run, pids = _events_with_markers(spawn, tmp_path, marker, *args)
    assert run.code == 0, run.stderr
    records = _records(run.stdout)
    execs = {
        r["process.pid"]: r
        for r in records
        if r["tractui.event"] == "exec" and r["process.executable.name"] == marker.name
    }
    assert execs, f"no exec of {marker.name} among {len(records)} records"
    assert set(execs) <= set(pids)
    for pid in execs:
        mine = [r for r in records if r["process.pid"] == pid]
        kinds = [r["tractui.event"] for r in mine]
        if "fork" not in kinds or "exit" not in kinds:
            continue  # the first or last run, cut by the start or end of listening
        assert kinds == ["fork", "exec", "exit"], mine
        fork, _exec, exit_ = mine
        assert fork["process.parent_pid"] == os.getpid()
        assert exit_["process.exit.code"] == 0 and exit_["tractui.exit.signal"] is None
        assert exit_["tractui.exit.status"] == "exit 0"
        assert exit_["process.command_args"] == [str(marker), "0.01"]
        assert exit_["process.exit.time"].endswith("Z")
        return
    raise AssertionError(f"no marker run seen whole (fork, exec, exit) in {execs}")
