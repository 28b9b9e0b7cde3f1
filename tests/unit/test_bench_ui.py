"""bench/ui's pid_max handling (on a stand-in file: the real sysctl is the machine's, shared)
and its key targets."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from bench.ui import run


@pytest.fixture
def pid_max(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "pid_max"
    path.write_text("32768\n")
    monkeypatch.setattr(run, "PID_MAX", path)
    monkeypatch.setattr(run.procfs, "pids", lambda: list(range(1000)))
    return path


def test_pid_max_is_raised_for_a_big_run_and_restored_after_it(pid_max: Path) -> None:
    with run.pid_max_for(30_000 + 564):
        assert pid_max.read_text() == f"{run.PID_MAX_CEILING}\n"
    assert pid_max.read_text() == "32768\n"


def test_pid_max_is_left_alone_when_the_run_fits(pid_max: Path) -> None:
    with run.pid_max_for(10_000):
        assert pid_max.read_text() == "32768\n"
    assert pid_max.read_text() == "32768\n"


def test_pid_max_is_restored_after_an_error_and_after_ctrl_c(pid_max: Path) -> None:
    for err in (RuntimeError("the run failed"), KeyboardInterrupt()):
        with pytest.raises(type(err)), run.pid_max_for(30_000):
            assert pid_max.read_text() != "32768\n"
            raise err
        assert pid_max.read_text() == "32768\n"


def test_pid_max_is_restored_on_sigterm_and_the_handler_put_back(pid_max: Path) -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as ended, run.pid_max_for(30_000):
        assert pid_max.read_text() != "32768\n"
        os.kill(os.getpid(), signal.SIGTERM)  # handled at the next bytecode: SystemExit
        time.sleep(1.0)  # (the handler raises in it, at the latest)
    assert ended.value.code == 128 + signal.SIGTERM
    assert pid_max.read_text() == "32768\n"
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_pid_max_already_at_the_ceiling_is_never_lowered(pid_max: Path) -> None:
    pid_max.write_text("4194304\n")
    with run.pid_max_for(30_000):
        assert pid_max.read_text() == "4194304\n"
    assert pid_max.read_text() == "4194304\n"


def test_the_key_targets_are_the_issues() -> None:
    assert run.key_target(2_000) == 50.0
    assert run.key_target(10_000) == 50.0
    assert run.key_target(30_000) == 80.0


def test_htop_at_its_top_is_pid_1_under_the_titles_whatever_the_sort_mark() -> None:
    titles = "  PID△USER       PRI  NI  VIRT   RES   SHR S  CPU% MEM%   TIME+  Command"
    top = f"  Tasks: 12\n{titles}\n    1 root 20 0 1 1 1 S 0.0 0.0 0:01.00 /sbin/init\n"
    assert run.htop_on_top(top)
    assert not run.htop_on_top(top.replace("    1 root", "31999 root"))
    assert not run.htop_on_top("    1 root no titles above it\n")
