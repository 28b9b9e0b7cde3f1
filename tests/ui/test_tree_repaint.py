"""The tree repaints only the lines whose rows changed, and never misses one.

A snapshot of thousands of processes changes a few rows on screen: the tree refreshes those
lines alone. What it must never do is leave a line on screen that no longer shows its row.
Driven by random histories (the session's kept rows, samples changing now and then), with the
view moved, folded and searched between snapshots.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from textual.app import App, ComposeResult

import tractui
from tests.unit.histories import History
from tractui.kernel.sample import Sample
from tractui.snapshot import SnapshotRows
from tractui.widgets.tree import ProcessTree

from .test_tree_rows import FIELDS, USERS, grow

HEIGHT = 14


class TreeApp(App[None]):
    CSS_PATH = str(Path(tractui.__file__).parent / "styles.tcss")  # tractui's own styles

    def compose(self) -> ComposeResult:
        yield ProcessTree()


class Painted:
    """Which lines of the tree were asked to repaint (None: all of them)."""

    def __init__(self, tree: ProcessTree) -> None:
        self.lines: set[int] | None = set()
        full, line = tree.refresh, tree.refresh_line

        def refresh(*regions: Any, **kwargs: Any) -> Any:
            if not regions:
                self.lines = None
            return full(*regions, **kwargs)

        def refresh_line(y: int) -> None:
            if self.lines is not None:
                self.lines.add(y - int(tree.scroll_y))
            line(y)

        tree.refresh = refresh  # type: ignore[method-assign]
        tree.refresh_line = refresh_line  # type: ignore[method-assign]


def screen(tree: ProcessTree) -> list[str]:
    return [tree.render_line(y).text for y in range(tree.scrollable_content_region.height)]


async def test_each_line_whose_row_changed_is_repainted_and_only_those() -> None:
    for seed in range(4):
        rng = random.Random(seed)
        history = History()
        rows = SnapshotRows(history.tracker, USERS)
        samples: dict[Any, Sample] = {}
        app = TreeApp()
        async with app.run_test(size=(100, HEIGHT)) as pilot:
            tree = app.query_one(ProcessTree)
            tree.update_snapshot(rows.build(samples, {}, set(), **FIELDS))
            await pilot.pause()
            partial = repainted = 0
            for i in range(40):
                step = rng.choice(
                    [("fork", rng.randrange(50))] * 4
                    + [("exit", rng.randrange(50), rng.randrange(300)), ("prune",)]
                )
                grow(history, i, step)
                live = list(history.tracker.live.values())
                for proc in rng.sample(live, min(len(live), rng.randrange(3))):
                    samples[proc.key] = Sample("R", rng.randrange(100) / 10, 1000, i, 1, 0)
                    rows.touch([proc.key])
                move = rng.randrange(8)
                if move == 0:
                    tree.action_cursor(rng.randrange(-3, 4))
                elif move == 1:
                    tree.action_last()
                elif move == 2:
                    tree.action_first()
                await pilot.pause()
                before = screen(tree)
                painted = Painted(tree)
                tree.update_snapshot(rows.build(samples, {}, set(), **FIELDS))
                after = screen(tree)
                changed = {y for y, (a, b) in enumerate(zip(before, after, strict=True)) if a != b}
                if painted.lines is not None:
                    partial += 1
                    repainted += len(painted.lines)
                    assert changed <= painted.lines, f"seed {seed}, step {i}: not repainted"
                del tree.refresh, tree.refresh_line  # the class's own again
                await pilot.pause()
            assert partial > 10, "the view never stayed put: nothing tested the partial repaint"
            # a row is repainted when its row changed (a new object from the session), which
            # may draw the same; most of the screen is spared
            assert repainted < partial * HEIGHT / 3, f"seed {seed}: {repainted} lines repainted"


async def test_the_hint_of_a_filter_that_matches_nothing_follows_the_filter() -> None:
    """With no rows, the screen is a hint naming the filter: a new filter repaints it."""
    history = History()
    app = TreeApp()
    async with app.run_test(size=(100, HEIGHT)) as pilot:
        tree = app.query_one(ProcessTree)
        tree.update_snapshot(SnapshotRows(history.tracker, USERS).build({}, {}, set(), **FIELDS))
        for needle in ("zzz", "zzzz", ""):
            await pilot.pause()
            before = screen(tree)
            painted = Painted(tree)
            tree.filter_text = needle  # rebuilds: no caller has to
            after = screen(tree)
            changed = {y for y, (a, b) in enumerate(zip(before, after, strict=True)) if a != b}
            assert changed and (painted.lines is None or changed <= painted.lines), needle
            del tree.refresh, tree.refresh_line
