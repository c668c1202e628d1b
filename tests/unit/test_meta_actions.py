"""Replying, moderating and publishing on Facebook Pages, Instagram and Threads
(bot/platforms/meta/actions.py) against the local Graph server, with the look-ups that
settle a lost answer and the refusals said before sending."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.connectors.doubt import Unproven
from bot.platforms.meta import actions
from bot.platforms.meta.graph import GraphClient, GraphFailure
from bot.platforms.meta.models import MetaItem
from bot.reasons import Reason
from tests.support.graph_server import FakeGraph


@pytest.fixture
def fake() -> Iterator[FakeGraph]:
    with FakeGraph() as running:
        yield running


def facebook(fake: FakeGraph, timeout: float = 5.0) -> GraphClient:
    return GraphClient("page-token", base_url=fake.url, timeout=timeout)


def instagram(fake: FakeGraph) -> GraphClient:
    return GraphClient("ig-token", platform="Instagram", base_url=fake.url, timeout=5.0)


def threads(fake: FakeGraph) -> GraphClient:
    return GraphClient.threads("threads-token", base_url=fake.threads_url, timeout=5.0)


def a_minute_ago() -> datetime:
    return datetime.now(UTC) - timedelta(minutes=1)


# -- Facebook Pages -------------------------------------------------------------------------------
def test_a_page_reply_lands_under_the_comment_as_the_page(fake: FakeGraph) -> None:
    page = fake.add_page("La Matinale")
    comment = fake.add_comment(fake.add_post(page, "Ce matin"), "Quelle heure demain ?")
    reply_id = actions.reply_facebook(facebook(fake), comment, "7 h, comme d'habitude")
    reply = fake.objects[reply_id]
    assert reply["_parent"] == comment and reply["message"] == "7 h, comme d'habitude"
    assert reply["from"] == {"id": page, "name": "La Matinale"}


def test_hide_unhide_and_delete_a_page_comment(fake: FakeGraph) -> None:
    page = fake.add_page()
    comment = fake.add_comment(fake.add_post(page, "Post"), "insulte")
    graph = facebook(fake)
    actions.hide_facebook(graph, comment)
    assert fake.objects[comment]["is_hidden"] is True
    actions.hide_facebook(graph, comment, hidden=False)
    assert fake.objects[comment]["is_hidden"] is False
    actions.delete_facebook(graph, comment)
    assert comment not in fake.objects
    with pytest.raises(GraphFailure) as again:
        actions.delete_facebook(graph, comment)
    assert again.value.kind == "not_found"


def test_a_page_post_is_published_once_and_found_after_a_lost_answer(fake: FakeGraph) -> None:
    """The answer is lost but the post was made: the look-up finds it, nothing is sent
    twice, and a text never posted is not found."""
    page = fake.add_page()
    fake.add_post(page, "Ancien post", created=datetime.now(UTC) - timedelta(days=2))
    sent_at = datetime.now(UTC)
    release = threading.Event()
    fake.hang_next(f"/{page}/feed", seconds=10, release=release)
    with pytest.raises(GraphFailure) as lost:
        actions.publish_facebook(facebook(fake, timeout=1.0), page, "Le programme de demain")
    release.set()
    assert lost.value.outcome == "lost"
    graph = facebook(fake)
    found = _eventually(lambda: actions.find_facebook_post(
        graph, page, text="Le programme de demain", since=sent_at))
    assert found is not None and fake.objects[found]["message"] == "Le programme de demain"
    assert actions.find_facebook_post(graph, page, text="Jamais publié", since=sent_at) is None
    assert len([o for o in fake.children("fb_post") if o.get("_posted")]) == 1


def test_a_lost_page_reply_is_found_by_text_and_author(fake: FakeGraph) -> None:
    """Only the Page's own reply with that text counts, not a fan's identical one."""
    page = fake.add_page()
    comment = fake.add_comment(fake.add_post(page, "Post"), "Question")
    fake.add_comment(comment, "Merci !", author=("10158", "Kévin Fan"))
    graph = facebook(fake)
    sent_at = datetime.now(UTC)
    assert actions.find_facebook_reply(graph, comment, page_id=page, text="Merci !",
                                       since=sent_at) is None
    fake.fail_next(f"/{comment}/comments", status=500, code=2, created=True)
    with pytest.raises(GraphFailure) as answered:
        actions.reply_facebook(graph, comment, "Merci !")
    assert answered.value.outcome == "answered"
    found = actions.find_facebook_reply(graph, comment, page_id=page, text="Merci !",
                                        since=sent_at)
    assert found is not None and fake.objects[found]["from"]["id"] == page


def test_a_look_up_that_cannot_read_everything_says_so(fake: FakeGraph) -> None:
    page = fake.add_page()
    comment = fake.add_comment(fake.add_post(page, "Post"), "Question")
    for n in range(actions.FIND_PAGES * actions.FIND_PAGE):
        fake.add_comment(comment, f"réponse {n}")
    with pytest.raises(Unproven):
        actions.find_facebook_reply(facebook(fake), comment, page_id=page, text="Merci",
                                    since=a_minute_ago())


# -- Instagram ------------------------------------------------------------------------------------
def test_an_instagram_reply_goes_under_the_comment(fake: FakeGraph) -> None:
    ig = fake.add_ig_user("lamatinale")
    comment = fake.add_ig_comment(fake.add_ig_media(ig, "Photo"), "Superbe")
    graph = instagram(fake)
    reply_id = actions.reply_instagram(graph, comment, "Merci !")
    assert fake.objects[reply_id]["parent_id"] == comment
    assert fake.objects[reply_id]["username"] == "lamatinale"
    assert actions.find_instagram_reply(graph, comment, username="lamatinale",
                                        text="Merci !", since=a_minute_ago()) == reply_id


def test_instagram_refusals_are_said_before_sending(fake: FakeGraph) -> None:
    """A hidden comment and a reply to a reply: the card can say why, nothing is sent."""
    base = MetaItem(platform="instagram", account_id="1", kind="new", item="comment",
                    item_id="2", post_id="3")
    assert actions.instagram_reply_refusal(base, "Merci") is None
    hidden = MetaItem(**{**base.__dict__, "hidden": True})
    assert actions.instagram_reply_refusal(hidden, "Merci") == Reason(
        "meta.instagram_reply_hidden")
    nested = MetaItem(**{**base.__dict__, "parent_id": "9"})
    assert actions.instagram_reply_refusal(nested, "Merci") == Reason(
        "meta.instagram_reply_to_reply")
    assert actions.instagram_reply_refusal(base, " ") == Reason("meta.empty")
    too_long = actions.instagram_reply_refusal(base, "x" * 2201)
    assert too_long is not None and too_long.params["excess"] == 1


def test_instagram_puts_a_reply_to_a_reply_under_the_first_level_comment(
        fake: FakeGraph) -> None:
    """As documented: "replies to a reply will be added to the top-level comment"."""
    ig = fake.add_ig_user("lamatinale")
    comment = fake.add_ig_comment(fake.add_ig_media(ig, "Photo"), "Superbe")
    fan_reply = fake.add_ig_comment(comment, "Tellement", username="autre_fan")
    ours = actions.reply_instagram(instagram(fake), fan_reply, "Merci à vous deux")
    assert fake.objects[ours]["parent_id"] == comment


def test_instagram_itself_refuses_a_reply_to_a_hidden_comment(fake: FakeGraph) -> None:
    ig = fake.add_ig_user()
    comment = fake.add_ig_comment(fake.add_ig_media(ig, "Photo"), "spam", hidden=True)
    with pytest.raises(GraphFailure) as refused:
        actions.reply_instagram(instagram(fake), comment, "Merci")
    assert (refused.value.kind, refused.value.outcome) == ("invalid", "not_sent")
    assert fake.children("ig_comment", parent_id=comment) == []


def test_hide_unhide_and_delete_an_instagram_comment(fake: FakeGraph) -> None:
    ig = fake.add_ig_user()
    comment = fake.add_ig_comment(fake.add_ig_media(ig, "Photo"), "insulte")
    graph = instagram(fake)
    actions.hide_instagram(graph, comment)
    assert fake.objects[comment]["hidden"] is True
    actions.hide_instagram(graph, comment, hidden=False)
    assert fake.objects[comment]["hidden"] is False
    actions.delete_instagram(graph, comment)
    assert comment not in fake.objects


def test_a_reply_to_a_mention_lands_under_the_mentioning_comment(fake: FakeGraph) -> None:
    ig = fake.add_ig_user("lamatinale")
    other = fake.add_ig_user("autre_compte", token="other-token")
    media = fake.add_ig_media(other, "Leur photo")
    mention = fake.add_ig_comment(media, "@lamatinale vous en pensez quoi ?")
    reply_id = actions.reply_instagram_mention(instagram(fake), ig, media_id=media,
                                               comment_id=mention, text="Beaucoup de bien")
    assert fake.objects[reply_id]["parent_id"] == mention
    assert fake.objects[reply_id]["username"] == "lamatinale"


def test_instagram_publishing_goes_through_a_container_and_counts_the_quota(
        fake: FakeGraph) -> None:
    ig = fake.add_ig_user()
    graph = instagram(fake)
    assert actions.instagram_quota(graph, ig) == actions.Quota(0, 50, 86_400)
    container = actions.instagram_container(graph, ig, image_url="https://cdn.example/a.jpg",
                                            caption="Ce matin en studio")
    media_id = actions.publish_container(graph, ig, container, platform="instagram")
    assert fake.objects[media_id]["caption"] == "Ce matin en studio"
    assert actions.instagram_quota(graph, ig).left == 49
    assert actions.container_status(graph, container, platform="instagram") == "PUBLISHED"
    with pytest.raises(GraphFailure) as twice:
        actions.publish_container(graph, ig, container, platform="instagram")
    assert twice.value.kind == "already_published"
    assert actions.find_instagram_post(graph, ig, caption="Ce matin en studio",
                                       since=a_minute_ago()) == media_id
    assert len(fake.children("ig_media", _owner=ig)) == 1


@pytest.mark.parametrize("fault", ["timeout_after_made", "error_after_made"])
def test_a_container_lost_before_publishing_is_tried_again_not_left_in_doubt(
        fake: FakeGraph, fault: str) -> None:
    """Step one of an Instagram (or Threads) post makes a container no one sees: when its
    answer is lost or a 5xx comes after it was made, nothing was published, so the post
    is tried again (one post in the end), not marked unconfirmed and left unsent."""
    from bot.connectors.publishers import PublishUnavailable
    from bot.platforms.meta.accounts import publish_failure, reply_failure
    from bot.replies.platforms import SendFailed

    ig, me = fake.add_ig_user(), fake.add_threads_user("grandebat")
    slow = GraphClient("ig-token", platform="Instagram", base_url=fake.url, timeout=0.5)
    slow_threads = GraphClient.threads("threads-token", base_url=fake.threads_url,
                                       timeout=0.5)
    for path in (f"/{ig}/media", f"/{me}/threads"):
        if fault == "timeout_after_made":
            fake.hang_next(path, 2.0)
        else:
            fake.fail_next(path, status=502, code=2, created=True)
    with pytest.raises(GraphFailure) as lost:
        actions.instagram_container(slow, ig, image_url="https://cdn/x.jpg", caption="Une")
    assert lost.value.outcome == "not_sent"
    assert isinstance(publish_failure(lost.value), PublishUnavailable)
    with pytest.raises(GraphFailure) as lost_reply:
        actions.reply_threads(slow_threads, me, fake.add_threads_post(me, "Ce soir"),
                              "Merci")
    sent_again = reply_failure(lost_reply.value)
    assert isinstance(sent_again, SendFailed) and sent_again.retryable
    # Tried again: one post, the first container never published.
    graph = instagram(fake)
    container = actions.instagram_container(graph, ig, image_url="https://cdn/x.jpg",
                                            caption="Une")
    actions.publish_container(graph, ig, container, platform="instagram")
    assert [m["caption"] for m in fake.children("ig_media", _owner=ig, _posted=True)] == \
        ["Une"]


def test_the_51st_instagram_post_of_the_day_is_refused_with_the_limit(
        fake: FakeGraph) -> None:
    fake.usage_step = 0.1  # 150 calls: far from Meta's call limit
    ig = fake.add_ig_user()
    graph = instagram(fake)
    for n in range(50):
        container = actions.instagram_container(graph, ig, image_url="https://cdn/x.jpg",
                                                caption=f"post {n}")
        actions.publish_container(graph, ig, container, platform="instagram")
    container = actions.instagram_container(graph, ig, image_url="https://cdn/x.jpg",
                                            caption="un de trop")
    with pytest.raises(GraphFailure) as limit:
        actions.publish_container(graph, ig, container, platform="instagram")
    assert limit.value.reason == Reason("meta.publish_limit", platform="Instagram")
    assert actions.instagram_quota(graph, ig).left == 0


# -- Threads --------------------------------------------------------------------------------------
def test_a_threads_reply_is_a_container_then_published(fake: FakeGraph) -> None:
    me = fake.add_threads_user("lamatinale")
    post = fake.add_threads_post(me, "Notre invité demain")
    reply = fake.add_threads_post("777", "Qui ?", reply_to=post, username="curieux")
    graph = threads(fake)
    published = actions.reply_threads(graph, me, reply, "Une surprise !")
    assert fake.objects[published]["_reply_to"] == reply
    assert fake.objects[published]["text"] == "Une surprise !"
    assert [r.rest for r in fake.requests if r.method == "POST"] == [
        f"/{me}/threads", f"/{me}/threads_publish"]
    assert actions.find_threads_reply(graph, me, reply_to=reply, text="Une surprise !",
                                      since=a_minute_ago()) == published


def test_a_threads_post_over_500_characters_is_refused_before_sending(fake: FakeGraph) -> None:
    """Emojis count as their UTF-8 bytes: 497 letters and one emoji are 501."""
    me = fake.add_threads_user()
    text = "a" * 497 + "🎙"
    assert actions.threads_length(text) == 501
    with pytest.raises(GraphFailure) as refused:
        actions.publish_threads(threads(fake), me, text)
    assert refused.value.reason == Reason("meta.threads_too_long", limit=500, length=501,
                                          excess=1)
    assert fake.calls("POST") == []
    assert actions.publish_threads(threads(fake), me, "a" * 496 + "🎙")  # 500: fine


def test_threads_itself_refuses_a_text_over_its_limit(fake: FakeGraph) -> None:
    me = fake.add_threads_user()
    with pytest.raises(GraphFailure) as refused:
        threads(fake).post(f"{me}/threads", {"media_type": "TEXT", "text": "é" * 501})
    assert refused.value.kind == "invalid" and "500" in str(refused.value.reason)


def test_hide_and_unhide_a_threads_reply(fake: FakeGraph) -> None:
    me = fake.add_threads_user()
    reply = fake.add_threads_post("777", "spam", reply_to=fake.add_threads_post(me, "Post"),
                                  username="spammeur")
    actions.hide_threads(threads(fake), reply)
    assert fake.objects[reply]["hide_status"] == "HIDDEN"
    actions.hide_threads(threads(fake), reply, hidden=False)
    assert fake.objects[reply]["hide_status"] == "UNHUSHED"


def test_threads_publishing_quota_and_a_lost_publish(fake: FakeGraph) -> None:
    """The container is kept: publishing it again after a lost answer does not post twice."""
    me = fake.add_threads_user()
    graph = threads(fake)
    assert actions.threads_quota(graph, me) == actions.Quota(0, 250, 86_400)
    container = actions.threads_container(graph, me, "Bonne journée")
    fake.fail_next(f"/{me}/threads_publish", status=500, code=2, created=True)
    with pytest.raises(GraphFailure) as answered:
        actions.publish_container(graph, me, container, platform="threads")
    assert answered.value.outcome == "answered"
    with pytest.raises(GraphFailure) as again:
        actions.publish_container(graph, me, container, platform="threads")
    assert again.value.kind == "already_published"
    found = actions.find_threads_post(graph, me, text="Bonne journée", since=a_minute_ago())
    assert found is not None
    assert len([o for o in fake.children("th_media", _owner=me) if o.get("_posted")]) == 1
    assert actions.threads_quota(graph, me).used == 1


def _eventually(read: object, deadline: float = 10.0) -> str | None:
    import time

    assert callable(read)
    stop = time.monotonic() + deadline
    while True:
        value: str | None = read()
        if value is not None or time.monotonic() > stop:
            return value
        time.sleep(0.02)
