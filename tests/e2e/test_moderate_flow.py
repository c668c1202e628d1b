"""Moderate end to end: masked cards and Reveal, repeat offenders routed to moderation,
mute/block/report on Mastodon and Bluesky with the real clients, forwarding to a desk,
a reproducible contest draw, saved mentions."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session, col, select

from bot.app import build
from bot.clock import SystemClock
from bot.config import Config, Contests, Desk, Moderation, Source
from bot.mentions.models import Mention, Status
from bot.moderation.contests import redo, seed_of
from bot.moderation.models import ContestDraw, ModerationLog
from bot.sandbox.driver import SlackDriver
from bot.sandbox.mastodon import FakeMastodon
from bot.sandbox.slack import FakeSlack
from tests.conftest import SIGNING_SECRET, WEBHOOK_SECRET, make_settings
from tests.e2e.test_posts_flow import AUTHOR, open_draft, preview, submit, until
from tests.support.bluesky_server import FakeBluesky
from tests.support.harness import RunningVigie

STAFF, OTHER_STAFF, LAWYER = "U0STAFF1", "U0STAFF2", "U0LAWYER"
MASTODON_TOKEN, BLUESKY_PASSWORD = "VIGIE_TEST_MASTODON_TOKEN", "VIGIE_TEST_BSKY_PASSWORD"
INSULT = "Fred Castel t'es un abruti fini, tu connais rien au foot <!channel>"


@pytest.fixture
def mastodon() -> Iterator[FakeMastodon]:
    with FakeMastodon(tokens={"token-matinale": "matinale"}) as fake:
        yield fake


@pytest.fixture
def bluesky() -> Iterator[FakeBluesky]:
    with FakeBluesky(accounts={"matinale.bsky.social": "app-pass"}) as fake:
        yield fake


@pytest.fixture
def moderated(config: Config, mastodon: FakeMastodon, bluesky: FakeBluesky) -> Config:
    return config.model_copy(update={
        "moderation": Moderation(channel="C0MODERATION", repeat_offender=3),
        "desks": [Desk(id="legal", name="Service juridique", channel="C0LEGALDESK")],
        "contests": Contests(staff_accounts=["@matinale@newsroom.example"]),
        "sources": [
            *config.sources,
            Source.model_validate({"id": "masto-matinale", "type": "mastodon",
                                   "account": "matinale", "instance": mastodon.url,
                                   "token_env": MASTODON_TOKEN, "interval": 3600}),
            Source.model_validate({"id": "bsky-debat", "type": "bluesky",
                                   "account": "grand-debat", "handle": "matinale.bsky.social",
                                   "password_env": BLUESKY_PASSWORD, "service": bluesky.url,
                                   "interval": 3600}),
        ]})


@pytest.fixture
def vigie(database_url: str, moderated: Config, environ: dict[str, str], slack: FakeSlack
          ) -> Iterator[RunningVigie]:
    built = build(make_settings(database_url, slack.base_url), moderated, clock=SystemClock(),
                  environ={**environ, MASTODON_TOKEN: "token-matinale",
                           BLUESKY_PASSWORD: "app-pass"})
    app = RunningVigie(built).start()
    yield app
    app.stop()


@pytest.fixture
def driver(vigie: RunningVigie, slack: FakeSlack) -> Iterator[SlackDriver]:
    with SlackDriver(f"{vigie.url}/slack/events", SIGNING_SECRET, fake=slack) as signed:
        yield signed


def post(vigie: RunningVigie, slack: FakeSlack, external_id: str, text: str, *,
         author: str = "@fredhater@pouet.example", **fields: Any) -> tuple[int, str, str]:
    """Send a mention to the webhook; wait for its card: (mention id, channel, ts)."""
    body: dict[str, Any] = {
        "external_id": external_id, "text": text,
        "author": {"handle": author, "name": author.split("@")[1].capitalize()},
        "created_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "language": "fr", "account": "matinale", "platform": "mastodon",
        "url": f"https://pouet.example/@x/{external_id}",
    }
    body.update(fields)
    response = vigie.post_mention("monitoring", body, secret=WEBHOOK_SECRET)
    assert response.status_code in (200, 201), response.text
    mention_id = int(response.json()["id"])

    def relayed() -> tuple[str, str] | None:
        with Session(vigie.vigie.engine) as session:
            mention = session.get(Mention, mention_id)
            assert mention is not None
            if mention.slack_ts and mention.slack_channel:
                return mention.slack_channel, mention.slack_ts
        return None

    found = slack.wait_for(relayed, timeout=10)
    assert found is not None
    return mention_id, found[0], found[1]


def card(slack: FakeSlack, channel: str, ts: str) -> dict[str, Any]:
    found = slack.message(channel, ts)
    assert found is not None
    return found


def shown(slack: FakeSlack, channel: str, ts: str) -> str:
    message = card(slack, channel, ts)
    return json.dumps(message["blocks"], ensure_ascii=False) + str(message.get("text", ""))


def stored(vigie: RunningVigie, mention_id: int) -> Mention:
    with Session(vigie.vigie.engine) as session:
        found = session.get(Mention, mention_id)
        assert found is not None
        return found


def wait_card(slack: FakeSlack, channel: str, ts: str, needle: str) -> str:
    """The card's text once it shows `needle`."""

    def showing() -> str | None:
        text = shown(slack, channel, ts)
        return text if needle in text else None

    return str(slack.wait_for(showing, timeout=10))


def test_an_insulting_mention_arrives_masked_and_reveal_is_ephemeral_to_the_clicker(
        vigie: RunningVigie, slack: FakeSlack, driver: SlackDriver) -> None:
    """The card says insult, who and where, never the words; Reveal shows them to the
    clicker alone, and the reveal is logged."""
    mention_id, channel, ts = post(vigie, slack, "m1", INSULT)
    text = shown(slack, channel, ts)
    assert "abruti" not in text and "connais rien" not in text
    assert "Masqué : insulte" in text and "Fredhater" in text and "La Matinale" in text
    assert all("abruti" not in json.dumps(c.params) for c in slack.calls_to("chat.postMessage"))

    assert driver.click(STAFF, "moderate.reveal", message={"ts": ts},
                        channel_id=channel).status_code == 200
    revealed = slack.wait_for(lambda: slack.ephemerals(channel, STAFF), timeout=10)
    assert "abruti fini" in json.dumps(revealed, ensure_ascii=False)
    assert "&lt;!channel&gt;" in json.dumps(revealed)  # still escaped: pings nobody
    assert slack.ephemerals(channel, OTHER_STAFF) == []
    assert "abruti" not in shown(slack, channel, ts)
    with Session(vigie.vigie.engine) as session:
        log = session.exec(select(ModerationLog).where(ModerationLog.action == "revealed")).all()
    assert [(e.actor_id, e.mention_id) for e in log] == [(STAFF, mention_id)]

    driver.click("U0OUTSIDER", "moderate.reveal", message={"ts": ts}, channel_id=channel)
    refusal = slack.wait_for(lambda: slack.ephemerals(channel, "U0OUTSIDER"), timeout=10)
    assert "abruti" not in json.dumps(refusal, ensure_ascii=False)


def test_the_third_abusive_mention_from_one_author_is_flagged_and_routed_to_moderation(
        vigie: RunningVigie, slack: FakeSlack, driver: SlackDriver) -> None:
    """Two insults reach the shared channel; the third, and every later mention of the
    author, goes to the moderation channel flagged as a repeat offender; the watchlist
    lists them."""
    first = post(vigie, slack, "a1", "Castel espèce de bouffon")
    second = post(vigie, slack, "a2", "Delorme t'es qu'une abrutie militante")
    third = post(vigie, slack, "a3", "bande de guignols, on va vous faire virer")
    calm = post(vigie, slack, "a4", "Bon, et l'émission de demain, c'est à quelle heure ?")
    assert [first[1], second[1]] == ["C0MENTIONS", "C0MENTIONS"]
    assert [third[1], calm[1]] == ["C0MODERATION", "C0MODERATION"]
    assert "Récidiviste" in shown(slack, *third[1:]) and "Récidiviste" in shown(slack, *calm[1:])
    assert "Récidiviste" not in shown(slack, *first[1:])
    assert "Masqué" not in shown(slack, *calm[1:])  # flagged, not masked: it is not abusive
    other = post(vigie, slack, "b1", "bande de guignols", author="@someone@else.example")
    assert other[1] == "C0MENTIONS"

    assert driver.command("/vigie", "watchlist", user_id=STAFF,
                          channel_id="C0MENTIONS").status_code == 200
    view = slack.wait_for(lambda: slack.views_for(STAFF), timeout=10)[-1]
    listed = json.dumps(view["blocks"], ensure_ascii=False)
    assert "@fredhater@pouet.example" in listed and "3 marquées abusives" in listed
    assert "someone" not in listed


def test_mute_and_block_on_mastodon_are_confirmed_shown_and_undone_from_the_watchlist(
        vigie: RunningVigie, slack: FakeSlack, driver: SlackDriver,
        mastodon: FakeMastodon) -> None:
    """Mute and block go through Mastodon.py as the newsroom's account after a modal;
    the card says so; the watchlist lifts them again."""
    author = mastodon.add_account("fredhater", domain="pouet.example", display_name="Fred")
    status = mastodon.add_status(author, "<p>abruti</p>")
    mention_id, channel, ts = post(vigie, slack, "t1", INSULT, ref={"id": status["id"]})

    for action, word in (("mute", "Masqué sur Mastodon"), ("block", "Bloqué sur Mastodon")):
        driver.click(STAFF, "moderate.act", message={"ts": ts}, channel_id=channel)
        modal = slack.wait_for(lambda: [v for v in slack.views_for(STAFF)
                                        if v.get("callback_id") == "moderate_act"], timeout=10)[-1]
        assert "abruti" not in json.dumps(modal, ensure_ascii=False)  # masked there too
        assert driver.view_submission(user_id=STAFF, view=modal,
                                      values={"action": {"action": action}}).status_code == 200
        wait_card(slack, channel, ts, word)
    assert mastodon.mutes == {author["id"]} and mastodon.blocks == {author["id"]}
    assert mastodon.calls("GET", f"/api/v1/statuses/{status['id']}")

    driver.command("/vigie", "watchlist", user_id=STAFF, channel_id=channel)
    watch = slack.wait_for(lambda: [v for v in slack.views_for(STAFF)
                                    if v.get("callback_id") == "watchlist"], timeout=10)[-1]
    driver.click(STAFF, "watch.undo_mute", view=watch)
    slack.wait_for(lambda: not mastodon.mutes, timeout=10)
    assert mastodon.blocks == {author["id"]}
    slack.wait_for(lambda: "Masqué sur Mastodon" not in shown(slack, channel, ts), timeout=10)
    assert "Bloqué sur Mastodon" in shown(slack, channel, ts)
    with Session(vigie.vigie.engine) as session:
        actions = [e.action for e in session.exec(
            select(ModerationLog).where(ModerationLog.actor_id == STAFF)
            .order_by(col(ModerationLog.id)))]
    assert actions == ["mute", "block", "unmute"]


def test_mute_block_report_and_hide_on_bluesky_with_the_atproto_client(
        vigie: RunningVigie, slack: FakeSlack, driver: SlackDriver,
        bluesky: FakeBluesky) -> None:
    """On Bluesky: muteActor, a block record, a report on the post, and the reply hidden
    in the threadgate of our own post."""
    ours = bluesky.post("matinale.bsky.social", "Ce soir dans Le Grand Débat : Lanson")
    reply = bluesky.reply(ours, by="troll.bsky.social", text="t'es qu'une abrutie")
    troll = bluesky.account("troll.bsky.social")["did"]
    mention_id, channel, ts = post(
        vigie, slack, "b1", "t'es qu'une abrutie", author="@troll.bsky.social",
        platform="bluesky", account="grand-debat",
        ref={"id": reply["uri"], "cid": reply["cid"], "root_id": ours["uri"],
             "root_cid": ours["cid"]})
    for action, word in (("mute", "Masqué sur Bluesky"), ("block", "Bloqué sur Bluesky"),
                         ("report", "Signalé à Bluesky"), ("hide", "Réponse cachée")):
        driver.click(STAFF, "moderate.act", message={"ts": ts}, channel_id=channel)
        modal = slack.wait_for(lambda: [v for v in slack.views_for(STAFF)
                                        if v.get("callback_id") == "moderate_act"], timeout=10)[-1]
        driver.view_submission(user_id=STAFF, view=modal,
                               values={"action": {"action": action},
                                       "comment": {"comment": "harcèlement d'une journaliste"}})
        wait_card(slack, channel, ts, word)
    assert bluesky.muted_by("matinale.bsky.social") == {troll}
    assert bluesky.blocked_by("matinale.bsky.social") == {troll}
    [report] = bluesky.reports
    assert report["subject"]["uri"] == reply["uri"]
    assert report["reason"] == "harcèlement d'une journaliste"
    gate = bluesky.threadgate(ours["uri"])
    assert gate is not None and gate["hiddenReplies"] == [reply["uri"]]


def test_forward_to_a_desk_and_the_outcome_shows_on_the_original_card(
        vigie: RunningVigie, slack: FakeSlack, driver: SlackDriver) -> None:
    """Forward with a note: the desk gets the mention, the note and its controls; "we've
    got it" then "answered" show on the card, and the mention is answered."""
    text = "Mise en demeure : votre chroniqueur a tenu des propos diffamatoires."
    mention_id, channel, ts = post(vigie, slack, "f1", text, author="@avocat@pouet.example")
    driver.click(STAFF, "moderate.forward", message={"ts": ts}, channel_id=channel)
    modal = slack.wait_for(lambda: [v for v in slack.views_for(STAFF)
                                    if v.get("callback_id") == "moderate_forward"], timeout=10)[-1]
    driver.view_submission(user_id=STAFF, view=modal,
                           values={"desk": {"desk": "legal"},
                                   "note": {"note": "Urgent, voir avec la direction <!here>"}})
    desk = slack.wait_for(lambda: slack.messages("C0LEGALDESK"), timeout=10)[0]
    desk_text = json.dumps(desk["blocks"], ensure_ascii=False)
    assert "propos diffamatoires" in desk_text and "Urgent, voir avec la direction" in desk_text
    assert "&lt;!here&gt;" in desk_text
    wait_card(slack, channel, ts, "Transmis à *Service juridique*")
    assert "en attente du service" in shown(slack, channel, ts)

    driver.click(LAWYER, "desk.taken", message={"ts": desk["ts"]}, channel_id="C0LEGALDESK")
    wait_card(slack, channel, ts, f"<@{LAWYER}> s'en occupe")
    driver.click(LAWYER, "desk.answered", message={"ts": desk["ts"]}, channel_id="C0LEGALDESK")
    final = wait_card(slack, channel, ts, f"traité par <@{LAWYER}>")
    assert "s'en occupe" not in final
    slack.wait_for(lambda: stored(vigie, mention_id).status == Status.ANSWERED, timeout=10)
    desk_now = slack.message("C0LEGALDESK", desk["ts"])
    assert desk_now is not None and "desk.answered" not in json.dumps(desk_now["blocks"])


def test_a_draw_is_reproducible_from_its_published_seed_and_never_picks_an_excluded_author(
        vigie: RunningVigie, slack: FakeSlack, driver: SlackDriver) -> None:
    """Eight fans, one insulting participant, the newsroom's own account and an author
    posting twice: the draw lists six unique participants, publishes the seed, and the
    winners are what anyone recomputes from the thread."""
    fans = [f"@fan{i}@pouet.example" for i in range(6)]
    for i, fan in enumerate(fans):
        post(vigie, slack, f"c{i}", f"Je participe au #Concours ! {i}", author=fan)
    post(vigie, slack, "c-again", "Encore moi pour le #concours", author=fans[0])
    post(vigie, slack, "c-bad", "#concours truqué, bande de bouffons", author="@bad@pouet.example")
    post(vigie, slack, "c-staff", "Dernier jour pour le #concours",
         author="@matinale@newsroom.example")
    post(vigie, slack, "c-other", "Rien à voir, #concoursdepeche", author="@other@pouet.example")

    response = driver.command("/vigie", "tirage #concours 3 7d", user_id=STAFF,
                              channel_id="C0MENTIONS")
    assert response.status_code == 200
    result = slack.wait_for(lambda: [m for m in slack.messages("C0MENTIONS", include_replies=False)
                                     if "Tirage au sort" in m.get("text", "")], timeout=10)[0]
    text = json.dumps(result["blocks"], ensure_ascii=False)
    assert "6 participants" in text
    seed = re.search(r"Graine `([0-9a-f]{64})`", text)
    assert seed is not None
    thread = slack.wait_for(lambda: [m for m in slack.messages("C0MENTIONS")
                                     if m.get("thread_ts") == result["ts"]
                                     and m["ts"] != result["ts"]], timeout=10)
    participants = re.findall(r"^\d+\. (\S+)$", thread[0]["blocks"][0]["text"]["text"], re.M)
    assert participants == sorted(f.lstrip("@") for f in fans)
    winners = redo(participants, seed.group(1), 3)
    assert re.findall(r"\*@(\S+?)\*", text) == winners
    assert not {"bad@pouet.example", "matinale@newsroom.example"} & set(winners)
    with Session(vigie.vigie.engine) as session:
        draw = session.exec(select(ContestDraw)).one()
    assert seed_of(draw.query, draw.since, draw.until, 3, participants) == seed.group(1)


def test_a_saved_mention_appears_in_the_saved_list_ready_to_quote(
        vigie: RunningVigie, slack: FakeSlack, driver: SlackDriver) -> None:
    """⭐ keeps a good mention: the card says who saved it, `/vigie saved` lists it with
    its author and link, and the quote for a draft carries both."""
    text = "Merci pour cette matinale, l'interview de la maire était formidable !"
    mention_id, channel, ts = post(vigie, slack, "s1", text, author="@claire@pouet.example")
    driver.click(STAFF, "moderate.save", message={"ts": ts}, channel_id=channel)
    wait_card(slack, channel, ts, f"Sauvegardé par <@{STAFF}>")
    response = driver.command("/vigie", "saved", user_id=STAFF, channel_id=channel)
    listed = json.dumps(response.json(), ensure_ascii=False)
    assert "l'interview de la maire était formidable" in listed
    assert "@claire@pouet.example" in listed and "https://pouet.example/@x/s1" in listed
    [quote] = vigie.vigie.moderate.curation.quotable()
    assert quote.formatted.endswith("(@claire@pouet.example) https://pouet.example/@x/s1")


def test_a_saved_mention_is_offered_in_draft_and_inserted_as_a_quote(
        vigie: RunningVigie, slack: FakeSlack, driver: SlackDriver) -> None:
    """/draft offers the ⭐ mentions; picking one appends « text » — Name (@handle) link
    to what was typed, and the draft goes to the editors with it."""
    text = "Merci pour cette matinale, l'interview de la maire était formidable !"
    mention_id, channel, ts = post(vigie, slack, "q1", text, author="@claire@pouet.example")
    driver.click(STAFF, "moderate.save", message={"ts": ts}, channel_id=channel)
    wait_card(slack, channel, ts, f"Sauvegardé par <@{STAFF}>")

    view = open_draft(driver, slack, "Vous avez aimé la matinale :")
    menu = next(b for b in view["blocks"] if b.get("block_id") == "quote")["accessory"]
    [option] = menu["options"]
    assert option["value"] == str(mention_id)
    assert option["text"]["text"].startswith("@claire@pouet.example · Merci pour cette")
    driver.select(AUTHOR, "posts.quote", str(mention_id), view=view)

    def updated() -> dict[str, Any] | None:
        current = slack.view(view["id"])
        return current if current and current["blocks"][0]["block_id"] == "text-1" else None

    current = until(slack, updated)
    assert current["blocks"][0]["element"]["initial_value"] == (
        "Vous avez aimé la matinale :\n\n« Merci pour cette matinale, l'interview de la maire "
        "était formidable ! » — Claire (@claire@pouet.example) https://pouet.example/@x/q1")
    assert submit(driver, current, at=datetime.now(UTC) + timedelta(hours=1)).content in (
        b"", b"{}")
    preview(slack, "l'interview de la maire était formidable")


def test_a_mention_unsaved_meanwhile_is_not_inserted(
        vigie: RunningVigie, slack: FakeSlack, driver: SlackDriver) -> None:
    """Un-saved after the modal opened: picking it changes nothing in the text and says why."""
    mention_id, channel, ts = post(vigie, slack, "q2", "Super émission",
                                   author="@paul@pouet.example")
    driver.click(STAFF, "moderate.save", message={"ts": ts}, channel_id=channel)
    wait_card(slack, channel, ts, f"Sauvegardé par <@{STAFF}>")
    view = open_draft(driver, slack, "Mon texte")
    driver.click(STAFF, "moderate.unsave", message={"ts": ts}, channel_id=channel)
    until(slack, lambda: vigie.vigie.moderate.curation.quotable() == [] or None)
    driver.select(AUTHOR, "posts.quote", str(mention_id), view=view)

    def updated() -> dict[str, Any] | None:
        current = slack.view(view["id"])
        return current if current and any(b.get("block_id") == "notice"
                                          for b in current["blocks"]) else None

    current = until(slack, updated)
    notice = next(b for b in current["blocks"] if b["block_id"] == "notice")
    assert "n'est plus dans les sauvegardes" in notice["elements"][0]["text"]
    assert current["blocks"][0]["block_id"] == "text-0"
    assert not any(b.get("block_id") == "quote" for b in current["blocks"])


def test_a_mute_the_instance_refuses_is_told_in_french(
        vigie: RunningVigie, slack: FakeSlack, driver: SlackDriver,
        mastodon: FakeMastodon) -> None:
    """The instance answers 503 to the mute: the staff member reads why, in French."""
    author = mastodon.add_account("fredhater", domain="pouet.example", display_name="Fred")
    status = mastodon.add_status(author, "<p>abruti</p>")
    _, channel, ts = post(vigie, slack, "t9", INSULT, ref={"id": status["id"]})
    driver.click(STAFF, "moderate.act", message={"ts": ts}, channel_id=channel)
    modal = slack.wait_for(lambda: [v for v in slack.views_for(STAFF)
                                    if v.get("callback_id") == "moderate_act"], timeout=10)[-1]
    mastodon.fail_next(f"/api/v1/accounts/{author['id']}/mute", status=503)
    driver.view_submission(user_id=STAFF, view=modal, values={"action": {"action": "mute"}})
    told = slack.wait_for(lambda: [m for m in slack.ephemerals(channel, STAFF)
                                   if "Rien n'a changé" in json.dumps(m, ensure_ascii=False)],
                          timeout=10)
    text = json.dumps(told[-1], ensure_ascii=False)
    assert "l'instance a répondu HTTP 503" in text and "answered" not in text
    assert mastodon.mutes == set()
