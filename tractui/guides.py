"""Tree guides: a forest walked in pre-order, each row with its ``├─`` ``└─`` ``│`` prefix.

The one place that draws them, for the UI's process tree, ``trace``'s report and
``list --format tree``. A root has no guide. Below it, a row's guide is the prefix of its
parent's children and a corner (``└─``: the last child) or a tee (``├─``: one with siblings after
it); a parent's children's prefix is its own, and a blank below a last child or a pipe (``│``)
below one with siblings after it. The UI draws them two cells wide (its fold mark follows);
the text reports three (the command follows): :data:`NARROW`, :data:`WIDE`.

Iterative, so a chain of any depth costs its rows and no Python recursion (``trace``'s
recursive walk raised RecursionError at 1,000 levels). Two ways to use it:

- :func:`walk` appends the rows to a list and records, in a :class:`Guides`, only the prefix and
  last child of each open parent (a parent shown with its children): a few hundred entries for
  10,000 rows, and a run of leaves is added in one ``extend``. A row's guide is then worked out
  when it is drawn (:meth:`Guides.guide`). The UI, which flattens every snapshot and draws ~40
  rows of it, does this.
- :func:`rows` yields every row with its guide, depth, whether it is the last of its siblings
  and whether it is open: the text reports.

No Textual and no tractui imports: the nodes are any hashable keys, their children a callable.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class Style:
    """The four pieces of a guide, all of one width."""

    tee: str  # before a child that has siblings after it
    corner: str  # before a last child
    pipe: str  # below a child that has siblings after it: the line goes on to them
    blank: str  # below a last child


NARROW = Style("├─", "└─", "│ ", "  ")  # the UI's tree: the fold mark follows
WIDE = Style("├─ ", "└─ ", "│  ", "   ")  # trace and list: the command follows


class _Every:
    """A container of everything: every node may have children (grandchildren)."""

    __slots__ = ()

    def __contains__(self, item: object) -> bool:
        return True


EVERY: Container[Any] = _Every()


class Guides(Generic[K]):
    """The guides of a walked forest: for each open parent (a node shown with its children),
    the prefix of its children's guides and its last child shown."""

    __slots__ = ("last", "prefix", "style")

    def __init__(self, style: Style = NARROW) -> None:
        self.style = style
        self.prefix: dict[K, str] = {}
        self.last: dict[K, K] = {}

    def __contains__(self, key: object) -> bool:
        """Whether a node is open: shown with its children below it."""
        return key in self.prefix

    def guide(self, key: K, parent: K | None) -> str:
        """The guide of a row, given its parent ("": a root, or a parent not shown open)."""
        if parent is None:
            return ""
        prefix = self.prefix.get(parent)
        if prefix is None:
            return ""
        style = self.style
        return prefix + (style.corner if self.last[parent] == key else style.tee)


def walk(
    roots: Iterable[K],
    children: Callable[[K], Sequence[K]],
    out: list[Any],
    guides: Guides[K],
    *,
    branches: Container[object] = EVERY,
    deep: Container[object] = EVERY,
) -> None:
    """Append ``roots`` and the nodes below them to ``out`` in pre-order, and each open parent's
    prefix and last child to ``guides``. ``out`` and ``guides`` may already hold other forests
    (the UI puts each group's header, then its trees, in one list).

    ``children(key)``: a node's children shown, in order; empty for a leaf or a closed node.
    It is asked only about the ``branches`` (the nodes that may have children: the others are
    leaves). The children of a node not in ``deep`` (the nodes that may have grandchildren)
    are leaves: they are added in one run, without asking about each.
    """
    prefix, last = guides.prefix, guides.last
    pipe, blank = guides.style.pipe, guides.style.blank
    append, extend = out.append, out.extend
    # one iterator per open level; the parents above them (None above the roots: their
    # children's guides start from nothing)
    stack: list[Iterator[K]] = [iter(roots)]
    above: list[K | None] = [None]
    while stack:
        for key in stack[-1]:
            append(key)
            if key not in branches:
                continue
            kids = children(key)
            if not kids:
                continue
            up = above[-1]
            prefix[key] = "" if up is None else prefix[up] + (blank if last[up] == key else pipe)
            last[key] = kids[-1]
            if key not in deep:
                extend(kids)  # leaves only: no deeper level
                continue
            stack.append(iter(kids))
            above.append(key)
            break
        else:
            stack.pop()
            above.pop()


class GuideRow(Generic[K]):
    """One row of :func:`rows`."""

    __slots__ = ("depth", "guide", "key", "last", "open")

    def __init__(self, key: K, guide: str, depth: int, last: bool, open: bool) -> None:
        self.key = key
        self.guide = guide  # "" for a root
        self.depth = depth  # 0 for a root
        self.last = last  # the last of its siblings (a root: the last root)
        self.open = open  # shown with its children below it

    def __repr__(self) -> str:
        return (
            f"GuideRow({self.key!r}, {self.guide!r}, depth={self.depth}, last={self.last}, "
            f"open={self.open})"
        )


def rows(
    roots: Sequence[K], children: Callable[[K], Sequence[K]], style: Style = WIDE
) -> Iterator[GuideRow[K]]:
    """Every row of a forest in pre-order, with its guide. ``children`` as for :func:`walk`
    (asked about every node)."""
    order: list[K] = []
    guides: Guides[K] = Guides(style)
    walk(roots, children, order, guides)
    last_root = roots[-1] if roots else None
    prefix, last = guides.prefix, guides.last
    path: list[K] = []  # the open parents above the next row
    for key in order:
        if path:
            parent = path[-1]
            is_last = last[parent] == key
            guide = prefix[parent] + (style.corner if is_last else style.tee)
        else:
            is_last = key == last_root
            guide = ""
        is_open = key in prefix
        yield GuideRow(key, guide, len(path), is_last, is_open)
        if is_open:
            path.append(key)
            continue
        # a leaf ends the subtree of each parent it is the last row of
        while path and last[path[-1]] == key:
            key = path.pop()


def from_depths(depths: Iterable[int]) -> tuple[list[int], dict[int, list[int]]]:
    """A forest listed in pre-order with each row's depth (0: a root) as the indexes of its
    roots and of each parent's children. A depth more than one below the row before is taken
    as one below it (a pre-order listing has none)."""
    roots: list[int] = []
    kids: dict[int, list[int]] = {}
    path: list[int] = []  # path[d]: the last row seen at depth d
    for i, depth in enumerate(depths):
        del path[depth:]
        if path:
            kids.setdefault(path[-1], []).append(i)
        else:
            roots.append(i)
        path.append(i)
    return roots, kids
