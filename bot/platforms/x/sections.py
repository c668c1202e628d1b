"""What X adds to the App Home and the weekly report: the month's spend against the
budget (and whether polling is slowed or stopped), and what the report's period cost,
by purpose (`bot.reports.sections`)."""

from __future__ import annotations

from collections.abc import Callable

from bot.i18n import catalogue
from bot.platforms.x.spend import Budget, Purpose, dollars, standing_text
from bot.reports.sections import Block, ReportContext, SectionOutput, Viewer
from bot.slack_format import mrkdwn


class XSections:
    """`listening`: is any X source configured now (nothing is shown otherwise)."""

    def __init__(self, budget: Budget, listening: Callable[[], bool]) -> None:
        self._budget = budget
        self._listening = listening

    def home(self, viewer: Viewer, budget: int) -> list[Block]:
        if budget < 1 or not self._listening():
            return []
        line = standing_text(self._budget.standing(), viewer.locale)
        return [{"type": "context", "block_id": "home_x_budget",
                 "elements": [mrkdwn(f":bird: {line}")]}]

    def report(self, context: ReportContext) -> SectionOutput | None:
        scope = context.scope
        spent = self._budget.by_purpose(scope.start, scope.end)
        if not spent and not self._listening():
            return None
        standing = self._budget.standing()

        def cost(purpose: Purpose) -> str:
            return dollars(spent.get(purpose, (0, 0))[1])

        texts = catalogue()
        line = texts.text(
            context.locale, "x.budget.report_line",
            spent=dollars(sum(m for _, m in spent.values())),
            calls=sum(c for c, _ in spent.values()), listen=cost(Purpose.LISTEN),
            reply=cost(Purpose.REPLY), publish=cost(Purpose.PUBLISH),
            moderate=cost(Purpose.MODERATE), lookup=cost(Purpose.LOOKUP),
            month=dollars(standing.spent), budget=dollars(standing.budget))
        title = texts.text(context.locale, "x.budget.report_title")
        return SectionOutput(blocks=[{"type": "section", "block_id": "report_x_spend",
                                      "text": {"type": "mrkdwn", "text": f"{title}\n{line}"}}])
