"""Meta webhooks (bot/platforms/meta/webhook.py): the handshake, the signature checked
before anything is read, and deliveries — Meta's own documented examples among them —
turned into items that push and poll share."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.platforms.meta.webhook import (
    WebhookRefused,
    handshake,
    parse_delivery,
    read_delivery,
    signature,
    verify_signature,
)
from tests.support import meta_webhooks as meta
from tests.support.meta_webhooks import Meta, WebhookSink

FIXTURES = Path(__file__).parent.parent / "fixtures" / "meta"
SECRET = "0123456789abcdef0123456789abcdef"
VERIFY = "vigie-verify-token"


def example(name: str) -> dict[str, Any]:
    """A documented delivery from tests/fixtures/meta, which says where it comes from."""
    data = json.loads((FIXTURES / f"{name}.json").read_text())
    assert data["source"].startswith("https://developers.facebook.com/")
    payload: dict[str, Any] = data["payload"]
    return payload


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    with WebhookSink(app_secret=SECRET, verify_token=VERIFY) as running:
        yield running


# -- the signature --------------------------------------------------------------------------------
def test_a_body_signed_with_the_app_secret_is_accepted_and_any_change_is_not() -> None:
    """The HMAC covers the raw bytes: a changed byte, another secret, or no header fails."""
    body = meta.encode(example("page_feed"))
    header = signature(body, SECRET)
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert verify_signature(body, header, SECRET)
    assert not verify_signature(body.replace(b"Good", b"Baad"), header, SECRET)
    assert not verify_signature(body, signature(body, "another-secret"), SECRET)
    assert not verify_signature(body, None, SECRET)
    assert not verify_signature(body, header.replace("sha256=", "sha1="), SECRET)
    assert not verify_signature(body, header, "")  # no secret configured: nothing passes


def test_the_same_json_re_serialised_does_not_pass() -> None:
    """The signature is checked on the bytes Meta sent, not on a re-encoding of them."""
    body = meta.encode(example("threads_replies"))
    header = signature(body, SECRET)
    reencoded = json.dumps(json.loads(body), indent=2).encode()
    with pytest.raises(WebhookRefused) as refused:
        read_delivery(reencoded, header, SECRET)
    assert refused.value.status == 403


def test_a_forged_delivery_is_refused_before_it_is_parsed() -> None:
    """A wrong signature on a body that is not even JSON is a 403, not a parse error."""
    with pytest.raises(WebhookRefused) as refused:
        read_delivery(b"{not json", "sha256=" + "0" * 64, SECRET)
    assert refused.value.status == 403


def test_a_signed_body_that_is_not_a_delivery_is_a_clear_400() -> None:
    for body in (b"{not json", b"[1, 2]", b'{"object": "page"}',
                 b'{"object": "page", "entry": [{"changes": []}]}'):
        with pytest.raises(WebhookRefused) as refused:
            read_delivery(body, signature(body, SECRET), SECRET)
        assert refused.value.status == 400, body


# -- the handshake --------------------------------------------------------------------------------
def test_the_handshake_echoes_the_challenge_only_for_our_verify_token() -> None:
    params = {"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "1158201444"}
    assert handshake(params, VERIFY) == "1158201444"
    with pytest.raises(WebhookRefused) as wrong:
        handshake({**params, "hub.verify_token": "guess"}, VERIFY)
    assert wrong.value.status == 403
    with pytest.raises(WebhookRefused) as unset:
        handshake(params, "")
    assert unset.value.status == 403
    with pytest.raises(WebhookRefused) as other_mode:
        handshake({**params, "hub.mode": "unsubscribe"}, VERIFY)
    assert other_mode.value.status == 400


def test_meta_verifying_the_callback_url_gets_its_challenge_back(sink: WebhookSink) -> None:
    """The GET Meta makes when the callback URL is saved, end to end over HTTP."""
    answer = Meta(sink.url, SECRET).verify(VERIFY, challenge="987654")
    assert (answer.status_code, answer.text) == (200, "987654")
    assert Meta(sink.url, SECRET).verify("not-ours").status_code == 403


# -- Meta's documented examples -------------------------------------------------------------------
def test_page_feed_example_gives_comments_edits_removals_and_visitor_posts() -> None:
    """Reactions are skipped; the first-level comment has no parent, the reply has one."""
    items = parse_delivery(example("page_feed"))
    assert [(i.item, i.kind) for i in items] == [
        ("comment", "new"), ("comment", "edited"), ("comment", "removed"), ("post", "new"),
        ("comment", "new")]
    reply, edited, removed, post, video = items
    assert reply.platform == "facebook" and reply.account_id == "137542570280222"
    assert reply.item_id == "139560936744456_139620233405726"
    assert reply.parent_id == "139560936744456_139562213411528"
    assert (reply.author_id, reply.author_name, reply.text) == ("139560936744123", "user",
                                                               "Good")
    assert reply.created_at == datetime(2017, 11, 29, 10, 23, 35, tzinfo=UTC)
    assert edited.parent_id is None and edited.text == "Great"
    assert removed.external_id == edited.external_id and removed.text is None
    assert post.item_id == post.post_id == "137542570280222_139610053406744"
    assert video.permalink == "https://www.facebook.com/xxx/posts/1111"
    assert not any(i.by_account for i in items)


def test_instagram_comments_example_gives_the_comment_and_marks_the_accounts_own_reply() -> None:
    comment, own_reply = parse_delivery(example("instagram_comments"))
    assert comment.platform == "instagram" and comment.account_id == "17841405822304914"
    assert (comment.item_id, comment.post_id, comment.parent_id) == (
        "17919697626119712", "18172143295349192", None)
    assert (comment.author_id, comment.author_name, comment.text) == (
        "2105722729836161", "fan_de_radio", "Quelle belle photo !")
    assert comment.created_at == datetime.fromtimestamp(1755779280, UTC)
    assert not comment.by_account
    assert own_reply.parent_id == "17919697626119712" and own_reply.by_account


def test_instagram_mentions_example_gives_ids_to_read_the_mention_with() -> None:
    in_comment, in_caption = parse_delivery(example("instagram_mentions"))
    assert (in_comment.item, in_comment.item_id, in_comment.post_id, in_comment.text) == (
        "mention", "17894227972186120", "17887498072083520", None)
    assert (in_caption.item_id, in_caption.post_id) == ("17887498072083521",) * 2


def test_threads_replies_example() -> None:
    (reply,) = parse_delivery(example("threads_replies"))
    assert reply.platform == "threads" and reply.item == "comment"
    assert reply.account_id == "123456"  # the root post's owner: the newsroom's profile
    assert (reply.item_id, reply.post_id, reply.parent_id) == ("8901234", "123456", "567890")
    assert (reply.author_name, reply.text) == ("test_username", "Reply")
    assert reply.permalink == "https://www.threads.net/@test_username/post/Pp"
    assert reply.created_at == datetime(2024, 8, 7, 10, 33, 16, tzinfo=UTC)


def test_threads_mentions_example() -> None:
    (mention,) = parse_delivery(example("threads_mentions"))
    assert (mention.item, mention.account_id, mention.item_id) == ("mention", "78901",
                                                                   "8901234")
    assert mention.text == "Hello @test_username_2"


@pytest.mark.parametrize("name", ["page_feed", "instagram_comments", "instagram_mentions",
                                  "threads_replies", "threads_mentions"])
def test_every_documented_example_signed_by_meta_reaches_the_endpoint(
        sink: WebhookSink, name: str) -> None:
    """Vigie-independent check: Meta's examples, signed and POSTed, are verified and read."""
    payload = example(name)
    assert Meta(sink.url, SECRET).deliver(payload) == [200]
    assert len(sink.items) == len({(i.external_id, i.kind) for i in parse_delivery(payload)})
    assert sink.items


# -- what is ignored, what is refused -------------------------------------------------------------
def test_unknown_objects_fields_items_and_verbs_are_skipped_quietly() -> None:
    page = "111"
    assert parse_delivery({"object": "user", "entry": [{"id": "1", "changes": [
        {"field": "feed", "value": {"item": "comment"}}]}]}) == []
    assert parse_delivery(meta.page_feed(page, {"item": "like", "verb": "add",
                                                "post_id": "111_2"})) == []
    assert parse_delivery(meta.page_feed(page, {"item": "comment", "verb": "block",
                                                "comment_id": "2_3", "post_id": "111_2"})) == []
    assert parse_delivery(meta.page_feed(page, {"x": 1}, field_name="ratings")) == []
    assert parse_delivery(meta.threads("9", "publish", {"id": "5"})) == []
    assert parse_delivery(meta.instagram("9", "story_insights", {"media_id": "5"})) == []


def test_hide_and_unhide_on_a_page_comment_say_so() -> None:
    hidden, unhidden = (parse_delivery(meta.page_comment(
        "111", comment_id="2_3", post_id="111_2", verb=verb, message=None))[0]
        for verb in ("hide", "unhide"))
    assert (hidden.kind, hidden.hidden, unhidden.kind, unhidden.hidden) == (
        "hidden", True, "unhidden", False)
    assert hidden.external_id == unhidden.external_id == "facebook:2_3"


def test_the_pages_own_comment_is_marked_as_the_accounts() -> None:
    (own,) = parse_delivery(meta.page_comment("111", comment_id="2_4", post_id="111_2",
                                              author=("111", "La Matinale")))
    assert own.by_account


# -- over HTTP, as Meta delivers ------------------------------------------------------------------
def test_a_forged_delivery_changes_nothing(sink: WebhookSink) -> None:
    sender = Meta(sink.url, SECRET)
    payload = meta.page_comment("111", comment_id="2_3", post_id="111_2")
    assert sender.deliver(payload, secret="stolen-guess") == [403]
    assert sender.deliver(payload, header="") == [403]
    assert sink.items == {} and sink.received == 0
    assert [status for status, _ in sink.refused] == [403, 403]


def test_metas_retries_of_one_delivery_give_one_item(sink: WebhookSink) -> None:
    """The endpoint stored the comment then failed: Meta sends it again, still one item."""
    sink.fail_after_store = 2
    sender = Meta(sink.url, SECRET)
    statuses = sender.deliver(meta.page_comment("111", comment_id="2_3", post_id="111_2"),
                              attempts=5)
    assert statuses == [500, 500, 200]
    assert sink.received == 3
    assert list(sink.items) == [("facebook:2_3", "new")]


def test_an_edit_then_a_removal_of_one_comment_keep_its_id(sink: WebhookSink) -> None:
    sender = Meta(sink.url, SECRET)
    for verb, message in (("add", "Bof"), ("edited", "Bof, en fait super"), ("remove", None)):
        assert sender.deliver(meta.page_comment("111", comment_id="2_3", post_id="111_2",
                                                verb=verb, message=message)) == [200]
    assert sorted(sink.items) == [("facebook:2_3", "edited"), ("facebook:2_3", "new"),
                                  ("facebook:2_3", "removed")]
    assert sink.items[("facebook:2_3", "edited")].text == "Bof, en fait super"


def test_a_body_nested_too_deeply_is_refused_as_unreadable() -> None:
    """Found by the fuzzing campaign: the parser's RecursionError escaped as a 500."""
    body = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(WebhookRefused) as refused:
        read_delivery(body, signature(body, "secret"), "secret")
    assert refused.value.status == 400


def test_strings_are_read_as_they_can_be_stored() -> None:
    """Found by the fuzzing campaign: a lone surrogate (valid JSON, not UTF-8) in a
    comment was a 500 when the mention was built, and a NUL was stored as is (PostgreSQL
    refuses it). Both are cleaned, in values and keys alike."""
    body = json.dumps(meta.page_comment("P1", comment_id="1_\x002", post_id="P1_1",
                                        message="allô \ud800 la\x00 radio")).encode()
    [item] = read_delivery(body, signature(body, "secret"), "secret")
    assert (item.text, item.item_id) == ("allô ? la radio", "1_2")
