"""Threads end to end: the real Vigie and its real Graph client against FakeGraph's
Threads API (`threads_url`), with Meta's signed webhook deliveries
(tests/support/meta_webhooks.py). A reply to the profile's post is one card however
often it is delivered or polled; Reply publishes it once, also after a lost answer;
Hide hides it; an approved post is published once; a forged delivery changes nothing;
a post over 500 characters as Threads counts them is refused before approval."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from bot.app import build
from bot.clock import FrozenClock
from bot.config import Config
from bot.listen.models import SourceState
from bot.mentions.models import Mention
from bot.platforms.threads.models import ThreadsContainer
from bot.sandbox.driver import SlackDriver
from bot.sandbox.slack import FakeSlack
from tests.conftest import SIGNING_SECRET, make_settings
from tests.e2e.replies.conftest import EDITOR, OTHER_STAFF, OUTSIDER, STAFF, Desk
from tests.e2e.test_posts_flow import open_draft, preview, previews, soon, stored, submit
from tests.e2e.test_posts_social import approve
from tests.e2e.test_webhook_flow import wait_for_cards
from tests.support.graph_server import FakeGraph, Request
from tests.support.harness import RunningVigie
from tests.support.meta_webhooks import Meta, threads
from tests.support.threads import threads_env, with_threads

APP_SECRET, VERIFY_TOKEN = "meta-app-secret-for-tests", "verify-me-please"


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    with FakeGraph() as fake:
        yield fake


@pytest.fixture
def profile(graph: FakeGraph) -> str:
    return graph.add_threads_user("grandebat", token="threads-token")


@pytest.fixture
def environ(environ: dict[str, str]) -> dict[str, str]:
    return {**environ, **threads_env(APP_SECRET, VERIFY_TOKEN)}


@pytest.fixture
def config(config: Config, graph: FakeGraph, profile: str) -> Config:
    return with_threads(config, graph.threads_url, profile)


def meta(vigie: RunningVigie) -> Meta:
    return Meta(url=f"{vigie.url}/webhooks/threads", app_secret=APP_SECRET)


def threads_mentions(vigie: RunningVigie) -> list[Mention]:
    with Session(vigie.vigie.engine) as session:
        return list(session.exec(select(Mention).where(Mention.platform == "threads")))


def polled_ok(vigie: RunningVigie) -> SourceState | None:
    with Session(vigie.vigie.engine) as session:
        state = session.get(SourceState, "threads-debat")
    return state if state is not None and state.last_ok_at is not None else None


def a_reply_to_our_post(graph: FakeGraph, profile: str, text: str) -> tuple[str, str]:
    """(our post, the audience's reply under it)."""
    post = graph.add_threads_post(profile, "Ce soir dans Le Grand Débat : la réforme")
    fan = graph.add_threads_user("kev_59", token="fan-token")
    return post, graph.add_threads_post(fan, text, reply_to=post)


def containers_made(graph: FakeGraph, profile: str) -> list[Request]:
    return [c for c in graph.calls("POST", f"/{profile}/threads")
            if c.rest == f"/{profile}/threads"]


def replies_on_threads(graph: FakeGraph, to: str) -> list[dict[str, object]]:
    return graph.children("th_media", _reply_to=to)


def test_a_reply_delivered_twice_and_polled_is_one_card(
        vigie: RunningVigie, slack: FakeSlack, graph: FakeGraph, profile: str) -> None:
    """Meta's handshake is answered; the reply is delivered, delivered again, then read
    by polling: one card in the account's channel, with the reply's text, author and
    link; the profile's own reply under its post is not relayed."""
    assert meta(vigie).verify(VERIFY_TOKEN, "4242").text == "4242"
    assert meta(vigie).verify("wrong").status_code == 403
    post, reply = a_reply_to_our_post(graph, profile, "La réforme, vous l'expliquez quand ?")
    own = graph.add_threads_post(profile, "Merci à tous !", reply_to=post)
    delivery = threads(profile, "replies", graph.threads_webhook_value(reply))
    assert meta(vigie).deliver(delivery) == [200]
    assert meta(vigie).deliver(delivery) == [200]  # Meta's retry
    assert meta(vigie).deliver(threads(profile, "replies", graph.threads_webhook_value(own))
                               ) == [200]
    assert vigie.vigie.listen and vigie.vigie.listen.poller
    polled = [r for r in vigie.vigie.listen.poller.poll_due().results
              if r.source_id == "threads-debat"]  # none if the scheduler polled it first
    assert all(r.stored == 0 and r.error is None for r in polled)
    state = slack.wait_for(lambda: polled_ok(vigie), timeout=30)
    assert state is not None and state.failures == 0 and state.cursor
    [card] = wait_for_cards(slack, "C0DEBAT")
    rendered = json.dumps(card["blocks"], ensure_ascii=False)
    assert "La réforme, vous l'expliquez quand ?" in rendered and "@kev_59" in rendered
    assert graph.objects[reply]["permalink"] in rendered
    [mention] = threads_mentions(vigie)
    assert (mention.platform_ref, mention.root_ref) == (reply, post)
    assert "Merci à tous" not in json.dumps(slack.messages("C0DEBAT"), ensure_ascii=False)


def test_a_forged_delivery_changes_nothing(vigie: RunningVigie, slack: FakeSlack,
                                           graph: FakeGraph, profile: str) -> None:
    """Signed with another secret, unsigned, or a signed body swapped: 403, nothing
    stored, no card; Threads is not even asked."""
    _, reply = a_reply_to_our_post(graph, profile, "Faux")
    delivery = threads(profile, "replies", graph.threads_webhook_value(reply))
    asked = len(graph.requests)
    assert meta(vigie).deliver(delivery, secret="not-the-app-secret") == [403]
    assert meta(vigie).deliver(delivery, header="") == [403]
    genuine = meta(vigie)
    assert genuine.deliver(delivery, body=b'{"values": []}',
                           header=_signature_of(json.dumps(delivery).encode())) == [403]
    assert threads_mentions(vigie) == [] and len(graph.requests) == asked
    assert not [m for m in slack.messages("C0DEBAT") if m.get("metadata")]


def _signature_of(body: bytes) -> str:
    from bot.platforms.meta.webhook import signature

    return signature(body, APP_SECRET)


# -- replying and hiding --------------------------------------------------------------------------
@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def desk(database_url: str, config: Config, environ: dict[str, str], slack: FakeSlack,
         clock: FrozenClock) -> Iterator[Desk]:
    for user, name in ((STAFF, "marie"), (OTHER_STAFF, "paul"), (EDITOR, "eve"),
                       (OUTSIDER, "zoe")):
        slack.add_user(user, name)
    vigie = RunningVigie(build(make_settings(database_url, slack.base_url), config,
                               clock=clock, environ=environ, platform_timeout=1.0)).start()
    driver = SlackDriver(f"{vigie.url}/slack/events", SIGNING_SECRET, fake=slack)
    yield Desk(vigie, slack, driver, None, None)  # type: ignore[arg-type]
    driver.close()
    vigie.stop()


def card_for_reply(desk: Desk, graph: FakeGraph, profile: str, text: str
                   ) -> tuple[Mention, str]:
    _, reply = a_reply_to_our_post(graph, profile, text)
    assert meta(desk.vigie).deliver(
        threads(profile, "replies", graph.threads_webhook_value(reply))) == [200]
    mention = desk.slack.wait_for(lambda: next(
        (m for m in threads_mentions(desk.vigie) if m.slack_ts), None), timeout=10)
    assert mention is not None
    return mention, reply


def test_reply_from_the_card_is_published_once_even_when_the_answer_is_lost(
        desk: Desk, graph: FakeGraph, profile: str, clock: FrozenClock) -> None:
    """Threads publishes the reply but its answer never arrives: the reply is
    unconfirmed, the look finds it published: sent, with its link; one reply."""
    mention, reply = card_for_reply(desk, graph, profile, "Vous l'expliquez quand ?")
    release = threading.Event()
    graph.hang_next(f"/{profile}/threads_publish", 30, release=release)
    desk.submit(STAFF, desk.open_reply(STAFF, mention), "Demain à 7 h, dans la matinale.")
    unsure = desk.reply_in(mention.id or 0, "unconfirmed")
    assert unsure.attempted_at is not None
    release.set()
    assert desk.slack.wait_for(lambda: replies_on_threads(graph, reply), timeout=30)
    clock.set(unsure.attempted_at + timedelta(seconds=10))
    desk.vigie.vigie.replies.desk.sweep()
    sent = desk.reply_in(mention.id or 0, "sent")
    [published] = replies_on_threads(graph, reply)
    assert published["text"] == "Demain à 7 h, dans la matinale."
    assert (sent.remote_id, sent.remote_url) == (published["id"], published["permalink"])
    desk.card_shows(mention, str(published["permalink"]))
    clock.set(clock.now() + timedelta(hours=1))
    desk.vigie.vigie.replies.desk.sweep()
    assert len(replies_on_threads(graph, reply)) == 1
    assert len(containers_made(graph, profile)) == 1


def test_a_reply_never_published_is_sent_again_from_its_own_container(
        desk: Desk, graph: FakeGraph, profile: str, clock: FrozenClock) -> None:
    """No answer and nothing published: looked for while Threads may still publish it,
    then published from the container made the first time — never a second one."""
    mention, reply = card_for_reply(desk, graph, profile, "Et la suite ?")
    release = threading.Event()
    graph.hang_next(f"/{profile}/threads_publish", 30, release=release, create=False)
    desk.submit(STAFF, desk.open_reply(STAFF, mention), "Mardi prochain.")
    first = desk.reply_in(mention.id or 0, "unconfirmed")
    assert first.attempted_at is not None
    release.set()
    for offset in (10, 60, 300):
        clock.set(first.attempted_at + timedelta(seconds=offset))
        desk.vigie.vigie.replies.desk.sweep()
        assert desk.replies(mention.id or 0)[-1].state == "unconfirmed"
    clock.set(first.attempted_at + timedelta(minutes=15))
    desk.vigie.vigie.replies.desk.sweep()
    clock.set(clock.now() + timedelta(minutes=2))
    desk.vigie.vigie.replies.desk.sweep()
    sent = desk.reply_in(mention.id or 0, "sent")
    [published] = replies_on_threads(graph, reply)
    assert sent.remote_id == published["id"]
    [container] = containers_made(graph, profile)
    assert [c.form["creation_id"] for c in graph.calls("POST", f"/{profile}/threads_publish")
            ] == [graph.children("th_container")[0]["id"]] * 2
    with Session(desk.vigie.vigie.engine) as session:
        assert len(session.exec(select(ThreadsContainer)).all()) == 1
    assert container.form["reply_to_id"] == reply


def test_hide_from_the_card_hides_the_reply_and_says_so(
        desk: Desk, graph: FakeGraph, profile: str) -> None:
    """Moderate… → Hide: the reply is hidden under our post on Threads; the card says so."""
    mention, reply = card_for_reply(desk, graph, profile, "Bande d'incapables")
    driver, slack = desk.driver, desk.slack
    driver.click(STAFF, "moderate.act", message={"ts": mention.slack_ts},
                 channel_id=mention.slack_channel)
    modal = slack.wait_for(lambda: [v for v in slack.views_for(STAFF)
                                    if v.get("callback_id") == "moderate_act"], timeout=10)[-1]
    assert driver.view_submission(user_id=STAFF, view=modal,
                                  values={"action": {"action": "hide"}}).status_code == 200
    desk.card_shows(mention, "Réponse cachée")
    assert graph.objects[reply]["hide_status"] == "HIDDEN"
    [call] = graph.calls("POST", f"/{reply}/manage_reply")
    assert call.form["hide"] == "true"
    # "Show again" on the card lifts it on Threads.
    card = desk.card(desk.mention(mention.id or 0))
    [unhide] = [e for b in card["blocks"] if b["type"] == "actions" for e in b["elements"]
                if e["action_id"] == "moderate.unhide"]
    driver.click(STAFF, "moderate.unhide", value=unhide["value"],
                 message={"ts": mention.slack_ts}, channel_id=mention.slack_channel)
    slack.wait_for(lambda: graph.objects[reply]["hide_status"] != "HIDDEN", timeout=10)
    assert [c.form["hide"] for c in graph.calls("POST", f"/{reply}/manage_reply")] \
        == ["true", "false"]


# -- publishing -----------------------------------------------------------------------------------
def test_an_approved_post_is_published_once_on_threads(
        vigie: RunningVigie, driver: SlackDriver, slack: FakeSlack, graph: FakeGraph,
        profile: str) -> None:
    """✅ → one post on the profile (the quota asked first); the preview links to it."""
    text = "Ce soir 20 h : Le Grand Débat reçoit deux économistes. 🎙️"
    submit(driver, open_draft(driver, slack, text), targets=("debat-threads",))
    approve(driver, slack)
    posted = slack.wait_for(lambda: graph.children("th_media", _owner=profile,
                                                   _reply_to=None), timeout=30)
    [post] = posted
    assert post["text"] == text
    card = preview(slack, "Publiée")
    assert post["permalink"] in json.dumps(card["blocks"])
    assert graph.calls("GET", f"/{profile}/threads_publishing_limit")
    assert len(graph.calls("POST", f"/{profile}/threads_publish")) == 1


def test_a_501_character_post_is_refused_before_approval(
        vigie: RunningVigie, driver: SlackDriver, slack: FakeSlack) -> None:
    """501 characters, or 126 emojis (4 bytes each: 504 as Threads counts): the error
    under the text, with both figures; nothing stored, no preview."""
    view = open_draft(driver, slack, "")
    body = submit(driver, view, targets=("debat-threads",), at=soon(60),
                  text="x" * 501).json()
    assert body["errors"]["text-0"] == \
        "Trop long pour Le Grand Débat (Threads) : 501 caractères, 500 au maximum."
    body = submit(driver, view, targets=("debat-threads",), at=soon(60),
                  text="😀" * 126).json()
    assert "504 caractères, 500 au maximum" in body["errors"]["text-0"]
    assert stored(vigie) == [] and previews(slack) == []
    assert submit(driver, view, targets=("debat-threads",), at=soon(60),
                  text="x" * 500).content in (b"", b"{}")
    assert len(stored(vigie)) == 1
