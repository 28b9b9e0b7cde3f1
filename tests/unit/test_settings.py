"""The settings file, without the UI: read back as written; anything wrong reads as none."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from tractui import settings


@pytest.fixture(autouse=True)
def _state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACTUI_STATE_DIR", str(tmp_path / "state"))


def test_saved_settings_are_loaded_back(tmp_path: Path) -> None:
    settings.save({"theme": "nord"})
    assert settings.settings_path() == tmp_path / "state" / "ui.json"
    assert json.loads(settings.settings_path().read_text()) == {"theme": "nord"}
    assert settings.load() == {"theme": "nord"}


@pytest.mark.parametrize("content", ["{not json", '["nord"]', '"nord"'])
def test_a_bad_settings_file_reads_as_none(tmp_path: Path, content: str) -> None:
    (tmp_path / "state").mkdir(mode=0o700)
    settings.settings_path().write_text(content)
    assert settings.load() == {}


def test_no_settings_file_reads_as_none() -> None:
    assert settings.load() == {}


def test_a_settings_file_that_is_a_link_is_not_followed(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir(mode=0o700)
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text('{"theme": "nord"}')
    settings.settings_path().symlink_to(elsewhere)
    assert settings.load() == {}


def test_a_settings_file_that_is_a_fifo_is_not_read(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir(mode=0o700)
    os.mkfifo(settings.settings_path())
    assert settings.load() == {}  # at once: no writer would ever come


def test_a_failed_save_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "state").mkdir(mode=0o700)
    settings.settings_path().mkdir()  # a directory where the file goes
    with caplog.at_level(logging.WARNING, logger="tractui.settings"):
        settings.save({"theme": "nord"})
    assert "cannot save the settings" in caplog.text
