"""How every part of the campaign prints its figures: one table, the same columns, so a
person can paste it in the README."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def percentile(values: Sequence[float], pct: float) -> float:
    """The `pct`th percentile (nearest rank); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def seconds(values: Sequence[float]) -> str:
    """`p50 1.2 s, max 3.4 s (n=5)`, or `none`."""
    if not values:
        return "none"
    return (f"p50 {statistics.median(values):.1f} s, max {max(values):.1f} s "
            f"(n={len(values)})")


def table(title: str, rows: Sequence[tuple[str, object]]) -> str:
    """A two-column Markdown table under a title, printed and returned."""
    width = max(len(name) for name, _ in rows)
    lines = [f"== {title}", f"| {'figure':<{width}} | value |",
             f"|{'-' * (width + 2)}|-------|"]
    lines += [f"| {name:<{width}} | {value} |" for name, value in rows]
    text = "\n".join(lines)
    print(text, flush=True)
    return text
