"""Instagram end to end, the same core path as Facebook: the real Vigie against
FakeGraph, Meta's signed deliveries to `/webhooks/instagram`. A comment is one card
however often delivered or polled; a mention is read through `mentioned_comment`;
Reply answers once, and what Instagram refuses (a reply to a reply) is said before
anything is sent; Hide hides; an approved post with a picture is published once, one
without is refused with the reason; a forged delivery changes nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from sqlmodel import Session, select

from bot.app import build
from bot.clock import SystemClock
from bot.config import Config, PostTarget, Source
from bot.mentions.models import Mention
from bot.sandbox.driver import SlackDriver
from bot.sandbox.slack import FakeSlack
from tests.conftest import SIGNING_SECRET, make_settings
from tests.e2e.replies.conftest import STAFF, Desk, until
from tests.e2e.test_posts_flow import APPROVALS, EDITOR, open_draft, preview, submit
from tests.support.graph_server import FakeGraph
from tests.support.harness import RunningVigie
from tests.support.meta_webhooks import Meta, instagram

APP_SECRET, IG_TOKEN = "meta-app-secret-0123456789", "ig-tok"


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    with FakeGraph() as fake:
        yield fake


@pytest.fixture
def account(graph: FakeGraph) -> str:
    return graph.add_ig_user("lamatinale", token=IG_TOKEN)


@pytest.fixture
def insta(database_url: str, config: Config, environ: dict[str, str], slack: FakeSlack,
          graph: FakeGraph, account: str) -> Iterator[Desk]:
    source = Source.model_validate({
        "id": "ig-matinale", "type": "instagram", "account": "matinale",
        "account_id": account, "token_env": "VIGIE_TEST_IG_TOKEN",
        "app_secret_env": "VIGIE_TEST_META_SECRET", "verify_token_env": "VIGIE_TEST_VERIFY",
        "api_url": graph.url, "interval": 3600})
    targets = [*config.posts.targets, PostTarget(id="matinale-instagram", kind="instagram",
                                                 name="Insta La Matinale", account="matinale")]
    newsroom = config.model_copy(update={
        "sources": [*config.sources, source],
        "posts": config.posts.model_copy(update={"targets": targets})})
    for user, name in ((STAFF, "marie"), (EDITOR, "eve")):
        slack.add_user(user, name)
    env = {**environ, "VIGIE_TEST_IG_TOKEN": IG_TOKEN, "VIGIE_TEST_META_SECRET": APP_SECRET,
           "VIGIE_TEST_VERIFY": "verify-ig"}
    vigie = RunningVigie(build(make_settings(database_url, slack.base_url), newsroom,
                               clock=SystemClock(), environ=env, platform_timeout=1.0)).start()
    driver = SlackDriver(f"{vigie.url}/slack/events", SIGNING_SECRET, fake=slack)
    yield Desk(vigie, slack, driver, None, None)  # type: ignore[arg-type]
    driver.close()
    vigie.stop()


def meta(desk: Desk) -> Meta:
    return Meta(f"{desk.vigie.url}/webhooks/instagram", APP_SECRET)


def mentions(desk: Desk) -> list[Mention]:
    with Session(desk.vigie.vigie.engine) as session:
        return list(session.exec(select(Mention).where(Mention.platform == "instagram")))


def comment_delivery(account: str, graph: FakeGraph, comment: str) -> dict[str, object]:
    stored = graph.objects[comment]
    value: dict[str, object] = {"id": comment, "text": stored["text"],
                                "from": dict(stored["from"]),
                                "media": {"id": stored["_media"],
                                          "media_product_type": "FEED"}}
    if stored.get("parent_id"):
        value["parent_id"] = stored["parent_id"]
    return instagram(account, "comments", value)


def card_of(desk: Desk, item_id: str) -> Mention:
    return until(desk.slack, lambda: next(
        (m for m in mentions(desk) if m.platform_ref == item_id and m.slack_ts), None))


def test_a_comment_is_one_card_and_reply_answers_it_once(
        insta: Desk, graph: FakeGraph, account: str) -> None:
    desk = insta
    media = graph.add_ig_media(account, "La ministre ce matin")
    comment = graph.add_ig_comment(media, "Quand est le replay ?")
    delivery = comment_delivery(account, graph, comment)
    assert meta(desk).deliver(delivery) == [200]
    assert meta(desk).deliver(delivery) == [200]  # Meta's retry
    mention = card_of(desk, comment)
    assert desk.vigie.vigie.listen and desk.vigie.vigie.listen.poller
    assert desk.vigie.vigie.listen.poller.poll_due().of("ig-matinale").error is None
    assert len(mentions(desk)) == 1
    assert "Quand est le replay ?" in desk.card_text(mention)
    assert meta(desk).deliver(delivery, secret="forged-secret") == [403]

    desk.submit(STAFF, desk.open_reply(STAFF, mention), "Ce soir à 20 h !")
    reply = desk.reply_in(mention.id or 0, "sent")
    [answer] = graph.children("ig_comment", parent_id=comment)
    assert answer["text"] == "Ce soir à 20 h !" and answer["username"] == "lamatinale"
    assert reply.remote_id == answer["id"]
    assert len(graph.calls("POST", f"/{comment}/replies")) == 1
    # The account's own reply, delivered back by Meta, is no mention.
    assert meta(desk).deliver(comment_delivery(account, graph, answer["id"])) == [200]
    desk.card_shows(mention, "Répondu sur Instagram")
    assert len(mentions(desk)) == 1


def test_a_reply_to_a_reply_is_refused_on_the_card_before_sending(
        insta: Desk, graph: FakeGraph, account: str) -> None:
    desk = insta
    media = graph.add_ig_media(account, "Photo du studio")
    first = graph.add_ig_comment(media, "Super photo")
    second = graph.add_ig_comment(first, "Pas d'accord", username="grincheux", user_id="777")
    assert meta(desk).deliver(comment_delivery(account, graph, second)) == [200]
    mention = card_of(desk, second)
    desk.submit(STAFF, desk.open_reply(STAFF, mention), "Chacun ses goûts !")
    desk.reply_in(mention.id or 0, "failed")
    desk.card_shows(mention, "Instagram n'accepte de réponses qu'aux commentaires de premier")
    assert graph.calls("POST", f"/{second}/replies") == []
    assert graph.calls("POST", f"/{first}/replies") == []


def test_a_mention_is_read_and_hide_hides_a_comment(insta: Desk, graph: FakeGraph,
                                                    account: str) -> None:
    desk = insta
    other = graph.add_ig_user("fan_page", token="other-token")
    their_media = graph.add_ig_media(other, "Au concert")
    mentioning = graph.add_ig_comment(their_media, "@lamatinale vous étiez là ?")
    assert meta(desk).deliver(instagram(account, "mentions", {
        "comment_id": mentioning, "media_id": their_media})) == [200]
    mention = card_of(desk, mentioning)
    assert "vous étiez là" in desk.card_text(mention)

    media = graph.add_ig_media(account, "Notre invité")
    rude = graph.add_ig_comment(media, "Quel imbécile celui-là")
    assert meta(desk).deliver(comment_delivery(account, graph, rude)) == [200]
    target = card_of(desk, rude)
    desk.driver.click(STAFF, "moderate.act", message={"ts": target.slack_ts},
                      channel_id=target.slack_channel)
    modal = until(desk.slack, lambda: [v for v in desk.slack.views_for(STAFF)
                                       if v.get("callback_id") == "moderate_act"])[-1]
    desk.driver.view_submission(user_id=STAFF, view=modal,
                                values={"action": {"action": "hide"}, "comment": {}})
    desk.card_shows(target, "Réponse cachée sur Instagram")
    assert graph.objects[rude]["hidden"] is True


def test_an_approved_post_with_a_picture_is_published_once(
        insta: Desk, graph: FakeGraph, account: str) -> None:
    desk = insta
    text = "Les coulisses de la matinale https://radio-exemple.fr/img/studio.jpg"
    submit(desk.driver, open_draft(desk.driver, desk.slack, text),
           targets=("matinale-instagram",))
    card = preview(desk.slack, "En attente")
    desk.driver.reaction_added(EDITOR, "white_check_mark", APPROVALS, card["ts"])
    [media] = until(desk.slack, lambda: [m for m in graph.children("ig_media", _owner=account)
                                         if m.get("_posted")], timeout=30)
    assert media["caption"] == text
    shown = preview(desk.slack, "Publiée")
    assert media["permalink"] in json.dumps(shown["blocks"])
    time.sleep(0.5)
    assert len(graph.calls("POST", f"/{account}/media_publish")) == 1


def test_a_post_without_a_picture_is_refused_with_the_reason(
        insta: Desk, graph: FakeGraph, account: str) -> None:
    desk = insta
    submit(desk.driver, open_draft(desk.driver, desk.slack, "Rien qu'un texte"),
           targets=("matinale-instagram",))
    card = preview(desk.slack, "En attente")
    desk.driver.reaction_added(EDITOR, "white_check_mark", APPROVALS, card["ts"])
    until(desk.slack, lambda: "Instagram ne publie que des messages avec une image" in
          json.dumps(preview(desk.slack, "Instagram")["blocks"], ensure_ascii=False),
          timeout=30)
    assert graph.calls("POST", f"/{account}/media") == []
