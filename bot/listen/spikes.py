"""Spikes: past `threshold` mentions in `window` seconds for one channel and account,
cards stop; one alert goes to the channel and the rest follow as digests in its thread.

Decided by the relay, just before a card would be posted, from what is stored:
- the mention is the (threshold+1)-th of its channel/account within the window ending at
  its arrival → a spike opens (one per channel/account: a unique `open_key`), its alert
  is queued, and every pending mention of that channel/account is held in it;
- while a spike is open, new mentions of that channel/account are held too;
- held mentions are gathered into digest messages of `digest_size`, or sooner once the
  oldest has waited `digest_every` seconds;
- when the last window counts fewer than `threshold` mentions and everything is
  digested, the spike closes with a note in the thread and cards resume.
Every held mention is stored, and listed (with its link) in exactly one digest: the
assignment is one conditional UPDATE, so two replicas cannot list it twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.clock import Clock
from bot.config import Config
from bot.listen.lexicon import negative_share, top_terms
from bot.listen.models import OutboxKind, OutboxMessage, OutboxState, Spike
from bot.listen.outbox import enqueue
from bot.mentions.models import Mention, RelayState

log = logging.getLogger(__name__)

STATS_SAMPLE = 2000


def scope_key(channel: str, account: str | None) -> str:
    return f"{channel}|{account or ''}"


def alert_key(spike_id: int) -> str:
    return f"spike:{spike_id}:alert"


class Spikes:
    def __init__(self, *, engine: Engine, config: Config, clock: Clock) -> None:
        self._engine = engine
        self._config = config
        self._clock = clock
        self._bursts = config.bursts

    @property
    def window(self) -> timedelta:
        return timedelta(seconds=self._bursts.window)

    # -- the relay asks before posting a card ----------------------------------------------
    def hold(self, mention: Mention, now: datetime) -> bool:
        """True if `mention` must not get a card of its own (it was held in a spike)."""
        if mention.relay_uncertain:
            return False  # its card may already be in Slack: finish that first
        key = scope_key(mention.channel_id, mention.account_id)
        with Session(self._engine, expire_on_commit=False) as session:
            spike = session.exec(select(Spike).where(Spike.open_key == key)).first()
            if spike is None:
                rank = session.exec(
                    self._in_scope(select(func.count()).select_from(Mention), mention.channel_id,
                                   mention.account_id)
                    .where(col(Mention.received_at) > mention.received_at - self.window)
                    .where(col(Mention.id) <= mention.id)
                ).one()
                if rank <= self._bursts.threshold:
                    return False
                spike = self._open(session, mention, now)
            held = self._hold_pending(session, spike)
            session.commit()
        if held:
            log.info("spike %s: %s mention(s) of %s held for digests", spike.id, held, key)
        return True

    def _open(self, session: Session, mention: Mention, now: datetime) -> Spike:
        texts = list(session.exec(
            self._in_scope(select(Mention.text), mention.channel_id, mention.account_id)
            .where(col(Mention.received_at) > now - self.window)
            .order_by(col(Mention.id).desc()).limit(STATS_SAMPLE)
        ))
        account = self._config.account(mention.account_id)
        exclude = [mention.account_id or "", *(account.name.split() if account else [])]
        spike = Spike(
            channel_id=mention.channel_id, account_id=mention.account_id,
            open_key=scope_key(mention.channel_id, mention.account_id), started_at=now,
            rate_at_start=len(texts), negative_share=negative_share(texts),
            top_terms=", ".join(top_terms(texts, exclude=exclude))[:512],
        )
        session.add(spike)
        try:
            session.flush()
        except IntegrityError:  # another replica opened it a moment ago
            session.rollback()
            found = session.exec(select(Spike).where(Spike.open_key == spike.open_key)).first()
            if found is None:
                raise
            return found
        enqueue(session, kind=OutboxKind.SPIKE_ALERT, channel=spike.channel_id, now=now,
                key=alert_key(int(spike.id or 0)), payload={"spike_id": spike.id})
        log.warning("spike %s opened in %s for %s: %s mentions in %s s", spike.id,
                    spike.channel_id, spike.account_id, len(texts), self._bursts.window)
        return spike

    def _hold_pending(self, session: Session, spike: Spike) -> int:
        result = session.execute(
            self._in_scope(update(Mention), spike.channel_id, spike.account_id)
            .where(col(Mention.relay_state) == RelayState.PENDING)
            .where(col(Mention.relay_uncertain).is_(False))
            .values(relay_state=RelayState.HELD, spike_id=spike.id, next_relay_at=None)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    # -- every relay round -------------------------------------------------------------------
    def sweep(self) -> bool:
        """Queue due digests and close calm spikes; True if anything was queued."""
        now = self._clock.now()
        with Session(self._engine, expire_on_commit=False) as session:
            spikes = list(session.exec(select(Spike).where(col(Spike.open_key).is_not(None))))
        progress = False
        for spike in spikes:
            progress |= self._digest_due(spike, now)
            progress |= self._close_if_calm(spike, now)
        return progress

    def _digest_due(self, spike: Spike, now: datetime) -> bool:
        with Session(self._engine) as session:
            waiting = list(session.exec(
                select(Mention.id, Mention.received_at)
                .where(Mention.spike_id == spike.id)
                .where(col(Mention.digest_id).is_(None))
                .order_by(col(Mention.id))
            ).all())
        size = self._bursts.digest_size
        queued = False
        while waiting:
            batch, waiting = waiting[:size], waiting[size:]
            full = len(batch) == size
            stale = batch[0][1] <= now - timedelta(seconds=self._bursts.digest_every)
            if not (full or stale):
                break
            queued |= self._queue_digest(spike, [int(i or 0) for i, _ in batch], now)
        return queued

    def _queue_digest(self, spike: Spike, ids: Sequence[int], now: datetime) -> bool:
        with Session(self._engine) as session:
            digest = enqueue(session, kind=OutboxKind.DIGEST, channel=spike.channel_id, now=now,
                             key=f"spike:{spike.id}:digest:{ids[0]}",
                             thread_key=alert_key(int(spike.id or 0)),
                             payload={"spike_id": spike.id, "mentions": list(ids)})
            try:
                session.flush()
            except IntegrityError:  # that digest exists already (another replica)
                session.rollback()
                return False
            taken = session.execute(
                update(Mention).where(col(Mention.id).in_(ids))
                .where(col(Mention.digest_id).is_(None)).values(digest_id=digest.id)
            )
            if taken.rowcount != len(ids):  # type: ignore[attr-defined]
                session.rollback()  # someone else listed some of them: start over next round
                return False
            self._queue_update(session, spike, now)
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                return False
            return True

    def _queue_update(self, session: Session, spike: Spike, now: datetime) -> None:
        """Refresh the alert's figures once; a refresh already waiting will show them."""
        key = alert_key(int(spike.id or 0))
        waiting = session.exec(
            select(OutboxMessage.id).where(OutboxMessage.update_key == key)
            .where(OutboxMessage.state == OutboxState.PENDING)
        ).first()
        if waiting is None:
            enqueue(session, kind=OutboxKind.SPIKE_UPDATE, channel=spike.channel_id, now=now,
                    update_key=key, payload={"spike_id": spike.id})

    def _close_if_calm(self, spike: Spike, now: datetime) -> bool:
        with Session(self._engine) as session:
            rate = session.exec(
                self._in_scope(select(func.count()).select_from(Mention), spike.channel_id,
                               spike.account_id)
                .where(col(Mention.received_at) > now - self.window)
            ).one()
            if rate >= self._bursts.threshold:
                return False
            left = session.exec(
                select(Mention.id).where(Mention.spike_id == spike.id)
                .where(col(Mention.digest_id).is_(None)).order_by(col(Mention.id))
            ).all()
            if left:  # calm now: flush what waits, close on a later round
                return self._queue_digest(
                    spike, [int(i or 0) for i in left[:self._bursts.digest_size]], now)
            closed = session.execute(
                update(Spike).where(col(Spike.id) == spike.id)
                .where(col(Spike.open_key).is_not(None))
                .values(open_key=None, ended_at=now)
            )
            if closed.rowcount != 1:  # type: ignore[attr-defined]
                return False
            enqueue(session, kind=OutboxKind.SPIKE_OVER, channel=spike.channel_id, now=now,
                    key=f"spike:{spike.id}:over", thread_key=alert_key(int(spike.id or 0)),
                    payload={"spike_id": spike.id})
            self._queue_update(session, spike, now)
            session.commit()
        log.info("spike %s over", spike.id)
        return True

    @staticmethod
    def _in_scope(statement: Any, channel: str, account: str | None) -> Any:
        statement = statement.where(col(Mention.channel_id) == channel)
        if account is None:
            return statement.where(col(Mention.account_id).is_(None))
        return statement.where(col(Mention.account_id) == account)
