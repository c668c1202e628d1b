"""Answering a mention from its card, end to end: the real app over HTTP, the fake Slack,
and the real Mastodon.py and atproto clients against local Mastodon and Bluesky servers.
Replies through each path (Mastodon, Bluesky, by hand, with an editor's approval), what
a failure and a timeout look like, and the first-response time."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session, select

from bot.clock import FrozenClock
from bot.config import Config
from bot.mentions.qualify_models import AuditEntry
from bot.reasons import Reason
from bot.sandbox.mastodon import FakeMastodon
from bot.sandbox.slack import FakeSlack
from tests.e2e.replies.conftest import (
    EDITOR,
    OLDER_MASTODON,
    OTHER_STAFF,
    OUTSIDER,
    SPORT,
    STAFF,
    Desk,
    start,
    until,
)
from tests.support.bluesky_server import FakeBluesky


# -- Mastodon --------------------------------------------------------------------------------
def test_a_mastodon_mention_is_answered_in_reply_with_its_visibility(desk: Desk) -> None:
    """Reply → template (mention's language first) → edit → Send: one Mastodon reply to the
    status, same visibility, author's handle in front, an Idempotency-Key; the card shows
    the answer and its link, and the mention is answered by who sent it."""
    status = desk.mastodon.mention("matinale", by="kev59", text="À quelle heure passe la "
                                   "chronique météo ?", visibility="unlisted")
    mention = desk.poll()
    view = desk.open_reply(STAFF, mention)
    picker = next(b for b in view["blocks"] if b.get("block_id") == "template")["accessory"]
    assert [g["label"]["text"] for g in picker["option_groups"]] == ["Français", "English"]
    assert "visibilité : non listée" in json.dumps(view["blocks"], ensure_ascii=False)

    view = desk.pick(STAFF, view, "fr/broadcast_time")
    shown = json.dumps(view["blocks"], ensure_ascii=False)
    text_block = next(b for b in view["blocks"] if b.get("block_id") == "text-2")
    written = text_block["element"]["initial_value"]
    assert written.startswith("Bonjour Kev59, La Matinale est à l'antenne du lundi")
    assert written.endswith("Marie")  # the staff member's first name
    assert f"@kev59@mamot.example {written}"[:60] in shown  # the preview: as it goes out
    assert "/ 500 caractères" in shown

    edited = written.replace("Bonne écoute", "Bonne écoute, et merci")
    response = desk.submit(STAFF, view, edited)
    assert response.status_code == 200 and not response.text  # the modal closes

    reply = desk.reply_in(mention.id or 0, "sent")
    [posted] = desk.mastodon.posted
    assert posted["in_reply_to_id"] == status["id"] and posted["visibility"] == "unlisted"
    assert posted["_text"] == f"@kev59@mamot.example {edited}"
    assert list(desk.mastodon._state.idempotency) == [reply.key]
    assert (reply.remote_id, reply.remote_url) == (posted["id"], posted["url"])
    card = desk.card_shows(mention, "Répondu sur Mastodon", posted["url"])
    assert "Bonne écoute, et merci" in card
    answered = desk.answered(mention.id or 0)
    assert answered.status == "answered" and answered.answered_by == STAFF
    assert answered.first_response_at is not None


def test_a_mastodon_failure_shows_the_reason_and_retry_sends_it(desk: Desk) -> None:
    """A 503 from the instance: the card says so with a Retry button; Retry sends it once
    and the mention is answered."""
    desk.mastodon.mention("matinale", by="kev59", text="Merci pour l'émission")
    mention = desk.poll()
    view = desk.pick(STAFF, desk.open_reply(STAFF, mention), "fr/thanks")
    desk.mastodon.fail_next("/api/v1/statuses", status=503)
    desk.submit(STAFF, view)
    failed = desk.reply_in(mention.id or 0, "failed")
    assert str(Reason.parse(failed.error)) == "the instance answered HTTP 503"  # logs
    card = desk.card_shows(mention, "Réponse non envoyée sur Mastodon",
                           "l'instance a répondu HTTP 503")
    assert "the instance answered" not in card
    assert '"reply.retry"' in card and desk.mention(mention.id or 0).status == "open"

    desk.driver.click(STAFF, "reply.retry", message={"ts": mention.slack_ts},
                      channel_id=mention.slack_channel)
    desk.reply_in(mention.id or 0, "sent")
    assert len(desk.mastodon.posted) == 1
    desk.card_shows(mention, "Répondu sur Mastodon")
    assert '"reply.retry"' not in desk.card_text(mention)
    desk.answered(mention.id or 0)


@OLDER_MASTODON
def test_a_timeout_after_sending_is_looked_for_and_never_sent_twice(desk: Desk) -> None:
    """On a Mastodon without the lock on the Idempotency-Key, the instance takes the
    reply but answers after Vigie's timeout: the reply is 'unconfirmed' and Vigie looks
    for it instead of sending it again — no 'Send again' on the card meanwhile, and
    sweeps send nothing again. (The looks, with a clock the test moves, and an instance
    with the lock, where a reply not found is sent again at once: test_reply_doubt.py.)"""
    desk.mastodon.mention("matinale", by="kev59", text="Vous pouvez corriger le titre ?")
    mention = desk.poll()
    view = desk.pick(STAFF, desk.open_reply(STAFF, mention), "fr/correction_noted")
    desk.mastodon.hang_next("/api/v1/statuses", 2.0)
    desk.submit(STAFF, view)
    reply = desk.reply_in(mention.id or 0, "unconfirmed")
    assert Reason.parse(reply.error) == Reason("reply.mastodon_no_answer", error="timeout")
    card = desk.card_shows(mention, "Réponse non confirmée sur Mastodon", "Elle est bien partie",
                           "pas de réponse de l'instance (timeout)",
                           "Vigie la cherche sur Mastodon")
    assert "Renvoyer" not in card
    assert desk.mention(mention.id or 0).status == "open"  # not counted as answered

    desk.slack.wait_for(lambda: len(desk.mastodon.posted) == 1, timeout=5)  # it did land
    desk.vigie.vigie.replies.desk.sweep()
    # Unconfirmed until the look 10 s after sending, which a slow run may already reach.
    assert desk.replies(mention.id or 0)[-1].state in ("unconfirmed", "sent")
    assert len(desk.mastodon.calls("POST", "/api/v1/statuses")) == 1


@OLDER_MASTODON
def test_an_unconfirmed_reply_can_be_marked_sent_by_whoever_checked(desk: Desk) -> None:
    """'It did go out' settles an unconfirmed reply without sending anything (a Mastodon
    without the key's lock, where a reply not found stays unconfirmed a while)."""
    desk.mastodon.mention("matinale", by="kev59", text="Super émission")
    mention = desk.poll()
    view = desk.pick(STAFF, desk.open_reply(STAFF, mention), "fr/thanks")
    desk.mastodon.fail_next("/api/v1/statuses", status=504)
    desk.submit(STAFF, view)
    desk.reply_in(mention.id or 0, "unconfirmed")
    desk.card_shows(mention, "Elle est bien partie")
    desk.driver.click(OTHER_STAFF, "reply.confirm", message={"ts": mention.slack_ts},
                      channel_id=mention.slack_channel)
    confirmed = desk.reply_in(mention.id or 0, "sent")
    assert confirmed.settled_by == OTHER_STAFF and desk.mastodon.posted == []
    assert desk.answered(mention.id or 0).answered_by == STAFF  # who wrote the answer


# -- Bluesky -----------------------------------------------------------------------------------
def test_a_bluesky_mention_is_answered_in_its_thread(desk: Desk) -> None:
    """A reply to a Bluesky post deep in a thread carries the thread's root and the post
    as parent; the card links to it on bsky.app."""
    opener = desk.bluesky.post("alice.bsky.social", "Le match de ce soir ?")
    post = desk.bluesky.post("fan.bsky.social", f"@{SPORT} vous le commentez ?",
                             reply_to=opener["uri"])
    mention = desk.poll()
    assert mention.platform_ref == post["uri"]
    view = desk.open_reply(STAFF, mention)
    assert "dans le fil du message" in json.dumps(view["blocks"], ensure_ascii=False)
    desk.submit(STAFF, view, "Oui, dès 20 h sur l'antenne !")
    reply = desk.reply_in(mention.id or 0, "sent")
    [created] = desk.bluesky.created
    record = created["record"]
    assert record["text"] == "Oui, dès 20 h sur l'antenne !"
    refs = {k: (record["reply"][k]["uri"], record["reply"][k]["cid"]) for k in ("parent", "root")}
    assert refs == {"parent": (post["uri"], post["cid"]), "root": (opener["uri"], opener["cid"])}
    assert reply.remote_url and reply.remote_url.startswith(
        f"https://bsky.app/profile/{SPORT}/post/")
    desk.card_shows(mention, "Répondu sur Bluesky", reply.remote_url)


def test_a_reply_over_the_platform_limit_is_refused_in_the_modal(desk: Desk) -> None:
    """Over Bluesky's 300 characters: the modal says by how much, nothing is stored."""
    desk.bluesky.mention(SPORT, by="fan.bsky.social", text="allez !")
    mention = desk.poll()
    view = desk.open_reply(STAFF, mention)
    response = desk.submit(STAFF, view, "é" * 310)
    errors = response.json()["errors"]
    assert errors == {"text-1": "Trop long pour Bluesky : 310 caractères pour 300 au plus. "
                                "Raccourcissez de 10."}
    assert desk.replies(mention.id or 0) == [] and desk.bluesky.created == []


def test_typing_redraws_the_count_and_preview_as_it_goes(desk: Desk) -> None:
    """Each character typed (Slack's on_character_entered) redraws the count and the
    preview from the text being typed, and the next keystroke redraws them again."""
    desk.mastodon.mention("matinale", by="kev59", text="Une question")
    mention = desk.poll()
    view = desk.open_reply(STAFF, mention)
    typed = "Bonjour ! " + "x" * 500
    assert desk.driver.select(STAFF, "reply.text", typed, view=view).status_code == 200

    def count() -> str:
        return modal_text(desk, view)

    shown = until(desk.slack, lambda: "17 de trop pour Mastodon" in count() and count())
    assert "```@kev59@mamot.example Bonjour ! xxx" in shown
    desk.driver.select(STAFF, "reply.text", "Bonjour !", view=view)
    shown = until(desk.slack, lambda: "16 / 500 caractères — il en reste 484" in count()
                  and count())
    assert "```@kev59@mamot.example Bonjour !```" in shown


def modal_text(desk: Desk, view: dict[str, Any]) -> str:
    """What the reply modal shows now (Slack keeps the latest `views.update`)."""
    current = desk.slack.view(view["id"]) or {"blocks": []}
    return json.dumps(current["blocks"], ensure_ascii=False)


@pytest.mark.parametrize("mastodon", [800], indirect=True)
def test_an_instance_allowing_longer_posts_gives_the_reply_its_room(desk: Desk) -> None:
    """The instance allows 800 characters: the count says so, and a 600-character answer
    goes out whole instead of being refused at Mastodon's usual 500."""
    desk.mastodon.mention("matinale", by="kev59", text="Une longue question")
    mention = desk.poll()
    view = desk.open_reply(STAFF, mention)
    typed = "Bonjour ! " + "x" * 590
    assert desk.driver.select(STAFF, "reply.text", typed, view=view).status_code == 200
    # "@kev59@mamot.example " counts as "@kev59 ": 7 + 600.
    until(desk.slack, lambda: "607 / 800 caractères — il en reste 193" in modal_text(desk, view))
    response = desk.submit(STAFF, desk.slack.view(view["id"]) or view, typed)
    assert response.status_code == 200 and not response.text
    desk.reply_in(mention.id or 0, "sent")
    [posted] = desk.mastodon.posted
    assert posted["_text"] == f"@kev59@mamot.example {typed}"


# -- by hand -----------------------------------------------------------------------------------
def test_a_mention_vigie_cannot_answer_is_recorded_as_answered_by_hand(desk: Desk) -> None:
    """An RSS mention: the modal says it will be answered by hand; the card then shows the
    text to copy, and the mention is answered. No platform is called."""
    mention = desk.webhook(text="Le podcast d'hier <!channel> ne se lance pas")
    view = desk.open_reply(STAFF, mention)
    assert "Vigie ne peut pas publier sur RSS" in json.dumps(view["blocks"], ensure_ascii=False)
    assert view["submit"]["text"] == "Enregistrer"
    view = desk.pick(STAFF, view, "fr/looking_into_it")
    desk.submit(STAFF, view)
    reply = desk.reply_in(mention.id or 0, "by_hand")
    assert reply.text.startswith("Bonjour Léa, merci pour votre message.")
    card = desk.card_shows(mention, "À publier à la main sur RSS", "Texte à copier")
    assert f"```{reply.text}```" in json.loads(json.dumps(card))
    assert "<!channel>" not in card  # the mention's text stays escaped everywhere
    answered = desk.answered(mention.id or 0)
    assert answered.status == "answered" and answered.answered_by == STAFF
    answered_there = [r for r in desk.mastodon.requests if "/instance" not in r.path]
    assert answered_there == [] and desk.bluesky.created == []  # (start-up reads limits)


def test_someone_not_on_staff_cannot_reply(desk: Desk) -> None:
    """The modal tells an outsider they cannot answer; a forged submission is refused."""
    mention = desk.webhook()
    desk.driver.click(OUTSIDER, "reply.open", message={"ts": mention.slack_ts},
                      channel_id=mention.slack_channel)

    def refusal() -> bool:
        return any("seule l'équipe réseaux sociaux" in json.dumps(v["blocks"],
                                                                 ensure_ascii=False)
                   for v in desk.slack.views_for(OUTSIDER))

    desk.slack.wait_for(refusal, timeout=10)
    forged = desk.open_reply(STAFF, mention)
    response = desk.submit(OUTSIDER, forged, "coucou")
    assert "seule l'équipe" in response.json()["errors"]["text-1"]
    assert desk.replies(mention.id or 0) == []


def test_someone_answering_meanwhile_is_shown_before_a_second_answer(desk: Desk) -> None:
    """Two people write at once: the second to send is told the first answered, keeps
    their text, and sends only if they submit again."""
    mention = desk.webhook()
    first = desk.open_reply(STAFF, mention)
    second = desk.open_reply(OTHER_STAFF, mention)
    desk.submit(STAFF, first, "Merci, on regarde.")
    desk.reply_in(mention.id or 0, "by_hand")
    response = desk.submit(OTHER_STAFF, second, "Bonjour, nous vérifions.")
    update = response.json()
    assert update["response_action"] == "update"
    shown = json.dumps(update["view"]["blocks"], ensure_ascii=False)
    assert "<@U0STAFF1> a déjà répondu à cette mention (à publier à la main)" in shown
    assert "Bonjour, nous vérifions." in shown and len(desk.replies(mention.id or 0)) == 1
    # Slack shows the updated modal (same view); submitting it again sends the reply.
    desk.submit(OTHER_STAFF, update["view"], "Bonjour, nous vérifions.")
    desk.slack.wait_for(lambda: len(desk.replies(mention.id or 0)) == 2, timeout=10)


# -- approval ------------------------------------------------------------------------------------
def test_a_sensitive_reply_waits_for_an_editor_and_goes_out_on_their_reaction(
        desk: Desk) -> None:
    """Crisis category: the modal only offers 'Send for approval'; the reply waits in the
    approvals channel; reactions of non-editors count for nothing; an editor's ✅ sends it
    on Mastodon, and preview and card say so."""
    desk.mastodon.mention("matinale", by="furax", text="Mon avocat va vous attaquer "
                          "pour diffamation")
    mention = desk.poll()
    assert mention.category == "crisis"
    view = desk.open_reply(STAFF, mention)
    shown = json.dumps(view["blocks"], ensure_ascii=False)
    assert "Mention sensible (catégorie Crise)" in shown and '"approval"' not in shown
    assert view["submit"]["text"] == "Envoyer pour validation"
    desk.submit(STAFF, view, "Bonjour, nous avons bien reçu votre message.")

    [preview] = desk.slack.wait_for(lambda: desk.slack.messages("C0APPROVALS"), timeout=10)
    text = json.dumps(preview["blocks"], ensure_ascii=False)
    assert "Réponse à valider" in text and "Bonjour, nous avons bien reçu" in text
    assert "Mon avocat va vous attaquer" in text
    desk.card_shows(mention, "Réponse en attente de validation", "<#C0APPROVALS>")
    assert desk.mention(mention.id or 0).status != "answered"

    desk.driver.reaction_added(OTHER_STAFF, "white_check_mark", "C0APPROVALS", preview["ts"])
    time.sleep(0.3)
    assert desk.replies(mention.id or 0)[-1].state == "awaiting_approval"
    assert desk.mastodon.posted == []

    desk.driver.reaction_added(EDITOR, "white_check_mark", "C0APPROVALS", preview["ts"])
    reply = desk.reply_in(mention.id or 0, "sent")
    assert reply.decided_by == EDITOR and len(desk.mastodon.posted) == 1
    desk.card_shows(mention, "Répondu sur Mastodon")

    def preview_says_sent() -> bool:
        current = desk.slack.message("C0APPROVALS", preview["ts"]) or {}
        return "Validée par <@U0EDITOR> — envoyée sur Mastodon" in json.dumps(
            current.get("blocks"), ensure_ascii=False)

    desk.slack.wait_for(preview_says_sent, timeout=10)
    answered = desk.answered(mention.id or 0)
    assert answered.status == "answered" and answered.answered_by == STAFF


def test_an_editor_rejects_a_reply_with_a_reason_and_its_author_is_told(desk: Desk) -> None:
    """Asked for approval by its author; the Reject button opens a reason; the author
    gets a DM, the card says rejected, nothing is posted; a non-editor's button click
    is refused."""
    mention = desk.webhook(platform="mastodon", account="matinale",
                           ref={"id": desk.mastodon.mention("matinale")["id"]})
    view = desk.open_reply(STAFF, mention)
    desk.submit(STAFF, view, "On en parle demain à l'antenne ?", approval=True)
    [preview] = desk.slack.wait_for(lambda: desk.slack.messages("C0APPROVALS"), timeout=10)
    assert "à la demande de l'auteur" in json.dumps(preview["blocks"], ensure_ascii=False)

    desk.driver.click(OTHER_STAFF, "reply.approve", message={"ts": preview["ts"]},
                      channel_id="C0APPROVALS")
    [refusal] = desk.slack.wait_for(lambda: desk.slack.ephemerals("C0APPROVALS",
                                                                   OTHER_STAFF))
    assert "Seuls les éditeurs" in refusal["text"]

    desk.driver.click(EDITOR, "reply.reject", message={"ts": preview["ts"]},
                      channel_id="C0APPROVALS")
    form = until(desk.slack, lambda: next((v for v in desk.slack.views_for(EDITOR)
                                           if v["callback_id"] == "reply_reject"), None))
    desk.driver.view_submission(user_id=EDITOR, view=form,
                                values={"reason": {"reason": "Pas de promesse d'antenne."}})
    reply = desk.reply_in(mention.id or 0, "rejected")
    assert reply.reason == "Pas de promesse d'antenne."
    [dm] = desk.slack.wait_for(lambda: desk.slack.messages(desk.slack.dm_channel(STAFF)))
    assert "<@U0EDITOR> a refusé votre réponse" in dm["text"]
    desk.card_shows(mention, "Réponse refusée", "Pas de promesse d'antenne.")
    assert desk.mastodon.posted == [] and desk.mention(mention.id or 0).status == "open"


def test_an_editor_cannot_approve_their_own_reply(desk: Desk) -> None:
    """Four eyes: the editor who wrote a reply is told another editor must approve it."""
    desk.slack.add_usergroup("S0DESK", [EDITOR])  # an editor who is also on the desk
    mention = desk.webhook()
    view = desk.open_reply(EDITOR, mention)
    desk.submit(EDITOR, view, "Nous regardons.", approval=True)
    [preview] = desk.slack.wait_for(lambda: desk.slack.messages("C0APPROVALS"), timeout=10)
    desk.driver.reaction_added(EDITOR, "white_check_mark", "C0APPROVALS", preview["ts"])
    [refusal] = desk.slack.wait_for(lambda: desk.slack.ephemerals("C0APPROVALS", EDITOR))
    assert "un autre éditeur doit la valider" in refusal["text"]
    assert desk.replies(mention.id or 0)[-1].state == "awaiting_approval"


# -- first response ----------------------------------------------------------------------------
def test_the_first_response_time_and_who_answered_are_recorded(
        database_url: str, newsroom: Config, environ: dict[str, str], slack: FakeSlack,
        mastodon: FakeMastodon, bluesky: FakeBluesky) -> None:
    """Received at 09:00, answered at 09:07 on Mastodon: first response 7 minutes, by the
    writer; the audit log says the reply did it; a second reply changes neither."""
    clock = FrozenClock(datetime(2030, 1, 7, 8, 0, tzinfo=UTC))
    vigie, driver, desk = start(database_url, newsroom, environ, slack, mastodon, bluesky,
                                clock)
    try:
        status = mastodon.mention("matinale", by="kev59", text="Bravo")
        mention = desk.webhook(platform="mastodon", account="matinale",
                               author={"handle": "@kev59@mamot.example", "name": "Kev"},
                               ref={"id": status["id"], "visibility": "public"})
        clock.advance(minutes=7)
        desk.submit(STAFF, desk.open_reply(STAFF, mention), "Merci Kev !")
        desk.reply_in(mention.id or 0, "sent")
        answered = desk.answered(mention.id or 0)
        assert answered.first_response_at is not None
        assert answered.first_response_at - answered.received_at == timedelta(minutes=7)
        assert answered.answered_by == STAFF and answered.status == "answered"
        with Session(vigie.vigie.engine) as session:
            [entry] = session.exec(select(AuditEntry).where(AuditEntry.field == "status"))
        assert (entry.new_value, entry.source, entry.actor_id) == ("answered", "reply", STAFF)

        clock.advance(minutes=30)
        desk.submit(OTHER_STAFF, desk.open_reply(OTHER_STAFF, mention), "Et bonne journée !")
        slack.wait_for(lambda: len(mastodon.posted) == 2, timeout=10)
        again = desk.mention(mention.id or 0)
        assert again.first_response_at == answered.first_response_at
        assert again.answered_by == STAFF
    finally:
        driver.close()
        vigie.stop()

