"""Relay: turn stored mentions into Slack cards, exactly once, whatever Slack does.

The queue is the `mention` table itself. A worker claims one mention with an atomic
`UPDATE … WHERE relay_state = 'pending'` (`bot.claims`) before calling Slack, so several
threads or replicas never post the same card. Failures are written back with the time of the next
attempt: 429 waits out `Retry-After`; an unknown outcome (timeout, 5xx) marks the mention
*uncertain*, and the next attempt first looks in the channel for a card carrying the
mention's id in its metadata before posting again.

Calm channels: each round takes the oldest due mention of each channel (so one busy
channel never starves the others), asks the spike gate whether it must be held for a
digest instead (see `bot.listen.spikes`), and posts only when the channel pacer grants
the channel's next slot (about one message per second, shared with the outbox of
alerts and digests, and across replicas through the database).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import func, or_
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from bot.claims import ClaimColumns, Claims
from bot.clock import Clock
from bot.logs import working
from bot.mentions.messages import CARD_EVENT_TYPE
from bot.mentions.models import Mention, RelayState
from bot.metrics import CARDS
from bot.replicas import Heartbeat
from bot.slack import (
    SlackGateway,
    SlackOutcomeUnknown,
    SlackRateLimited,
    SlackRejected,
    SlackUnavailable,
)
from bot.slack_format import Message

log = logging.getLogger(__name__)

# A replica killed mid-post leaves its claim: its card waits this long before another
# worker takes it (looking in the channel first). Under a minute, so the desk sees the
# card within a minute of the kill (campaign.kills); well over what one claim covers (a
# look in the channel and one post, each capped by the Slack client's timeout).
CLAIM_LEASE = timedelta(seconds=45)
CARD_CLAIMS = ClaimColumns(model=Mention, state="relay_state", claimed_at="relay_claimed_at",
                           attempts="relay_attempts", uncertain="relay_uncertain",
                           next_at="next_relay_at", pending=RelayState.PENDING,
                           sending=RelayState.POSTING, owner="relay_claimed_by")
MAX_BACKOFF = timedelta(minutes=15)


def backoff(attempts: int) -> timedelta:
    """2 s, 4 s, 8 s… capped at 15 minutes."""
    return min(timedelta(seconds=2 ** max(1, min(attempts, 20))), MAX_BACKOFF)


@dataclass
class RelayRound:
    relayed: list[int] = field(default_factory=list)
    deferred: list[int] = field(default_factory=list)
    held: list[int] = field(default_factory=list)
    paced: set[str] = field(default_factory=set)  # channels whose next slot is not yet due
    other: int = 0  # outbox messages sent, digests queued

    @property
    def progressed(self) -> bool:
        return bool(self.relayed or self.held or self.other)


class Pacer(Protocol):
    def take(self, channel: str, now: datetime) -> bool: ...

    def block(self, channel: str, until: datetime) -> None: ...

    def next_free(self, channels: set[str]) -> datetime | None: ...


class SpikeGate(Protocol):
    def hold(self, mention: Mention, now: datetime) -> bool: ...

    def sweep(self) -> bool: ...


class OutboxRound(Protocol):
    sent: list[int]
    paced: set[str]


class OutboxRunner(Protocol):
    def run_due(self) -> OutboxRound: ...

    def next_due(self) -> datetime | None: ...


class Relay:
    def __init__(
        self,
        *,
        engine: Engine,
        slack: SlackGateway,
        clock: Clock,
        render: Callable[[Mention], Message],
        batch: int = 20,
        on_relayed: Callable[[int], None] = lambda mention_id: None,
        pacer: Pacer | None = None,
        spikes: SpikeGate | None = None,
        outbox: OutboxRunner | None = None,
        heartbeat: Heartbeat | None = None,
    ) -> None:
        self._engine = engine
        self._slack = slack
        self._clock = clock
        self._render = render
        self._batch = batch
        self._on_relayed = on_relayed
        self.pacer = pacer
        self._spikes = spikes
        self._outbox = outbox
        self._claims = Claims(engine, CARD_CLAIMS, lease=CLAIM_LEASE, heartbeat=heartbeat)

    def run_due(self) -> RelayRound:
        """Relay the oldest due mention of each channel; one pass, bounded by `batch`."""
        now = self._clock.now()
        self._claims.release_stale(now)
        outcome = RelayRound()
        if self._spikes is not None and self._spikes.sweep():
            outcome.other += 1
        if self._outbox is not None:
            sent = self._outbox.run_due()
            outcome.other += len(sent.sent)
            outcome.paced |= sent.paced
        for mention_id, channel in self._due_ids(now):
            if self._spikes is not None:
                head = self._load(mention_id)
                if head is None or head.relay_state != RelayState.PENDING:
                    continue
                if self._spikes.hold(head, now):
                    outcome.held.append(mention_id)
                    continue
            if self.pacer is not None and not self.pacer.take(channel, now):
                outcome.paced.add(channel)
                continue
            mention = self._claims.claim(mention_id, now)
            if mention is None:
                continue  # another worker has it
            try:
                ts = self._deliver(mention)
            except SlackRateLimited as exc:
                # Retry-After counts from Slack's answer, not from the start of the round.
                resume = self._clock.now() + timedelta(seconds=exc.retry_after)
                if self.pacer is not None:
                    self.pacer.block(channel, resume)
                self._defer(mention, resume, str(exc), uncertain=mention.relay_uncertain)
                outcome.deferred.append(mention_id)
            except SlackOutcomeUnknown as exc:
                self._defer(mention, now + backoff(mention.relay_attempts), str(exc),
                            uncertain=True)
                outcome.deferred.append(mention_id)
            except (SlackUnavailable, SlackRejected) as exc:
                if isinstance(exc, SlackRejected):
                    log.warning("Slack refused the card of mention %s: %s", mention_id, exc)
                self._defer(mention, now + backoff(mention.relay_attempts), str(exc),
                            uncertain=mention.relay_uncertain)
                outcome.deferred.append(mention_id)
            except SQLAlchemyError:
                # The card could not be drawn (its replies are read from the database,
                # gone as PostgreSQL restarts): nothing was posted, so the claim is handed
                # back now, or as soon as the database answers (`Claims`), rather than
                # held for the lease.
                with suppress(SQLAlchemyError):
                    self._claims.finish(mention, relay_state=RelayState.PENDING)
                raise
            else:
                self._mark_relayed(mention, ts)
                CARDS.labels("posted").inc()
                outcome.relayed.append(mention_id)
                try:
                    self._on_relayed(mention_id)
                except Exception:
                    log.exception("after-relay work failed for mention %s", mention_id)
        return outcome

    def next_due(self) -> datetime | None:
        """When the next pending mention (or outbox message) becomes due."""
        with Session(self._engine) as session:
            due: datetime | None = session.exec(
                select(func.min(Mention.next_relay_at)).where(
                    Mention.relay_state == RelayState.PENDING
                )
            ).one()
        other = self._outbox.next_due() if self._outbox is not None else None
        return min(d for d in (due, other) if d is not None) if (due or other) else None

    # -- steps ------------------------------------------------------------------------
    def _deliver(self, mention: Mention) -> str:
        if mention.relay_uncertain:
            found = self._slack.find_message(
                mention.channel_id,
                since=mention.received_at - timedelta(minutes=1),
                matches=lambda message: _carries(message, mention.id),
            )
            if found:
                log.info("card of mention %s had gone through; not posting again", mention.id)
                return found
        return self._slack.post_message(mention.channel_id, self._render(mention)).ts

    def _due_ids(self, now: datetime) -> list[tuple[int, str]]:
        """The oldest due mention of each channel, oldest first."""
        with Session(self._engine) as session:
            rows = session.exec(
                select(func.min(Mention.id), Mention.channel_id)
                .where(Mention.relay_state == RelayState.PENDING)
                .where(or_(col(Mention.next_relay_at).is_(None), col(Mention.next_relay_at) <= now))
                .group_by(col(Mention.channel_id))
                .order_by(func.min(Mention.id))
                .limit(self._batch)
            ).all()
        return [(int(mention_id or 0), channel) for mention_id, channel in rows]

    def _load(self, mention_id: int) -> Mention | None:
        with Session(self._engine, expire_on_commit=False) as session:
            return session.get(Mention, mention_id)

    def _mark_relayed(self, mention: Mention, ts: str) -> None:
        self._claims.finish(mention, relay_state=RelayState.RELAYED,
                            slack_channel=mention.channel_id, slack_ts=ts,
                            relayed_at=self._clock.now(), relay_error=None,
                            relay_uncertain=False, next_relay_at=None)

    def _defer(self, mention: Mention, when: datetime, error: str, *, uncertain: bool) -> None:
        CARDS.labels("deferred").inc()
        log.info("card of mention %s waits until %s: %s", mention.id,
                 when.isoformat(timespec="seconds"), error)
        self._claims.finish(mention, relay_state=RelayState.PENDING, next_relay_at=when,
                            relay_error=error[:500], relay_uncertain=uncertain)


def _carries(message: dict[str, Any], mention_id: int | None) -> bool:
    metadata = message.get("metadata") or {}
    return bool(
        metadata.get("event_type") == CARD_EVENT_TYPE
        and (metadata.get("event_payload") or {}).get("mention_id") == mention_id
    )


class RelayWorker:
    """A background thread running the relay whenever something is due.

    Intake calls `wake()` after storing a mention so cards appear at once; otherwise the
    worker sleeps until the next retry is due (at most `idle` seconds, so it also picks up
    work stored by other replicas).
    """

    def __init__(self, relay: Relay, clock: Clock, *, idle: float = 2.0) -> None:
        self._relay = relay
        self._clock = clock
        self._idle = idle
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="vigie-relay", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout)

    def wake(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                with working("relay"):
                    outcome = self._relay.run_due()
                if outcome.progressed:
                    continue  # there may be more right behind
                self._wake.wait(self._sleep_for(outcome))
            except Exception:
                log.exception("relay round failed; retrying shortly")
                self._wake.wait(self._idle)

    def _sleep_for(self, outcome: RelayRound | None = None) -> float:
        now = self._clock.now()
        if outcome is not None and outcome.paced and self._relay.pacer is not None:
            # Work is waiting only for a channel's next slot: sleep exactly until then.
            free = self._relay.pacer.next_free(outcome.paced)
            if free is not None:
                return min(self._idle, max(0.02, (free - now).total_seconds()))
        due = self._relay.next_due()
        if due is None:
            return self._idle
        return min(self._idle, max(0.05, (due - now).total_seconds()))
