"""Polling Facebook Pages, Instagram and Threads (bot/platforms/meta/readers.py) against
the local Graph server: what was said while Vigie was not listening is read, once, with
the same ids the webhook gives, so push and poll meet in one dedupe."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.platforms.meta import readers
from bot.platforms.meta.graph import GraphClient, GraphFailure
from bot.platforms.meta.models import MetaItem
from bot.platforms.meta.webhook import parse_delivery
from tests.support import meta_webhooks as meta
from tests.support.graph_server import FakeGraph


@pytest.fixture
def fake() -> Iterator[FakeGraph]:
    with FakeGraph() as running:
        yield running


def graph(fake: FakeGraph, token: str = "page-token", platform: str = "Facebook"
          ) -> GraphClient:
    return GraphClient(token, platform=platform, base_url=fake.url, timeout=5.0)


def ago(**delta: float) -> datetime:
    return datetime.now(UTC) - timedelta(**delta)


# -- Facebook Pages -------------------------------------------------------------------------------
def test_a_poll_reads_comments_and_replies_under_recent_posts(fake: FakeGraph) -> None:
    page = fake.add_page()
    post = fake.add_post(page, "Ce matin", created=ago(hours=3))
    first = fake.add_comment(post, "Super", created=ago(hours=2))
    reply = fake.add_comment(first, "Ah oui ?", author=("20", "Léa"), created=ago(hours=1))
    own = fake.add_comment(first, "Merci", author=(page, "La Matinale"), created=ago(minutes=30))
    polled = readers.read_page_comments(graph(fake), page, cursor=None)
    assert [i.item_id for i in polled.items] == [first, reply, own]
    first_item, reply_item, own_item = polled.items
    assert (first_item.parent_id, reply_item.parent_id) == (None, first)
    assert reply_item.author_name == "Léa" and reply_item.post_id == post
    assert own_item.by_account and not first_item.by_account
    assert first_item.permalink and first_item.permalink.startswith("https://www.facebook.com/")
    assert polled.cursor == own_item.created_at.isoformat()  # type: ignore[union-attr]
    calls = fake.calls("GET", f"/{post}/comments")
    assert calls[0].query["filter"] == ["stream"]
    assert calls[0].query["order"] == ["reverse_chronological"]


def test_the_next_poll_asks_only_since_the_cursor_and_finds_only_news(fake: FakeGraph) -> None:
    """Older than the cursor less the overlap is not read again; the overlap itself is
    (Meta's late arrivals), for the dedupe to absorb."""
    page = fake.add_page()
    post = fake.add_post(page, "Post", created=ago(hours=5))
    fake.add_comment(post, "vieux", created=ago(hours=4, minutes=30))
    latest = fake.add_comment(post, "moins vieux", created=ago(hours=4))
    first = readers.read_page_comments(graph(fake), page, cursor=None)
    assert len(first.items) == 2
    new = fake.add_comment(post, "nouveau")
    second = readers.read_page_comments(graph(fake), page, cursor=first.cursor)
    assert [i.item_id for i in second.items] == [latest, new]
    since = int(fake.calls("GET", f"/{post}/comments")[-1].query["since"][0])
    assert since == int((datetime.fromisoformat(first.cursor or "") - readers.OVERLAP
                         ).timestamp())


def test_a_comment_polled_and_pushed_has_one_external_id(fake: FakeGraph) -> None:
    """The webhook's item and the poll's item for one comment meet in the dedupe."""
    page = fake.add_page()
    post = fake.add_post(page, "Post")
    comment = fake.add_comment(post, "Bonjour")
    (polled,) = readers.read_page_comments(graph(fake), page, cursor=None).items
    (pushed,) = parse_delivery(meta.page_comment(page, comment_id=comment, post_id=post,
                                                 message="Bonjour"))
    assert pushed.external_id == polled.external_id == f"facebook:{comment}"
    assert (pushed.post_id, pushed.parent_id, pushed.text) == (polled.post_id, None, "Bonjour")


def test_a_poll_that_meta_refuses_says_why(fake: FakeGraph) -> None:
    page = fake.add_page(scopes={"pages_show_list"})
    with pytest.raises(GraphFailure) as failure:
        readers.read_page_comments(graph(fake), page, cursor=None)
    assert failure.value.permission == "pages_read_engagement"


# -- Instagram ------------------------------------------------------------------------------------
def test_instagram_comments_and_their_replies_are_polled(fake: FakeGraph) -> None:
    ig = fake.add_ig_user("lamatinale")
    media = fake.add_ig_media(ig, "Photo", created=ago(hours=2))
    fake.add_ig_media(ig, "Sans commentaire")
    comment = fake.add_ig_comment(media, "Superbe", created=ago(hours=1))
    reply = fake.add_ig_comment(comment, "Merci", username="lamatinale", user_id=ig)
    polled = readers.read_instagram_comments(graph(fake, "ig-token", "Instagram"), ig,
                                             cursor=None)
    assert [(i.item_id, i.parent_id, i.by_account) for i in polled.items] == [
        (comment, None, False), (reply, comment, True)]
    assert polled.items[0].permalink == fake.objects[media]["permalink"]
    later = readers.read_instagram_comments(graph(fake, "ig-token", "Instagram"), ig,
                                            cursor=polled.cursor)
    assert [i.item_id for i in later.items] == [reply]  # inside the overlap; deduped later
    (pushed,) = parse_delivery(meta.instagram(ig, "comments", {
        "id": comment, "from": {"id": "90010", "username": "fan_de_radio"},
        "text": "Superbe", "media": {"id": media, "media_product_type": "FEED"}}))
    assert pushed.external_id == polled.items[0].external_id


def test_an_instagram_mention_from_the_webhook_is_completed(fake: FakeGraph) -> None:
    ig = fake.add_ig_user("lamatinale")
    other = fake.add_ig_user("autre", token="other-token")
    media = fake.add_ig_media(other, "Avec @lamatinale ce matin")
    comment = fake.add_ig_comment(media, "@lamatinale bravo", username="auditrice")
    in_comment, in_caption = parse_delivery(meta.instagram(ig, "mentions", {
        "media_id": media, "comment_id": comment})) + parse_delivery(meta.instagram(
            ig, "mentions", {"media_id": media}))
    client = graph(fake, "ig-token", "Instagram")
    read = readers.read_instagram_mention(client, ig, in_comment)
    assert (read.text, read.author_name, read.item_id) == ("@lamatinale bravo", "auditrice",
                                                           comment)
    caption = readers.read_instagram_mention(client, ig, in_caption)
    assert (caption.text, caption.author_name) == ("Avec @lamatinale ce matin", "autre")
    assert caption.permalink == fake.objects[media]["permalink"]


# -- Threads --------------------------------------------------------------------------------------
def test_threads_replies_at_any_depth_are_polled(fake: FakeGraph) -> None:
    me = fake.add_threads_user("lamatinale")
    post = fake.add_threads_post(me, "Invité demain", created=ago(hours=3))
    reply = fake.add_threads_post("71", "Qui ?", reply_to=post, username="curieux",
                                  created=ago(hours=2))
    deeper = fake.add_threads_post("72", "Moi aussi je veux savoir", reply_to=reply,
                                   username="curieuse", created=ago(hours=1))
    ours = fake.add_threads_post(me, "Surprise", reply_to=reply)
    client = GraphClient.threads("threads-token", base_url=fake.threads_url, timeout=5.0)
    polled = readers.read_threads_replies(client, me, cursor=None)
    assert [(i.item_id, i.parent_id, i.by_account) for i in polled.items] == [
        (reply, None, False), (deeper, reply, False), (ours, reply, True)]
    assert {i.post_id for i in polled.items} == {post}
    assert fake.requests[0].path.startswith("/threads/v1.0/")
    (pushed,) = parse_delivery(meta.threads(me, "replies", {
        "id": deeper, "username": "curieuse", "text": "Moi aussi je veux savoir",
        "replied_to": {"id": reply}, "root_post": {"id": post, "owner_id": me},
        "timestamp": "2026-01-01T10:00:00+0000"}))
    assert pushed.external_id == polled.items[1].external_id
    assert (pushed.account_id, pushed.parent_id, pushed.post_id) == (me, reply, post)


def test_threads_mentions_are_polled_page_by_page_without_next_links(fake: FakeGraph) -> None:
    me = fake.add_threads_user("lamatinale")
    for n in range(60):
        fake.add_threads_post(str(500 + n), f"@lamatinale question {n}",
                              username=f"fan{n}", created=ago(minutes=120 - n))
    client = GraphClient.threads("threads-token", base_url=fake.threads_url, timeout=5.0)
    polled = readers.read_threads_mentions(client, me, cursor=None)
    assert len(polled.items) == 60 and {i.item for i in polled.items} == {"mention"}
    assert polled.items[-1].text == "@lamatinale question 59"
    assert len(fake.calls("GET", f"/{me}/mentions")) == 3  # 50 + 10, then an empty page
    newer = fake.add_threads_post("900", "@lamatinale encore", username="fan")
    again = readers.read_threads_mentions(client, me, cursor=polled.cursor)
    assert [i.item_id for i in again.items][-1] == newer
    since = readers.since_cursor(polled.cursor)
    assert since and all(i.created_at and i.created_at >= since for i in again.items)
    assert len(again.items) <= 4  # the news and the overlap, not the 60 again
    assert len(fake.calls("GET", f"/{me}/mentions")) == 4  # one page sufficed


def test_polled_items_are_plain_values(fake: FakeGraph) -> None:
    """Frozen and comparable: a dedupe can hold them in sets and dicts."""
    item = MetaItem(platform="threads", account_id="1", kind="new", item="comment",
                    item_id="2")
    assert item == MetaItem(platform="threads", account_id="1", kind="new", item="comment",
                            item_id="2")
    assert len({item, item}) == 1
