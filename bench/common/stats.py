"""The statistics of every benchmark: one percentile definition, so figures compare."""

from __future__ import annotations

import math
from collections.abc import Sequence

# p x n / 100 computed in floating point can land a hair above a whole rank (for instance
# 57.00000000000001): that must not push the rank up by one.
_EPSILON = 1e-9


def rank(p: float, n: int) -> int:
    """The 1-based rank of the ``p``-th percentile among ``n`` sorted samples (nearest rank)."""
    return min(n, max(1, math.ceil(p * n / 100 - _EPSILON)))


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile by nearest rank: the smallest value with at least ``p`` % of the
    samples at or below it. nan when there are none.

    It is always one of the samples, never an interpolation. Of 60 samples, the p95 is the 57th
    smallest (the 4th-worst); of 20, the 19th (the 2nd-worst); p50 of 4 is the 2nd; p100 is the
    maximum and p0 the minimum.
    """
    if not values:
        return math.nan
    ordered = sorted(values)
    return float(ordered[rank(p, len(ordered)) - 1])
