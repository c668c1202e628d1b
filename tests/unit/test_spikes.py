"""Spikes with a frozen clock: cards up to the threshold, then one alert and digests, then
back to cards once the rate falls."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from bot.clock import FrozenClock
from bot.config import Bursts, Config
from bot.listen.service import listening
from bot.mentions.messages import card_renderer
from bot.mentions.models import Author, MentionIn
from bot.mentions.relay import Relay
from bot.mentions.routing import Router
from bot.mentions.service import Intake
from bot.sandbox.slack import FakeSlack
from bot.slack import SlackGateway, make_client


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as slack:
        yield slack


def test_a_spike_opens_past_the_threshold_and_closes_when_the_rate_falls(
        engine: Engine, config: Config, clock: FrozenClock, fake: FakeSlack) -> None:
    """3 cards, an alert with the other 2 in a digest; later, a note and cards again."""
    config = config.model_copy(update={"bursts": Bursts(threshold=3, window=60,
                                                        digest_every=5, pace=1.0)})
    gateway = SlackGateway(make_client("xoxb-test", fake.base_url))
    listen = listening(engine=engine, config=config, clock=clock, slack=gateway, locale="en",
                       environ={})
    relay = Relay(engine=engine, slack=gateway, clock=clock, render=card_renderer(config, "en"),
                  pacer=listen.pacer, spikes=listen.spikes, outbox=listen.outbox)
    intake = Intake(engine=engine, config=config, router=Router(config), clock=clock)

    def mention(n: int) -> None:
        intake.ingest("monitoring", MentionIn(
            external_id=f"s{n}", text=f"Honte à la matinale, numéro {n}",
            author=Author(handle=f"@u{n}@pouet.example"), created_at=clock.now()))

    def settle(seconds: int) -> None:
        for _ in range(seconds):
            while relay.run_due().progressed:
                pass
            clock.advance(seconds=1)

    for n in range(5):
        mention(n)
    settle(10)
    top = fake.messages("C0MENTIONS", include_replies=False)
    kinds = [m["metadata"]["event_type"] for m in top]
    assert kinds == ["vigie_mention"] * 3 + ["vigie_outbox"]
    alert = top[-1]
    assert "5 mentions of La Matinale in 1 min, 100% with negative-looking words" in \
        alert["text"]
    thread = [m for m in fake.messages("C0MENTIONS") if m.get("thread_ts") == alert["ts"]
              and m["ts"] != alert["ts"]]
    assert len(thread) == 1 and "`#4`" in str(thread[0]["blocks"])
    assert "`#5`" in str(thread[0]["blocks"])

    clock.advance(seconds=120)  # the window empties: the spike ends
    settle(3)
    mention(99)
    settle(3)
    replies = [m for m in fake.messages("C0MENTIONS") if m.get("thread_ts") == alert["ts"]]
    assert "Back to normal" in replies[-1]["text"]
    assert "2 mentions were listed in digests" in replies[-1]["text"]
    assert "2 mentions held, all listed" in str(fake.message("C0MENTIONS", alert["ts"]))
    latest = fake.messages("C0MENTIONS", include_replies=False)[-1]
    assert latest["metadata"]["event_type"] == "vigie_mention"
    assert latest["metadata"]["event_payload"]["mention_id"] == 6
