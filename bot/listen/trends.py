"""Trends: an account getting far more mentions than it usually does at this hour.

Spikes (`bot.listen.spikes`) react to an absolute rate within minutes and stop the cards;
trends compare the last hour with the account's usual level for that hour and weekday:
the mean count of the same hour, same weekday, over the last `weeks` weeks, shifted in
local time so summer time does not move it (only weeks by which the account had had a
mention count; with no history there is no alert). An hour with at least `min_mentions`
mentions and `ratio` times the usual level raises one alert, with the words most
mentions share and a few samples. The alert goes through the listening outbox like a
spike alert: paced with the cards, posted exactly once, rendered when it is sent.

A `trend` row per account and hour (unique) is written in the same transaction as the
outbox message, and `cooldown` hours must pass before the next alert for that account.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.clock import Clock
from bot.config import Config
from bot.listen.lexicon import negative_share, top_terms
from bot.listen.models import OutboxKind, Trend
from bot.listen.outbox import enqueue
from bot.mentions.models import Mention
from bot.text import fold

log = logging.getLogger(__name__)

WINDOW = timedelta(hours=1)
TEXTS_SAMPLE = 2000
SAMPLES = 3
JOB = "listen.trends"


def _account_filter(statement: Any, account: str | None) -> Any:
    column = col(Mention.account_id)
    return statement.where(column.is_(None) if account is None else column == account)


class Trends:
    def __init__(self, *, engine: Engine, config: Config, clock: Clock,
                 on_alert: Callable[[], None] = lambda: None) -> None:
        self._engine = engine
        self._config = config
        self._clock = clock
        self._settings = config.reports.trends
        self._zone = ZoneInfo(config.newsroom.timezone)
        self.on_alert = on_alert

    def check(self) -> list[int]:
        """Look at the last hour of every account; the ids of the trends found."""
        if not self._settings.enabled:
            return []
        now = self._clock.now()
        with Session(self._engine) as session:
            current = session.exec(
                select(Mention.account_id, func.count())
                .where(col(Mention.received_at) > now - WINDOW)
                .where(col(Mention.received_at) <= now)
                .group_by(col(Mention.account_id))
            ).all()
        found: list[int] = []
        for account, count in current:
            if int(count) < self._settings.min_mentions:
                continue
            trend_id = self._judge(account, int(count), now)
            if trend_id is not None:
                found.append(trend_id)
        if found:
            self.on_alert()
        return found

    def usual(self, session: Session, account: str | None, now: datetime
              ) -> tuple[float, int]:
        """(mean count of this hour on this weekday in past weeks, how many weeks)."""
        first = session.exec(_account_filter(
            select(func.min(col(Mention.received_at))), account)).one()
        if first is None:
            return 0.0, 0
        local = now.astimezone(self._zone)
        counts: list[int] = []
        for week in range(1, self._settings.weeks + 1):
            end = (local - timedelta(weeks=week)).astimezone(UTC)
            start = end - WINDOW
            if end < first:
                break  # no mention of the account yet by then: older weeks neither
            counts.append(int(session.exec(_account_filter(
                select(func.count()).select_from(Mention)
                .where(col(Mention.received_at) > start)
                .where(col(Mention.received_at) <= end), account)).one()))
        return (sum(counts) / len(counts) if counts else 0.0), len(counts)

    def _judge(self, account: str | None, count: int, now: datetime) -> int | None:
        settings = self._settings
        key = account or ""
        with Session(self._engine, expire_on_commit=False) as session:
            usual, weeks = self.usual(session, account, now)
            if weeks == 0 or count < settings.ratio * max(usual, 1.0):
                return None
            recent = session.exec(
                select(Trend.id).where(Trend.account_key == key)
                .where(col(Trend.detected_at) > now - timedelta(hours=settings.cooldown))
            ).first()
            if recent is not None:
                return None
            rows = session.exec(_account_filter(
                select(Mention.id, Mention.text)
                .where(col(Mention.received_at) > now - WINDOW)
                .where(col(Mention.received_at) <= now), account)
                .order_by(col(Mention.id).desc()).limit(TEXTS_SAMPLE)).all()
            texts = [text for _, text in rows]
            configured = self._config.account(account)
            exclude = [key, *(configured.name.split() if configured else [])]
            terms = top_terms(texts, exclude=exclude)
            trend = Trend(
                account_id=account, account_key=key,
                hour=now.replace(minute=0, second=0, microsecond=0),
                window_start=now - WINDOW, window_end=now, count=count, usual=usual,
                weeks=weeks, negative_share=negative_share(texts),
                top_terms=", ".join(terms)[:512],
                samples=",".join(str(i) for i in _samples(rows, terms)),
                channel_id=self.channel_for(account), detected_at=now)
            session.add(trend)
            try:
                session.flush()
                enqueue(session, kind=OutboxKind.TREND_ALERT, channel=trend.channel_id,
                        now=now, key=f"trend:{trend.id}", payload={"trend_id": trend.id})
                session.commit()
            except IntegrityError:  # another runner recorded this hour already
                session.rollback()
                return None
        log.warning("trend for account %s: %s mentions in an hour, usually %.1f", key or "-",
                    count, usual)
        return int(trend.id or 0)

    def channel_for(self, account: str | None) -> str:
        configured = self._config.account(account)
        return (self._settings.channel or (configured.channel if configured else None)
                or self._config.channels.mentions)


def _samples(rows: list[tuple[int | None, str]], terms: list[str]) -> list[int]:
    """Up to three recent mentions, those with the most shared word first."""
    chosen: list[int] = []
    if terms:
        chosen = [int(i or 0) for i, text in rows if terms[0] in fold(text)][:SAMPLES]
    for i, _ in rows:
        if len(chosen) >= SAMPLES:
            break
        if int(i or 0) not in chosen:
            chosen.append(int(i or 0))
    return chosen
