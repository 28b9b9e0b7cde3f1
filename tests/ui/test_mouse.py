"""Mouse clicks on the tree, over the replay: a click selects its row; a click on ▾/▸ folds."""

from __future__ import annotations

from tests.ui.test_snapshots import loaded, replay_app
from tractui.app import TractApp
from tractui.widgets.tree import COMMAND_X, ProcessTree

SIZE = (120, 30)


def shown_pids(app: TractApp) -> list[int | str]:
    tree = app.query_one(ProcessTree)
    return [r.proc.pid if r.proc is not None else r.group for r in tree.rows]


def current_id(app: TractApp) -> object:
    row = app.query_one(ProcessTree).current
    return row.id if row is not None else None


async def test_click_on_a_row_selects_it() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        tree = app.query_one(ProcessTree)
        assert tree.cursor == 0
        assert await pilot.click(ProcessTree, offset=(70, 5))  # python3 -m http.server
        row = tree.current
        assert row is not None and row.proc is not None and row.proc.pid == 4104
        assert await pilot.click(ProcessTree, offset=(10, 6))  # the build group's header
        assert current_id(app) == "build"
        assert len(tree.rows) == 12  # selecting folded nothing


async def test_click_on_a_process_fold_mark_collapses_then_expands() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        tree = app.query_one(ProcessTree)
        row = tree.rows[3]
        assert row.proc is not None and row.proc.pid == 4102 and row.fold == "▾"
        fold_x = COMMAND_X + len(row.guide)  # after "├─"
        assert await pilot.click(ProcessTree, offset=(fold_x, 3))
        assert 4103 not in shown_pids(app)
        assert tree.rows[3].fold == "▸"
        assert tree.current is not None and tree.current.id == row.id
        assert await pilot.click(ProcessTree, offset=(fold_x, 3))
        assert 4103 in shown_pids(app)
        assert tree.rows[3].fold == "▾"


async def test_click_on_a_group_fold_mark_collapses_then_expands() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        tree = app.query_one(ProcessTree)
        assert await pilot.click(ProcessTree, offset=(0, 6))  # ▾ build
        assert shown_pids(app)[6:] == ["build"]
        assert tree.rows[6].fold == "▸"
        assert await pilot.click(ProcessTree, offset=(0, 6))
        assert shown_pids(app)[6:] == ["build", 5000, 5001, 5002, 5003, 5004]
