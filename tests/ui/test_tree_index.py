"""The tree finds a row again where it is, whether the rows before it moved a little (a
snapshot's churn: looked for around its old place first) or a lot (everywhere then)."""

from __future__ import annotations

from tractui.widgets import tree as tree_module
from tractui.widgets.tree import ProcessTree


def test_index_of_finds_a_row_near_its_old_place_far_from_it_and_never_a_missing_one() -> None:
    tree = ProcessTree()
    near = tree_module.NEAR_ROWS
    tree.ids = ["g", *[(1000 + i, i) for i in range(5 * near)]]
    last = len(tree.ids) - 1
    for where in (0, 1, near, last - near, last):
        row_id = tree.ids[where]
        assert tree.index_of(row_id) == where
        for hint in (where, where - 7, where + 7, 0, last, where + near + 1, -5, last + 50):
            assert tree.index_of(row_id, near=hint) == where, (where, hint)
    assert tree.index_of((1, 1), near=3) is None
    assert tree.index_of("other") is None
