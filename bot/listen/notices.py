"""Renders an outbox row into the message to send, from the database as it is now."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.clock import as_utc
from bot.config import Config
from bot.listen import messages
from bot.listen.models import OutboxKind, OutboxMessage, OutboxState, Spike, Trend
from bot.listen.outbox import payload_of
from bot.listen.trend_messages import trend_alert
from bot.mentions.models import Mention
from bot.moderation.masking import masked
from bot.slack_format import Message


def outbox_renderer(engine: Engine, config: Config, locale: str
                    ) -> Callable[[OutboxMessage], Message | None]:
    accounts = {a.id: a.name for a in config.accounts}

    def spike_figures(session: Session, spike_id: int) -> tuple[Spike, int, int]:
        spike = session.get(Spike, spike_id)
        assert spike is not None, f"spike {spike_id} is gone"
        total = session.exec(
            select(func.count()).select_from(Mention).where(Mention.spike_id == spike_id)
        ).one()
        listed = session.exec(
            select(func.count()).select_from(Mention)
            .join(OutboxMessage, col(OutboxMessage.id) == col(Mention.digest_id))
            .where(Mention.spike_id == spike_id)
            .where(OutboxMessage.state == OutboxState.SENT)
        ).one()
        return spike, int(total), int(listed)

    def render(row: OutboxMessage) -> Message | None:
        payload = payload_of(row)
        with Session(engine) as session:
            if row.kind in (OutboxKind.SPIKE_ALERT, OutboxKind.SPIKE_UPDATE):
                spike, total, listed = spike_figures(session, int(payload["spike_id"]))
                account = accounts.get(spike.account_id or "", spike.account_id or "—")
                return messages.spike_alert(spike, account=account, total=total,
                                            in_digests=listed, window=config.bursts.window,
                                            locale=locale)
            if row.kind == OutboxKind.SPIKE_OVER:
                spike, total, _ = spike_figures(session, int(payload["spike_id"]))
                return messages.spike_over(spike, total=total, locale=locale)
            if row.kind == OutboxKind.DIGEST:
                part = session.exec(
                    select(func.count()).select_from(OutboxMessage)
                    .where(OutboxMessage.kind == OutboxKind.DIGEST)
                    .where(OutboxMessage.thread_key == row.thread_key)
                    .where(col(OutboxMessage.id) <= row.id)
                ).one()
                rows = _mentions(session, payload["mentions"], locale)
                return messages.digest(rows, part=int(part), locale=locale)
            if row.kind == OutboxKind.ALERT_DM:
                rows = _mentions(session, payload["mentions"], locale)
                return messages.alert_dm(rows, accounts=accounts, locale=locale) if rows else None
            if row.kind == OutboxKind.SOURCE_DOWN:
                return messages.source_down(payload["source_id"], error=payload["error"],
                                            failures=int(payload["failures"]),
                                            since=_time(payload["since"]), locale=locale)
            if row.kind == OutboxKind.TREND_ALERT:
                trend = session.get(Trend, int(payload["trend_id"]))
                assert trend is not None, f"trend {payload['trend_id']} is gone"
                ids = [int(i) for i in trend.samples.split(",") if i]
                return trend_alert(trend, _mentions(session, ids, locale),
                                   account=accounts.get(trend.account_key, trend.account_key
                                                        or "—"),
                                   zone=config.newsroom.timezone, locale=locale)
            if row.kind == OutboxKind.SOURCE_UP:
                return messages.source_up(payload["source_id"], since=_time(payload["since"]),
                                          locale=locale)
        raise ValueError(f"unknown outbox kind {row.kind!r}")

    return render


def _mentions(session: Session, ids: list[int], locale: str) -> list[Mention]:
    """The mentions to list, abusive ones masked (bot.moderation.masking)."""
    return masked(session, list(session.exec(select(Mention).where(col(Mention.id).in_(ids))
                                              .order_by(col(Mention.id)))), locale)


def _time(value: str) -> datetime:
    return as_utc(datetime.fromisoformat(value))
