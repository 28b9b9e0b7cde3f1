"""The tree-guide renderer (tractui.guides): shapes, folds, runs of leaves, depths, a deep chain."""

from __future__ import annotations

import time
from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from tractui.guides import EVERY, NARROW, WIDE, Guides, from_depths, rows, walk

Tree = dict[str, list[str]]

# sh
# ├─ a
# │  ├─ a1
# │  └─ a2
# │     └─ a2x
# ├─ b
# │  └─ b1
# └─ c
SHAPE: Tree = {"sh": ["a", "b", "c"], "a": ["a1", "a2"], "a2": ["a2x"], "b": ["b1"]}


def drawn(roots: Sequence[str], tree: Tree, closed: frozenset[str] = frozenset()) -> list[str]:
    """Each row as its guide and key (WIDE)."""

    def children(key: str) -> list[str]:
        return [] if key in closed else tree.get(key, [])

    return [row.guide + row.key for row in rows(roots, children)]


def facts(roots: Sequence[str], tree: Tree) -> list[tuple[str, int, bool, bool]]:
    return [(r.key, r.depth, r.last, r.open) for r in rows(roots, lambda k: tree.get(k, []))]


def test_nothing_draws_nothing() -> None:
    assert drawn([], {}) == []
    out: list[str] = []
    guides: Guides[str] = Guides()
    walk([], lambda k: [], out, guides)
    assert out == [] and guides.prefix == {} and guides.last == {}


def test_a_single_root_has_no_guide() -> None:
    assert drawn(["sh"], {}) == ["sh"]
    assert facts(["sh"], {}) == [("sh", 0, True, False)]


def test_roots_have_no_guides_and_siblings_tees_then_a_corner() -> None:
    assert drawn(["x", "y"], {}) == ["x", "y"]
    assert facts(["x", "y"], {}) == [("x", 0, False, False), ("y", 0, True, False)]
    assert drawn(["sh"], {"sh": ["a", "b", "c"]}) == ["sh", "├─ a", "├─ b", "└─ c"]


def test_a_pipe_below_a_child_with_siblings_after_it_a_blank_below_the_last() -> None:
    assert drawn(["sh"], SHAPE) == [
        "sh",
        "├─ a",
        "│  ├─ a1",
        "│  └─ a2",
        "│     └─ a2x",
        "├─ b",
        "│  └─ b1",
        "└─ c",
    ]
    assert facts(["sh"], SHAPE) == [
        ("sh", 0, True, True),
        ("a", 1, False, True),
        ("a1", 2, False, False),
        ("a2", 2, True, True),
        ("a2x", 3, True, False),
        ("b", 1, False, True),
        ("b1", 2, True, False),
        ("c", 1, True, False),
    ]


def test_the_narrow_style_is_two_cells_wide() -> None:
    out = [r.guide + r.key for r in rows(["sh"], lambda k: SHAPE.get(k, []), NARROW)]
    assert out[3:5] == ["│ └─a2", "│   └─a2x"]


def test_a_closed_node_is_a_leaf_and_its_siblings_keep_their_guides() -> None:
    assert drawn(["sh"], SHAPE, closed=frozenset({"a"})) == [
        "sh",
        "├─ a",
        "├─ b",
        "│  └─ b1",
        "└─ c",
    ]
    assert drawn(["sh"], SHAPE, closed=frozenset({"a2"}))[3:5] == ["│  └─ a2", "├─ b"]
    closed = [r for r in rows(["sh"], lambda k: [] if k == "a" else SHAPE.get(k, []))]
    assert [(r.key, r.open) for r in closed[:2]] == [("sh", True), ("a", False)]


def test_the_last_of_a_deep_subtree_ends_every_level_it_closes() -> None:
    # a2x ends a2's and a's subtrees at once: b is a's sibling, at depth 1 again
    tree: Tree = {"r": ["a", "b"], "a": ["a1"], "a1": ["a2"], "a2": ["a3"]}
    assert facts(["r"], tree)[-2:] == [("a3", 4, True, False), ("b", 1, True, False)]
    assert drawn(["r"], tree)[-2:] == ["│        └─ a3", "└─ b"]


def test_walk_keeps_only_the_open_parents_and_guide_draws_each_row() -> None:
    out: list[str] = []
    guides: Guides[str] = Guides(WIDE)
    walk(["sh"], lambda k: SHAPE.get(k, []), out, guides)
    assert out == ["sh", "a", "a1", "a2", "a2x", "b", "b1", "c"]
    assert guides.prefix == {"sh": "", "a": "│  ", "a2": "│     ", "b": "│  "}
    assert guides.last == {"sh": "c", "a": "a2", "a2": "a2x", "b": "b1"}
    assert "a" in guides and "a1" not in guides
    parent = {kid: key for key, kids in SHAPE.items() for kid in kids}
    assert [guides.guide(k, parent.get(k)) for k in out] == [
        r.guide for r in rows(["sh"], lambda k: SHAPE.get(k, []))
    ]
    assert guides.guide("x", "a1") == ""  # a parent not shown open: no guide


def test_walk_asks_only_about_branches_and_adds_the_leaves_of_a_shallow_one_in_a_run() -> None:
    asked: list[str] = []

    def children(key: str) -> list[str]:
        asked.append(key)
        return SHAPE.get(key, [])

    out: list[str] = []
    # a is not "deep" (none of its children has children, it says): they are added unasked
    walk(["sh"], children, out, Guides(), branches=set(SHAPE), deep={"sh", "b"})
    assert out == ["sh", "a", "a1", "a2", "b", "b1", "c"]
    assert asked == ["sh", "a", "b"]
    out = []
    asked.clear()
    walk(["sh"], children, out, Guides(), branches=set(SHAPE), deep=EVERY)
    assert asked == ["sh", "a", "a2", "b"] and len(out) == 8


def test_walk_appends_after_what_the_list_holds() -> None:
    out: list[str] = ["group"]
    guides: Guides[str] = Guides()
    walk(["sh"], lambda k: SHAPE.get(k, []), out, guides)
    walk(["other"], lambda k: [], out, guides)
    assert out[0] == "group" and out[-1] == "other" and len(out) == 10


def test_depths_give_back_the_forest() -> None:
    #          0  1  2  2  3  1  2  1  0
    depths = [0, 1, 2, 2, 3, 1, 2, 1, 0]
    roots, kids = from_depths(depths)
    assert roots == [0, 8]
    assert kids == {0: [1, 5, 7], 1: [2, 3], 3: [4], 5: [6]}
    assert from_depths([]) == ([], {})
    # one deeper than the row before at most: more is taken as one
    assert from_depths([0, 3, 1]) == ([0], {0: [1, 2]})


@settings(max_examples=100, deadline=None)
@given(
    st.integers(1, 40).flatmap(
        lambda n: st.tuples(
            *(
                st.none() if i == 0 else st.one_of(st.none(), st.integers(0, i - 1))
                for i in range(n)
            )
        )
    )
)
def test_rows_equal_a_plain_walk(parents: tuple[int | None, ...]) -> None:
    tree: dict[int | None, list[int]] = {}
    for i, parent in enumerate(parents):
        tree.setdefault(parent, []).append(i)
    expected: list[tuple[int, str, int, bool, bool]] = []

    def visit(i: int, prefix: str, top: bool, last: bool, depth: int) -> None:
        kids = tree.get(i, [])
        guide = "" if top else prefix + ("└─" if last else "├─")
        expected.append((i, guide, depth, last, bool(kids)))
        below = "" if top else prefix + ("  " if last else "│ ")
        for j, k in enumerate(kids):
            visit(k, below, False, j == len(kids) - 1, depth + 1)

    roots = tree[None]
    for j, root in enumerate(roots):
        visit(root, "", True, j == len(roots) - 1, 0)
    got = [
        (r.key, r.guide, r.depth, r.last, r.open)
        for r in rows(roots, lambda k: tree.get(k, []), NARROW)
    ]
    assert got == expected
    # a pre-order listing's depths give back the same forest
    back_roots, back_kids = from_depths(d for _k, _g, d, _l, _o in expected)
    order = [k for k, *_ in expected]
    assert [order[i] for i in back_roots] == roots
    assert {order[p]: [order[i] for i in ks] for p, ks in back_kids.items()} == {
        p: ks for p, ks in tree.items() if p is not None
    }


def test_a_chain_5000_deep_is_drawn_without_recursion() -> None:
    depth = 5000
    started = time.perf_counter()
    chain = list(rows([0], lambda k: [k + 1] if k + 1 < depth else []))
    seconds = time.perf_counter() - started
    assert len(chain) == depth
    last = chain[-1]
    assert (last.key, last.depth, last.last, last.open) == (depth - 1, depth - 1, True, False)
    assert last.guide == "   " * (depth - 2) + "└─ "
    assert seconds < 2.0, f"{seconds:.2f} s for a chain {depth} deep"  # ~0.05 s idle
