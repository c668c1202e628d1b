"""How other subjects add to the report and the App Home without this package knowing them.

A report section gets the report's scope and locale and returns blocks and charts; a home
section gets the viewer and a block budget. Posts (scheduled, awaiting approval,
published and failed), replies and moderation's exposure figures plug in this way: the
app factory appends them to `Reports.sections` / `Dashboard.sections`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from bot.reports.queries import Scope

Block = dict[str, Any]


@dataclass(frozen=True)
class Chart:
    """One rendered chart: a PNG ready for `files_upload_v2`."""

    filename: str
    title: str
    png: bytes
    alt_text: str
    width: int
    height: int


@dataclass(frozen=True)
class SectionOutput:
    blocks: list[Block] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)


@dataclass(frozen=True)
class ReportContext:
    scope: Scope
    locale: str
    zone: str
    names: Callable[[str], str]  # a Slack user id → the name to print (reports ping nobody)


class ReportSection(Protocol):
    def __call__(self, context: ReportContext) -> SectionOutput | None: ...


@dataclass(frozen=True)
class Viewer:
    """Who is looking at the App Home, and when."""

    user_id: str
    locale: str
    is_editor: bool
    now: datetime
    zone: str


class HomeSection(Protocol):
    def __call__(self, viewer: Viewer, budget: int) -> Sequence[Block]:
        """At most `budget` blocks for this person's Home tab."""
        ...


# Replies (issue 5) tell the export where each mention was answered.
ReplyLinks = Callable[[Sequence[int]], Mapping[int, str]]
