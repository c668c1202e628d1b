"""What moderation (issue 8) adds to reports and the App Home: exposure to abusive
content, per person. Figures come from `bot.moderation.exposure.Exposure.handled`; this
module only needs its shape, so a report can be tested with any source of figures."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from bot.i18n import catalogue
from bot.reports import formats
from bot.reports.sections import Block, ReportContext, SectionOutput, Viewer
from bot.slack_format import escape, mrkdwn

LISTED = 10
HOME_DAYS = 7


class PersonFigure(Protocol):
    @property
    def user_id(self) -> str: ...
    @property
    def handled(self) -> int: ...
    @property
    def share(self) -> float: ...


class ExposureSource(Protocol):
    def handled(self, *, since: datetime, until: datetime | None = None
                ) -> Sequence[PersonFigure]: ...


def _t(locale: str, key: str, **params: object) -> str:
    return catalogue().text(locale, f"report.exposure.{key}", **params)


class ExposureSections:
    def __init__(self, source: ExposureSource) -> None:
        self._source = source

    def report(self, context: ReportContext) -> SectionOutput | None:
        """Who handled how much abusive content in the period, most exposed first."""
        figures = [f for f in self._source.handled(since=context.scope.start,
                                                    until=context.scope.end) if f.handled]
        locale = context.locale
        lines = [f"*{_t(locale, 'title')}*"]
        for figure in figures[:LISTED]:
            lines.append(_t(locale, "line", name=escape(context.names(figure.user_id)),
                            count=formats.number(figure.handled, locale),
                            share=formats.percent(figure.share, locale)))
        if not figures:
            lines.append(_t(locale, "none"))
        return SectionOutput(blocks=[{"type": "section", "block_id": "report_exposure",
                                      "text": mrkdwn("\n".join(lines)[:2990])}])

    def home(self, viewer: Viewer, budget: int) -> list[Block]:
        """The viewer's own exposure over the last seven days."""
        if budget < 1:
            return []
        figures = self._source.handled(since=viewer.now - timedelta(days=HOME_DAYS),
                                       until=viewer.now)
        mine = next((f for f in figures if f.user_id == viewer.user_id), None)
        locale = viewer.locale
        text = _t(locale, "home", count=formats.number(mine.handled if mine else 0, locale),
                  share=formats.percent(mine.share if mine else 0.0, locale))
        return [{"type": "context", "block_id": "home_exposure", "elements": [mrkdwn(text)]}]
