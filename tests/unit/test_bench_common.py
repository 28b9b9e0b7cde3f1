"""The benchmarks' one percentile definition, and their table and ratio helpers."""

from __future__ import annotations

import math

import pytest

from bench.common.report import markdown, quotient, ratio
from bench.common.stats import percentile, rank


def test_p95_of_60_presses_is_the_4th_worst() -> None:
    values = [float(v) for v in range(1, 61)]  # 1 .. 60: the rank is the value
    assert percentile(values, 95) == 57.0  # 57 of 60 (95 %) at or below it; 56 is 93.3 %
    assert percentile(list(reversed(values)), 95) == 57.0  # order does not matter


def test_p95_of_20_samples_is_the_2nd_worst_not_the_maximum() -> None:
    values = [float(v) for v in range(1, 21)]
    assert percentile(values, 95) == 19.0
    assert percentile(values, 100) == 20.0


@pytest.mark.parametrize(
    ("p", "n", "expected"),
    [(50, 4, 2), (50, 5, 3), (0, 7, 1), (100, 7, 7), (99.9, 1000, 999), (95, 100, 95), (1, 1, 1)],
)
def test_rank_is_the_smallest_with_at_least_p_percent_at_or_below(
    p: float, n: int, expected: int
) -> None:
    assert rank(p, n) == expected
    assert expected >= p * n / 100 - 1e-9  # at least p % at or below it...
    assert expected == 1 or (expected - 1) < p * n / 100 - 1e-9  # ...and one less is not


def test_percentile_of_nothing_is_nan_and_of_ints_a_float() -> None:
    assert math.isnan(percentile([], 50))
    assert percentile([3, 1, 2], 50) == 2.0 and isinstance(percentile([3, 1, 2], 50), float)


def test_ratio_against_an_anchor() -> None:
    assert ratio(1.0, 2.0) == "0.50x"
    assert ratio(3.0, 1.0) == "3.00x"
    assert ratio(1.0, 80.0) == "0.013x"  # two significant digits under 0.1
    assert ratio(math.nan, 1.0) == ratio(1.0, math.nan) == ratio(1.0, 0.0) == "-"
    assert quotient(1.0, 4.0) == 0.25 and math.isnan(quotient(1.0, 0.0))


def test_markdown_table_aligns_labels_left_and_figures_right() -> None:
    lines = markdown([["what", "p50 ms"], ["list | 1", "1.5"], ["ps", "12.25"]])
    assert lines == [
        "| what      | p50 ms |",
        "| :-------- | -----: |",
        "| list \\| 1 |    1.5 |",
        "| ps        |  12.25 |",
    ]
