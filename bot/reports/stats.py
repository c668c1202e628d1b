"""Medians and percentiles, the way PostgreSQL's `percentile_cont` computes them.

The figures are computed in Python from the few rows that matter (answered mentions of
the period) so SQLite and PostgreSQL give the same answer; linear interpolation between
the two closest ranks is what spreadsheets and numpy do by default too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float, *, is_sorted: bool = False) -> float | None:
    """The `q`-th quantile (0..1) of `values`, interpolated; None when there are none."""
    if not values:
        return None
    ordered = values if is_sorted else sorted(values)
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = math.ceil(position)
    if low == high:
        return float(ordered[low])
    return float(ordered[low] + (ordered[high] - ordered[low]) * (position - low))


def median(values: Sequence[float], *, is_sorted: bool = False) -> float | None:
    return percentile(values, 0.5, is_sorted=is_sorted)
