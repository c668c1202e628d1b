"""Listening end to end: polled sources reach their channels, a 500-mention burst stays
calm in Slack, and alert words reach the on-call person."""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlmodel import Session, col, select

from bot.config import Alerts, Bursts, Config, Source
from bot.listen.models import OutboxMessage, OutboxState
from bot.mentions.models import Mention, Priority, RelayState
from bot.sandbox.feed import FeedServer, rss
from bot.sandbox.mastodon import FakeMastodon
from bot.sandbox.slack import FakeSlack
from tests.conftest import WEBHOOK_SECRET
from tests.e2e.test_webhook_flow import a_mention, cards, wait_for_cards
from tests.support.harness import RunningVigie

TOKEN_ENV = "VIGIE_TEST_MASTODON_TOKEN"


@pytest.fixture
def feeds() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server


@pytest.fixture
def mastodon() -> Iterator[FakeMastodon]:
    with FakeMastodon(tokens={"token-sport": "sporttalk"}) as fake:
        yield fake


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    """Slack that really limits each channel: 4 messages a second, bursts of 4."""
    with FakeSlack(channel_rate_limit=(4, 1.0), channel_burst=4) as fake:
        fake.add_user("U0ONCALL", "astreinte", real_name="Astreinte")
        yield fake


@pytest.fixture
def environ(environ: dict[str, str]) -> dict[str, str]:
    return {**environ, TOKEN_ENV: "token-sport"}


@pytest.fixture
def config(config: Config, feeds: FeedServer, mastodon: FakeMastodon) -> Config:
    sources = [
        *config.sources,
        Source.model_validate({"id": "alertes", "type": "rss", "account": "grand-debat",
                               "url": feeds.url("/alertes.rss"), "interval": 60}),
        Source.model_validate({"id": "masto-sport", "type": "mastodon", "account": "sport-talk",
                               "instance": mastodon.url, "token_env": TOKEN_ENV}),
    ]
    return config.model_copy(update={
        "sources": sources,
        "bursts": Bursts(threshold=20, window=300, digest_size=50, digest_every=1, pace=0.25),
        "alerts": Alerts(oncall=["U0ONCALL"], dm_every=0,
                         words={"fr": ["menace", "plainte"], "en": ["threat"]}),
    })


def stored(vigie: RunningVigie) -> list[Mention]:
    with Session(vigie.vigie.engine) as session:
        return list(session.exec(select(Mention).order_by(col(Mention.id))))


def test_an_rss_feed_and_a_mastodon_account_bring_mentions_into_their_channels(
        vigie: RunningVigie, slack: FakeSlack, feeds: FeedServer, mastodon: FakeMastodon
) -> None:
    """Feed entries land in the feed's account channel, Mastodon mentions in theirs."""
    feeds.serve("/alertes.rss", rss([{"title": "Le Grand Débat cité", "guid": "a1",
                                      "link": "https://alerts.example/a1"}]))
    mastodon.mention("sporttalk", by="supporter", text="quel match hier soir !")
    assert vigie.vigie.scheduler.next_run("listen.poll") is not None  # the leader polls
    assert vigie.vigie.listen and vigie.vigie.listen.poller
    report = vigie.vigie.listen.poller.poll_due()
    assert (report.of("alertes").stored, report.of("masto-sport").stored) == (1, 1)
    [feed_card] = wait_for_cards(slack, "C0DEBAT")
    [masto_card] = wait_for_cards(slack, "C0SPORT")
    assert "Le Grand Débat cité" in json.dumps(feed_card["blocks"], ensure_ascii=False)
    rendered = json.dumps(masto_card["blocks"], ensure_ascii=False)
    assert "quel match hier soir" in rendered and "@supporter@mamot.example" in rendered
    [from_mastodon] = [m for m in stored(vigie) if m.platform == "mastodon"]
    assert from_mastodon.platform_ref and from_mastodon.visibility == "public"


def _digest_ids(message: dict[str, Any]) -> list[int]:
    text = json.dumps(message.get("blocks") or [])
    return [int(n) for n in re.findall(r"`#(\d+)`", text)]


@pytest.mark.timeout(90)
def test_a_500_mention_burst_is_one_spike_alert_and_digests_with_no_429_and_none_lost(
        vigie: RunningVigie, slack: FakeSlack) -> None:
    """20 cards, then one alert whose thread lists the other 480; Slack never says 429."""
    texts = ["Quelle honte cette émission, démission !", "Scandale à la matinale",
             "La matinale ment encore, honte", "Boycott de la matinale"]

    def send(i: int) -> int:
        body = a_mention(f"burst-{i}", text=f"{texts[i % 4]} ({i})",
                         author={"handle": f"@user{i}@pouet.example"})
        return vigie.post_mention("monitoring", body, secret=WEBHOOK_SECRET).status_code

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        assert set(pool.map(send, range(500))) == {201}

    def all_listed() -> list[OutboxMessage]:
        with Session(vigie.vigie.engine) as session:
            rows = list(session.exec(select(OutboxMessage)))
            waiting = session.exec(
                select(Mention).where(col(Mention.relay_state).in_(
                    [RelayState.PENDING, RelayState.POSTING]))).first()
            unlisted = session.exec(select(Mention).where(Mention.relay_state == RelayState.HELD)
                                    .where(col(Mention.digest_id).is_(None))).first()
        done = rows and waiting is None and unlisted is None and \
            all(r.state == OutboxState.SENT for r in rows)
        return rows if done else []

    slack.wait_for(all_listed, timeout=60, interval=0.2)
    span = time.monotonic() - started  # first mention sent → last digest listed
    assert slack.ratelimited_count == 0
    rows = stored(vigie)
    assert len(rows) == 500
    top = slack.messages("C0MENTIONS", include_replies=False)
    card_ids = [m["metadata"]["event_payload"]["mention_id"] for m in top
                if m["metadata"]["event_type"] == "vigie_mention"]
    [alert] = [m for m in top if m["metadata"]["event_type"] == "vigie_outbox"]
    assert len(card_ids) == 20
    alert_text = json.dumps(alert["blocks"], ensure_ascii=False)
    assert "mentions de La Matinale en 5 min" in alert_text
    assert "% avec des mots à tonalité négative" in alert_text and "honte" in alert_text
    thread = [m for m in slack.messages("C0MENTIONS") if m.get("thread_ts") == alert["ts"]
              and m["ts"] != alert["ts"]]
    listed = [i for m in thread for i in _digest_ids(m)]
    assert sorted(card_ids + listed) == [m.id for m in rows]  # every mention, exactly once
    # Digests of at most 50 lines; a partial one leaves early only once its oldest line
    # has waited digest_every (1 s), so a slower burst (a loaded machine) makes at most one
    # more message per second it lasts: a few dozen messages, never one per mention.
    assert 480 // 50 + 1 <= len(thread) <= 480 // 50 + 1 + math.ceil(span) + 1
    assert len(thread) < 100


def test_alert_words_raise_priority_mark_the_card_and_dm_the_on_call_person(
        vigie: RunningVigie, slack: FakeSlack) -> None:
    """'menace' makes the mention urgent, its card says so, and the on-call gets a DM."""
    vigie.post_mention("monitoring", a_mention("t1", text="Je porte plainte, c'est une MENACE"),
                       secret=WEBHOOK_SECRET)
    vigie.post_mention("monitoring", a_mention("t2", text="Rien à signaler"),
                       secret=WEBHOOK_SECRET)
    card = wait_for_cards(slack, "C0LEGAL")[0]
    assert "Mots d'alerte" in json.dumps(card["blocks"], ensure_ascii=False)
    dm = slack.wait_for(lambda: slack.messages(slack.dm_channel("U0ONCALL")))
    text = json.dumps(dm, ensure_ascii=False)
    assert "plainte, menace" in text and "<#C0LEGAL>" in text
    wait_for_cards(slack, "C0MENTIONS")
    urgent, calm = stored(vigie)
    assert (urgent.priority, urgent.alert_terms) == (Priority.URGENT, "plainte, menace")
    assert (calm.priority, calm.alert_terms) == (Priority.NORMAL, None)
    assert len(slack.messages(slack.dm_channel("U0ONCALL"))) == 1
    assert cards(slack, "C0LEGAL") == [card]


def test_a_failing_feed_is_reported_in_its_channel_in_the_newsrooms_french(
        vigie: RunningVigie, slack: FakeSlack, feeds: FeedServer) -> None:
    """After three failures in a row, one notice in the feed's channel says why, in French."""
    feeds.serve("/alertes.rss", rss([]), status=503)
    assert vigie.vigie.listen and vigie.vigie.listen.poller
    poller = vigie.vigie.listen.poller
    feed = next(s for s in vigie.vigie.listen.catalog.sources() if s.id == "alertes")
    for _ in range(3):
        assert poller.poll(feed).error == "the feed answered HTTP 503"  # the log's English

    def notices() -> list[str]:
        return [json.dumps(m["blocks"], ensure_ascii=False) for m in slack.messages("C0DEBAT")
                if m.get("metadata", {}).get("event_type") == "vigie_outbox"]

    [notice] = slack.wait_for(notices, timeout=10)
    assert ":warning: La source *alertes* a échoué 3 fois de suite depuis " in notice
    assert ": le flux a répondu HTTP 503. Vigie réessaie, moins souvent ; ce message n'est " \
           "envoyé qu'une fois." in notice
    assert "answered" not in notice
