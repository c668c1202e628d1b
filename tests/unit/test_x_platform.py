"""X, piece by piece against the local X API (tests/support/x_server.py): OAuth 1.0a
signing as X documents it, mentions read with since_id and never twice, pages and gaps,
rate limits with their reset headers, and the monthly budget that is never exceeded."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from bot.clock import FrozenClock
from bot.config import Config, Source
from bot.connectors import PollState, SourceFailure
from bot.platforms.x.api import Credentials, XApi, XFailure, oauth1_signature
from bot.platforms.x.client import Cursor, XClients, XConnector, comparable
from bot.platforms.x.settings import XSettings
from bot.platforms.x.spend import MICROS, Budget, BudgetSpent, Pace, Purpose
from tests.support.x_server import FakeX

ENV = {"X_KEY": "app-key", "X_SECRET": "app-secret", "X_TOKEN": "tok-matinale",
       "X_TOKEN_SECRET": "tok-secret"}


def test_the_signature_is_the_one_x_documents() -> None:
    """docs.x.com "Creating a signature": the worked example gives this signature."""
    params = {"include_entities": "true",
              "status": "Hello Ladies + Gentlemen, a signed OAuth request!",
              "oauth_consumer_key": "xvz1evFS4wEEPTGEFPHBog",
              "oauth_nonce": "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg",
              "oauth_signature_method": "HMAC-SHA1", "oauth_timestamp": "1318622958",
              "oauth_token": "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
              "oauth_version": "1.0"}
    assert oauth1_signature("POST", "https://api.twitter.com/1.1/statuses/update.json",
                            params, "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw",
                            "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE"
                            ) == "hCtSmYh+iHYCEqBWrE7C7hYmtUk="


@pytest.fixture
def fake() -> Iterator[FakeX]:
    with FakeX() as server:
        yield server


@pytest.fixture
def now() -> FrozenClock:
    return FrozenClock(datetime.now(UTC).replace(microsecond=0))


def source() -> Source:
    return Source.model_validate({
        "id": "x-matinale", "type": "x", "account": "matinale", "api_key_env": "X_KEY",
        "api_secret_env": "X_SECRET", "token_env": "X_TOKEN",
        "token_secret_env": "X_TOKEN_SECRET", "interval": 60})


def clients(fake: FakeX, engine: Engine, clock: FrozenClock, **budget: object) -> XClients:
    settings = XSettings.model_validate({"api_url": fake.url, **budget})
    return XClients(ENV, settings, Budget(engine=engine, settings=settings, clock=clock),
                    clock=clock, timeout=5, sources=lambda: (source(),))


def poll(connector: XConnector, clock: FrozenClock, cursor: str | None = None,
         first: bool = False) -> tuple[list[str], str | None]:
    fetched = connector(source(), PollState(now=clock.now(), first=first, cursor=cursor))
    return [m.external_id for m in fetched.mentions], fetched.cursor


def test_a_bad_secret_is_refused_by_x_and_said_plainly(fake: FakeX, engine: Engine,
                                                       now: FrozenClock) -> None:
    api = XApi(Credentials("app-key", "wrong", "tok-matinale", "tok-secret"), base_url=fake.url)
    with pytest.raises(XFailure) as refused:
        api.call("GET", "/2/users/me", endpoint="GET /2/users/me")
    assert refused.value.kind == "auth" and "401" in str(refused.value)


def test_mentions_are_read_once_with_since_id(fake: FakeX, engine: Engine,
                                              now: FrozenClock) -> None:
    """Each mention is paid for once: the next poll asks only for what is newer."""
    first = fake.mention("matinale", by="kev59", text="Le podcast ne marche pas &amp; 😡")
    connector = XConnector(clients(fake, engine, now))
    fetched = connector(source(), PollState(now=now.now(), first=True))
    [mention] = fetched.mentions
    assert mention.text == "@matinale Le podcast ne marche pas & 😡"
    assert mention.author.handle == "@kev59" and mention.platform == "x"
    assert mention.ref and mention.ref.cid == fake.user("kev59")["id"]
    assert mention.url == f"https://x.com/kev59/status/{first['id']}"
    assert fetched.cursor == first["id"]
    assert poll(connector, now, fetched.cursor) == ([], first["id"])
    second = fake.mention("matinale", by="lea", text="bravo")
    assert poll(connector, now, first["id"]) == ([second["id"]], second["id"])
    [*_, last] = fake.calls("GET", "/2/users/")
    assert last.query["since_id"] == first["id"] and last.query["expansions"] == "author_id"
    assert fake.billed["post_read"] == 2 and fake.billed["user_read"] == 3  # + users/me


def test_a_busy_hour_is_read_page_by_page_and_nothing_twice(fake: FakeX, engine: Engine,
                                                             now: FrozenClock) -> None:
    start = fake.mention("matinale", text="avant")
    posted = [fake.mention("matinale", by=f"fan{i % 7}", text=f"n°{i}")["id"]
              for i in range(230)]
    connector = XConnector(clients(fake, engine, now))
    ids, cursor = poll(connector, now, start["id"])
    assert ids == posted and cursor == posted[-1]
    assert fake.billed["post_read"] == 230  # three pages, no post twice


def test_a_read_stopped_by_the_budget_remembers_the_gap(fake: FakeX, engine: Engine,
                                                        now: FrozenClock) -> None:
    """The budget stops a busy read halfway: the next poll (budget raised) reads only
    the gap, then jumps to the newest — none lost, none read twice."""
    start = fake.mention("matinale", text="avant")
    posted = [fake.mention("matinale", by="fan", text=f"n°{i}")["id"] for i in range(150)]
    # pages sized for the worst case (every post by someone new: $0.015 each)
    tight = clients(fake, engine, now, monthly_budget=0.60, reserve=0, slow_from=1)
    read, cursor = poll(XConnector(tight), now, start["id"])
    assert 0 < len(read) < 150 and read == posted[-len(read):]  # the newest first
    assert Cursor.load(cursor) == Cursor(start["id"], read[0], posted[-1])
    assert tight.budget.standing().spent <= tight.budget.budget
    roomy = clients(fake, engine, now, monthly_budget=50)
    rest, cursor = poll(XConnector(roomy), now, cursor)
    assert rest == posted[:-len(read)] and cursor == posted[-1]
    assert fake.billed["post_read"] == 150
    assert poll(XConnector(roomy), now, cursor) == ([], posted[-1])


def test_429_waits_for_the_reset_x_gives(fake: FakeX, engine: Engine,
                                         now: FrozenClock) -> None:
    connector = XConnector(clients(fake, engine, now))
    fake.mention("matinale")
    poll(connector, now, first=True)  # users/me, then a first read
    fake.limit("GET /2/users/:id/mentions", remaining=0, reset_in=600)
    with pytest.raises(SourceFailure) as limited:
        poll(connector, now, "1")
    assert limited.value.retry_after and 590 <= limited.value.retry_after <= 600
    assert "10 min" in str(limited.value)
    asked = len(fake.calls("GET", "/2/users/"))
    with pytest.raises(SourceFailure):  # known blocked: X is not called again
        poll(connector, now, "1")
    assert len(fake.calls("GET", "/2/users/")) == asked


def test_the_budget_is_never_exceeded_and_polling_slows_then_stops(
        fake: FakeX, engine: Engine, now: FrozenClock) -> None:
    budget = Budget(engine=engine, settings=XSettings(monthly_budget=1.0), clock=now)
    assert budget.standing().pace is Pace.NORMAL
    budget.record(account="x", purpose=Purpose.LISTEN, resources=1, cost=MICROS * 8 // 10)
    assert budget.standing().pace is Pace.SLOW
    with pytest.raises(BudgetSpent),  \
            budget.spend(account="x", purpose=Purpose.LISTEN, most=MICROS * 15 // 100):
        pass  # polling may use 90 %: 0.80 + 0.15 is over
    with budget.spend(account="x", purpose=Purpose.REPLY, most=MICROS * 15 // 100) as record:
        record(1, MICROS * 15 // 100)  # a reply may use the reserve
    assert budget.standing().pace is Pace.STOPPED
    with pytest.raises(BudgetSpent), \
            budget.spend(account="x", purpose=Purpose.REPLY, most=MICROS // 10):
        pass
    assert budget.standing().spent <= budget.standing().budget
    now.advance(days=32)  # a new month: polling resumes
    assert budget.standing().pace is Pace.NORMAL


def test_a_slowed_poller_skips_turns_without_calling_x(fake: FakeX, engine: Engine,
                                                        now: FrozenClock) -> None:
    tight = clients(fake, engine, now, monthly_budget=10)
    tight.budget.record(account="x", purpose=Purpose.LISTEN, resources=1,
                        cost=MICROS * 85 // 10)
    connector = XConnector(tight)
    poll(connector, now, "1")
    asked = len(fake.calls("GET", "/2/users/"))
    now.advance(seconds=61)
    assert connector(source(), PollState(now=now.now(), first=False, cursor="1")).not_modified
    assert len(fake.calls("GET", "/2/users/")) == asked
    now.advance(seconds=240)  # four intervals: its slowed turn
    poll(connector, now, "1")
    assert len(fake.calls("GET", "/2/users/")) == asked + 1


def test_a_spent_budget_stops_polling_with_the_reason(fake: FakeX, engine: Engine,
                                                      now: FrozenClock) -> None:
    spent = clients(fake, engine, now, monthly_budget=1)
    spent.budget.record(account="x", purpose=Purpose.LISTEN, resources=1, cost=MICROS)
    with pytest.raises(SourceFailure) as stopped:
        poll(XConnector(spent), now, "1")
    assert "polling stopped" in str(stopped.value) and "none is lost" in str(stopped.value)
    assert stopped.value.reason.text("fr").startswith("lecture X arrêtée")
    assert fake.calls("GET", "/2/users/") == []


def test_the_text_x_gives_back_compares_with_what_was_sent() -> None:
    assert comparable("@kev59 Merci &amp; à bientôt https://t.co/abc") == \
        comparable("Merci & à bientôt https://www.radio.example/podcast")


def test_the_x_table_of_the_newsroom_file(config: Config) -> None:
    assert config.x.monthly_budget == 50 and config.x.prices.post_create_with_link == 0.2
    with pytest.raises(ValueError):
        XSettings.model_validate({"monthly_budget": -1})
    keys = {"id": "x1", "type": "x", "api_key_env": "K", "api_secret_env": "S",
            "token_env": "T", "token_secret_env": "TS"}
    with pytest.raises(ValueError, match="a x source needs api_key_env"):
        Source.model_validate({k: v for k, v in keys.items() if k != "api_key_env"})
    with pytest.raises(ValueError, match="pattern"):
        Source.model_validate({**keys, "token_secret_env": "my secret"})
    with pytest.raises(ValueError, match="does not apply"):
        Source.model_validate({**keys, "password_env": "PW"})


def test_the_weekly_report_and_app_home_say_what_x_cost(engine: Engine,
                                                        now: FrozenClock) -> None:
    from bot.platforms.x.sections import XSections
    from bot.reports.queries import Scope
    from bot.reports.sections import ReportContext, Viewer

    budget = Budget(engine=engine, settings=XSettings(monthly_budget=20), clock=now)
    budget.record(account="x", purpose=Purpose.LISTEN, resources=300, cost=MICROS * 3 // 2)
    budget.record(account="x", purpose=Purpose.REPLY, resources=2, cost=MICROS * 215 // 1000,
                  calls=2)
    sections = XSections(budget, lambda: True)
    week = Scope(start=now.now() - timedelta(days=7), end=now.now() + timedelta(days=1))
    output = sections.report(ReportContext(scope=week, locale="en", zone="UTC",
                                           names=str))
    assert output is not None
    text = output.blocks[0]["text"]["text"]
    assert "$1.715 this week (3 billed calls: reading $1.50, replies $0.215" in text
    assert "this month $1.715 of $20.00" in text
    [home] = sections.home(Viewer("U1", "fr", False, now.now(), "UTC"), 3)
    assert "X : $1.715 dépensés sur un budget mensuel de $20.00" in json.dumps(
        home, ensure_ascii=False)
    assert XSections(budget, lambda: False).home(Viewer("U1", "fr", False, now.now(),
                                                        "UTC"), 3) == []


def test_the_approval_message_says_what_x_will_bill(config: Config) -> None:
    """Approving a post for X: its cost is shown first, far higher with a link."""
    from bot.config import PostTarget
    from bot.posts import messages
    from bot.posts.models import Post, PostDelivery, PostState
    from bot.posts.service import PostView

    target = PostTarget(id="matinale-x", kind="x", account="matinale")
    newsroom = config.model_copy(update={"posts": config.posts.model_copy(
        update={"targets": [*config.posts.targets, target]})})
    moment = datetime(2026, 11, 2, 8, tzinfo=UTC)

    def shown(text: str, *targets: str) -> str:
        post = Post(id=7, author_id="U0CM", text=text, publish_at=moment,
                    state=PostState.PENDING, created_at=moment, updated_at=moment)
        view = PostView(post=post, approvers=[], deliveries=[
            PostDelivery(id=i, post_id=7, target_id=t, kind="x") for i, t in enumerate(targets)])
        return json.dumps(messages.preview(view, config=newsroom, locale="en").blocks)

    assert "X bills $0.015" in shown("Ce matin : l'invité", "matinale-x")
    assert "X bills $0.20 (a post with a link costs more)" in shown(
        "Le replay : https://radio.example/replay", "matinale-x")
    assert "X bills" not in shown("Ce matin", "annonces")


def test_vigie_check_names_the_account_and_the_months_spend(fake: FakeX, config: Config,
                                                           database_url: str) -> None:
    from bot.checks import source_problems

    newsroom = config.model_copy(update={"sources": [source()], "x": XSettings(
        api_url=fake.url, monthly_budget=20)})
    notes: list[str] = []
    assert source_problems(newsroom, ENV, notes, database_url=database_url) == []
    user_id = fake.user("matinale")["id"]
    assert f"x-matinale: X token of @matinale (user id {user_id})" in notes
    assert "X: $0.01 of the $20.00 monthly budget spent ($19.99 left)" in notes
    wrong = {**ENV, "X_TOKEN_SECRET": "nope"}
    [problem] = source_problems(newsroom, wrong, [], database_url=database_url)
    assert "401" in problem.message


def test_a_page_the_budget_cannot_afford_is_not_a_silent_empty_read(
        fake: FakeX, engine: Engine, now: FrozenClock) -> None:
    """$0.05 left for polling buys fewer than X's smallest page (5): X is not called,
    and the source says why."""
    short = clients(fake, engine, now, monthly_budget=1)
    short.budget.record(account="x", purpose=Purpose.LISTEN, resources=1,
                        cost=MICROS * 85 // 100)
    fake.mention("matinale")
    connector = XConnector(short)
    short.me(source())  # who the token is: already known
    asked = len(fake.requests)
    with pytest.raises(SourceFailure) as stopped:
        poll(connector, now, "1")
    assert "polling stopped" in str(stopped.value) and len(fake.requests) == asked
