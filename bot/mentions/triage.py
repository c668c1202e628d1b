"""Triage of a new mention, in the transaction that stores it, before its card is posted:
auto-qualification rules, round-robin assignment, the sentiment suggestion and the SLA
deadlines. So the card appears already marked "suggested by rule X", and an SLA job
exists for every stored mention.

Rules only pre-set fields (category, priority, assignee) and say so in the audit log with
their name; staff override them from the card like any other value. The sentiment is a
suggestion kept beside the mention, never written into its `sentiment`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.clock import Clock
from bot.config import Config, QualifyRule
from bot.mentions.models import Mention, Status
from bot.mentions.qualify_models import (
    AuditEntry,
    ChangeSource,
    MentionTriage,
    RoundRobinCursor,
    StaffPresence,
)
from bot.mentions.sentiment import suggest
from bot.mentions.sla import SlaPolicy
from bot.text import fold, keyword_pattern

log = logging.getLogger(__name__)

ROUND_ROBIN = "round-robin"
# People a new mention should skip in round-robin (e.g. past their share of abuse).
RoundRobinSkip = Callable[[Session, Mention, list[str]], set[str]]


@dataclass(frozen=True)
class _CompiledRule:
    rule: QualifyRule
    keywords: re.Pattern[str] | None
    authors: frozenset[str]

    def matches(self, mention: Mention, folded_text: str) -> bool:
        rule = self.rule
        if rule.accounts and mention.account_id not in rule.accounts:
            return False
        if rule.sources and mention.source_id not in rule.sources:
            return False
        if self.authors and fold(mention.author_handle).lstrip("@") not in self.authors:
            return False
        return not (self.keywords and not self.keywords.search(folded_text))


class Triage:
    def __init__(self, *, engine: Engine, config: Config, clock: Clock,
                 schedule_sla: Callable[[int], None] = lambda mention_id: None,
                 skip: RoundRobinSkip | None = None) -> None:
        self._engine = engine
        self._config = config
        self._clock = clock
        self._sla = SlaPolicy(config)
        self._schedule_sla = schedule_sla
        self._skip = skip
        self._rules = [
            _CompiledRule(rule, keyword_pattern(rule.keywords),
                          frozenset(fold(a).lstrip("@") for a in rule.authors))
            for rule in config.qualify.rules
        ]
        self._round_robin = {block.channel: block.people for block in config.qualify.round_robin}

    # -- the intake hook ------------------------------------------------------------------
    def prepare(self, session: Session, mention: Mention) -> None:
        """Called by intake once the new mention has its id, before the commit."""
        now = self._clock.now()
        folded = fold(mention.text)
        for compiled in self._rules:
            if compiled.matches(mention, folded):
                self._apply_rule(session, mention, compiled.rule, now)
        if mention.assignee_id is None:
            assignee = self._next_in_turn(session, mention)
            if assignee:
                self._set(session, mention, "assignee", assignee, ROUND_ROBIN, now)
        if mention.assignee_id and mention.status == Status.OPEN:
            self._set(session, mention, "status", Status.ASSIGNED, None, now)
        triage = MentionTriage(mention_id=mention.id or 0)
        if self._config.qualify.sentiment_suggestions:
            suggestion = suggest(mention.text, mention.lang)
            triage.suggested_sentiment, triage.sentiment_score = suggestion.label, suggestion.score
        deadlines = self._sla.deadlines(mention.received_at, mention.priority)
        triage.nudge_at, triage.escalate_at = deadlines.nudge_at, deadlines.escalate_at
        session.add(triage)
        session.add(mention)

    def stored(self, mention_id: int) -> None:
        """Called by intake after the commit: schedule the mention's SLA jobs."""
        try:
            self._schedule_sla(mention_id)
        except Exception:  # the sweep catches it up; intake must not fail on this
            log.exception("could not schedule the SLA of mention %s", mention_id)

    # -- steps --------------------------------------------------------------------------
    def _apply_rule(self, session: Session, mention: Mention, rule: QualifyRule,
                    now: datetime) -> None:
        for name, value in (("category", rule.category), ("priority", rule.priority),
                            ("assignee", rule.assignee)):
            if value is not None:
                self._set(session, mention, name, value, rule.name, now)

    def _set(self, session: Session, mention: Mention, name: str, value: str,
             rule: str | None, now: datetime) -> None:
        column = "assignee_id" if name == "assignee" else name
        old = getattr(mention, column)
        if old == value:
            return
        setattr(mention, column, value)
        session.add(AuditEntry(mention_id=mention.id or 0, at=now, actor_id=None,
                               source=ChangeSource.RULE, rule=rule, field=name,
                               old_value=str(old) if old is not None else None,
                               new_value=value))

    def _next_in_turn(self, session: Session, mention: Mention) -> str | None:
        """The next person of the channel's round-robin who is not away (nor spared by
        `skip`, unless that leaves nobody); None if none."""
        channel = mention.channel_id
        people = self._round_robin.get(channel)
        if not people:
            return None
        away = set(session.exec(
            select(StaffPresence.user_id).where(col(StaffPresence.away).is_(True))
            .where(col(StaffPresence.user_id).in_(people))
        ).all())
        if self._skip is not None:
            spared = away | self._skip(session, mention, people)
            if any(person not in spared for person in people):
                away = spared
        cursor = self._cursor(session, channel)
        for step in range(len(people)):
            index = (cursor.turns + step) % len(people)
            if people[index] not in away:
                cursor.turns = index + 1
                session.add(cursor)
                return people[index]
        return None

    def _cursor(self, session: Session, channel: str) -> RoundRobinCursor:
        # Touch the row first: the write lock (row lock on PostgreSQL, database lock on
        # SQLite) makes two intakes at once take turns instead of picking the same person.
        session.execute(update(RoundRobinCursor).where(col(RoundRobinCursor.channel_id) == channel)
                        .values(turns=col(RoundRobinCursor.turns)))
        cursor = session.get(RoundRobinCursor, channel, populate_existing=True)
        if cursor is not None:
            return cursor
        cursor = RoundRobinCursor(channel_id=channel, turns=0)
        try:
            with session.begin_nested():
                session.add(cursor)
        except IntegrityError:
            found = session.get(RoundRobinCursor, channel, populate_existing=True)
            assert found is not None
            return found
        return cursor


class Presence:
    """`/vigie away` and `/vigie back`."""

    def __init__(self, *, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    def set_away(self, user_id: str, away: bool) -> bool:
        """Mark `user_id` away or back; False if nothing changed."""
        with Session(self._engine) as session:
            row = session.get(StaffPresence, user_id)
            if row is not None and row.away == away:
                return False
            if row is None and not away:
                return False
            row = row or StaffPresence(user_id=user_id, since=self._clock.now())
            row.away, row.since = away, self._clock.now()
            session.add(row)
            session.commit()
        return True

    def is_away(self, user_id: str) -> bool:
        with Session(self._engine) as session:
            row = session.get(StaffPresence, user_id)
            return bool(row and row.away)
