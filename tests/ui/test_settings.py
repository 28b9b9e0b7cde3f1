"""The theme (and the tree's settings: tests/ui/test_columns.py) persists: saved to ui.json in
the state directory, restored at the next start."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tractui.app import TractApp
from tractui.replay import demo_session
from tractui.widgets.meters import MetersBar


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
    saved = json.loads((tmp_path / "ui.json").read_text())
    assert saved["theme"] == "nord"
    assert (saved["columns"], saved["tree_view"], saved["show_path"]) == (None, True, True)

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


async def test_meters_cycle_off_one_two_and_are_restored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACTUI_STATE_DIR", str(tmp_path))
    (tmp_path / "ui.json").write_text('{"other": [1, 2]}')  # a setting of another version
    first = saving_app()
    async with first.run_test() as pilot:
        await pilot.pause()
        assert first.meter_lines == 1  # the default: one line
        seen = []
        for _ in range(3):
            await pilot.press("number_sign")
            seen.append(json.loads((tmp_path / "ui.json").read_text())["meters"])
        assert seen == [2, 0, 1]
        await pilot.press("number_sign")
    saved = json.loads((tmp_path / "ui.json").read_text())
    assert saved["meters"] == 2
    assert saved["other"] == [1, 2]  # kept, not ours to drop

    second = saving_app()
    async with second.run_test() as pilot:
        await pilot.pause()
        assert second.meter_lines == 2
        assert second.query_one(MetersBar).lines == 2


@pytest.mark.parametrize("value", ["7", '"two"', "true", "1.5", "null", "-1"])
async def test_a_bad_meters_setting_leaves_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("TRACTUI_STATE_DIR", str(tmp_path))
    (tmp_path / "ui.json").write_text(f'{{"meters": {value}}}')
    app = saving_app()
    async with app.run_test() as pilot:
        await pilot.pause()
        assert app.meter_lines == 1
