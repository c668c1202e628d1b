"""The Threads adapter (bot/platforms/threads) against FakeGraph's Threads API: what the
poller and the webhook make of replies and mentions, hide / unhide and where Threads
does not allow it, the daily quota before publishing, what `vigie check` says, and how
Threads counts 500 characters."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from bot.clock import FrozenClock
from bot.config import Config, PostTarget, Source
from bot.connectors import PollState, SourceFailure
from bot.connectors.publishers import Outgoing, PublishRateLimited, PublishRejected
from bot.mentions.models import Mention, MentionIn
from bot.moderation.models import ActionKind, ActionState, ModerationAction
from bot.moderation.platforms import ActionFailed, NotPossible
from bot.platforms import platform
from bot.platforms.base import Connection, Context, WebRequest
from bot.platforms.meta.webhook import signature
from bot.platforms.threads import THREADS
from bot.platforms.threads.accounts import ThreadsAccounts
from bot.platforms.threads.listen import ThreadsWebhook
from tests.support import meta_webhooks as meta
from tests.support.graph_server import THREADS_DAILY_POSTS, FakeGraph

NOW = datetime(2026, 12, 3, 19, 0, tzinfo=UTC)
SECRET = "app-secret-of-the-meta-app"
ENV = {"THREADS_TOKEN": "threads-token", "META_SECRET": SECRET, "META_VERIFY": "v3rify"}


@pytest.fixture
def fake() -> Iterator[FakeGraph]:
    with FakeGraph() as running:
        yield running


@pytest.fixture
def profile(fake: FakeGraph) -> str:
    return fake.add_threads_user("grandebat", token="threads-token")


@pytest.fixture
def source(fake: FakeGraph, profile: str) -> Source:
    return Source.model_validate({
        "id": "th", "type": "threads", "account": "grand-debat", "account_id": profile,
        "token_env": "THREADS_TOKEN", "app_secret_env": "META_SECRET",
        "verify_token_env": "META_VERIFY", "api_url": fake.threads_url})


@pytest.fixture
def connection(config: Config, source: Source) -> Connection:
    return THREADS.connect(Context(config=config, environ=ENV, sources=lambda: (source,),
                                   clock=FrozenClock(NOW), timeout=5.0))


def thread_with_reply(fake: FakeGraph, profile: str) -> tuple[str, str]:
    post = fake.add_threads_post(profile, "Notre invité ce soir")
    fan = fake.add_threads_user("kev_59", token="fan-token")
    return post, fake.add_threads_post(fan, "Question pour l'invité", reply_to=post)


def a_mention(platform_ref: str, root_ref: str | None) -> Mention:
    return Mention(id=1, source_id="th", external_id=f"threads:{platform_ref}",
                   platform="threads", account_id="grand-debat", author_handle="@kev_59",
                   text="…", fingerprint="", created_at=NOW, received_at=NOW,
                   channel_id="C0DEBAT", platform_ref=platform_ref, root_ref=root_ref)


# -- listening ------------------------------------------------------------------------------------
def test_a_poll_relays_replies_and_mentions_but_not_the_profile_s_own_replies(
        fake: FakeGraph, profile: str, source: Source, connection: Connection) -> None:
    post, reply = thread_with_reply(fake, profile)
    fake.add_threads_post(profile, "Merci !", reply_to=reply)
    other = fake.add_threads_user("auditrice", token="other-token")
    mention = fake.add_threads_post(other, "@grandebat vous invitez qui demain ?")
    assert connection.poll is not None
    fetched = connection.poll(source, PollState(now=NOW, first=True))
    found = {m.external_id: m for m in fetched.mentions}
    assert set(found) == {f"threads:{reply}", f"threads:{mention}"}
    ref = found[f"threads:{reply}"].ref
    assert ref is not None and (ref.id, ref.root_id) == (reply, post)
    assert found[f"threads:{reply}"].author.handle == "@kev_59"
    assert all(m.account == "grand-debat" and m.platform == "threads"
               for m in fetched.mentions)
    assert set(json.loads(fetched.cursor or "{}")) == {"replies", "mentions"}


def test_without_the_mentions_permission_replies_are_still_polled(
        fake: FakeGraph, profile: str, source: Source, connection: Connection) -> None:
    _, reply = thread_with_reply(fake, profile)
    fake.revoke("threads-token", "threads_manage_mentions")
    assert connection.poll is not None
    fetched = connection.poll(source, PollState(now=NOW, first=True))
    assert [m.external_id for m in fetched.mentions] == [f"threads:{reply}"]
    fake.revoke("threads-token", "threads_read_replies")
    with pytest.raises(SourceFailure) as failed:
        connection.poll(source, PollState(now=NOW, first=True))
    assert "threads_read_replies" in str(failed.value)


class RecordingIntake:
    def __init__(self) -> None:
        self.stored: list[tuple[str, MentionIn]] = []

    def ingest(self, source_id: str, mention: MentionIn) -> Any:
        duplicate = any(m.external_id == mention.external_id for _, m in self.stored)
        self.stored.append((source_id, mention))
        return SimpleNamespace(duplicate=duplicate)


def post_to(webhook: ThreadsWebhook, body: bytes, header: str | None) -> tuple[int, Any]:
    headers = {"x-hub-signature-256": header} if header is not None else {}
    answer = webhook.handle(WebRequest("POST", {}, {}, headers, body))
    return answer.status, answer.json


def test_the_webhook_checks_the_signature_before_reading_and_pushes_what_polling_reads(
        fake: FakeGraph, profile: str, source: Source) -> None:
    """The same reply pushed and polled has one external id; a forged or unsigned
    delivery, or a garbage one, stores nothing."""
    _, reply = thread_with_reply(fake, profile)
    intake = RecordingIntake()
    accounts = ThreadsAccounts(ENV, sources=lambda: (source,))
    webhook = ThreadsWebhook(accounts, intake, FrozenClock(NOW))  # type: ignore[arg-type]
    body = meta.encode(meta.threads(profile, "replies", fake.threads_webhook_value(reply)))
    assert post_to(webhook, body, signature(body, "other-secret"))[0] == 403
    assert post_to(webhook, body, None)[0] == 403
    assert post_to(webhook, b"not json", signature(b"not json", SECRET))[0] == 400
    assert intake.stored == []
    assert post_to(webhook, body, signature(body, SECRET)) == (200, {"stored": 1,
                                                                     "duplicates": 0})
    [(source_id, pushed)] = intake.stored
    assert (source_id, pushed.external_id) == ("th", f"threads:{reply}")
    handshake = webhook.handle(WebRequest("GET", {}, {
        "hub.mode": "subscribe", "hub.verify_token": "v3rify", "hub.challenge": "77"}, {}, b""))
    assert (handshake.status, handshake.text) == (200, "77")
    refused = webhook.handle(WebRequest("GET", {}, {
        "hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "77"}, {}, b""))
    assert refused.status == 403 and refused.text is None


def test_a_delivery_for_a_profile_no_source_listens_to_is_not_stored(
        fake: FakeGraph, profile: str, source: Source) -> None:
    intake = RecordingIntake()
    webhook = ThreadsWebhook(ThreadsAccounts(ENV, sources=lambda: (source,)),
                             intake, FrozenClock(NOW))  # type: ignore[arg-type]
    stranger = fake.add_threads_user("autre_media", token="stranger")
    post = fake.add_threads_post(stranger, "Leur post")
    fan = fake.add_threads_user("fan", token="fan")
    reply = fake.add_threads_post(fan, "Réponse chez eux", reply_to=post)
    body = meta.encode(meta.threads(stranger, "replies", fake.threads_webhook_value(reply)))
    assert post_to(webhook, body, signature(body, SECRET)) == (200, {"stored": 0,
                                                                     "duplicates": 0})
    assert intake.stored == []


# -- moderation -----------------------------------------------------------------------------------
def test_hide_and_unhide_a_reply_under_our_post(fake: FakeGraph, profile: str,
                                                connection: Connection) -> None:
    post, reply = thread_with_reply(fake, profile)
    moderator = connection.moderator
    assert moderator is not None
    mention = a_mention(reply, post)
    assert moderator.actions_for(mention) == [ActionKind.HIDE]
    done = moderator.perform(mention, ActionKind.HIDE, None)
    assert fake.objects[reply]["hide_status"] == "HIDDEN" and done.remote_ref == reply
    moderator.undo(ModerationAction(
        mention_id=1, author_key="kev_59", platform="threads", account_id="grand-debat",
        action=ActionKind.HIDE, state=ActionState.DONE, by="U0STAFF1", at=NOW,
        remote_ref=reply))
    assert fake.objects[reply]["hide_status"] != "HIDDEN"


def test_threads_hides_only_replies_under_our_own_posts(fake: FakeGraph, profile: str,
                                                        connection: Connection) -> None:
    """A post that is not a reply: nothing is offered, with why. A reply in someone
    else's thread: refused with why before Threads is asked to hide it."""
    moderator = connection.moderator
    assert moderator is not None
    other = fake.add_threads_user("autre", token="other-token")
    theirs = fake.add_threads_post(other, "Leur post @grandebat")
    with pytest.raises(NotPossible) as impossible:
        moderator.actions_for(a_mention(theirs, None))
    assert impossible.value.key == "threads_not_a_reply"
    reply = fake.add_threads_post(other, "réponse", reply_to=theirs)
    with pytest.raises(ActionFailed) as failed:
        moderator.perform(a_mention(reply, theirs), ActionKind.HIDE, None)
    assert failed.value.reason.key == "threads.not_own_post"
    assert "own posts" in str(failed.value.reason)
    assert fake.calls("POST", f"/{reply}/manage_reply") == []


# -- publishing -----------------------------------------------------------------------------------
def test_a_post_over_the_daily_quota_waits_instead_of_being_sent(
        fake: FakeGraph, profile: str, connection: Connection) -> None:
    publisher = connection.publisher
    assert publisher is not None
    fake._published[profile] = [time.time()] * THREADS_DAILY_POSTS
    target = PostTarget(id="t", kind="threads", account="grand-debat")
    outgoing = Outgoing(post_id=1, target=target, text="Ce soir", key="k1",
                        attempt_started=NOW)
    with pytest.raises(PublishRateLimited) as limited:
        publisher.publish(outgoing)
    assert "250" in str(limited.value) and limited.value.retry_after >= 600
    assert fake.calls("POST", f"/{profile}/threads") == []
    fake._published[profile] = []
    published = publisher.publish(outgoing)
    assert fake.objects[published.external_id]["text"] == "Ce soir"
    assert published.url == fake.objects[published.external_id]["permalink"]


# -- vigie check and limits -----------------------------------------------------------------------
def test_vigie_check_names_missing_permissions_quota_and_usage(
        fake: FakeGraph, profile: str, source: Source, connection: Connection) -> None:
    assert connection.check is not None
    note = connection.check(source)
    assert note == f"Threads token of @grandebat; 0 of {THREADS_DAILY_POSTS} posts " \
        "published in the last 24 hours"
    assert any(n.startswith("Threads:") and "% of the allowance used" in n
               for n in connection.notes())
    fake.revoke("threads-token", "threads_manage_replies")
    fake.revoke("threads-token", "threads_content_publish")
    with pytest.raises(SourceFailure) as failed:
        connection.check(source)
    assert "threads_content_publish, threads_manage_replies" in str(failed.value)
    assert "grant them to the app" in str(failed.value)


def test_vigie_check_warns_before_the_long_lived_token_expires(
        fake: FakeGraph, profile: str, source: Source, connection: Connection) -> None:
    fake.grants["threads-token"].expires_at = int(NOW.timestamp()) + 5 * 86_400 + 60
    assert connection.check is not None
    note = connection.check(source) or ""
    assert "expires in 5 days" in note and "refresh_access_token" in note


def test_vigie_check_refuses_a_token_of_another_profile(
        fake: FakeGraph, source: Source, connection: Connection) -> None:
    fake.grants["threads-token"].subject = fake.add_threads_user("autre", token="x")
    assert connection.check is not None
    with pytest.raises(SourceFailure) as failed:
        connection.check(source)
    assert "not to account_id" in str(failed.value)


def test_secret_problems_name_each_unset_variable(source: Source) -> None:
    problems = THREADS.secret_problems(source, 0, {})
    assert [p.where for p in problems] == ["THREADS_TOKEN", "META_SECRET", "META_VERIFY"]
    assert "Threads app secret" in problems[1].fix
    assert THREADS.secret_problems(source, 0, ENV) == []


def test_threads_counts_500_characters_with_emojis_as_their_bytes() -> None:
    threads = platform("threads")
    assert threads is not None and threads.text is not None
    assert not threads.text.too_long("é" * 500) and threads.text.too_long("é" * 501)
    assert threads.text.count("😀" * 125) == 500 and threads.text.too_long("😀" * 126)


def test_a_retry_publishes_the_same_container_and_an_edited_text_a_new_one(
        fake: FakeGraph, profile: str, connection: Connection) -> None:
    """Publishing refused once: trying again publishes the container made the first
    time (no second container); the post's text edited meanwhile gets its own."""
    publisher = connection.publisher
    assert publisher is not None
    target = PostTarget(id="t", kind="threads", account="grand-debat")

    def outgoing(text: str) -> Outgoing:
        return Outgoing(post_id=1, target=target, text=text, key="post-1-t",
                        attempt_started=NOW)

    fake.fail_next(f"/{profile}/threads_publish", status=400, code=100)
    with pytest.raises(PublishRejected):
        publisher.publish(outgoing("Premier jet"))
    first = publisher.publish(outgoing("Premier jet"))
    containers = [c for c in fake.calls("POST", f"/{profile}/threads")
                  if c.rest == f"/{profile}/threads"]
    assert len(containers) == 1 and fake.objects[first.external_id]["text"] == "Premier jet"
    fake.fail_next(f"/{profile}/threads_publish", status=400, code=100)
    with pytest.raises(PublishRejected):
        publisher.publish(outgoing("Texte corrigé"))
    fake.fail_next(f"/{profile}/threads_publish", status=400, code=100)
    with pytest.raises(PublishRejected):
        publisher.publish(outgoing("Texte corrigé"))
    second = publisher.publish(outgoing("Texte corrigé"))
    assert fake.objects[second.external_id]["text"] == "Texte corrigé"
    assert len([c for c in fake.calls("POST", f"/{profile}/threads")
                if c.rest == f"/{profile}/threads"]) == 2
