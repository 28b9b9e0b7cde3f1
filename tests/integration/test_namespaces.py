"""Where the proc connector can't work, tractui says why in one line, with a distinct code."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="making namespaces needs root"),
    pytest.mark.skipif(shutil.which("unshare") is None, reason="unshare(1) is not installed"),
]


def run_in(unshare_args: list[str], *tractui_args: str) -> subprocess.CompletedProcess[str]:
    cmd = ["unshare", *unshare_args, sys.executable, "-m", "tractui", *tractui_args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


def test_a_private_network_namespace_is_refused_with_code_68() -> None:
    result = run_in(["-n"], "events", "--duration", "1")
    assert result.returncode == 68
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "initial network namespace" in lines[0]


def test_trace_in_a_private_network_namespace_runs_nothing() -> None:
    result = run_in(["-n"], "trace", "--", "sh", "-c", "echo ran")
    assert result.returncode == 68
    assert "ran" not in result.stdout


def test_a_private_pid_namespace_is_refused_with_code_69() -> None:
    result = run_in(["-p", "-f", "--mount-proc"], "events", "--duration", "1")
    assert result.returncode == 69
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "PID namespace" in lines[0]
