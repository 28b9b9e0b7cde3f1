"""The theme (and the tree's settings: tests/ui/test_columns.py) persists: saved to ui.json in
the state directory, restored at the next start."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tractui.app import TractApp
from tractui.replay import demo_session


def saving_app() -> TractApp:
    return TractApp(demo_session(), host="demo", kernel="6.18.0", save_settings=True)


async def test_theme_is_saved_and_restored_at_the_next_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACTUI_STATE_DIR", str(tmp_path))
    first = saving_app()
    assert first.theme != "nord"
    async with first.run_test() as pilot:
        first.theme = "nord"
        await pilot.pause()
    assert json.loads((tmp_path / "ui.json").read_text()) == {
        "theme": "nord",
        "columns": None,  # the default set (by the width)
        "tree_view": True,
        "show_path": True,
    }

    second = saving_app()
    async with second.run_test() as pilot:
        await pilot.pause()
        assert second.theme == "nord"


@pytest.mark.parametrize("content", ["{not json", '{"theme": "no-such-theme"}', '["nord"]'])
async def test_a_bad_settings_file_leaves_the_default_theme(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str
) -> None:
    monkeypatch.setenv("TRACTUI_STATE_DIR", str(tmp_path))
    (tmp_path / "ui.json").write_text(content)
    app = saving_app()
    async with app.run_test() as pilot:
        await pilot.pause()
        assert app.theme == "textual-dark"  # Textual's default


async def test_a_settings_file_that_is_a_link_is_not_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACTUI_STATE_DIR", str(tmp_path / "state"))
    (tmp_path / "state").mkdir(mode=0o700)
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text('{"theme": "nord"}')
    (tmp_path / "state" / "ui.json").symlink_to(elsewhere)
    app = saving_app()
    async with app.run_test() as pilot:
        await pilot.pause()
        assert app.theme == "textual-dark"  # what the link names is not read
