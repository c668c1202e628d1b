"""The Bluesky source: the real atproto Client against a Bluesky-compatible XRPC server."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.checks import source_problems
from bot.clock import FrozenClock
from bot.config import Config, Source
from bot.connectors import PollState, SourceFailure
from bot.listen.catalog import Catalog
from bot.listen.models import OutboxMessage, SourceState
from bot.listen.polling import Poller
from bot.mentions.models import Mention
from bot.mentions.routing import Router
from bot.mentions.service import Intake
from bot.platforms.bluesky.client import BlueskyClients, BlueskyConnector
from tests.support.bluesky_server import FakeBluesky

PASSWORD_ENV = "VIGIE_TEST_BSKY_PASSWORD"
PASSWORD = "app-pass-matinale"
ME = "matinale.bsky.social"


@pytest.fixture
def bluesky() -> Iterator[FakeBluesky]:
    with FakeBluesky(accounts={ME: PASSWORD}) as fake:
        yield fake


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime.now(UTC))


def bsky_source(fake: FakeBluesky, **extra: object) -> Source:
    return Source.model_validate({"id": "bsky-matinale", "type": "bluesky", "handle": ME,
                                  "password_env": PASSWORD_ENV, "service": fake.url,
                                  "account": "matinale", **extra})


def clients(password: str = PASSWORD, timeout: float = 5.0) -> BlueskyClients:
    return BlueskyClients({PASSWORD_ENV: password}, timeout=timeout)


def poll(connector: BlueskyConnector, fake: FakeBluesky, clock: FrozenClock,
         cursor: str | None = None) -> tuple[list[str], str | None]:
    fetched = connector(bsky_source(fake), PollState(now=clock.now(), first=cursor is None,
                                                     cursor=cursor))
    return [m.text for m in fetched.mentions], fetched.cursor


def test_mentions_replies_and_quotes_become_mentions_with_uri_cid_and_root(
        bluesky: FakeBluesky, clock: FrozenClock) -> None:
    """Each keeps its URI/CID and its thread root's; a like brings nothing."""
    mention = bluesky.mention(ME, by="kev59.bsky.social",
                              text="le livre de 7h50 ? https://radio.example/livre", langs=["fr"])
    opener = bluesky.post("alice.bsky.social", "Vous avez écouté la matinale ?")
    ours = bluesky.reply(opener, by=ME, text="Merci de nous écouter")
    answer = bluesky.reply(ours, by="bob.bsky.social", text="Toujours !", langs=["en-GB"])
    quote = bluesky.post("carol.bsky.social", "Regardez ça", quote=ours["uri"])
    bluesky.like(ours)
    fetched = BlueskyConnector(clients())(bsky_source(bluesky),
                                          PollState(now=clock.now(), first=True))
    first, second, third = fetched.mentions
    assert first.text == "@matinale.bsky.social le livre de 7h50 ? https://radio.example/livre"
    assert (first.author.handle, first.author.name) == ("@kev59.bsky.social", "Kev59")
    assert first.external_id == mention["uri"] and first.platform == "bluesky"
    assert first.url == (f"https://bsky.app/profile/kev59.bsky.social/post/"
                         f"{mention['uri'].rsplit('/', 1)[1]}")
    assert first.ref is not None and first.lang == "fr" and first.account == "matinale"
    assert (first.ref.id, first.ref.cid) == (mention["uri"], mention["cid"])
    assert (first.ref.root_id, first.ref.root_cid) == (mention["uri"], mention["cid"])
    assert second.text == "Toujours !" and second.lang == "en"
    assert second.ref is not None
    assert (second.ref.id, second.ref.cid) == (answer["uri"], answer["cid"])
    assert (second.ref.root_id, second.ref.root_cid) == (opener["uri"], opener["cid"])
    assert third.ref is not None and third.ref.root_id == quote["uri"]
    assert third.text.startswith("Regardez ça\n↪ https://bsky.app/profile/")
    assert fetched.cursor is not None and answer["uri"] not in fetched.cursor


def test_shortened_link_labels_are_expanded_from_the_facets(bluesky: FakeBluesky,
                                                            clock: FrozenClock) -> None:
    """The app writes 'radio.example/replay…' and keeps the address in a link facet."""
    text = f"@{ME} réécoutez radio.example/repl… merci"
    start = len(text.split("radio")[0].encode())
    end = start + len("radio.example/repl…".encode())
    mention_facet = {"index": {"byteStart": 0, "byteEnd": len(ME) + 1}, "features": [
        {"$type": "app.bsky.richtext.facet#mention", "did": bluesky.account(ME)["did"]}]}
    link_facet = {"index": {"byteStart": start, "byteEnd": end}, "features": [
        {"$type": "app.bsky.richtext.facet#link",
         "uri": "https://radio.example/replay/2026-11-02"}]}
    bluesky.post("kev59.bsky.social", text, facets=[mention_facet, link_facet])
    texts, _ = poll(BlueskyConnector(clients()), bluesky, clock)
    assert texts == [f"@{ME} réécoutez https://radio.example/replay/2026-11-02 merci"]


def test_the_cursor_reads_only_what_is_new_and_pages_back_past_fifty(
        bluesky: FakeBluesky, clock: FrozenClock) -> None:
    """After the cursor, 120 new mentions come in three pages, none lost, oldest first."""
    connector = BlueskyConnector(clients())
    bluesky.mention(ME, text="avant")
    _, cursor = poll(connector, bluesky, clock)
    for i in range(120):
        bluesky.mention(ME, by=f"fan{i}.bsky.social", text=f"message {i}")
    calls_before = len(bluesky.calls("app.bsky.notification.listNotifications"))
    texts, newer = poll(connector, bluesky, clock, cursor)
    assert texts == [f"@{ME} message {i}" for i in range(120)]
    calls = bluesky.calls("app.bsky.notification.listNotifications")[calls_before:]
    assert len(calls) == 3 and "cursor" not in calls[0].query
    assert calls[0].query["reasons"] == ["mention", "reply", "quote"]
    assert calls[1].query["cursor"] and calls[2].query["cursor"]
    assert newer and newer > (cursor or "")
    assert poll(connector, bluesky, clock, newer) == ([], newer)


def test_the_first_poll_reaches_back_one_day_only(bluesky: FakeBluesky,
                                                  clock: FrozenClock) -> None:
    """A mention from two days ago is not brought in when a source is added."""
    long_ago = clock.now() - timedelta(days=2)
    bluesky.mention(ME, text="vieux", created_at=long_ago, indexed_at=long_ago)
    bluesky.mention(ME, text="récent")
    texts, _ = poll(BlueskyConnector(clients()), bluesky, clock)
    assert texts == [f"@{ME} récent"]


def test_the_session_is_created_once_and_reused(bluesky: FakeBluesky,
                                                clock: FrozenClock) -> None:
    """Three polls, one createSession; each poll carries the access token."""
    connector = BlueskyConnector(clients())
    cursor = None
    for i in range(3):
        bluesky.mention(ME, text=f"n{i}")
        _, cursor = poll(connector, bluesky, clock, cursor)
    assert len(bluesky.calls("com.atproto.server.createSession")) == 1
    listed = bluesky.calls("app.bsky.notification.listNotifications")
    assert len(listed) == 3 and all((r.authorization or "").startswith("Bearer ey")
                                    for r in listed)


@pytest.mark.parametrize("status", [400, 401], ids=["400-as-the-pds", "401"])
def test_an_expired_token_is_refreshed_and_the_call_retried(bluesky: FakeBluesky,
                                                            clock: FrozenClock,
                                                            status: int) -> None:
    """ExpiredToken → refreshSession with the refresh token → the poll succeeds."""
    bluesky.expired_status = status
    connector = BlueskyConnector(clients())
    _, cursor = poll(connector, bluesky, clock)
    bluesky.expire_access_tokens()
    bluesky.mention(ME, text="après expiration")
    assert poll(connector, bluesky, clock, cursor)[0] == [f"@{ME} après expiration"]
    assert len(bluesky.calls("com.atproto.server.refreshSession")) == 1
    assert len(bluesky.calls("com.atproto.server.createSession")) == 1


def test_a_refused_refresh_logs_in_again(bluesky: FakeBluesky, clock: FrozenClock) -> None:
    """Access and refresh tokens both revoked: a new session, and the poll still works."""
    connector = BlueskyConnector(clients())
    _, cursor = poll(connector, bluesky, clock)
    bluesky.expire_access_tokens()
    bluesky.revoke_refresh_tokens()
    bluesky.mention(ME, text="toujours là")
    assert poll(connector, bluesky, clock, cursor)[0] == [f"@{ME} toujours là"]
    assert len(bluesky.calls("com.atproto.server.createSession")) == 2


def test_a_short_lived_token_is_refreshed_before_it_expires(clock: FrozenClock) -> None:
    """The SDK reads the access JWT's exp and refreshes 15 minutes ahead, by itself."""
    with FakeBluesky(accounts={ME: PASSWORD}, access_ttl=timedelta(minutes=10)) as fake:
        connector = BlueskyConnector(clients())
        fake.mention(ME, text="un")
        assert poll(connector, fake, clock)[0] == [f"@{ME} un"]
        poll(connector, fake, clock)
        assert len(fake.calls("com.atproto.server.refreshSession")) >= 1
        assert {r.status for r in fake.calls("app.bsky.notification.listNotifications")} == {200}


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (lambda f: f.fail_next("app.bsky.notification", status=502), "answered HTTP 502"),
        (lambda f: f.fail_next("app.bsky.notification", status=500), "answered HTTP 500"),
        (lambda f: f.fail_next("app.bsky.notification", status=429, retry_after=120,
                               error="RateLimitExceeded"), "rate limited"),
        (lambda f: f.hang_next("app.bsky.notification", 1.5), "did not answer in time"),
    ],
    ids=["502", "500", "429", "timeout"],
)
def test_service_faults_are_failures_with_a_readable_reason(
        bluesky: FakeBluesky, clock: FrozenClock, fault: object, message: str) -> None:
    """A 5xx, a 429 (with its Retry-After) or a hang is a failure the poller backs off from."""
    connector = BlueskyConnector(clients(timeout=0.5))
    poll(connector, bluesky, clock)  # the session exists: the fault hits the poll itself
    fault(bluesky)  # type: ignore[operator]
    with pytest.raises(SourceFailure) as caught:
        poll(connector, bluesky, clock)
    assert message in str(caught.value)
    if message == "rate limited":
        assert caught.value.retry_after == 120


def test_a_bad_or_missing_password_is_said_without_showing_it(
        bluesky: FakeBluesky, clock: FrozenClock, caplog: pytest.LogCaptureFixture) -> None:
    """401 names the variable and App passwords, and is not retried at once (createSession
    is rate limited); the value is in no message nor log."""
    caplog.set_level(logging.DEBUG)
    wrong = BlueskyConnector(clients("wrong-app-password"))
    with pytest.raises(SourceFailure) as refused:
        poll(wrong, bluesky, clock)
    with pytest.raises(SourceFailure, match="refused the handle"):  # not asked again…
        poll(wrong, bluesky, clock)
    assert len(bluesky.calls("com.atproto.server.createSession")) == 1  # …for 5 minutes
    text = str(refused.value)
    assert "refused the handle or app password" in text and PASSWORD_ENV in text
    assert "App passwords" in text and "wrong-app-password" not in text
    with pytest.raises(SourceFailure) as unset:
        poll(BlueskyConnector(BlueskyClients({})), bluesky, clock)
    assert PASSWORD_ENV in str(unset.value) and "not set" in str(unset.value)
    bluesky.mention(ME, text="ok")
    poll(BlueskyConnector(clients()), bluesky, clock)  # a good login, logged at DEBUG too
    tokens = [r.authorization for r in bluesky.requests if r.authorization]
    assert tokens and "wrong-app-password" not in caplog.text and PASSWORD not in caplog.text
    assert not any(token.removeprefix("Bearer ") in caplog.text for token in tokens)


def test_a_changed_password_opens_a_new_session(bluesky: FakeBluesky,
                                                clock: FrozenClock) -> None:
    """The password is read from the environment each time; a new one logs in again."""
    environ = {PASSWORD_ENV: PASSWORD}
    connector = BlueskyConnector(BlueskyClients(environ))
    poll(connector, bluesky, clock)
    bluesky.add_account(ME)["password"] = "rotated-app-password"
    environ[PASSWORD_ENV] = "rotated-app-password"
    poll(connector, bluesky, clock)
    assert [r.status for r in bluesky.calls("com.atproto.server.createSession")] == [200, 200]


def _poller(engine: Engine, config: Config, clock: FrozenClock, source: Source,
            connector: BlueskyConnector) -> Poller:
    with_source = config.model_copy(update={"sources": [*config.sources, source]})
    catalog = Catalog(engine=engine, config=with_source, clock=clock)
    intake = Intake(engine=engine, config=with_source, clock=clock, sources=catalog.source,
                    router=Router(with_source, catalog.routes))
    return Poller(engine=engine, config=with_source, catalog=catalog, intake=intake,
                  clock=clock, connectors={"bluesky": connector})


def test_polling_stores_each_mention_once_with_its_refs_and_keeps_the_cursor(
        engine: Engine, config: Config, bluesky: FakeBluesky, clock: FrozenClock) -> None:
    """Two polls store each post once, with URI, CID and root; the cursor is in the DB."""
    poller = _poller(engine, config, clock, bsky_source(bluesky), BlueskyConnector(clients()))
    first = bluesky.mention(ME, text="un")
    assert poller.poll_due().of("bsky-matinale").stored == 1
    second = bluesky.reply(first, by="kev59.bsky.social", text="deux")  # not to us
    third = bluesky.mention(ME, by="zoe.bsky.social", text="trois", reply_to=second["uri"])
    clock.advance(seconds=61)
    assert poller.poll_due().of("bsky-matinale").stored == 1
    with Session(engine) as session:
        rows = list(session.exec(select(Mention).order_by(col(Mention.id))))
        state = session.get(SourceState, "bsky-matinale")
    assert [m.text for m in rows] == [f"@{ME} un", f"@{ME} trois"]
    assert (rows[1].platform_ref, rows[1].platform_cid) == (third["uri"], third["cid"])
    assert (rows[1].root_ref, rows[1].root_cid) == (first["uri"], first["cid"])
    assert rows[1].account_id == "matinale" and rows[1].platform == "bluesky"
    assert state is not None and state.cursor and third["uri"] in state.cursor


def test_failures_back_off_through_the_poller_and_recover(
        engine: Engine, config: Config, bluesky: FakeBluesky, clock: FrozenClock) -> None:
    """5xx then a timeout: next polls 60 s then 120 s later; told once; then back to normal."""
    poller = _poller(engine, config, clock, bsky_source(bluesky),
                     BlueskyConnector(clients(timeout=0.5)))
    poller.poll_due()
    clock.advance(seconds=60)
    bluesky.fail_next("app.bsky.notification", status=503)
    assert "HTTP 503" in (poller.poll_due().of("bsky-matinale").error or "")
    state = poller.states()["bsky-matinale"]
    assert state.next_poll_at == clock.now() + timedelta(seconds=60)
    clock.advance(seconds=30)
    assert poller.poll_due().results == []  # backing off
    clock.advance(seconds=30)
    bluesky.hang_next("app.bsky.notification", 1.5)
    assert "did not answer" in (poller.poll_due().of("bsky-matinale").error or "")
    assert poller.states()["bsky-matinale"].next_poll_at == clock.now() + timedelta(seconds=120)
    clock.advance(seconds=120)
    bluesky.set_down()
    poller.poll_due()
    with Session(engine) as session:
        notices = [m.kind for m in session.exec(select(OutboxMessage))]
    assert notices == ["source_down"]
    bluesky.set_down(False)
    bluesky.mention(ME, text="de retour")
    clock.advance(seconds=240)
    assert poller.poll_due().of("bsky-matinale").stored == 1
    assert poller.states()["bsky-matinale"].failures == 0


@pytest.mark.own_database
def test_check_opens_a_session_per_account_and_reports_a_refused_password(
        config: Config, bluesky: FakeBluesky) -> None:
    """`vigie check` online: a good password is noted with handle and DID; a bad one is a
    problem naming the variable, not the value; an unset one is left to the offline check."""
    sources = [bsky_source(bluesky, id="bsky-ok"),
               bsky_source(bluesky, id="bsky-bad", password_env="BAD_BSKY_PASSWORD"),
               bsky_source(bluesky, id="bsky-unset", password_env="UNSET_BSKY_PASSWORD")]
    notes: list[str] = []
    problems = source_problems(config.model_copy(update={"sources": sources}),
                               {PASSWORD_ENV: PASSWORD, "BAD_BSKY_PASSWORD": "nope-nope"},
                               notes)
    assert notes == [f"bsky-ok: Bluesky session for @{ME} ({bluesky.account(ME)['did']})"]
    [problem] = problems
    assert problem.where == "sources[1] (bsky-bad)"
    assert "BAD_BSKY_PASSWORD" in problem.message and "nope-nope" not in str(problems)
