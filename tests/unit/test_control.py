"""Launch checks, signal names and refusals, the sudo identity."""

from __future__ import annotations

import os
import pwd
import signal
from pathlib import Path

import pytest

from tractui import control
from tractui.errors import UserError


@pytest.mark.parametrize("text", ["TERM", "SIGTERM", "term", "15", " 15 "])
def test_signal_names_and_numbers_parse(text: str) -> None:
    assert control.parse_signal(text) == signal.SIGTERM


@pytest.mark.parametrize("text", ["NOPE", "999", "", "SIG"])
def test_unknown_signals_are_a_clear_error(text: str) -> None:
    with pytest.raises(UserError, match="no signal"):
        control.parse_signal(text)


def test_command_not_found_is_a_clear_error() -> None:
    with pytest.raises(UserError, match="command not found"):
        control.check_command(control.LaunchSpec(["no-such-program-xyz"]), os.environ)


def test_not_executable_is_a_clear_error(tmp_path: Path) -> None:
    script = tmp_path / "script"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o644)
    with pytest.raises(UserError, match="not an executable"):
        control.check_command(control.LaunchSpec([str(script)]), os.environ)
    with pytest.raises(UserError, match="not an executable"):
        control.check_command(control.LaunchSpec([str(tmp_path)]), os.environ)


def test_missing_cwd_and_empty_command_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="working directory"):
        control.check_command(control.LaunchSpec(["true"], cwd=str(tmp_path / "no")), os.environ)
    with pytest.raises(UserError, match="no command"):
        control.check_command(control.LaunchSpec([]), os.environ)


def test_relative_program_resolves_against_cwd(tmp_path: Path) -> None:
    script = tmp_path / "run.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    spec = control.LaunchSpec(["./run.sh"], cwd=str(tmp_path))
    assert os.path.samefile(control.check_command(spec, os.environ), script)


@pytest.mark.skipif(os.geteuid() != 0, reason="the sudo identity applies only when root")
def test_under_sudo_programs_run_as_the_invoking_user() -> None:
    nobody = pwd.getpwnam("nobody")
    env = {"SUDO_UID": str(nobody.pw_uid), "SUDO_GID": str(nobody.pw_gid)}
    who = control.invoking_identity(environ=env)
    assert (who.uid, who.gid, who.name) == (nobody.pw_uid, nobody.pw_gid, "nobody")
    assert not who.is_self
    assert control.invoking_identity(as_root=True, environ=env).uid == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="the sudo identity applies only when root")
def test_a_malformed_sudo_uid_is_refused_not_taken_for_root() -> None:
    with pytest.raises(UserError, match="SUDO_UID 'abc' is not a number"):
        control.invoking_identity(environ={"SUDO_UID": "abc"})
    assert control.invoking_identity(as_root=True, environ={"SUDO_UID": "abc"}).uid == 0


def test_without_sudo_programs_run_as_ourselves() -> None:
    who = control.invoking_identity(environ={})
    assert who.uid == os.geteuid() and who.is_self


def test_signals_refuse_init_tractui_and_kernel_threads() -> None:
    assert "init" in control.send_signal(1, 0, 0).error
    me = os.getpid()
    result = control.send_signal(me, 0, 0, own_pids=[me])
    assert not result.ok and "tractui itself" in result.error
    assert "kernel thread" in control.send_signal(2, 0, 0).error  # kthreadd


def test_a_signal_to_a_reused_pid_is_not_sent() -> None:
    import subprocess

    from tractui.kernel import procfs

    child = subprocess.Popen(["sleep", "30"])
    try:
        start = procfs.read_start(child.pid)
        assert start is not None
        result = control.send_signal(child.pid, start - 10**12, signal.SIGTERM)
        assert not result.ok and "reused" in result.error
        assert child.poll() is None  # untouched
        assert control.send_signal(child.pid, start, signal.SIGTERM).ok
        assert child.wait(timeout=5) == -signal.SIGTERM
    finally:
        child.kill()
        child.wait(timeout=5)


@pytest.mark.skipif(os.geteuid() != 0, reason="the sudo identity applies only when root")
def test_run_as_switches_to_the_sudo_user_and_drops_sudo_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    nobody = pwd.getpwnam("nobody")
    monkeypatch.setenv("SUDO_UID", str(nobody.pw_uid))
    monkeypatch.setenv("SUDO_GID", str(nobody.pw_gid))
    monkeypatch.setenv("SUDO_USER", "nobody")
    env, kwargs = control.run_as()
    assert not any(name.startswith("SUDO_") for name in env)
    assert (env["USER"], env["HOME"]) == ("nobody", nobody.pw_dir)
    assert (kwargs["user"], kwargs["group"]) == (nobody.pw_uid, nobody.pw_gid)
    env, kwargs = control.run_as(as_root=True)
    assert kwargs == {} and not any(name.startswith("SUDO_") for name in env)
