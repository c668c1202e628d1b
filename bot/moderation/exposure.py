"""Exposure balance: how much abusive content each person handled over a period.

A person *handled* an abusive mention when it was assigned to them, when they set any of
its fields (qualified it), or when they revealed its text. The figures come from the
qualify audit log and the moderation log, so they cover what happened, not just who the
mention is assigned to now. `Exposure.handled` is what the weekly report and the App
Home show (issue 7); round-robin uses `over_share` to spare people who took more than
their share.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.clock import Clock
from bot.mentions.qualify_models import AuditEntry
from bot.moderation.models import MentionModeration, ModerationLog


@dataclass(frozen=True)
class PersonExposure:
    user_id: str
    assigned: int  # abusive mentions assigned to them in the period
    qualified: int  # abusive mentions they set a field of
    revealed: int  # abusive mentions whose text they revealed
    handled: int  # distinct abusive mentions in any of the three
    share: float  # handled / abusive mentions handled by anyone in the period


class Exposure:
    def __init__(self, *, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    def handled(self, *, since: datetime, until: datetime | None = None,
                people: Iterable[str] | None = None) -> list[PersonExposure]:
        """Each person's exposure between `since` and `until` (now), most exposed first."""
        with Session(self._engine) as session:
            return _figures(session, since, until or self._clock.now(), people)

    def over_share(self, session: Session, people: Sequence[str], *, since: datetime,
                   max_share: float) -> set[str]:
        """Those of `people` who handled more than `max_share` of the abusive mentions
        these people handled since `since`."""
        figures = _figures(session, since, self._clock.now(), people)
        return {f.user_id for f in figures if f.share > max_share}


def _pairs(session: Session, since: datetime, until: datetime
           ) -> tuple[list[tuple[str, int]], list[tuple[str, int]], list[tuple[str, int]]]:
    abusive = select(MentionModeration.mention_id).where(
        col(MentionModeration.abusive).is_(True))
    assigned = session.exec(
        select(AuditEntry.new_value, AuditEntry.mention_id)
        .where(AuditEntry.field == "assignee").where(col(AuditEntry.new_value).is_not(None))
        .where(col(AuditEntry.at) >= since).where(col(AuditEntry.at) <= until)
        .where(col(AuditEntry.mention_id).in_(abusive))).all()
    qualified = session.exec(
        select(AuditEntry.actor_id, AuditEntry.mention_id)
        .where(col(AuditEntry.actor_id).is_not(None))
        .where(col(AuditEntry.at) >= since).where(col(AuditEntry.at) <= until)
        .where(col(AuditEntry.mention_id).in_(abusive))).all()
    revealed = session.exec(
        select(ModerationLog.actor_id, ModerationLog.mention_id)
        .where(ModerationLog.action == "revealed").where(col(ModerationLog.actor_id).is_not(None))
        .where(col(ModerationLog.at) >= since).where(col(ModerationLog.at) <= until)).all()
    return ([(str(u), int(m)) for u, m in assigned if u],
            [(str(u), int(m)) for u, m in qualified if u],
            [(str(u), int(m)) for u, m in revealed if u and m is not None])


def _figures(session: Session, since: datetime, until: datetime,
             people: Iterable[str] | None) -> list[PersonExposure]:
    wanted = set(people) if people is not None else None
    per: dict[str, list[set[int]]] = defaultdict(lambda: [set(), set(), set()])
    for index, group in enumerate(_pairs(session, since, until)):
        for user, mention_id in group:
            if wanted is None or user in wanted:
                per[user][index].add(mention_id)
    handled = {user: a | q | r for user, (a, q, r) in per.items()}
    total = len(set().union(*handled.values())) if handled else 0
    figures = [PersonExposure(user, len(a), len(q), len(r), len(handled[user]),
                              len(handled[user]) / total if total else 0.0)
               for user, (a, q, r) in per.items()]
    return sorted(figures, key=lambda f: (-f.handled, f.user_id))
