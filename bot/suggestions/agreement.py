"""How often staff agreed with the hints: the weekly report's "Hints" section.

For every mention of the period that got hints, each field a person set (the audit
log's last word on it came from someone, not a rule) counts once: agreed when the value
they left is the hint. Fields nobody set are not counted either way.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.i18n import catalogue
from bot.mentions.models import Mention
from bot.mentions.qualify_models import AuditEntry
from bot.reports import formats
from bot.reports.queries import Scope
from bot.reports.sections import ReportContext, SectionOutput
from bot.slack_format import mrkdwn
from bot.suggestions.models import MentionSuggestion

FIELDS = ("sentiment", "category", "priority")


@dataclass(frozen=True)
class Agreement:
    hinted: int  # mentions of the period that got hints
    judged: dict[str, int]  # field → mentions where a person set it
    agreed: dict[str, int]  # field → … and left the hinted value


def agreement(engine: Engine, scope: Scope) -> Agreement:
    with Session(engine) as session:
        hints = {row.mention_id: row for row in session.exec(
            scope.filter(select(MentionSuggestion).join(
                Mention, col(Mention.id) == col(MentionSuggestion.mention_id))))}
        last: dict[tuple[int, str], AuditEntry] = {}
        for start in range(0, len(hints), 500):
            chunk = list(hints)[start:start + 500]
            for entry in session.exec(
                    select(AuditEntry).where(col(AuditEntry.mention_id).in_(chunk))
                    .where(col(AuditEntry.field).in_(FIELDS))
                    .order_by(col(AuditEntry.at), col(AuditEntry.id))):
                last[(entry.mention_id, entry.field)] = entry
    judged = dict.fromkeys(FIELDS, 0)
    agreed = dict.fromkeys(FIELDS, 0)
    for (mention_id, name), entry in last.items():
        if not entry.actor_id:
            continue
        judged[name] += 1
        agreed[name] += entry.new_value == getattr(hints[mention_id], name)
    return Agreement(len(hints), judged, agreed)


class AgreementSection:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def report(self, context: ReportContext) -> SectionOutput | None:
        figures = agreement(self._engine, context.scope)
        if not figures.hinted:
            return None  # no hints in the period (model not installed, or turned off)
        locale = context.locale
        t = catalogue().text
        lines = [f"*{t(locale, 'report.hints.title')}*"]
        for name in FIELDS:
            judged = figures.judged[name]
            label = t(locale, f"qualify.field.{name}")
            if judged:
                lines.append(t(locale, "report.hints.line", field=label,
                               agreed=formats.number(figures.agreed[name], locale),
                               judged=formats.number(judged, locale),
                               share=formats.percent(figures.agreed[name] / judged, locale)))
            else:
                lines.append(t(locale, "report.hints.none", field=label))
        lines.append(t(locale, "report.hints.hinted",
                       count=formats.number(figures.hinted, locale)))
        return SectionOutput(blocks=[{"type": "section", "block_id": "report_hints",
                                      "text": mrkdwn("\n".join(lines)[:2990])}])
