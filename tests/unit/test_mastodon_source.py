"""The Mastodon source: the real Mastodon.py client against a Mastodon-compatible server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.clock import FrozenClock
from bot.config import Config, Source
from bot.connectors import PollState, SourceFailure
from bot.listen.catalog import Catalog
from bot.listen.models import SourceState
from bot.listen.polling import Poller
from bot.mentions.models import Mention
from bot.mentions.routing import Router
from bot.mentions.service import Intake
from bot.platforms.mastodon.client import MastodonClients, MastodonConnector
from bot.sandbox.mastodon import FakeMastodon

TOKEN_ENV = "VIGIE_TEST_MASTODON_TOKEN"


@pytest.fixture
def mastodon() -> Iterator[FakeMastodon]:
    with FakeMastodon() as fake:
        yield fake


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime.now(UTC))


def masto_source(fake: FakeMastodon, **extra: object) -> Source:
    return Source.model_validate({"id": "masto-matinale", "type": "mastodon",
                                  "instance": fake.url, "token_env": TOKEN_ENV,
                                  "account": "matinale", **extra})


def connector(token: str = "token-matinale", timeout: float = 5.0) -> MastodonConnector:
    return MastodonConnector(MastodonClients({TOKEN_ENV: token}, timeout=timeout))


def test_mentions_become_mentions_with_status_id_and_visibility(mastodon: FakeMastodon,
                                                                clock: FrozenClock) -> None:
    """Text without HTML, @user@instance, link, language, status id and visibility kept."""
    status = mastodon.mention("matinale", text="c'est quoi le livre <b>de 7h50</b> ?",
                              visibility="unlisted")
    mastodon.notify("matinale", "follow")
    mastodon.notify("matinale", "favourite")
    fetched = connector()(masto_source(mastodon), PollState(now=clock.now(), first=True))
    [mention] = fetched.mentions
    assert mention.text == "@matinale c'est quoi le livre de 7h50 ?"
    assert mention.author.handle == "@kev59@mamot.example"
    assert mention.author.name == "Kev59"
    assert mention.url == status["url"] and mention.lang == "fr"
    assert mention.ref is not None
    assert (mention.ref.id, mention.ref.visibility) == (status["id"], "unlisted")
    assert mention.external_id == status["id"] and mention.account == "matinale"
    assert fetched.cursor is not None


def test_since_id_reads_only_what_is_new_and_pages_back_past_forty(mastodon: FakeMastodon,
                                                                   clock: FrozenClock) -> None:
    """After the cursor, 95 new mentions come in three pages, none lost, oldest first."""
    mastodon.mention("matinale", text="avant")
    first = connector()(masto_source(mastodon), PollState(now=clock.now(), first=True))
    for i in range(95):
        mastodon.mention("matinale", by=f"fan{i}", text=f"message {i}")
    later = connector()(masto_source(mastodon),
                        PollState(now=clock.now(), first=False, cursor=first.cursor))
    assert [m.text for m in later.mentions] == [f"@matinale message {i}" for i in range(95)]
    calls = mastodon.calls("GET", "/api/v1/notifications")
    assert calls[-1].query["since_id"] == [first.cursor]
    assert "max_id" in calls[-1].query and len(calls) == 4
    assert int(later.cursor or 0) > int(first.cursor or 0)


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (lambda m: m.fail_next("/api/v1/notifications", status=502), "HTTP 502"),
        (lambda m: m.fail_next("/api/v1/notifications", status=429, retry_after=30),
         "rate limited"),
        (lambda m: m.hang_next("/api/v1/notifications", 1.5), "cannot reach the instance"),
    ],
    ids=["5xx", "429", "timeout"],
)
def test_instance_faults_are_failures_with_a_readable_reason(
        mastodon: FakeMastodon, clock: FrozenClock, fault: object, message: str) -> None:
    """A 5xx, a 429 or a hang is a failure the poller backs off from."""
    fault(mastodon)  # type: ignore[operator]
    with pytest.raises(SourceFailure) as caught:
        connector(timeout=0.5)(masto_source(mastodon), PollState(now=clock.now(), first=True))
    assert message in str(caught.value)


def test_a_bad_or_missing_token_is_said_without_showing_it(mastodon: FakeMastodon,
                                                           clock: FrozenClock) -> None:
    """401 says to create a new token; an unset variable is named; no token in the text."""
    with pytest.raises(SourceFailure) as refused:
        connector("wrong-token-value")(masto_source(mastodon), PollState(now=clock.now(),
                                                                          first=True))
    assert "refused the access token" in str(refused.value)
    assert "wrong-token-value" not in str(refused.value)
    with pytest.raises(SourceFailure) as unset:
        MastodonConnector(MastodonClients({}))(masto_source(mastodon),
                                               PollState(now=clock.now(), first=True))
    assert TOKEN_ENV in str(unset.value)


def test_the_client_factory_gives_the_account_client_for_replies(mastodon: FakeMastodon
                                                                 ) -> None:
    """`for_account` hands the account's client; a reply keeps the mention's visibility."""
    status = mastodon.mention("matinale", visibility="private")
    clients = MastodonClients({TOKEN_ENV: "token-matinale"},
                              sources=lambda: (masto_source(mastodon),))
    found = clients.for_account("matinale")
    assert found is not None and clients.for_account("sport-talk") is None
    _, client = found
    client.status_post("Merci !", in_reply_to_id=status["id"], visibility="private")
    [posted] = mastodon.posted
    assert (posted["in_reply_to_id"], posted["visibility"]) == (status["id"], "private")


def test_polling_keeps_the_cursor_in_the_database(engine: Engine, config: Config,
                                                  mastodon: FakeMastodon,
                                                  clock: FrozenClock) -> None:
    """Two polls store each mention once; the since_id survives in source_state."""
    feed_config = config.model_copy(update={"sources": [*config.sources,
                                                        masto_source(mastodon)]})
    catalog = Catalog(engine=engine, config=feed_config, clock=clock)
    intake = Intake(engine=engine, config=feed_config, clock=clock, sources=catalog.source,
                    router=Router(feed_config, catalog.routes))
    poller = Poller(engine=engine, config=feed_config, catalog=catalog, intake=intake,
                    clock=clock, connectors={"mastodon": connector()})
    mastodon.mention("matinale", text="un")
    assert poller.poll_due().of("masto-matinale").stored == 1
    mastodon.mention("matinale", text="deux")
    clock.advance(seconds=61)
    assert poller.poll_due().of("masto-matinale").stored == 1
    with Session(engine) as session:
        texts = [m.text for m in session.exec(select(Mention).order_by(col(Mention.id)))]
        cursor = session.get(SourceState, "masto-matinale")
    assert texts == ["@matinale un", "@matinale deux"]
    assert cursor is not None and cursor.cursor
    assert mastodon.calls("GET", "/api/v1/notifications")[-1].query["since_id"] != []
