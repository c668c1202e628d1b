"""The outbox: every message the bot posts that is not a mention card (spike alerts,
digests, source notices, on-call DMs), queued in the database and sent exactly once.

It follows the card relay's rules, through the same `bot.claims`: a row is claimed with
an atomic UPDATE before Slack is called, 429s are waited out, and after an unknown
outcome the channel is searched for the message's metadata before posting again. Rows are
rendered when sent, so an alert shows the latest figures, and every post takes a slot
from the channel pacer, so cards and these messages together stay within Slack's pace.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.claims import ClaimColumns, Claims
from bot.clock import Clock
from bot.listen.models import OutboxKind, OutboxMessage, OutboxState
from bot.mentions.pacing import ChannelPacer
from bot.replicas import Heartbeat
from bot.slack import (
    SlackError,
    SlackGateway,
    SlackOutcomeUnknown,
    SlackRateLimited,
    SlackRejected,
    SlackUnavailable,
)
from bot.slack_format import Message

log = logging.getLogger(__name__)

EVENT_TYPE = "vigie_outbox"
CLAIM_LEASE = timedelta(minutes=2)
MAX_ATTEMPTS = 8
OUTBOX_CLAIMS = ClaimColumns(model=OutboxMessage, state="state", claimed_at="claimed_at",
                             attempts="attempts", uncertain="uncertain",
                             next_at="next_attempt_at", pending=OutboxState.PENDING,
                             sending=OutboxState.POSTING, owner="claimed_by")


def enqueue(session: Session, *, kind: OutboxKind, channel: str, now: datetime,
            payload: dict[str, Any] | None = None, key: str | None = None,
            thread_key: str | None = None, update_key: str | None = None,
            when: datetime | None = None) -> OutboxMessage:
    """Add a message to send, in the caller's transaction (so it is never lost)."""
    row = OutboxMessage(key=key, kind=kind, channel=channel, thread_key=thread_key,
                        update_key=update_key, payload=json.dumps(payload or {}),
                        next_attempt_at=when or now, created_at=now)
    session.add(row)
    return row


def payload_of(row: OutboxMessage) -> dict[str, Any]:
    return dict(json.loads(row.payload or "{}"))


def backoff(attempts: int) -> timedelta:
    return min(timedelta(seconds=2 ** max(1, min(attempts, 10))), timedelta(minutes=15))


@dataclass
class OutboxRound:
    sent: list[int] = field(default_factory=list)
    deferred: list[int] = field(default_factory=list)
    paced: set[str] = field(default_factory=set)


class Outbox:
    def __init__(self, *, engine: Engine, slack: SlackGateway, clock: Clock,
                 pacer: ChannelPacer, render: Callable[[OutboxMessage], Message | None],
                 after_sent: Callable[[OutboxMessage], None] = lambda row: None,
                 batch: int = 50, heartbeat: Heartbeat | None = None) -> None:
        self._engine = engine
        self._slack = slack
        self._clock = clock
        self._pacer = pacer
        self._render = render
        self._after_sent = after_sent
        self._batch = batch
        self._claims = Claims(engine, OUTBOX_CLAIMS, lease=CLAIM_LEASE, heartbeat=heartbeat)

    def run_due(self) -> OutboxRound:
        now = self._clock.now()
        self._claims.release_stale(now)
        outcome = OutboxRound()
        blocked: set[str] = set()  # one message per channel per round, in order
        for row in self._due(now):
            if row.channel in blocked:
                continue
            blocked.add(row.channel)
            parent = self._sent(row.thread_key) if row.thread_key else None
            target = self._sent(row.update_key) if row.update_key else None
            if (row.thread_key and parent is None) or (row.update_key and target is None):
                continue  # what it answers or rewrites is not in Slack yet
            try:  # a DM is paced in its DM channel, with every other DM to that person
                channel = (self._slack.open_dm(row.channel) if row.kind == OutboxKind.ALERT_DM
                           else row.channel)
            except SlackError as exc:
                log.warning("no DM channel for outbox message %s yet: %s", row.id, exc)
                continue
            pace_key = f"{row.channel}:update" if row.update_key else channel
            if not self._pacer.take(pace_key, now):
                outcome.paced.add(pace_key)
                continue
            claimed = self._claims.claim(int(row.id or 0), now)
            if claimed is None:
                continue
            self._send(claimed, channel, parent, target, pace_key, now, outcome)
        return outcome

    def next_due(self) -> datetime | None:
        with Session(self._engine) as session:
            row = session.exec(
                select(OutboxMessage.next_attempt_at)
                .where(OutboxMessage.state == OutboxState.PENDING)
                .order_by(col(OutboxMessage.next_attempt_at)).limit(1)
            ).first()
        return row

    # -- steps ----------------------------------------------------------------------------
    def _send(self, row: OutboxMessage, channel: str, parent: OutboxMessage | None,
              target: OutboxMessage | None, pace_key: str, now: datetime,
              outcome: OutboxRound) -> None:
        row_id = int(row.id or 0)
        try:
            message = self._render(row)
            if message is None:
                self._finish(row, state=OutboxState.SENT, error=None)
                outcome.sent.append(row_id)
                return
            message = Message(message.text, message.blocks,
                              {"event_type": EVENT_TYPE, "event_payload": {"outbox_id": row_id}})
            if target is not None:
                assert target.posted_channel and target.posted_ts
                self._slack.update_message(target.posted_channel, target.posted_ts, message)
                channel, ts = target.posted_channel, target.posted_ts
            else:
                found = self._find(row, channel) if row.uncertain else None
                ts = found or self._slack.post_message(
                    channel, message, thread_ts=parent.posted_ts if parent else None
                ).ts
        except SlackRateLimited as exc:
            resume = self._clock.now() + timedelta(seconds=exc.retry_after)  # from the answer
            self._pacer.block(pace_key, resume)
            self._defer(row, resume, str(exc), row.uncertain)
            outcome.deferred.append(row_id)
        except SlackOutcomeUnknown as exc:
            self._defer(row, now + backoff(row.attempts), str(exc), target is None)
            outcome.deferred.append(row_id)
        except SlackUnavailable as exc:
            self._defer(row, now + backoff(row.attempts), str(exc), row.uncertain)
            outcome.deferred.append(row_id)
        except SlackRejected as exc:
            log.warning("Slack refused outbox message %s (%s): %s", row_id, row.kind, exc)
            if row.attempts >= MAX_ATTEMPTS:
                self._finish(row, state=OutboxState.FAILED, error=str(exc)[:512])
            else:
                self._defer(row, now + backoff(row.attempts), str(exc), row.uncertain)
            outcome.deferred.append(row_id)
        else:
            self._finish(row, state=OutboxState.SENT, error=None, posted_channel=channel,
                         posted_ts=ts)
            row.posted_channel, row.posted_ts = channel, ts
            outcome.sent.append(row_id)
            try:
                self._after_sent(row)
            except Exception:
                log.exception("after sending outbox message %s", row_id)

    def _find(self, row: OutboxMessage, channel: str) -> str | None:
        def carries(message: dict[str, Any]) -> bool:
            metadata = message.get("metadata") or {}
            return bool(metadata.get("event_type") == EVENT_TYPE and
                        (metadata.get("event_payload") or {}).get("outbox_id") == row.id)

        return self._slack.find_message(channel, since=row.created_at - timedelta(minutes=1),
                                        matches=carries)

    def _due(self, now: datetime) -> list[OutboxMessage]:
        with Session(self._engine, expire_on_commit=False) as session:
            return list(session.exec(
                select(OutboxMessage)
                .where(OutboxMessage.state == OutboxState.PENDING)
                .where(col(OutboxMessage.next_attempt_at) <= now)
                .order_by(col(OutboxMessage.id)).limit(self._batch)
            ))

    def _sent(self, key: str | None) -> OutboxMessage | None:
        with Session(self._engine, expire_on_commit=False) as session:
            row = session.exec(select(OutboxMessage).where(OutboxMessage.key == key)).first()
        return row if row is not None and row.state == OutboxState.SENT else None

    def _defer(self, row: OutboxMessage, when: datetime, error: str, uncertain: bool) -> None:
        self._finish(row, state=OutboxState.PENDING, next_attempt_at=when, error=error[:512],
                     uncertain=uncertain)

    def _finish(self, row: OutboxMessage, **values: Any) -> None:
        self._claims.finish(row, **values)
