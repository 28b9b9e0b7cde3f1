"""The systemd unit in contrib/ is valid for systemd (checked by systemd-analyze, where present)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).parents[2] / "contrib" / "tractui.service"


def test_unit_runs_the_daemon_and_leaves_launched_programs_alive() -> None:
    text = UNIT.read_text()
    assert "ExecStart=@TRACTUI@ daemon\n" in text
    assert "KillMode=process\n" in text  # stopping the daemon must not end the user's programs


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_unit_verifies(tmp_path: Path) -> None:
    unit = tmp_path / "tractui.service"
    unit.write_text(
        UNIT.read_text().replace("@TRACTUI@", str(Path(sys.executable).parent / "tractui"))
    )
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
