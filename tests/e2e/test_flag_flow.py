"""Mentions flagged from Slack itself, end to end: @vigie, the "Send to Vigie" shortcut and
`/vigie add`, through the real Bolt app over HTTP against the Slack bench."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import Session, col, select

from bot.app import build
from bot.clock import SystemClock
from bot.config import Config
from bot.mentions.flag_models import MentionFlag
from bot.mentions.models import Mention, Status
from bot.sandbox.driver import SlackDriver
from bot.sandbox.slack import FakeSlack
from tests.conftest import SIGNING_SECRET, make_settings
from tests.support.fetchers import ScriptedFetcher
from tests.support.harness import RunningVigie

POST = "https://mastodon.social/@furax/111"
DOWN = "https://mastodon.example/@furax/222"


@pytest.fixture
def fetcher() -> ScriptedFetcher:
    """What the Mastodon connector will be: one readable post, one unreachable host."""
    fetcher = ScriptedFetcher()
    fetcher.publish(POST, status_id="111", handle="@furax@mastodon.social", name="Furax",
                    text="Émission d'hier soir : une honte <!channel>", account="grand-debat")
    fetcher.unreachable.add(DOWN)
    return fetcher


@pytest.fixture
def vigie(database_url: str, config: Config, environ: dict[str, str], slack: FakeSlack,
          fetcher: ScriptedFetcher) -> Iterator[RunningVigie]:
    slack.add_user("U0ANNA", "anna", real_name="Anna Martin", display_name="", locale="en-GB")
    slack.add_user("U0LEA", "lea", real_name="Léa Roux", display_name="Léa", locale="fr-FR")
    slack.add_channel("C0DESK", "desk")
    built = build(make_settings(database_url, slack.base_url), config, clock=SystemClock(),
                  environ=environ, fetchers=[fetcher])
    app = RunningVigie(built).start()
    yield app
    fetcher.release.set()
    app.stop()


@pytest.fixture
def driver(vigie: RunningVigie, slack: FakeSlack) -> Iterator[SlackDriver]:
    with SlackDriver(f"{vigie.url}/slack/events", SIGNING_SECRET, fake=slack) as signed:
        yield signed


def cards(slack: FakeSlack, channel: str) -> list[dict[str, Any]]:
    return [m for m in slack.messages(channel) if m.get("metadata")]


def card_in(slack: FakeSlack, channel: str) -> dict[str, Any]:
    [card] = slack.wait_for(lambda: cards(slack, channel), timeout=10)
    return card


def shown(message: dict[str, Any]) -> str:
    return json.dumps({"text": message["text"], "blocks": message.get("blocks")},
                      ensure_ascii=False)


def replies(slack: FakeSlack, channel: str, thread_ts: str) -> list[str]:
    return [m["text"] for m in slack.messages(channel)
            if m.get("user") == "U0BOT" and m.get("thread_ts") == thread_ts
            and m["ts"] != thread_ts]


def wait_replies(slack: FakeSlack, channel: str, thread_ts: str, count: int = 1) -> list[str]:
    return slack.wait_for(
        lambda: (found if len(found := replies(slack, channel, thread_ts)) >= count else []),
        timeout=10)


def stored(vigie: RunningVigie) -> list[Mention]:
    with Session(vigie.vigie.engine) as session:
        return list(session.exec(select(Mention).order_by(col(Mention.id))))


def test_at_vigie_with_a_link_becomes_a_card_and_a_thread_reply(
        driver: SlackDriver, slack: FakeSlack, vigie: RunningVigie) -> None:
    """The card shows the fetched post (real author, text, escaped), who flagged it and
    from where; the flagger is thanked in their thread, in English; the outcome follows
    in the same thread."""
    response = driver.app_mention("U0ANNA", f"<{POST}> angry about last night",
                                  channel="C0DESK")
    assert response.status_code == 200
    flagged_ts = str(driver.last_event and driver.last_event["ts"])
    card = card_in(slack, "C0DEBAT")  # the fetched post names the grand-debat account
    text = shown(card)
    for expected in ("*Furax*", "Émission d'hier soir : une honte &lt;!channel&gt;",
                     "Le Grand Débat", "Signalé par *Anna Martin* dans <#C0DESK>",
                     f"/archives/C0DESK/p{flagged_ts.replace('.', '')}|message Slack>",
                     "Note : « angry about last night »", "source slack"):
        assert expected in text, expected
    assert "<!channel>" not in text
    [thanks] = wait_replies(slack, "C0DESK", flagged_ts)
    assert "Thanks, handed to the community team" in thanks and "*Furax*" in thanks

    # Staff answer from the card, so its ts is recorded by then (the relay stores it
    # just after Slack's answer, which the test can overtake).
    [mention] = slack.wait_for(lambda: [m for m in stored(vigie) if m.slack_ts])
    assert mention.id is not None
    assert vigie.vigie.flags.report_outcome(mention.id, Status.ANSWERED, by="U0LEA") == 1
    update = wait_replies(slack, "C0DESK", flagged_ts, count=2)[1]
    assert "has been *answered* by Léa" in update and "See the card" in update


def test_slack_retries_make_one_mention_one_card_one_reply(
        driver: SlackDriver, slack: FakeSlack, vigie: RunningVigie,
        fetcher: ScriptedFetcher) -> None:
    """The same event again, then the same message under a new event id: nothing more."""
    driver.app_mention("U0ANNA", f"<{POST}> angry", channel="C0DESK")
    assert driver.redeliver(retry_num=1, retry_reason="http_timeout").status_code == 200
    assert driver.last_event is not None
    again = driver.event(driver.last_event, event_id="Ev0SECONDCOPY", retry_num=2)
    assert again.status_code == 200
    flagged_ts = str(driver.last_event["ts"])
    card_in(slack, "C0DEBAT")
    wait_replies(slack, "C0DESK", flagged_ts)
    time.sleep(0.5)
    assert len(cards(slack, "C0DEBAT")) == 1
    assert len(replies(slack, "C0DESK", flagged_ts)) == 1
    assert len(stored(vigie)) == 1 and fetcher.calls == [POST]


def test_slack_is_answered_at_once_while_the_post_is_fetched(
        driver: SlackDriver, slack: FakeSlack, fetcher: ScriptedFetcher) -> None:
    """A slow platform does not hold Slack's request: the ack is immediate, the card after."""
    fetcher.hanging.add(POST)
    response = driver.app_mention("U0ANNA", f"<{POST}>", channel="C0DESK")
    assert response.status_code == 200 and response.elapsed.total_seconds() < 1
    time.sleep(0.3)
    assert cards(slack, "C0DEBAT") == []
    fetcher.release.set()
    assert "*Furax*" in shown(card_in(slack, "C0DEBAT"))


def test_a_link_to_an_unreachable_post_still_makes_a_card_with_the_note(
        driver: SlackDriver, slack: FakeSlack) -> None:
    """The card has the link, the note and why the post could not be fetched; so does the
    reply, both in French for a French flagger."""
    driver.app_mention("U0LEA", f"<{DOWN}> harcèlement depuis ce matin", channel="C0DESK")
    flagged_ts = str(driver.last_event and driver.last_event["ts"])
    text = shown(card_in(slack, "C0MENTIONS"))
    for expected in ("harcèlement depuis ce matin", f"<{DOWN}|Voir la mention>",
                     "Impossible de récupérer le post (l'instance est injoignable "
                     "(ConnectError)). La fiche reprend le lien et la note.",
                     "Signalé par *Léa*"):
        assert expected in text, expected
    [reply] = wait_replies(slack, "C0DESK", flagged_ts)
    assert "Je n'ai pas pu récupérer le post (l'instance est injoignable (ConnectError)) ; " \
           "la fiche reprend votre lien et votre note." in reply


def test_why_a_post_could_not_be_fetched_is_said_in_each_readers_language(
        driver: SlackDriver, slack: FakeSlack) -> None:
    """An English flagger in a French newsroom: the card gives the reason in French, the
    thread reply gives it to her in English, and neither shows it in the other language."""
    driver.app_mention("U0ANNA", f"<{DOWN}> harassment since this morning", channel="C0DESK")
    flagged_ts = str(driver.last_event and driver.last_event["ts"])
    card = shown(card_in(slack, "C0MENTIONS"))
    assert "Impossible de récupérer le post (l'instance est injoignable (ConnectError))" in card
    assert "cannot reach" not in card
    [reply] = wait_replies(slack, "C0DESK", flagged_ts)
    assert "I could not fetch the post (cannot reach the instance (ConnectError)); the card " \
           "shows your link and note." in reply
    assert "injoignable" not in reply


def test_send_to_vigie_shortcut_turns_a_message_into_a_mention(
        driver: SlackDriver, slack: FakeSlack, vigie: RunningVigie) -> None:
    """Shortcut → modal (account, note) → card with the message's text, author, files and
    link, nobody pinged; the flagger gets a direct message."""
    ts = slack.add_message(
        "C0DESK", "Un auditeur au standard pour <@U0ANNA> : <!channel> c'est nul",
        user="U0LEA",
        files=[{"id": "F0001", "name": "appel.mp3", "title": "Appel du 2 nov.",
                "permalink": "https://vigie-test.slack.com/files/U0LEA/F0001/appel.mp3"}])
    response = driver.message_shortcut("U0ANNA", "send_to_vigie", message={"ts": ts},
                                       channel_id="C0DESK")
    assert response.status_code == 200
    [modal] = slack.wait_for(lambda: slack.views_for("U0ANNA"), timeout=5)
    assert modal["title"]["text"] == "Send to Vigie"
    assert "@Anna Martin : @channel c'est nul" in json.dumps(modal["blocks"], ensure_ascii=False)

    submitted = driver.view_submission(user_id="U0ANNA", view=modal, values={
        "account": {"account": "sport-talk"}, "note": {"note": "appel très agressif"}})
    assert submitted.status_code == 200 and submitted.text == ""
    text = shown(card_in(slack, "C0SPORT"))
    for expected in ("*Léa*", "@Anna Martin : @channel c'est nul",
                     "📎 Appel du 2 nov.: https://vigie-test.slack.com/files/U0LEA/F0001",
                     "Sport Talk", "Note : « appel très agressif »",
                     f"/archives/C0DESK/p{ts.replace('.', '')}"):
        assert expected in text, expected
    assert "<!channel>" not in text and "<@U0ANNA>" not in text
    [dm] = slack.wait_for(lambda: slack.messages(slack.dm_channel("U0ANNA")), timeout=5)
    assert "handed to the community team" in dm["text"]

    driver.message_shortcut("U0ANNA", "send_to_vigie", message={"ts": ts}, channel_id="C0DESK")
    slack.wait_for(lambda: len(slack.views_for("U0ANNA")) == 2, timeout=5)
    assert slack.views_for("U0ANNA")[-1]["title"]["text"] == "Already sent"
    assert len(stored(vigie)) == 1


def test_an_expired_shortcut_modal_says_so_and_stores_nothing(
        driver: SlackDriver, slack: FakeSlack, vigie: RunningVigie) -> None:
    """Submitting a modal whose draft is gone answers with an error in the modal."""
    ts = slack.add_message("C0DESK", "texte", user="U0LEA")
    driver.message_shortcut("U0LEA", "send_to_vigie", message={"ts": ts}, channel_id="C0DESK")
    [modal] = slack.wait_for(lambda: slack.views_for("U0LEA"), timeout=5)
    with Session(vigie.vigie.engine) as session:
        for flag in session.exec(select(MentionFlag)):
            session.delete(flag)
        session.commit()
    answer = driver.view_submission(user_id="U0LEA", view=modal).json()
    assert answer["response_action"] == "errors"
    assert "a expiré" in answer["errors"]["note"]
    assert stored(vigie) == []


def test_vigie_add_hands_over_a_link_from_the_command_line(
        driver: SlackDriver, slack: FakeSlack, vigie: RunningVigie) -> None:
    """/vigie add <link> <account> <note>: private ack, card, direct message; without a
    link, the usage and nothing stored."""
    usage = driver.command("/vigie", "add ceci n'est pas un lien", user_id="U0LEA").json()
    assert usage["response_type"] == "ephemeral" and "Utilisation" in usage["text"]
    assert stored(vigie) == []

    answer = driver.command("/vigie", f"add {POST} matinale encore lui, l'auditeur d'hier",
                            user_id="U0LEA", channel_id="C0DESK").json()
    assert answer["response_type"] == "ephemeral" and "Je transmets" in answer["text"]
    text = shown(card_in(slack, "C0MENTIONS"))  # the account given wins over the post's
    for expected in ("*Furax*", "La Matinale", "Signalé par *Léa* avec /vigie add",
                     "Note : « encore lui, l'auditeur d'hier »"):
        assert expected in text, expected
    [dm] = slack.wait_for(lambda: slack.messages(slack.dm_channel("U0LEA")), timeout=5)
    assert "c'est transmis à l'équipe communauté" in dm["text"]
    [mention] = stored(vigie)
    assert mention.account_id == "matinale" and mention.author_name == "Furax"


def test_help_lists_the_add_command(driver: SlackDriver) -> None:
    """/vigie help tells people about /vigie add, in their language."""
    help_text = driver.command("/vigie", "help", user_id="U0ANNA").json()["text"]
    assert "`/vigie add` — hand a link to the community team: `/vigie add <link>" in help_text
