"""The figures every part of the campaign prints: one table a person can paste into the
README (inputs, faults, duration, mentions / clicks / posts, what was lost or
duplicated), plus a part's own detail table (`figure_table`, two columns)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass
class Figures:
    """What one part did. `lost` and `duplicated` are what the promises say must be zero."""

    part: str
    inputs: int = 0
    faults: int = 0
    seconds: float = 0.0
    mentions: int = 0
    clicks: int = 0
    posts: int = 0
    lost: int = 0
    duplicated: int = 0
    failures: int = 0  # invariants broken (a 500, a traceback, a secret in a log…)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table, columns padded for a terminal."""
    cells = [[str(h) for h in headers], *[[_cell(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
             for row in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def summary(figures: Sequence[Figures]) -> str:
    """The campaign's figures table."""
    return table(
        ["part", "inputs", "faults", "duration (s)", "mentions / clicks / posts", "lost",
         "duplicated", "failures"],
        [[f.part, f.inputs, f.faults, f.seconds, f"{f.mentions} / {f.clicks} / {f.posts}",
          f.lost, f.duplicated, f.failures] for f in figures])



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


def figure_table(title: str, rows: Sequence[tuple[str, object]]) -> str:
    """A two-column Markdown table under a title, printed and returned."""
    width = max(len(name) for name, _ in rows)
    lines = [f"== {title}", f"| {'figure':<{width}} | value |",
             f"|{'-' * (width + 2)}|-------|"]
    lines += [f"| {name:<{width}} | {value} |" for name, value in rows]
    text = "\n".join(lines)
    print(text, flush=True)
    return text
