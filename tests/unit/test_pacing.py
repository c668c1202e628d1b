"""Pacing at the Slack edge: every message takes its channel's slot from the database,
shared by every sender (threads, replicas); a 429 holds the channel for all of them;
what is not a channel message takes no slot."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk.errors import SlackApiError
from sqlalchemy.engine import Engine

from bot.app import build
from bot.clock import FrozenClock, SystemClock
from bot.config import Alerts, Config
from bot.listen.service import listening
from bot.mentions.models import Author, MentionIn
from bot.mentions.pacing import ChannelPacer
from bot.mentions.routing import Router
from bot.mentions.service import Intake
from bot.posts.models import DraftIn
from bot.sandbox.slack import FakeSlack
from bot.slack import (
    UPDATES,
    PacedSlack,
    SlackGateway,
    SlackPaced,
    SlackRateLimited,
    make_client,
)
from bot.slack_format import Message
from tests.conftest import make_settings

NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
HELLO = Message("Bonjour", [])


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as slack:
        yield slack


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


def gateway(engine: Engine, fake: FakeSlack, clock: FrozenClock | SystemClock, *,
            max_wait: float = 20.0, interval: float = 1.0,
            retry_rate_limits: bool = False) -> PacedSlack:
    client = make_client("xoxb-test", fake.base_url, retry_rate_limits=retry_rate_limits)
    return PacedSlack(client, pacer=ChannelPacer(engine, interval), clock=clock,
                      max_wait=max_wait)


def test_senders_book_a_channels_slots_in_turn(engine: Engine) -> None:
    """Each booking gets the next second of its channel; other channels are free; past
    the horizon nothing is booked and the caller learns when the channel frees up."""
    pacer = ChannelPacer(engine, 1.0)
    within = timedelta(seconds=2)
    booked = [pacer.reserve("C1", NOW, within=within) for _ in range(3)]
    assert [(s.at - NOW).total_seconds() for s in booked] == [0, 1, 2]
    assert all(s.booked for s in booked)
    refused = pacer.reserve("C1", NOW, within=within)
    assert (refused.booked, refused.at) == (False, NOW + timedelta(seconds=3))
    assert pacer.reserve("C2", NOW, within=within).at == NOW
    later = pacer.reserve("C1", NOW + timedelta(seconds=10), within=within)
    assert later.at == NOW + timedelta(seconds=10)  # a free channel: at once


def test_two_gateways_sharing_the_database_keep_a_channel_to_its_pace(
        engine: Engine) -> None:
    """Two senders (as two replicas would) posting 6 messages at once to one channel of a
    Slack allowing 5 a second: spaced by the pace, no 429, each message once."""
    with FakeSlack(channel_rate_limit=(5, 1.0), channel_burst=1) as limited:
        senders = [gateway(engine, limited, SystemClock(), interval=0.2) for _ in range(2)]
        threads = [threading.Thread(target=senders[i % 2].post_message,
                                    args=("C0ANNONCES", Message(f"n°{i}", [])))
                   for i in range(6)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        took = time.monotonic() - started
        assert limited.ratelimited_count == 0
        assert sorted(m["text"] for m in limited.messages("C0ANNONCES")) == \
            [f"n°{i}" for i in range(6)]
        assert took >= 5 * 0.2 - 0.05  # six slots: five intervals at least


def test_a_channel_booked_past_the_wait_is_refused_without_calling_slack(
        engine: Engine, fake: FakeSlack, clock: FrozenClock) -> None:
    """Booked 3 s ahead, a sender allowed 2 s of waiting gets SlackPaced (3 s) at once."""
    pacer = ChannelPacer(engine, 1.0)
    for _ in range(3):
        pacer.reserve("C0ANNONCES", NOW, within=timedelta(seconds=5))
    with pytest.raises(SlackPaced) as refused:
        gateway(engine, fake, clock, max_wait=2).post_message("C0ANNONCES", HELLO)
    assert refused.value.retry_after == 3
    assert isinstance(refused.value, SlackRateLimited)  # callers' 429 handling applies
    assert fake.calls_to("chat.postMessage") == [] and clock.now() == NOW


def test_a_sender_waits_for_its_slot_on_the_clock(engine: Engine, fake: FakeSlack,
                                                  clock: FrozenClock) -> None:
    """The second message of a channel goes a second after the first; another channel's
    goes at once (the frozen clock moves instead of sleeping)."""
    slack = gateway(engine, fake, clock)
    slack.post_message("C0ANNONCES", HELLO)
    assert clock.now() == NOW
    slack.post_message("C0BREVES", HELLO)
    assert clock.now() == NOW
    slack.post_message("C0ANNONCES", HELLO, thread_ts="1.2")
    assert clock.now() == NOW + timedelta(seconds=1)
    assert len(fake.messages("C0ANNONCES")) == 2


def test_a_dm_is_paced_in_its_dm_channel_with_every_other_dm_to_that_person(
        engine: Engine, fake: FakeSlack, clock: FrozenClock) -> None:
    """Two DMs to one person, from two senders, are a second apart; a DM to someone else
    is not held up by them."""
    first, second = gateway(engine, fake, clock), gateway(engine, fake, clock)
    first.direct_message("U0CM", HELLO)
    second.direct_message("U0OTHER", HELLO)
    assert clock.now() == NOW
    second.direct_message("U0CM", HELLO)
    assert clock.now() == NOW + timedelta(seconds=1)
    assert ChannelPacer(engine).free_at(fake.dm_channel("U0CM")) == NOW + timedelta(seconds=2)


def test_a_429_holds_the_channel_for_every_sender(engine: Engine, fake: FakeSlack,
                                                  clock: FrozenClock) -> None:
    """Slack says wait 5 s: the sender waits it out and posts once; another sender of the
    same channel cannot go before, and one allowed less waiting is refused."""
    fake.fail_next("chat.postMessage", retry_after=5)
    gateway(engine, fake, clock).post_message("C0ANNONCES", HELLO)
    assert clock.now() == NOW + timedelta(seconds=5)
    assert len(fake.messages("C0ANNONCES")) == 1
    assert len(fake.calls_to("chat.postMessage")) == 2

    fake.fail_next("chat.postMessage", retry_after=30)
    with pytest.raises(SlackRateLimited) as held:
        gateway(engine, fake, clock).post_message("C0ANNONCES", HELLO)
    assert held.value.retry_after == 30 and not isinstance(held.value, SlackPaced)
    with pytest.raises(SlackPaced):
        gateway(engine, fake, clock, max_wait=10).post_message("C0ANNONCES", HELLO)
    assert len(fake.messages("C0ANNONCES")) == 1


def test_ephemeral_messages_take_no_slot(engine: Engine, fake: FakeSlack,
                                         clock: FrozenClock) -> None:
    """A channel booked far ahead still shows a person their ephemeral answer at once."""
    pacer = ChannelPacer(engine, 1.0)
    for _ in range(30):
        pacer.reserve("C0ANNONCES", NOW, within=timedelta(minutes=1))
    gateway(engine, fake, clock, max_wait=0).post_ephemeral("C0ANNONCES", "U0CM", HELLO)
    assert len(fake.ephemerals("C0ANNONCES", "U0CM")) == 1 and clock.now() == NOW


def test_updates_take_no_slot_but_wait_out_a_429_on_chat_update(
        engine: Engine, fake: FakeSlack, clock: FrozenClock) -> None:
    """A card redrawn in a busy channel goes at once; after a 429 on chat.update every
    update, of every sender, waits for Retry-After."""
    slack = gateway(engine, fake, clock)
    ts = slack.post_message("C0MENTIONS", HELLO).ts
    pacer = ChannelPacer(engine, 1.0)
    for _ in range(10):
        pacer.reserve("C0MENTIONS", NOW, within=timedelta(minutes=1))
    slack.update_message("C0MENTIONS", ts, Message("Mis à jour", []))
    assert clock.now() == NOW
    fake.fail_next("chat.update", retry_after=3)
    slack.update_message("C0MENTIONS", ts, Message("Encore", []))
    assert clock.now() == NOW + timedelta(seconds=3)
    assert pacer.free_at(UPDATES) == NOW + timedelta(seconds=3)
    assert fake.message("C0MENTIONS", ts)["text"] == "Encore"  # type: ignore[index]


def test_the_interactive_client_leaves_message_429s_to_the_pacer(fake: FakeSlack) -> None:
    """The client that waits out 429s for modals and views does not for chat.postMessage:
    the pacer must see it, to hold the channel for everyone."""
    client = make_client("xoxb-test", fake.base_url, retry_rate_limits=True)
    fake.fail_next("chat.postMessage", retry_after=1)
    with pytest.raises(SlackApiError):
        client.chat_postMessage(channel="C0ANNONCES", text="Bonjour")
    fake.fail_next("users.info", retry_after=1)
    fake.add_user("U0CM", "cm")
    assert client.users_info(user="U0CM")["ok"]


def test_an_on_call_alert_dm_shares_the_pace_of_every_dm_to_that_person(
        engine: Engine, config: Config, fake: FakeSlack, clock: FrozenClock) -> None:
    """An escalation DM just went to the on-call person: the alert-word DM queued in the
    outbox for them waits a second, as it shares that DM channel."""
    config = config.model_copy(update={"alerts": Alerts(oncall=["U0ONCALL"], dm_every=0,
                                                        words={"fr": ["menace"]})})
    pacer = ChannelPacer(engine, 1.0)
    listen = listening(engine=engine, config=config, clock=clock, pacer=pacer, locale="fr",
                       slack=SlackGateway(make_client("xoxb-test", fake.base_url)), environ={})
    intake = Intake(engine=engine, config=config, router=Router(config), clock=clock,
                    alerts=listen.alerts)
    intake.ingest("monitoring", MentionIn(
        external_id="m1", text="Une menace contre la matinale",
        author=Author(handle="@a@pouet.example"), created_at=clock.now()))
    gateway(engine, fake, clock).direct_message("U0ONCALL", HELLO)
    dm = fake.dm_channel("U0ONCALL")
    assert listen.outbox.run_due().paced == {dm}
    assert len(fake.messages(dm)) == 1
    clock.advance(seconds=1)
    assert len(listen.outbox.run_due().sent) == 1
    assert len(fake.messages(dm)) == 2


class WatchingClock(FrozenClock):
    """A frozen clock that notes, at each wait for a slot, whether publishing says busy."""

    def __init__(self) -> None:
        super().__init__(NOW)
        self.busy: Callable[[], bool] = lambda: False
        self.seen: list[bool] = []

    def sleep_until(self, when: datetime) -> None:
        if when > self.now():
            self.seen.append(self.busy())
        super().sleep_until(when)


def test_a_post_waiting_for_its_slot_does_not_hold_back_the_notes(
        database_url: str, config: Config, fake: FakeSlack) -> None:
    """Notes wait while a post is being published (the post first), but not while it
    only waits for its channel's slot."""
    clock = WatchingClock()
    vigie = build(make_settings(database_url, fake.base_url), config, clock=clock,
                  environ={})
    clock.busy = vigie.posts.publishing.busy
    try:
        ids = []
        for index in range(2):
            post = vigie.posts.desk.draft("U0CM", DraftIn(
                text=f"Annonce {index}", targets=("annonces",),
                publish_at=NOW + timedelta(minutes=10)))
            vigie.posts.desk.approve(int(post.id or 0), "U0EDITOR", via="button")
            ids.append(int(post.id or 0))
        clock.set(NOW + timedelta(minutes=10))
        clock.seen.clear()
        for post_id in ids:
            vigie.posts.publishing.run_due(post_id)
        assert len(fake.messages("C0ANNONCES")) == 2
        assert clock.seen and not any(clock.seen)  # the second post waited, not busy
    finally:
        vigie.engine.dispose()
