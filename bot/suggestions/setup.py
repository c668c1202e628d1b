"""How suggestions plug into the rest of Vigie, for the app factory (`bot.app.build`):
the card's hints, the newsroom's urgent rule, "answer like last time" in the Reply
form, the weekly report's agreement figures, and the weekly training job."""

from __future__ import annotations

import logging

from sqlmodel import Session, col, select

from bot.mentions.qualify import Change, Qualifier, QualifyConflict
from bot.mentions.qualify_models import AuditEntry, ChangeSource
from bot.replies.service import ReplyDesk
from bot.reports.service import Reports
from bot.scheduler import Scheduler
from bot.suggestions.agreement import AgreementSection
from bot.suggestions.service import TRAIN_JOB, Suggestions
from bot.suggestions.similar import like_last_time

log = logging.getLogger(__name__)

URGENT_RULE = "suggestion"  # the name the card and the audit log give the urgent rule


def wire_suggestions(suggestions: Suggestions, *, qualifier: Qualifier, replies: ReplyDesk,
                     reports: Reports, scheduler: Scheduler) -> None:
    engine = suggestions.engine
    qualifier.hints = suggestions.card_hints
    suggestions.on_hints = qualifier.refresh_card

    def apply_urgent(mention_id: int) -> None:
        """The newsroom's rule (`apply_urgent_from`): urgent when the hint is that sure,
        unless a person or a rule already chose the priority."""
        threshold = suggestions.rules.apply_urgent_from
        hint = suggestions.card_hints(mention_id).get("priority")
        if threshold is None or hint is None or hint[0] != "urgent" or hint[1] < threshold:
            return
        with Session(engine) as session:
            chosen = session.exec(select(AuditEntry.id)
                                  .where(col(AuditEntry.mention_id) == mention_id)
                                  .where(col(AuditEntry.field) == "priority")).first()
        mention = qualifier.get(mention_id)
        if chosen is not None or mention is None or mention.alert_terms:
            return  # a person, a rule or an alert word chose it: they win
        try:
            applied = qualifier.apply(mention_id, [Change("priority", "urgent")], actor=None,
                                      source=ChangeSource.RULE, rule=URGENT_RULE)
        except QualifyConflict:
            return
        if applied is not None and applied.entries:
            qualifier.after_change(applied)

    suggestions.apply_urgent = apply_urgent

    def similar(mention_id: int) -> list[str]:
        if not suggestions.enabled or not suggestions.rules.similar_replies:
            return []
        assert suggestions.embedder is not None
        return like_last_time(engine, mention_id, model=suggestions.embedder.name)

    replies.like_last_time = similar
    reports.sections.append(AgreementSection(engine).report)

    def train() -> None:
        if not suggestions.enabled:
            return
        trained = suggestions.train()
        log.info("suggestion model #%s: %s", trained.model_id, trained.outcome)

    scheduler.register(TRAIN_JOB, train)
