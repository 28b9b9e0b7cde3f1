"""``make run`` starts tractui without make's own variables: a ``make`` launched from the UI
would otherwise act as a sub-make of it (jobserver, MAKELEVEL, flags)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MAKE_VARS = ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKE_TERMOUT", "MAKE_TERMERR", "MAKEOVERRIDES")


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_run_passes_no_make_variables(tmp_path: Path) -> None:
    # a stand-in for the installed tractui (BIN overridden): it prints its environment
    fake = tmp_path / "tractui"
    fake.write_text('#!/bin/sh\nenv\necho "ARGS: $*"\n')
    fake.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in MAKE_VARS}
    make_vars = [f"BIN={tmp_path}", "ARGS=--version x"]
    out = subprocess.run(
        # -o: the venv is not (re)installed; -j2: make sets MAKEFLAGS for its jobserver
        ["make", "-s", "-j2", "-C", str(REPO), "-o", ".venv/.installed-run", "run", *make_vars],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    names = {line.partition("=")[0] for line in out.splitlines()}
    assert "ARGS: --version x" in out
    assert "PATH" in names  # it did print its environment
    assert not names & set(MAKE_VARS), out
