"""A post whose runner was killed mid-round (`bot.replicas`, `bot.posts.jobs`): its
targets are picked up within seconds of the runner's heartbeat stopping, looked for on
the platform rather than sent again, and a target the runner never reached is simply
sent; a live runner's claim is left alone."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.clock import FrozenClock
from bot.config import Config, PostTarget
from bot.connectors.publishers import Outgoing, Published
from bot.posts.jobs import SENDING_LEASE, Publishing
from bot.posts.models import DeliveryState, Post, PostDelivery, PostState
from bot.replicas import ABANDONED_AFTER, Heartbeat
from tests.support.posts import (
    AUTHOR,
    EDITOR,
    Desk,
    ScriptedPublisher,
    a_draft,
    delivered,
    make_desk,
)

NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
TARGETS = ("annonces", "breves")


class Killed(BaseException):
    """kill -9 in the middle of a publisher's call: nothing after it runs."""


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


def replica(desk: Desk, engine: Engine, config: Config, clock: FrozenClock,
            heartbeat: Heartbeat) -> Publishing:
    """Another process's publishing job, on the same database and platform."""
    return Publishing(engine=engine, config=config, clock=clock,
                      publishers=desk.desk._publishers, timer=desk.timer,
                      notices=desk.notices, heartbeat=heartbeat)


def due_post(desk: Desk) -> int:
    post = desk.desk.draft(AUTHOR, a_draft(NOW + timedelta(minutes=1), targets=TARGETS))
    assert desk.desk.approve(int(post.id or 0), EDITOR, via="button").ok
    return int(post.id or 0)


def deliveries(engine: Engine, post_id: int) -> dict[str, PostDelivery]:
    with Session(engine) as session:
        rows = session.exec(select(PostDelivery).where(col(PostDelivery.post_id) == post_id))
        return {row.target_id: row for row in rows}


def state(engine: Engine, post_id: int) -> PostState:
    with Session(engine) as session:
        post = session.get(Post, post_id)
        assert post is not None
        return PostState(post.state)


def killed_mid_round(desk: Desk, engine: Engine, config: Config, clock: FrozenClock, *,
                     landed: bool, script: bool = True) -> tuple[int, Heartbeat, Publishing]:
    """Replica A claims the post and dies in its first target's call (after the platform
    took the post when `landed`); replica B, alive, runs the sweeps."""
    dead, alive = Heartbeat(engine=engine, clock=clock), Heartbeat(engine=engine, clock=clock)
    a, b = (replica(desk, engine, config, clock, h) for h in (dead, alive))
    post_id = due_post(desk)
    clock.advance(minutes=1)
    dead.beat()
    alive.beat()
    if script:
        desk.publisher.script["annonces"] = [delivered(Killed()) if landed else Killed()]
    if isinstance(desk.publisher, WaitsForItsSlot):
        desk.publisher.resting = a.resting
    with pytest.raises(Killed):
        a.run_due(post_id)
    return post_id, alive, b


def beat_for(alive: Heartbeat, clock: FrozenClock, seconds: float) -> None:
    """Time passes; the living replica beats every 5 s, the dead one no more."""
    for _ in range(int(seconds // 5)):
        clock.advance(seconds=5)
        alive.beat()


@pytest.mark.parametrize("landed", [True, False], ids=["landed", "never-landed"])
def test_a_killed_runners_claim_is_looked_for_within_seconds_not_resent(
        engine: Engine, config: Config, clock: FrozenClock, landed: bool) -> None:
    """Within ABANDONED_AFTER and a few sweeps (not the 5-minute lease) the target the
    dead replica was sending is looked for on the platform: found → published, without a
    second send; the target it never reached is sent once; the post is done."""
    desk = make_desk(engine, config, clock)
    post_id, alive, b = killed_mid_round(desk, engine, config, clock, landed=landed)
    before = deliveries(engine, post_id)
    assert before["annonces"].state == DeliveryState.SENDING
    assert before["breves"].state == DeliveryState.QUEUED  # never reached: not in doubt
    beat_for(alive, clock, ABANDONED_AFTER.total_seconds() + 5)
    b.sweep()
    after = deliveries(engine, post_id)
    assert desk.publisher.finds == 1  # the platform was asked before anything else
    assert after["breves"].state == DeliveryState.PUBLISHED
    assert desk.publisher.sends_to("breves") == 1
    if landed:
        assert after["annonces"].state == DeliveryState.PUBLISHED
        assert desk.publisher.sends_to("annonces") == 1
        assert state(engine, post_id) == PostState.PUBLISHED
    else:  # Slack: absent, and Slack may still post it for two minutes: look again
        assert (after["annonces"].state, after["annonces"].gave_up) == \
            (DeliveryState.UNCONFIRMED, False)
        assert desk.publisher.sends_to("annonces") == 0
    assert clock.now() - NOW - timedelta(minutes=1) < SENDING_LEASE


def test_a_live_replicas_claim_is_not_taken(engine: Engine, config: Config,
                                            clock: FrozenClock) -> None:
    """A slow call by a replica that keeps beating stays its own: no look, no release."""
    desk = make_desk(engine, config, clock)
    post_id, alive, b = killed_mid_round(desk, engine, config, clock, landed=True)
    owner = deliveries(engine, post_id)["annonces"].claimed_by
    # The same claim, held by a process that is still alive: it beats with the other.
    slow = Heartbeat(engine=engine, clock=clock)
    slow.id = str(owner)
    for _ in range(int(ABANDONED_AFTER.total_seconds() * 3 // 5)):
        clock.advance(seconds=5)
        alive.beat()
        slow.beat()
        b.sweep()
    assert deliveries(engine, post_id)["annonces"].state == DeliveryState.SENDING
    assert desk.publisher.finds == 0


def test_a_replica_back_from_an_outage_does_not_judge_at_once(
        engine: Engine, config: Config, clock: FrozenClock) -> None:
    """Every heartbeat is old after the database was away: the first replica back waits
    until it has beaten steadily for ABANDONED_AFTER before taking anyone's claims."""
    desk = make_desk(engine, config, clock)
    post_id, alive, b = killed_mid_round(desk, engine, config, clock, landed=True)
    clock.advance(minutes=2)  # the database was away: no beat got through
    alive.beat()
    b.sweep()
    assert deliveries(engine, post_id)["annonces"].state == DeliveryState.SENDING
    beat_for(alive, clock, ABANDONED_AFTER.total_seconds())
    b.sweep()
    assert deliveries(engine, post_id)["annonces"].state == DeliveryState.PUBLISHED
    assert desk.publisher.sends_to("annonces") == 1


class WaitsForItsSlot(ScriptedPublisher):
    """A Slack channel whose slot is a little ahead: the publisher rests until then
    (`bot.slack.PacedSlack`), and the process is killed while it waits."""

    resting: Callable[[], AbstractContextManager[object]] | None = None

    def publish(self, outgoing: Outgoing) -> Published:
        if self.resting is not None and outgoing.target.id == "annonces":
            resting, self.resting = self.resting, None  # killed once
            with resting():
                raise Killed()
        return super().publish(outgoing)


def test_a_runner_killed_while_waiting_for_its_slot_leaves_the_target_queued(
        engine: Engine, config: Config, clock: FrozenClock) -> None:
    """Slack was never called: once the runner's heartbeat stopped, the target is sent by
    the sweep (once, no look), instead of being looked for and, Slack never resending by
    itself, left to a person."""
    desk = make_desk(engine, config, clock, publisher=WaitsForItsSlot())
    post_id, alive, b = killed_mid_round(desk, engine, config, clock, landed=False,
                                         script=False)
    beat_for(alive, clock, ABANDONED_AFTER.total_seconds() + 5)
    b.sweep()
    after = deliveries(engine, post_id)
    assert {t: d.state for t, d in after.items()} == {
        "annonces": DeliveryState.PUBLISHED, "breves": DeliveryState.PUBLISHED}
    assert desk.publisher.finds == 0
    assert desk.publisher.sends_to("annonces") == 1 and after["annonces"].attempts == 1
    assert state(engine, post_id) == PostState.PUBLISHED


class ColdClient(ScriptedPublisher):
    """A publisher that builds its client on first use (Mastodon.py: seconds to import on
    a cold start); the process is killed while it does."""

    cold: bool = True

    def serves(self, target: PostTarget) -> bool:
        if self.cold:
            self.cold = False
            raise Killed()
        return True

    def publish(self, outgoing: Outgoing) -> Published:
        self.serves(outgoing.target)  # the client, built if it is not yet
        return super().publish(outgoing)


def test_a_runner_killed_building_its_client_leaves_the_target_queued(
        engine: Engine, config: Config, clock: FrozenClock) -> None:
    """The client is built before the target is claimed: the sweep sends it once, no look."""
    desk = make_desk(engine, config, clock, publisher=ColdClient())
    post_id, alive, b = killed_mid_round(desk, engine, config, clock, landed=False,
                                         script=False)
    assert deliveries(engine, post_id)["annonces"].state == DeliveryState.QUEUED
    beat_for(alive, clock, 10)
    b.sweep()
    assert state(engine, post_id) == PostState.PUBLISHED
    assert desk.publisher.finds == 0 and desk.publisher.sends_to("annonces") == 1
