"""YouTube end to end: the real app over HTTP, the fake Slack, and Vigie's YouTube client
(google-auth for the refresh token) against a local YouTube Data API v3 server. A
comment becomes one card however often it is read; Reply answers it in its thread once,
even when Google's answer is lost; hold / remove and ban / publish reach YouTube; and
when the day's quota is gone the card says why the reply waits, and it goes out after
the reset, once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session, select

from bot.app import build
from bot.clock import FrozenClock
from bot.config import Config
from bot.mentions.models import Mention
from bot.platforms.youtube.quota import next_reset
from bot.sandbox.driver import SlackDriver
from bot.sandbox.slack import FakeSlack
from tests.conftest import SIGNING_SECRET, make_settings
from tests.e2e.replies.conftest import STAFF, Desk, until
from tests.e2e.test_webhook_flow import cards
from tests.support.harness import RunningVigie
from tests.support.youtube import CHANNEL, VIDEO, YOUTUBE_ENV, with_youtube
from tests.support.youtube_server import FakeYouTube

ENV = YOUTUBE_ENV


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def youtube(clock: FrozenClock) -> Iterator[FakeYouTube]:
    with FakeYouTube(now=clock.now) as fake:
        fake.add_channel(CHANNEL, title="Le Grand Débat")
        fake.add_video(VIDEO, CHANNEL)
        yield fake


@pytest.fixture
def desk(database_url: str, config: Config, environ: dict[str, str], slack: FakeSlack,
         youtube: FakeYouTube, clock: FrozenClock) -> Iterator[Desk]:
    newsroom = with_youtube(config, youtube.url)
    slack.add_user(STAFF, "marie", real_name="Marie Dupont")
    vigie = RunningVigie(build(make_settings(database_url, slack.base_url), newsroom,
                               clock=clock, environ={**environ, **ENV},
                               platform_timeout=1.0)).start()
    driver = SlackDriver(f"{vigie.url}/slack/events", SIGNING_SECRET, fake=slack)
    yield Desk(vigie, slack, driver, None, None)  # type: ignore[arg-type]
    driver.close()
    vigie.stop()


def poll(desk: Desk) -> None:
    assert desk.vigie.vigie.listen and desk.vigie.vigie.listen.poller
    desk.vigie.vigie.listen.poller.poll_due()


def card_of(desk: Desk, comment_id: str) -> Mention:
    """The mention of a YouTube comment, once its card is posted (the frozen clock moves
    on meanwhile: cards in one channel are paced)."""
    clock = desk.vigie.vigie.clock
    assert isinstance(clock, FrozenClock)

    def relayed() -> Mention | None:
        clock.advance(seconds=1)
        with Session(desk.vigie.vigie.engine) as session:
            found = session.exec(select(Mention).where(Mention.external_id == comment_id)
                                 ).first()
        return found if found is not None and found.slack_ts else None

    return until(desk.slack, relayed, timeout=10)


def moderate(desk: Desk, mention: Mention, action: str) -> dict[str, Any]:
    """Moderate… on the card, pick `action`, submit; the modal that was offered."""
    def modals() -> list[dict[str, Any]]:
        return [v for v in desk.slack.views_for(STAFF) if v.get("callback_id") == "moderate_act"]

    before = len(modals())
    desk.driver.click(STAFF, "moderate.act", message={"ts": mention.slack_ts},
                      channel_id=mention.slack_channel)
    modal = desk.slack.wait_for(lambda: modals()[before:], timeout=10)[-1]
    desk.driver.view_submission(user_id=STAFF, view=modal,
                                values={"action": {"action": action}, "comment": {"comment": ""}})
    return dict(modal)


def test_a_comment_becomes_one_card_however_often_it_is_read(
        desk: Desk, youtube: FakeYouTube, clock: FrozenClock) -> None:
    """A comment and one held for review: one card each in the account's channel; read
    again, and once the held one is published (it then shows in the published stream),
    still one card each."""
    comment = youtube.comment(VIDEO, "Le débat d'hier était passionnant <!channel>",
                              by="Kev59")
    held = youtube.comment(VIDEO, "Visitez mon site pour gagner", by="Promo",
                           status="heldForReview")
    poll(desk)
    shown = card_of(desk, comment["id"])
    assert shown.slack_channel == "C0DEBAT"
    assert card_of(desk, held["id"]).visibility == "heldForReview"
    text = desk.card_text(shown)
    assert "Le débat d'hier était passionnant" in text and "<!channel>" not in text
    assert f"watch?v={VIDEO}&amp;lc={comment['id']}" in text

    youtube.set_status(held["id"], "published")
    for _ in range(3):
        clock.advance(hours=1)
        poll(desk)
    assert len(youtube.calls("commentThreads.list")) >= 6  # read again, every stream
    assert len(cards(desk.slack, "C0DEBAT")) == 2


def test_reply_answers_in_the_thread_once_even_when_the_answer_is_lost(
        desk: Desk, youtube: FakeYouTube) -> None:
    """A reply to a reply goes under the thread's top-level comment; a 502 after Google
    wrote it is looked for and found: one comment on YouTube, the mention answered."""
    top = youtube.comment(VIDEO, "Qui était l'invitée ?", by="Lea")
    question = youtube.comment(VIDEO, "Et à quelle heure ?", by="Kev59", parent=top["id"])
    poll(desk)
    mention = card_of(desk, question["id"])
    youtube.fail_next("comments.insert", status=502, reason="backendError", created=True)
    view = desk.open_reply(STAFF, mention)
    assert "50 unités du quota YouTube" in json.dumps(view["blocks"], ensure_ascii=False)
    desk.submit(STAFF, view, "À 20 h, avec Lucie Martin.")
    reply = desk.reply_in(mention.id or 0, "sent")
    [posted] = youtube.replies_to(top["id"])[1:]  # after Kev59's question
    assert posted["snippet"]["textOriginal"] == "À 20 h, avec Lucie Martin."
    assert posted["snippet"]["authorChannelId"]["value"] == CHANNEL
    assert reply.remote_id == posted["id"] and len(youtube.calls("comments.insert")) == 1
    desk.card_shows(mention, "Répondu sur YouTube", f"lc={posted['id']}")
    assert desk.answered(mention.id or 0).answered_by == STAFF
    desk.vigie.vigie.replies.desk.sweep()
    assert len(youtube.calls("comments.insert")) == 1


def test_moderation_from_the_card_reaches_youtube(desk: Desk, youtube: FakeYouTube) -> None:
    """A held comment is published; an insulting one is removed and its author banned."""
    held = youtube.comment(VIDEO, "Mon avis sur l'invité", by="Timide", status="heldForReview")
    insult = youtube.comment(VIDEO, "bande de vendus", by="Troll")
    poll(desk)
    held_card, insult_card = card_of(desk, held["id"]), card_of(desk, insult["id"])
    offered = moderate(desk, held_card, "release")
    assert "Publier" in json.dumps(offered["blocks"], ensure_ascii=False)
    desk.card_shows(held_card, "Publié sur YouTube")
    assert youtube.status_of(held["id"]) == "published"
    moderate(desk, insult_card, "reject_ban")
    desk.card_shows(insult_card, "auteur banni de la chaîne")
    assert youtube.status_of(insult["id"]) == "rejected"
    assert youtube.banned(CHANNEL) == {insult["snippet"]["authorChannelId"]["value"]}
    [call] = youtube.calls("comments.setModerationStatus")[1:]
    assert call.query["banAuthor"] == ["true"]


def test_a_reply_waits_for_the_quota_and_goes_out_once_after_the_reset(
        desk: Desk, youtube: FakeYouTube, clock: FrozenClock) -> None:
    """Google says the day's quota is used up: the card says the reply waits and until
    when; nothing is sent before the reset, and it goes out once after it."""
    comment = youtube.comment(VIDEO, "Vous pouvez corriger la date ?", by="Kev59")
    poll(desk)
    mention = card_of(desk, comment["id"])
    youtube.use_up_quota()
    desk.submit(STAFF, desk.open_reply(STAFF, mention), "Corrigé, merci !")
    reset = next_reset(clock.now()).astimezone(UTC)
    desk.card_shows(mention, "Réponse en attente de YouTube", "quota YouTube du jour est épuisé",
                    reset.strftime("%Y-%m-%d %H:%M UTC"))
    assert desk.reply_in(mention.id or 0, "queued").error
    clock.advance(hours=1)
    desk.vigie.vigie.replies.desk.sweep()
    assert len(youtube.calls("comments.insert")) == 1  # refused once, then not tried again

    youtube.new_day()
    clock.set(reset + timedelta(minutes=1))
    desk.vigie.vigie.replies.desk.sweep()
    desk.reply_in(mention.id or 0, "sent")
    assert [r["snippet"]["textOriginal"] for r in youtube.replies_to(comment["id"])] == [
        "Corrigé, merci !"]
    desk.card_shows(mention, "Répondu sur YouTube")
    desk.vigie.vigie.replies.desk.sweep()
    assert len(youtube.replies_to(comment["id"])) == 1
