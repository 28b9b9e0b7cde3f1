"""Launching and signalling real processes: identities, log files, errors, pidfds."""

from __future__ import annotations

import os
import pwd
import re
import signal
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tractui import control
from tractui.control import LaunchSpec
from tractui.engine import Engine, log_path_for
from tractui.errors import UserError
from tractui.events import ExitStatus
from tractui.kernel import procfs
from tractui.model.store import Proc

from .support import daemon_of, poll_until, real_ids, running, wait_until

pytestmark = pytest.mark.kernel

Spawn = Callable[..., subprocess.Popen[bytes]]


def test_group_signal_reaches_a_reparented_member(engine: Engine) -> None:
    root = engine.launch("sig", LaunchSpec(["sh", "-c", "(sleep 30 &); sleep 30"]))
    daemon: list[Proc] = []

    def ready() -> bool:
        found = daemon_of(engine, "sig", root)
        daemon[:] = [found] if found is not None and found.reparented else []
        sleeps = [
            p for p in engine.tracker.members("sig", alive_only=True) if p.argv[:1] == ("sleep",)
        ]
        return bool(daemon) and len(sleeps) == 2

    wait_until(engine, ready, "both sleeps, one of them reparented")
    targets = engine.targets("sig")
    assert daemon[0] in targets
    results = engine.signal(targets, signal.SIGTERM)
    assert [r.pid for r in results] == [p.pid for p in targets], "one result per PID, in order"
    assert all(r.ok for r in results), [r.describe() for r in results]
    for proc in targets:
        poll_until(
            lambda p=proc: not running(p.pid, p.start), f"{proc.pid} {proc.command()} to die"
        )  # type: ignore[misc]
    wait_until(engine, lambda: not any(p.alive for p in targets), "the exit events")
    for proc in targets:
        assert proc.exit == ExitStatus(signal=signal.SIGTERM), proc.command()


def test_signals_refuse_init_tractui_and_kernel_threads(engine: Engine) -> None:
    own = engine.tracker.own_pids
    collector = engine.collector.pid
    assert collector is not None
    for pid, reason in [
        (1, "PID 1"),
        (os.getpid(), "tractui"),
        (collector, "tractui"),
        (2, "kernel thread"),
    ]:
        start = procfs.read_start(pid)
        assert start is not None
        # signal 0 checks without harming anything, should the refusal be missing
        result = control.send_signal(pid, start, 0, own)
        assert not result.ok and reason in result.error, (pid, result)
        via_engine = engine.signal([Proc(pid=pid, start=start, group="x", parent=None, ppid=0)], 0)
        assert not via_engine[0].ok and reason in via_engine[0].error
    assert running(collector), "the collector was hit"


def test_signal_refuses_a_pid_whose_start_does_not_match(spawn: Spawn) -> None:
    victim = spawn(["sleep", "30"])
    start = procfs.read_start(victim.pid)
    assert start is not None
    result = control.send_signal(victim.pid, start + 10**9, signal.SIGKILL)
    assert not result.ok and "reused" in result.error
    assert victim.poll() is None and running(victim.pid, start), "a reused PID was signalled"
    assert control.send_signal(victim.pid, start, signal.SIGKILL).ok
    assert victim.wait(timeout=5) == -signal.SIGKILL


def test_signal_to_an_exited_process_says_so(spawn: Spawn) -> None:
    gone = spawn(["true"])
    start = procfs.read_start(gone.pid) or 0
    gone.wait(timeout=5)
    result = control.send_signal(gone.pid, start, signal.SIGTERM)
    assert not result.ok and "no such process" in result.error


def test_launch_under_sudo_runs_as_the_invoking_user(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    if os.geteuid() != 0:
        pytest.skip("launching as another user needs root")
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user named nobody here")
    monkeypatch.setenv("SUDO_UID", str(nobody.pw_uid))
    monkeypatch.setenv("SUDO_GID", str(nobody.pw_gid))
    root = engine.launch("as-nobody", LaunchSpec(["sleep", "30"]))
    poll_until(lambda: procfs.read_argv(root.pid) == ("sleep", "30"), "the exec of sleep")
    assert real_ids(root.pid) == (nobody.pw_uid, nobody.pw_gid)
    assert os.stat(f"/proc/{root.pid}").st_uid == nobody.pw_uid
    log = log_path_for("as-nobody")
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert log.stat().st_uid == 0, "the log belongs to tractui, not to the program"
    wait_until(engine, lambda: root.uid == nobody.pw_uid, "the member's uid")


def test_launch_as_root_keeps_root_under_sudo(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    monkeypatch.setenv("SUDO_UID", "65534")
    root = engine.launch("as-root", LaunchSpec(["sleep", "30"], as_root=True))
    poll_until(lambda: procfs.read_argv(root.pid) == ("sleep", "30"), "the exec of sleep")
    assert real_ids(root.pid) == (0, os.getegid())


@pytest.mark.parametrize("existing", [False, True], ids=["new-group", "existing-group"])
def test_launch_errors_are_clear_and_leave_nothing_behind(
    engine: Engine, tmp_path: Path, existing: bool
) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("echo not a program\n")
    plain.chmod(0o644)
    cases = [
        (LaunchSpec(["nosuchcommand-tractui"]), "command not found"),
        (LaunchSpec([str(plain)]), "not an executable"),
        (LaunchSpec([str(tmp_path)]), "not an executable"),
        (LaunchSpec([str(tmp_path / "missing")]), "no such file"),
        (LaunchSpec(["true"], cwd=str(tmp_path / "nowhere")), "does not exist"),
        (LaunchSpec(["true"], cwd=str(plain)), "is not a directory"),
        (LaunchSpec([]), "no command"),
    ]
    tracker = engine.tracker
    if existing:
        tracker.create_group("g")
    for spec, message in cases:
        with pytest.raises(UserError, match=message) as err:
            engine.launch("g", spec)
        assert "\n" not in str(err.value)
        assert ("g" in tracker.groups) == existing, f"{spec.argv}: group left in the wrong state"
        assert not engine.launched, f"{spec.argv}: a process was started"
    if existing:
        assert not tracker.groups["g"].members


def test_launched_output_goes_to_the_group_log_not_our_terminal(
    engine: Engine, capfd: pytest.CaptureFixture[str]
) -> None:
    script = "echo out-marker-4711; echo err-marker-4711 >&2; read x && echo stdin-was-not-empty"
    root = engine.launch("logged", LaunchSpec(["sh", "-c", script]))
    wait_until(engine, lambda: not root.alive, "the program's end")
    assert root.exit == ExitStatus(code=1), "stdin should be /dev/null: read fails at once"
    banner, text = log_path_for("logged").read_text().split("\n", 1)
    assert banner.startswith("──── ")  # it quotes the script: the program's output follows it
    assert "out-marker-4711" in text and "err-marker-4711" in text
    assert "stdin-was-not-empty" not in text
    captured = capfd.readouterr()
    assert "marker-4711" not in captured.out + captured.err


def test_each_launch_into_a_group_starts_its_output_with_a_banner(engine: Engine) -> None:
    first = engine.launch("twice", LaunchSpec(["sh", "-c", "echo first-run"]))
    wait_until(engine, lambda: not first.alive, "the first program's end")
    wait_until(engine, lambda: engine.launches["twice"][0].outcome, "its end logged")
    second = engine.launch("twice", LaunchSpec(["echo", "it's second"], cwd="/"))
    wait_until(engine, lambda: not second.alive, "the second program's end")
    wait_until(engine, lambda: engine.launches["twice"][1].outcome, "its end logged")
    lines = log_path_for("twice").read_text().splitlines()
    assert len(lines) == 6, lines
    assert lines[0].startswith("──── ") and lines[0].endswith(
        "tractui launched: sh -c 'echo first-run' ────"
    )
    assert lines[1] == "first-run"
    # and after its output, its end
    assert re.fullmatch(
        rf"──── [\d:]{{8}} PID {first.pid} exited: exit 0 after .* s ────", lines[2]
    )
    assert lines[3].endswith("""tractui launched: echo 'it'"'"'s second' in / ────""")
    assert lines[4] == "it's second"
    assert lines[5].endswith(
        f" PID {second.pid} exited: exit 0 after {lines[5].split()[-3]} s ────"
    )


def test_launched_program_runs_in_a_session_of_its_own(engine: Engine) -> None:
    root = engine.launch("session", LaunchSpec(["sleep", "30"]))
    with open(f"/proc/{root.pid}/stat", "rb") as f:
        raw = f.read()
    fields = raw[raw.rindex(b")") + 2 :].split()
    assert int(fields[3]) == root.pid != os.getsid(0)
    assert int(fields[4]) == 0, "it has a controlling terminal"
