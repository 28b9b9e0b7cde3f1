"""How the benchmarks print their figures: markdown tables, and ratios against an anchor."""

from __future__ import annotations

import math
from collections.abc import Sequence

from bench.common.tools import say


def markdown(rows: Sequence[Sequence[str]], left: int = 1) -> list[str]:
    """``rows`` (the first is the header) as the lines of a markdown table, padded so that it
    reads as well in a terminal. The first ``left`` columns (labels) align left, the others
    (figures) right."""
    width = len(rows[0])
    cells = [[str(c).replace("|", "\\|") for c in row] for row in rows]
    widths = [max(3, *(len(row[i]) for row in cells)) for i in range(width)]

    def line(row: Sequence[str]) -> str:
        padded = (
            c.ljust(w) if i < left else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        return "| " + " | ".join(padded) + " |"

    rule = (":" + "-" * (w - 1) if i < left else "-" * (w - 1) + ":" for i, w in enumerate(widths))
    return [line(cells[0]), "| " + " | ".join(rule) + " |", *(line(r) for r in cells[1:])]


def table(rows: Sequence[Sequence[str]], left: int = 1) -> None:
    """Print :func:`markdown` of ``rows``, indented by two spaces."""
    for text in markdown(rows, left):
        say("  " + text)


def quotient(value: float, anchor: float) -> float:
    """``value / anchor``; nan when either is missing (nan) or the anchor is not above 0."""
    if math.isnan(value) or math.isnan(anchor) or anchor <= 0:
        return math.nan
    return value / anchor


def ratio(value: float, anchor: float) -> str:
    """``value`` against its ``anchor`` (the named program or figure it is compared with, from
    the same run) as "x.xx" with an x: "0.42x" is 42 % of the anchor. Under 0.1, two significant
    digits ("0.012x"), where two decimals would say 0.01x or 0.00x. "-" when there is none."""
    r = quotient(value, anchor)
    if math.isnan(r):
        return "-"
    return f"{r:.2f}x" if r >= 0.1 else f"{r:.2g}x"
