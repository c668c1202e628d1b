"""Claimed sends (`bot.claims`): one sender at a time, a late worker never overwrites its
successor, a dead worker's claim comes back as uncertain."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.claims import Claims
from bot.clock import FrozenClock
from bot.listen.models import OutboxKind, OutboxMessage, OutboxState
from bot.listen.outbox import CLAIM_LEASE, OUTBOX_CLAIMS, enqueue
from bot.replicas import ABANDONED_AFTER, Heartbeat


def queued(engine: Engine, clock: FrozenClock) -> int:
    with Session(engine) as session:
        row = enqueue(session, kind=OutboxKind.SOURCE_DOWN, channel="C0ALERTS",
                      now=clock.now())
        session.commit()
        return int(row.id or 0)


def stored(engine: Engine, row_id: int) -> OutboxMessage:
    with Session(engine) as session:
        row = session.get(OutboxMessage, row_id)
        assert row is not None
        return row


def test_a_row_is_claimed_once_and_counts_the_attempt(engine: Engine,
                                                      clock: FrozenClock) -> None:
    claims = Claims(engine, OUTBOX_CLAIMS, lease=CLAIM_LEASE)
    row_id = queued(engine, clock)
    first = claims.claim(row_id, clock.now())
    assert first is not None and first.state == OutboxState.POSTING and first.attempts == 1
    assert claims.claim(row_id, clock.now()) is None
    assert claims.finish(first, state=OutboxState.SENT, posted_ts="1.2")
    assert stored(engine, row_id).state == OutboxState.SENT
    assert claims.claim(row_id, clock.now()) is None


def test_a_worker_past_its_lease_cannot_overwrite_the_next_one(engine: Engine,
                                                               clock: FrozenClock) -> None:
    claims = Claims(engine, OUTBOX_CLAIMS, lease=CLAIM_LEASE)
    row_id = queued(engine, clock)
    slow = claims.claim(row_id, clock.now())
    assert slow is not None
    clock.advance(seconds=CLAIM_LEASE.total_seconds() + 1)
    assert claims.release_stale(clock.now()) == 1
    released = stored(engine, row_id)
    assert released.state == OutboxState.PENDING and released.uncertain
    successor = claims.claim(row_id, clock.now())
    assert successor is not None and successor.attempts == 2
    assert not claims.finish(slow, state=OutboxState.FAILED, error="late")
    assert claims.finish(successor, state=OutboxState.SENT, posted_ts="9.9")
    final = stored(engine, row_id)
    assert final.state == OutboxState.SENT and final.error is None


def test_a_fresh_claim_is_not_released(engine: Engine, clock: FrozenClock) -> None:
    claims = Claims(engine, OUTBOX_CLAIMS, lease=CLAIM_LEASE)
    row_id = queued(engine, clock)
    assert claims.claim(row_id, clock.now()) is not None
    clock.advance(seconds=CLAIM_LEASE.total_seconds() - 1)
    assert claims.release_stale(clock.now()) == 0
    assert stored(engine, row_id).state == OutboxState.POSTING


def test_a_dead_replicas_claim_comes_back_without_waiting_for_the_lease(
        engine: Engine, clock: FrozenClock) -> None:
    """The outbox message a killed replica was posting comes back, uncertain, once that
    replica's heartbeat is ABANDONED_AFTER old: long before the 2-minute lease. A claim
    of a replica that keeps beating stays its own."""
    dead, alive, judge = (Heartbeat(engine=engine, clock=clock) for _ in range(3))
    for heartbeat in (dead, alive, judge):
        heartbeat.beat()
    lost, slow = queued(engine, clock), queued(engine, clock)
    assert Claims(engine, OUTBOX_CLAIMS, lease=CLAIM_LEASE, heartbeat=dead).claim(
        lost, clock.now()) is not None
    assert Claims(engine, OUTBOX_CLAIMS, lease=CLAIM_LEASE, heartbeat=alive).claim(
        slow, clock.now()) is not None
    sweeper = Claims(engine, OUTBOX_CLAIMS, lease=CLAIM_LEASE, heartbeat=judge)
    for _ in range(int(ABANDONED_AFTER.total_seconds() // 5) + 1):
        clock.advance(seconds=5)
        alive.beat()
        judge.beat()
    assert clock.now() - CLAIM_LEASE < stored(engine, lost).claimed_at  # type: ignore[operator]
    assert sweeper.release_stale(clock.now()) == 1
    back = stored(engine, lost)
    assert (back.state, back.uncertain) == (OutboxState.PENDING, True)
    assert stored(engine, slow).state == OutboxState.POSTING
