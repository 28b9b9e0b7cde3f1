"""htop's habits in the tree: the columns (chooser, saved), a click on a header sorts, M P T,
p (the program's path), F5 (tree or flat list), _ and = (fold or unfold everything), and the
COMMAND column scrolled sideways. Over the replay, and a real tree 20 levels deep."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from textual import events

from tests.ui.conftest import wait_for
from tests.ui.test_keys import launch
from tests.ui.test_snapshots import loaded, replay_app
from tractui.app import TractApp
from tractui.replay import demo_session
from tractui.screens.columns import ColumnsScreen
from tractui.widgets import columns
from tractui.widgets.tree import ColumnHeader, ProcessTree


def saving_app() -> TractApp:
    return TractApp(demo_session(), host="demo", kernel="6.18.0", save_settings=True)


def tree_of(app: TractApp) -> ProcessTree:
    return app.query_one(ProcessTree)


def line_of(app: TractApp, pid: int) -> str:
    """The text on screen of a process's row."""
    tree = tree_of(app)
    index = next(i for i, r in enumerate(tree.rows) if r.proc is not None and r.proc.pid == pid)
    return tree.render_line(index - int(tree.scroll_y)).text


def header_x(app: TractApp, title: str) -> int:
    text = app.query_one(ColumnHeader).render()
    return str(text).index(title)


async def test_a_click_on_a_header_sorts_by_it_and_a_second_inverts() -> None:
    app = replay_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await loaded(pilot)
        tree = tree_of(app)
        assert await pilot.click(ColumnHeader, offset=(header_x(app, "CPU%"), 0))
        assert (tree.sort, tree.descending) == ("CPU%", True)
        assert "CPU%▼" in str(app.query_one(ColumnHeader).render())
        assert [r.proc.pid for r in tree.rows if r.proc][:2] == [4100, 4104]  # its root, busiest
        assert await pilot.click(ColumnHeader, offset=(header_x(app, "CPU%"), 0))
        assert (tree.sort, tree.descending) == ("CPU%", False)
        assert await pilot.click(ColumnHeader, offset=(header_x(app, "COMMAND") + 2, 0))
        assert (tree.sort, tree.descending) == ("COMMAND", False)
        assert await pilot.click(ColumnHeader, offset=(header_x(app, "START"), 0))
        assert (tree.sort, tree.descending) == ("START", False)  # oldest first


async def test_m_p_t_sort_by_memory_cpu_and_time_biggest_first() -> None:
    app = replay_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await loaded(pilot)
        tree = tree_of(app)
        for key, sort in (("M", "RSS"), ("P", "CPU%"), ("T", "TIME+")):
            await pilot.press(key)
            assert (tree.sort, tree.descending) == (sort, True)
            assert f"{sort}▼" in str(app.query_one(ColumnHeader).render())


async def test_the_column_chooser_shows_hides_and_moves_columns_and_saves_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACTUI_STATE_DIR", str(tmp_path))
    app = saving_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        tree = tree_of(app)
        assert tree.column_ids == columns.WIDE and tree.command_x == 77
        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(app.screen, ColumnsScreen))
        await pilot.press("space")  # PID, the first: hidden, at once behind the dialog
        assert tree.column_ids == columns.WIDE[1:]
        assert "PID" not in str(app.query_one(ColumnHeader).render())
        await pilot.press("down", "shift+down")  # USER after PRI
        assert tree.column_ids[:3] == ("PRI", "USER", "NI")
        await pilot.press(*["down"] * 10, "enter")  # THR, the last, shown (Enter too)
        assert tree.column_ids[-1] == "THR"
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ColumnsScreen))
        line = line_of(app, 5004)
        assert line.startswith(" 25 nobody     5 ")  # PRI USER NI ...: no PID first
        assert "Jan 01    4 └── ./app" in line  # ... START THR
    chosen = ["PRI", "USER", *columns.WIDE[3:], "THR"]
    assert json.loads((tmp_path / "ui.json").read_text())["columns"] == chosen

    again = saving_app()
    async with again.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        assert list(tree_of(again).column_ids) == chosen
        await pilot.press("S", "d", "escape")  # back to the default: by the width again
        await wait_for(pilot, lambda: not isinstance(again.screen, ColumnsScreen))
        assert tree_of(again).column_ids == columns.WIDE
    assert json.loads((tmp_path / "ui.json").read_text())["columns"] is None


async def test_the_default_columns_follow_the_width() -> None:
    app = replay_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        tree = tree_of(app)
        assert tree.column_ids == columns.NARROW
        assert line_of(app, 4104)[tree.command_x :].startswith("└── python3 -m http.serv")
        await pilot.resize_terminal(130, 30)
        await wait_for(pilot, lambda: tree.column_ids == columns.WIDE)
        assert str(app.query_one(ColumnHeader).render()).split()[:3] == ["PID", "USER", "PRI"]


async def test_every_column_chosen_at_120_leaves_command_16_cells_at_80() -> None:
    app = replay_app()
    everything = tuple(c.id for c in columns.ALL)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        tree = tree_of(app)
        tree.chosen_columns = everything
        await pilot.resize_terminal(80, 24)
        for flat in (False, True):
            tree.flat = flat
            await wait_for(pilot, lambda: tree.command_x <= tree.size.width - columns.COMMAND_MIN)
            assert tree.chosen_columns == everything  # the choice is kept, not cut
            shown = [c.id for c in tree.column_layout]
            assert shown[:4] == list(everything[:4])  # the rightmost dropped
            assert ("GROUP" in shown) is flat
            assert "COMMAND" in str(app.query_one(ColumnHeader).render())
            assert line_of(app, 4104)[tree.command_x :].lstrip(" └─").startswith("python3")
        await pilot.resize_terminal(200, 40)
        await wait_for(pilot, lambda: len(tree.column_layout) == len(everything) + 1)


@pytest.mark.parametrize(
    "saved",
    [
        {"columns": ["PID", "BOGUS"], "tree_view": "yes", "show_path": 3},
        {"columns": "PID", "tree_view": None, "show_path": []},
        {"columns": ["PID", "PID"]},
    ],
)
async def test_invalid_saved_values_fall_back_to_the_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, saved: dict[str, object]
) -> None:
    monkeypatch.setenv("TRACTUI_STATE_DIR", str(tmp_path))
    (tmp_path / "ui.json").write_text(json.dumps({"theme": "nord", **saved}))
    app = saving_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await loaded(pilot)
        tree = tree_of(app)
        assert tree.chosen_columns is None and tree.column_ids == columns.WIDE
        assert not tree.flat and tree.show_path
        assert app.theme == "nord"  # the valid one is kept


async def test_p_hides_and_shows_the_programs_path_and_it_is_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACTUI_STATE_DIR", str(tmp_path))
    app = saving_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await loaded(pilot)
        assert line_of(app, 5004).rstrip().endswith("─ ./app --serve")
        await pilot.press("p")
        assert line_of(app, 5004).rstrip().endswith("─ app --serve")
        assert line_of(app, 4104).rstrip().endswith("python3 -m http.server 8000")
        assert json.loads((tmp_path / "ui.json").read_text())["show_path"] is False
    again = saving_app()
    async with again.run_test(size=(120, 30)) as pilot:
        await loaded(pilot)
        assert not tree_of(again).show_path
        await pilot.press("p")
        assert line_of(again, 5004).rstrip().endswith("─ ./app --serve")


async def test_f5_shows_every_process_in_one_sorted_list_with_its_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACTUI_STATE_DIR", str(tmp_path))
    app = saving_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await loaded(pilot)
        tree = tree_of(app)
        await pilot.press("f5")
        assert tree.flat
        rows = list(tree.rows)
        assert all(r.proc is not None for r in rows)  # no group headers
        # every process, oldest first (fork order), exited ones too
        assert [r.proc.pid for r in rows if r.proc] == [
            5000, 5001, 5002, 5003, 5004, 4100, 4101, 4102, 4103, 4104
        ]  # fmt: skip
        assert str(app.query_one(ColumnHeader).render()).endswith("GROUP      COMMAND")
        line = line_of(app, 4103)
        assert line.rstrip().endswith(" web        sleep 31  [reparented to 1]")  # no guides
        await pilot.press("P")  # the busiest first, across the groups
        assert [r.proc.pid for r in tree.rows if r.proc][:3] == [5004, 4104, 5000]
        await pilot.press("M")
        assert [r.proc.pid for r in tree.rows if r.proc][:2] == [5004, 4104]
        await pilot.press("backslash", "s", "l", "e", "e", "p", "enter")  # a filter still works
        # the commands with "sleep" (sh -c 'sleep 30 & ...' too), by RSS; no ancestors added
        assert [r.proc.pid for r in tree.rows if r.proc] == [4100, 4103, 4101, 4102]
        await pilot.press("escape")
        assert json.loads((tmp_path / "ui.json").read_text())["tree_view"] is False
    again = saving_app()
    async with again.run_test(size=(120, 30)) as pilot:
        await loaded(pilot)
        tree = tree_of(again)
        assert tree.flat
        await pilot.press("t")  # back to the tree
        assert not tree.flat and tree.rows[0].id == "web"
        assert "GROUP" not in str(again.query_one(ColumnHeader).render())


async def test_underscore_folds_everything_and_equals_unfolds_it() -> None:
    app = replay_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await loaded(pilot)
        tree = tree_of(app)
        every = len(tree.rows)
        await pilot.press("underscore")
        assert [(r.id, r.fold) for r in tree.rows] == [("web", "▸"), ("build", "▸")]
        await pilot.press("home", "right")  # a group unfolded: its roots still folded
        assert [(r.proc.pid, r.fold) for r in tree.rows if r.proc] == [(4100, "▸")]
        await pilot.press("equals_sign")
        assert len(tree.rows) == every
        assert all(r.fold != "▸" for r in tree.rows)


async def test_the_command_column_scrolls_sideways_the_others_stay() -> None:
    app = replay_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        tree = tree_of(app)
        x = tree.command_x
        before = line_of(app, 4104)
        assert before[x:].startswith("└── python3")
        await pilot.press("shift+right")
        assert tree.command_offset == 8
        after = line_of(app, 4104)
        assert after[:x] == before[:x]  # PID ... START: where they were
        assert after[x:].startswith(before[x + 8 :].rstrip())  # and what was cut off shows
        assert after.rstrip().endswith("http.server 8000")
        assert str(app.query_one(ColumnHeader).render()).endswith("COMMAND  ◂ 8")
        for _ in range(20):  # no further than the longest row on screen needs
            await pilot.press("shift+right")
        longest = max(tree._tail_width(r) for r in tree.rows)
        assert tree.command_offset == longest - (tree.scrollable_content_region.width - x)
        await pilot.press(*["shift+left"] * 20)
        assert tree.command_offset == 0 and line_of(app, 4104) == before
        # the mouse's horizontal wheel
        tree.post_message(events.MouseScrollRight(tree, 40, 3, 1, 0, 0, False, False, False))
        await pilot.pause()
        assert tree.command_offset == 8
        tree.post_message(events.MouseScrollLeft(tree, 40, 3, -1, 0, 0, False, False, False))
        await pilot.pause()
        assert tree.command_offset == 0
        # the flat list: ← → scroll too (nothing folds there)
        await pilot.press("f5", "right")
        assert tree.command_offset == 8
        await pilot.press("left")
        assert tree.command_offset == 0


async def test_a_tree_20_levels_deep_shows_its_commands_scrolled(app: TractApp) -> None:
    # each process forks the next and sleeps: 21 levels, each a python3 of its own
    code = (
        "import os, time; [os.fork() and (time.sleep(60), os._exit(0)) for _ in range(20)]; "
        "time.sleep(60)"
    )
    async with app.run_test(size=(120, 40)) as pilot:
        await launch(pilot, app, "deep", f"{sys.executable} -c '{code}'")
        tree = tree_of(app)

        def deepest() -> int | None:
            return next((r.proc.pid for r in tree.rows if r.proc and r.proc.depth == 20), None)

        await wait_for(pilot, lambda: deepest() is not None, timeout=15)
        await pilot.press("end")
        pid = deepest()
        assert pid is not None
        x = tree.command_x
        assert "python" not in line_of(app, pid)[x:]  # past the right edge
        for _ in range(10):
            await pilot.press("shift+right")
            if "python" in line_of(app, pid)[x:]:
                break
        line = line_of(app, pid)
        assert "python" in line[x:]
        assert line.lstrip().startswith(str(pid))  # the columns stay


async def test_the_ui_tells_the_session_which_processes_are_on_the_screen() -> None:
    """The rows on the screen are sampled every second however many processes there are:
    at each snapshot the app hands the session the processes of the rows it shows."""
    app = replay_app()
    async with app.run_test(size=(100, 14)) as pilot:
        await loaded(pilot)
        tree = tree_of(app)
        height = tree.scrollable_content_region.height
        assert len(tree.ids) > height  # some rows are off the screen
        top = [r.proc.key for r in tree.rows[:height] if r.proc is not None]
        await wait_for(pilot, lambda: app.session._snapshots.on_screen == tuple(top))
        await pilot.press("end")
        bottom = [r.proc.key for r in tree.rows[-height:] if r.proc is not None]
        assert bottom != top
        await wait_for(pilot, lambda: app.session._snapshots.on_screen == tuple(bottom))
