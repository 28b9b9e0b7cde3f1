"""The collector's stderr: appended to a private log file when asked, never lost or shared."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tractui.engine import Engine
from tractui.events import ConnectorError
from tractui.kernel.collector import CollectorProcess


def fail_to_start(log: Path | None, verbose: bool = False) -> None:
    """Start a collector that dies at once: argparse writes its complaint to stderr."""
    collector = CollectorProcess(["--no-such-option"], verbose=verbose, stderr_path=log)
    with pytest.raises(ConnectorError, match="exited at start"):
        collector.start()


def test_stderr_is_appended_to_the_log_file_created_0600(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "_collector.log"  # its directory does not exist yet
    fail_to_start(log)
    fail_to_start(log)
    text = log.read_text()
    assert text.count("starting the collector") == 2  # appended, one line per start
    assert text.count("unrecognized arguments: --no-such-option") == 2
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


def test_without_a_path_stderr_is_discarded(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    fail_to_start(None)
    assert "unrecognized arguments" not in capfd.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_verbose_keeps_stderr_on_ours(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "_collector.log"
    fail_to_start(log, verbose=True)
    assert "unrecognized arguments: --no-such-option" in capfd.readouterr().err
    assert not log.exists()


def test_an_unwritable_log_falls_back_to_discarding(tmp_path: Path) -> None:
    blocker = tmp_path / "logs"
    blocker.write_text("a file where the log directory should be")
    fail_to_start(blocker / "_collector.log")  # still starts (and fails only for its own reason)


def test_engine_hands_the_path_to_its_collector(tmp_path: Path) -> None:
    log = tmp_path / "_collector.log"
    assert Engine(collector_stderr=log).collector.stderr_path == log
    assert Engine().collector.stderr_path is None
