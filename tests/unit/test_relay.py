"""The relay against a scripted gateway: each Slack outcome and what it leaves behind."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col

from bot.clock import FrozenClock
from bot.config import Config
from bot.mentions.messages import card_renderer
from bot.mentions.models import Author, Mention, MentionIn, RelayState
from bot.mentions.relay import Relay
from bot.mentions.routing import Router
from bot.mentions.service import Intake
from bot.slack import (
    Posted,
    SlackOutcomeUnknown,
    SlackRateLimited,
    SlackRejected,
    SlackUnavailable,
)
from bot.slack_format import Message
from tests.support.outage import Outage


class ScriptedSlack:
    """Answers `post_message` from a script of outcomes; records what was posted."""

    def __init__(self) -> None:
        self.script: list[Exception | None] = []
        self.posted: list[tuple[str, Message]] = []
        self.history: list[dict[str, Any]] = []
        self.lookups = 0

    def post_message(self, channel: str, message: Message, **_: object) -> Posted:
        outcome = self.script.pop(0) if self.script else None
        if isinstance(outcome, SlackOutcomeUnknown) and getattr(outcome, "delivered", False):
            self._deliver(channel, message)
        if outcome is not None:
            raise outcome
        return self._deliver(channel, message)

    def _deliver(self, channel: str, message: Message) -> Posted:
        ts = f"1762000000.{len(self.posted):06d}"
        self.posted.append((channel, message))
        self.history.append({"ts": ts, "metadata": message.metadata})
        return Posted(channel, ts)

    def find_message(self, channel: str, *, since: datetime,
                     matches: Callable[[dict[str, Any]], bool]) -> str | None:
        self.lookups += 1
        return next((m["ts"] for m in self.history if matches(m)), None)


def delivered_timeout() -> SlackOutcomeUnknown:
    error = SlackOutcomeUnknown("chat.postMessage: TimeoutError")
    error.delivered = True  # type: ignore[attr-defined]
    return error


@pytest.fixture
def slack() -> ScriptedSlack:
    return ScriptedSlack()


@pytest.fixture
def relay(engine: Engine, config: Config, clock: FrozenClock, slack: ScriptedSlack) -> Relay:
    return Relay(engine=engine, slack=slack, clock=clock,  # type: ignore[arg-type]
                 render=card_renderer(config, "fr"))


@pytest.fixture
def store_mention(engine: Engine, config: Config, clock: FrozenClock) -> Callable[..., int]:
    intake = Intake(engine=engine, config=config, router=Router(config), clock=clock)

    def store(external_id: str = "m1", text: str = "Bonjour") -> int:
        return intake.ingest("monitoring", MentionIn(
            external_id=external_id, text=text, author=Author(handle=f"@{external_id}@x.example"),
            created_at=datetime(2026, 11, 2, 7, 0, tzinfo=UTC),
        )).mention_id

    return store


def row(engine: Engine, mention_id: int) -> Mention:
    with Session(engine) as session:
        found = session.get(Mention, mention_id)
        assert found is not None
        return found


def test_due_mention_is_posted_once_and_ts_stored(relay: Relay, slack: ScriptedSlack,
                                                  store_mention: Callable[..., int],
                                                  engine: Engine) -> None:
    """A pending mention gets one card; the card's ts is kept; a second round posts nothing."""
    mention_id = store_mention()
    assert relay.run_due().relayed == [mention_id]
    assert relay.run_due().relayed == []
    stored = row(engine, mention_id)
    assert (stored.relay_state, stored.slack_channel, stored.slack_ts) == (
        RelayState.RELAYED, "C0MENTIONS", "1762000000.000000")
    assert len(slack.posted) == 1


def test_rate_limit_waits_retry_after_then_posts(relay: Relay, slack: ScriptedSlack,
                                                  store_mention: Callable[..., int],
                                                  clock: FrozenClock, engine: Engine) -> None:
    """A 429 defers the mention by exactly Retry-After; it is posted once that has passed."""
    mention_id = store_mention()
    slack.script = [SlackRateLimited("chat.postMessage", 30)]
    assert relay.run_due().deferred == [mention_id]
    assert row(engine, mention_id).next_relay_at == clock.now() + timedelta(seconds=30)
    clock.advance(seconds=29)
    assert relay.run_due().relayed == []
    clock.advance(seconds=1)
    assert relay.run_due().relayed == [mention_id]
    assert len(slack.posted) == 1


def test_rate_limit_holds_back_the_rest_of_that_channel(relay: Relay, slack: ScriptedSlack,
                                                         store_mention: Callable[..., int]
                                                         ) -> None:
    """After a 429 the round does not hammer the same channel with the next mentions."""
    store_mention("a", "un")
    store_mention("b", "deux")
    slack.script = [SlackRateLimited("chat.postMessage", 5)]
    outcome = relay.run_due()
    assert len(outcome.deferred) == 1 and outcome.relayed == []


def test_outage_backs_off_and_nothing_is_lost(relay: Relay, slack: ScriptedSlack,
                                              store_mention: Callable[..., int],
                                              clock: FrozenClock, engine: Engine) -> None:
    """Connection failures retry with growing delays until Slack is back."""
    mention_id = store_mention()
    slack.script = [SlackUnavailable("down"), SlackUnavailable("down")]
    relay.run_due()
    first = row(engine, mention_id).next_relay_at
    assert first == clock.now() + timedelta(seconds=2)
    clock.advance(seconds=2)
    relay.run_due()
    assert row(engine, mention_id).next_relay_at == clock.now() + timedelta(seconds=4)
    clock.advance(seconds=4)
    assert relay.run_due().relayed == [mention_id]
    assert row(engine, mention_id).relay_attempts == 3


def test_timeout_after_delivery_does_not_post_twice(relay: Relay, slack: ScriptedSlack,
                                                    store_mention: Callable[..., int],
                                                    clock: FrozenClock, engine: Engine) -> None:
    """When Slack got the card but the answer was lost, the retry finds it and stops."""
    mention_id = store_mention()
    slack.script = [delivered_timeout()]
    relay.run_due()
    assert row(engine, mention_id).relay_uncertain
    clock.advance(minutes=1)
    assert relay.run_due().relayed == [mention_id]
    assert len(slack.posted) == 1 and slack.lookups == 1
    assert row(engine, mention_id).slack_ts == "1762000000.000000"


def test_timeout_before_delivery_posts_after_looking(relay: Relay, slack: ScriptedSlack,
                                                     store_mention: Callable[..., int],
                                                     clock: FrozenClock) -> None:
    """When the card never arrived, the retry looks, finds nothing, and posts it."""
    store_mention()
    slack.script = [SlackOutcomeUnknown("chat.postMessage: HTTP 503")]
    relay.run_due()
    clock.advance(minutes=1)
    relay.run_due()
    assert len(slack.posted) == 1 and slack.lookups == 1


def test_rejected_card_is_kept_and_retried_later(relay: Relay, slack: ScriptedSlack,
                                                 store_mention: Callable[..., int],
                                                 clock: FrozenClock, engine: Engine) -> None:
    """channel_not_found (bot not invited) keeps the mention and says why."""
    mention_id = store_mention()
    slack.script = [SlackRejected("chat.postMessage", "not_in_channel")]
    relay.run_due()
    stored = row(engine, mention_id)
    assert stored.relay_state == RelayState.PENDING
    assert stored.relay_error == "chat.postMessage: not_in_channel"
    clock.advance(minutes=1)
    assert relay.run_due().relayed == [mention_id]


def test_a_lost_answer_in_a_channel_vigie_is_not_in_waits_for_the_invitation(
        relay: Relay, slack: ScriptedSlack, store_mention: Callable[..., int],
        clock: FrozenClock, engine: Engine) -> None:
    """The card went out (chat:write.public) but the answer was lost, and Slack refuses the
    history look-up (not_in_channel): the card is not posted again blindly; once Vigie is
    invited the look-up finds it."""
    mention_id = store_mention()
    slack.script = [delivered_timeout()]
    relay.run_due()
    invited = False
    look = slack.find_message

    def refused_until_invited(channel: str, **kwargs: Any) -> str | None:
        if not invited:
            raise SlackRejected("conversations.history", "not_in_channel")
        return look(channel, **kwargs)

    slack.find_message = refused_until_invited  # type: ignore[method-assign]
    for _ in range(3):
        clock.advance(minutes=20)
        assert relay.run_due().relayed == []
    assert row(engine, mention_id).relay_state == RelayState.PENDING
    invited = True
    clock.advance(minutes=20)
    assert relay.run_due().relayed == [mention_id]
    assert len(slack.posted) == 1 and row(engine, mention_id).slack_ts == "1762000000.000000"


def test_a_claimed_mention_is_not_posted_by_another_worker(relay: Relay, slack: ScriptedSlack,
                                                           store_mention: Callable[..., int],
                                                           engine: Engine) -> None:
    """While one worker holds a mention, another round skips it."""
    mention_id = store_mention()
    with Session(engine) as session:
        session.execute(update(Mention).where(col(Mention.id) == mention_id).values(
            relay_state=RelayState.POSTING, relay_claimed_at=datetime.now(UTC)))
        session.commit()
    assert relay.run_due().relayed == []
    assert slack.posted == []


def test_claim_of_a_dead_worker_is_released_as_uncertain(relay: Relay, slack: ScriptedSlack,
                                                         store_mention: Callable[..., int],
                                                         clock: FrozenClock,
                                                         engine: Engine) -> None:
    """A worker that died mid-post leaves a claim; after the lease it is retried, looking
    first, so a card that did go out is not posted again."""
    mention_id = store_mention()
    slack._deliver("C0MENTIONS", Message("x", [], {"event_type": "vigie_mention",
                                                   "event_payload": {"mention_id": mention_id}}))
    with Session(engine) as session:
        session.execute(update(Mention).where(col(Mention.id) == mention_id).values(
            relay_state=RelayState.POSTING, relay_claimed_at=clock.now()))
        session.commit()
    clock.advance(minutes=3)
    assert relay.run_due().relayed == [mention_id]
    assert len(slack.posted) == 1


def test_a_card_claimed_by_a_killed_replica_goes_out_within_a_minute(
        relay: Relay, slack: ScriptedSlack, store_mention: Callable[..., int],
        clock: FrozenClock, engine: Engine) -> None:
    """kill -9 of the replica posting a card (campaign.kills): a slow but live worker keeps
    its claim, and well within a minute another worker posts the card, once."""
    mention_id = store_mention()
    with Session(engine) as session:
        session.execute(update(Mention).where(col(Mention.id) == mention_id).values(
            relay_state=RelayState.POSTING, relay_claimed_at=clock.now()))
        session.commit()
    clock.advance(seconds=20)
    assert relay.run_due().relayed == []
    clock.advance(seconds=30)
    assert relay.run_due().relayed == [mention_id]
    assert len(slack.posted) == 1 and row(engine, mention_id).slack_ts


@pytest.fixture
def outage(engine: Engine) -> Iterator[Outage]:
    cut = Outage(engine)
    yield cut
    cut.close()


def test_a_card_posted_as_the_database_went_away_is_recorded_once_it_is_back(
        relay: Relay, slack: ScriptedSlack, store_mention: Callable[..., int],
        outage: Outage, engine: Engine) -> None:
    """Found by campaign.database: the card went out, then PostgreSQL was restarted
    before its ts was written; the claim stood until its 45 s lease ran out, so the desk
    waited for the card well after the database was back. Now the replica writes what it
    knows as soon as the database answers: the same card, no look in the channel."""
    mention_id = store_mention()
    outage.fails = lambda sql: sql.startswith("UPDATE mention") and "slack_ts" in sql
    with pytest.raises(OperationalError):
        relay.run_due()
    assert len(slack.posted) == 1 and row(engine, mention_id).slack_ts is None
    assert relay.run_due().relayed == []  # the database is back: no second card
    stored = row(engine, mention_id)
    assert (stored.relay_state, stored.slack_ts) == (RelayState.RELAYED,
                                                     "1762000000.000000")
    assert len(slack.posted) == 1 and slack.lookups == 0


def test_a_claim_committed_as_the_database_went_away_is_handed_back_once_it_is_back(
        relay: Relay, slack: ScriptedSlack, store_mention: Callable[..., int],
        outage: Outage, engine: Engine) -> None:
    """The claim committed, the connection cut before the answer: Slack was never
    called, and the card goes out in the first round once the database is back (not
    45 s later), once."""
    mention_id = store_mention()
    outage.after = lambda sql: sql.startswith("UPDATE mention") and "relay_attempts +" in sql
    outage.fails = lambda sql: sql.startswith("SELECT")
    with pytest.raises(OperationalError):
        relay.run_due()
    assert slack.posted == [] and row(engine, mention_id).relay_state == RelayState.POSTING
    assert relay.run_due().relayed == [mention_id]
    assert len(slack.posted) == 1 and slack.lookups == 0


def test_a_card_that_cannot_be_drawn_as_the_database_goes_away_is_not_held_for_the_lease(
        engine: Engine, config: Config, slack: ScriptedSlack, clock: FrozenClock,
        store_mention: Callable[..., int], outage: Outage) -> None:
    """Found by campaign.database (a card 44 s late after PostgreSQL came back, no claim
    left unwritten): drawing the card reads its replies from the database, which was
    gone; the claim stood for the 45 s lease although nothing was posted. It is handed
    back (here the database is still away for that too: as soon as it answers)."""
    drawn = card_renderer(config, "fr")
    lost = [True]

    def render(mention: Mention) -> Message:
        if lost:
            lost.clear()
            outage.fails = lambda sql: sql.startswith("UPDATE mention") and \
                "relay_attempts +" not in sql
            raise OperationalError("SELECT reply", {}, Exception(
                "consuming input failed: server closed the connection unexpectedly"))
        return drawn(mention)

    relay = Relay(engine=engine, slack=slack, clock=clock,  # type: ignore[arg-type]
                  render=render)
    mention_id = store_mention()
    with pytest.raises(OperationalError):
        relay.run_due()
    assert slack.posted == [] and row(engine, mention_id).relay_state == RelayState.POSTING
    assert relay.run_due().relayed == [mention_id]
    assert len(slack.posted) == 1 and slack.lookups == 0
