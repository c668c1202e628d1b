"""X end to end: the real app and Vigie's real X client (httpx, OAuth 1.0a) against the
local X API v2. A mention becomes one card however often it is read; Reply shows what X
bills and answers once, also after a lost answer; hide, mute and block reach X; a spent
budget is explained on the card and in the source's health, and nothing is lost."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from bot.clock import Clock, FrozenClock, SystemClock
from bot.config import Config
from bot.listen.models import SourceState
from bot.mentions.models import Mention
from bot.platforms.x.spend import MICROS, Budget, Purpose
from bot.sandbox.mastodon import FakeMastodon
from bot.sandbox.slack import FakeSlack
from tests.e2e.replies.conftest import STAFF, Desk, start
from tests.support.bluesky_server import FakeBluesky
from tests.support.x import X_ENV, with_x
from tests.support.x_server import FakeX

ENV = X_ENV


@pytest.fixture
def x() -> Iterator[FakeX]:
    with FakeX() as fake:
        yield fake


@pytest.fixture
def mastodon() -> Iterator[FakeMastodon]:
    with FakeMastodon() as fake:
        yield fake


@pytest.fixture
def bluesky() -> Iterator[FakeBluesky]:
    with FakeBluesky(accounts={}) as fake:
        yield fake


def newsroom(config: Config, x: FakeX, budget: float = 50.0) -> Config:
    return with_x(config, x.url, budget=budget)


def running(database_url: str, config: Config, environ: dict[str, str], slack: FakeSlack,
            mastodon: FakeMastodon, bluesky: FakeBluesky, clock: Clock
            ) -> Iterator[Desk]:
    vigie, driver, desk = start(database_url, config, {**environ, **ENV}, slack, mastodon,
                                bluesky, clock)
    yield desk
    driver.close()
    vigie.stop()


@pytest.fixture
def desk(database_url: str, config: Config, environ: dict[str, str], slack: FakeSlack,
         x: FakeX, mastodon: FakeMastodon, bluesky: FakeBluesky) -> Iterator[Desk]:
    yield from running(database_url, newsroom(config, x), environ, slack, mastodon, bluesky,
                       SystemClock())


def x_mentions(desk: Desk) -> list[Mention]:
    with Session(desk.vigie.vigie.engine) as session:
        return list(session.exec(select(Mention).where(Mention.platform == "x")))


def poll_x(desk: Desk) -> None:
    listen = desk.vigie.vigie.listen
    assert listen and listen.poller
    source = listen.catalog.source("x-matinale")
    assert source is not None
    listen.poller.poll(source)


def test_an_x_mention_is_one_card_however_often_it_is_read(desk: Desk, x: FakeX) -> None:
    post = x.mention("matinale", by="kev59", text="Le podcast ne se lance plus <!channel>")
    mention = desk.poll()
    text = desk.card_shows(mention, "Le podcast ne se lance plus", "@kev59")
    assert "<!channel>" not in text  # relayed text cannot ping the channel
    assert (mention.platform, mention.platform_ref) == ("x", post["id"])
    poll_x(desk)  # read again: X is asked only for newer mentions
    with Session(desk.vigie.vigie.engine) as session:  # and even re-read from scratch…
        state = session.get(SourceState, "x-matinale")
        assert state is not None and state.cursor == post["id"]
        state.cursor = None
        session.add(state)
        session.commit()
    poll_x(desk)
    assert len(x_mentions(desk)) == 1  # …it stays one mention, one card
    cards = [m for m in desk.slack.messages(mention.slack_channel or "") if m.get("metadata")]
    assert len(cards) == 1
    reads = [r for r in x.calls("GET", "/2/users/") if r.path.endswith("/mentions")]
    assert reads[1].query["since_id"] == post["id"]


def test_reply_shows_its_cost_and_answers_once(desk: Desk, x: FakeX) -> None:
    post = x.mention("matinale", by="kev59", text="Vous pouvez corriger le titre ?")
    mention = desk.poll()
    form = desk.open_reply(STAFF, mention)
    shown = json.dumps(form["blocks"], ensure_ascii=False)
    assert "X facture cette réponse $0.015 ($0.20 si elle contient un lien)" in shown
    desk.submit(STAFF, desk.pick(STAFF, form, "fr/correction_noted"))
    desk.answered(mention.id or 0)
    [reply] = x.posts_by("matinale")
    assert reply["referenced_tweets"] == [{"type": "replied_to", "id": post["id"]}]
    assert len(x.calls("POST", "/2/tweets")) == 1
    [sent] = desk.replies(mention.id or 0)
    assert sent.remote_id == reply["id"] and reply["id"] in (sent.remote_url or "")


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime.now(UTC).replace(microsecond=0))


def test_a_reply_whose_answer_is_lost_is_found_and_never_sent_twice(
        database_url: str, config: Config, environ: dict[str, str], slack: FakeSlack,
        x: FakeX, mastodon: FakeMastodon, bluesky: FakeBluesky, clock: FrozenClock) -> None:
    """X takes no idempotency key: the lost answer is looked up in the account's own
    posts, found, and the reply is sent — once."""
    for desk in running(database_url, newsroom(config, x), environ, slack, mastodon,
                        bluesky, clock):
        release = threading.Event()
        x.hang_next("/2/tweets", 30, release=release)  # created, but the answer comes late
        x.mention("matinale", by="kev59", text="Vous pouvez corriger le titre ?")
        mention = desk.poll()
        desk.submit(STAFF, desk.pick(STAFF, desk.open_reply(STAFF, mention),
                                     "fr/correction_noted"))
        unsure = desk.reply_in(mention.id or 0, "unconfirmed")
        release.set()
        assert desk.slack.wait_for(lambda: x.posts_by("matinale"), timeout=10)
        clock.set(clock.now() + timedelta(seconds=15))
        desk.vigie.vigie.replies.desk.sweep()
        sent = desk.reply_in(mention.id or 0, "sent")
        [reply] = x.posts_by("matinale")
        assert sent.id == unsure.id and sent.remote_id == reply["id"]
        assert len(x.calls("POST", "/2/tweets")) == 1
        desk.answered(mention.id or 0)


def test_hide_mute_and_block_reach_x(desk: Desk, x: FakeX) -> None:
    ours = x.post("matinale", "Ce matin : l'invité politique")
    troll = x.post("troll", "@matinale t'es qu'une abrutie", reply_to=ours)
    mention = desk.poll()
    assert mention.platform_ref == troll["id"]
    for action, word in (("hide", "Réponse cachée"), ("mute", "Masqué sur X"),
                         ("block", "Bloqué sur X")):
        desk.driver.click(STAFF, "moderate.act", message={"ts": mention.slack_ts},
                          channel_id=mention.slack_channel)
        modal = desk.slack.wait_for(lambda: [v for v in desk.slack.views_for(STAFF)
                                             if v.get("callback_id") == "moderate_act"],
                                    timeout=10)[-1]
        desk.driver.view_submission(user_id=STAFF, view=modal,
                                    values={"action": {"action": action}})
        desk.card_shows(mention, word)
    troll_id = x.user("troll")["id"]
    assert x.hidden() == {troll["id"]}
    assert x.muted_by("matinale") == {troll_id} and x.blocked_by("matinale") == {troll_id}


def test_a_spent_budget_is_explained_and_nothing_is_lost(
        database_url: str, config: Config, environ: dict[str, str], slack: FakeSlack,
        x: FakeX, mastodon: FakeMastodon, bluesky: FakeBluesky) -> None:
    """With the month's budget spent, polling stops and says why in the source's health;
    a reply is not sent, the card says why, and its text is kept; the mention arrived
    before is read once polling may resume (the cursor was kept)."""
    for desk in running(database_url, newsroom(config, x, budget=1.0), environ, slack,
                        mastodon, bluesky, SystemClock()):
        x.mention("matinale", by="kev59", text="Vous pouvez corriger le titre ?")
        mention = desk.poll()
        budget = Budget(engine=desk.vigie.vigie.engine, settings=config.x.model_copy(
            update={"monthly_budget": 1.0}), clock=SystemClock())
        budget.record(account="x-matinale", purpose=Purpose.LISTEN, resources=200,
                      cost=MICROS)  # the whole month's dollar
        later = x.mention("matinale", by="lea", text="et le replay ?")
        reads = len(x.calls("GET", "/2/users/"))
        poll_x(desk)
        assert len(x.calls("GET", "/2/users/")) == reads  # X was not called
        with Session(desk.vigie.vigie.engine) as session:
            state = session.get(SourceState, "x-matinale")
            assert state is not None and state.last_error and "polling_stopped" in \
                state.last_error
        desk.submit(STAFF, desk.pick(STAFF, desk.open_reply(STAFF, mention),
                                     "fr/correction_noted"))
        failed = desk.reply_in(mention.id or 0, "failed")
        assert failed.text and "budget_spent" in (failed.error or "")
        desk.card_shows(mention, "le budget X du mois est épuisé")
        assert x.calls("POST", "/2/tweets") == []
        assert [m.external_id for m in x_mentions(desk)] == [mention.external_id]
        budget.record(account="x-matinale", purpose=Purpose.LISTEN, resources=0,
                      cost=-MICROS)  # (the newsroom raises its budget: room again)
        poll_x(desk)
        assert {m.external_id for m in x_mentions(desk)} == {mention.external_id,
                                                            later["id"]}
