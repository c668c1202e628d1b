"""Drafting, approving and publishing through the real app, as Slack drives it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.connectors.slack_channel import SlackChannelPublisher
from bot.posts.models import Post, PostDelivery, PostState
from bot.sandbox.driver import SlackDriver
from bot.sandbox.slack import FakeSlack
from bot.slack import SlackGateway, make_client
from tests.conftest import BOT_TOKEN, SIGNING_SECRET
from tests.e2e.conftest import StartVigie
from tests.support.harness import RunningVigie

T = TypeVar("T")
AUTHOR = "U0CM"
EDITOR = "U0EDITOR"
INTERN = "U0INTERN"
APPROVALS = "C0APPROVALS"
PREVIEW = "vigie_post_preview"


# -- helpers ----------------------------------------------------------------------------
def open_draft(driver: SlackDriver, slack: FakeSlack, text: str = "", user: str = AUTHOR
               ) -> dict[str, Any]:
    before = len(slack.views_for(user))
    response = driver.command("/draft", text, user_id=user, channel_id="C0GENERAL")
    assert response.status_code == 200
    return until(slack, lambda: slack.views_for(user)[-1] if slack.views_for(user)[before:]
                 else None)


def until(slack: FakeSlack, found: Callable[[], T | None], timeout: float = 10) -> T:
    """Wait for `found` to return something, and return it (typed for mypy)."""
    result = slack.wait_for(found, timeout=timeout)
    assert result is not None
    return result


def submit(driver: SlackDriver, view: dict[str, Any], *, user: str = AUTHOR,
           targets: tuple[str, ...] = ("annonces",), at: datetime | None = None,
           when: str | None = None, text: str | None = None, **more: Any) -> httpx.Response:
    values: dict[str, dict[str, Any]] = {"targets": {"value": list(targets)}}
    if at is not None:
        values["when_picker"] = {"value": at}
    if when is not None:
        values["when_text"] = {"value": when}
    if text is not None:
        text_block = json.loads(view["private_metadata"])["text_block"]
        values[text_block] = {"value": text}
    for block, value in more.items():
        values[block] = {"value": value}
    return driver.view_submission(user_id=user, view=view, values=values)


def previews(slack: FakeSlack) -> list[dict[str, Any]]:
    return [m for m in slack.messages(APPROVALS, include_replies=False)
            if (m.get("metadata") or {}).get("event_type") == PREVIEW]


def preview(slack: FakeSlack, containing: str = "", timeout: float = 10) -> dict[str, Any]:
    """The (only) preview, once it shows `containing`."""
    def found() -> dict[str, Any] | None:
        shown = previews(slack)
        if shown and containing in json.dumps(shown[-1]["blocks"], ensure_ascii=False):
            return shown[-1]
        return None

    return until(slack, found, timeout=timeout)


def thread(slack: FakeSlack, ts: str) -> list[dict[str, Any]]:
    return [m for m in slack.messages(APPROVALS) if m.get("thread_ts") == ts and m["ts"] != ts]


def dms(slack: FakeSlack, user: str = AUTHOR) -> list[str]:
    return [m["text"] for m in slack.messages(slack.dm_channel(user))]


def wait_dm(slack: FakeSlack, containing: str, user: str = AUTHOR, timeout: float = 10) -> str:
    return until(slack, lambda: next((t for t in dms(slack, user) if containing in t), None),
                 timeout=timeout)


def published(slack: FakeSlack, channel: str) -> list[dict[str, Any]]:
    return [m for m in slack.messages(channel)
            if (m.get("metadata") or {}).get("event_type") == "vigie_post"]


def stored(vigie: RunningVigie) -> list[Post]:
    with Session(vigie.vigie.engine) as session:
        return list(session.exec(select(Post).order_by(col(Post.id))))


def soon(seconds: float = 3.0) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


# -- the main path ----------------------------------------------------------------------
def test_draft_approved_by_reaction_is_published_at_its_time(
        vigie: RunningVigie, driver: SlackDriver, slack: FakeSlack) -> None:
    """/draft → preview → ✅ by an editor → message in #annonces at its time, once."""
    # Slack sends a command's text with &, < and > as entities.
    view = open_draft(driver, slack, "Ce soir 20h : le grand débat &lt;!channel&gt; &amp; vous")
    assert view["blocks"][0]["element"]["initial_value"] == \
        "Ce soir 20h : le grand débat <!channel> & vous"
    planned = soon(3).replace(microsecond=0)
    response = submit(driver, view, at=planned)
    assert response.status_code == 200 and response.content in (b"", b"{}")
    card = preview(slack, "En attente")
    assert "&lt;!channel&gt;" in json.dumps(card["blocks"])
    assert "<!channel>" not in json.dumps(card["blocks"])
    drafted = wait_dm(slack, "attend l'approbation")
    assert "archives/C0APPROVALS" in drafted  # a link to the preview

    driver.reaction_added(EDITOR, "white_check_mark", APPROVALS, card["ts"])
    preview(slack, "Approuvée")
    wait_dm(slack, "a approuvé")

    [message] = slack.wait_for(lambda: published(slack, "C0ANNONCES"), timeout=10)
    sent_at = float(message["ts"])
    assert planned.timestamp() - 0.05 <= sent_at < planned.timestamp() + 2
    assert message["text"] == "Ce soir 20h : le grand débat &lt;!channel&gt; &amp; vous"
    card = preview(slack, "Publiée")
    assert "archives/C0ANNONCES" in json.dumps(card["blocks"])
    assert "est partie" in wait_dm(slack, "est partie")
    time.sleep(0.5)
    assert len(published(slack, "C0ANNONCES")) == 1
    [post] = stored(vigie)
    assert post.state == PostState.PUBLISHED


def test_reactions_of_non_editors_are_ignored(vigie: RunningVigie, driver: SlackDriver,
                                              slack: FakeSlack) -> None:
    """An intern's ✅ neither approves nor counts; the preview stays pending."""
    submit(driver, open_draft(driver, slack, "Bonjour"), at=soon(60))
    card = preview(slack, "En attente")
    driver.reaction_added(INTERN, "white_check_mark", APPROVALS, card["ts"])
    driver.reaction_added(INTERN, "x", APPROVALS, card["ts"])
    time.sleep(0.5)
    [post] = stored(vigie)
    assert post.state == PostState.PENDING
    assert "(0/1)" in json.dumps(preview(slack)["blocks"])
    assert not slack.ephemerals(APPROVALS, INTERN)


def test_reject_with_a_reason_from_the_button(vigie: RunningVigie, driver: SlackDriver,
                                              slack: FakeSlack) -> None:
    """Reject asks a reason; the preview and the author show it; nothing goes out."""
    planned = soon(2)
    submit(driver, open_draft(driver, slack, "Chiffres du chômage : +12 %"), at=planned)
    card = preview(slack, "En attente")
    driver.click(EDITOR, "posts.reject", message=card, channel_id=APPROVALS)
    reject_view = slack.wait_for(lambda: slack.views_for(EDITOR))[-1]
    driver.view_submission(user_id=EDITOR, view=reject_view,
                           values={"reason": {"value": "Chiffre <non> vérifié"}})
    card = preview(slack, "Refusée")
    assert "Chiffre &lt;non&gt; vérifié" in json.dumps(card["blocks"], ensure_ascii=False)
    assert "Chiffre &lt;non&gt; vérifié" in wait_dm(slack, "a refusé")
    time.sleep(max(0.0, planned.timestamp() - time.time()) + 0.5)
    assert published(slack, "C0ANNONCES") == []


def test_intern_cannot_reject_with_the_button(vigie: RunningVigie, driver: SlackDriver,
                                              slack: FakeSlack) -> None:
    """A non-editor clicking Reject is told so, privately; no modal opens."""
    submit(driver, open_draft(driver, slack, "Bonjour"), at=soon(60))
    card = preview(slack, "En attente")
    driver.click(INTERN, "posts.reject", message=card, channel_id=APPROVALS)
    [told] = slack.wait_for(lambda: slack.ephemerals(APPROVALS, INTERN))
    assert "éditeurs" in told["text"]
    assert slack.views_for(INTERN) == []


def test_removing_the_approval_reaction_withdraws_it(vigie: RunningVigie, driver: SlackDriver,
                                                     slack: FakeSlack) -> None:
    """✅ then its removal before the time: pending again, then expired, never published."""
    # Time enough for the three steps and their redraws (the author's DMs, paced one a
    # second, go out meanwhile) before the post expires.
    submit(driver, open_draft(driver, slack, "Annonce"), at=soon(8))
    card = preview(slack, "En attente")
    driver.reaction_added(EDITOR, "white_check_mark", APPROVALS, card["ts"])
    preview(slack, "Approuvée")
    driver.reaction_removed(EDITOR, "white_check_mark", APPROVALS, card["ts"])
    preview(slack, "En attente")
    wait_dm(slack, "retiré son approbation")
    preview(slack, "Expirée", timeout=20)
    assert published(slack, "C0ANNONCES") == []


def test_expired_post_goes_out_when_approved_later(vigie: RunningVigie, driver: SlackDriver,
                                                   slack: FakeSlack) -> None:
    """Unapproved at its time: expired and the author told; a late ✅ sends it at once."""
    submit(driver, open_draft(driver, slack, "Annonce tardive"), at=soon(2))
    card = preview(slack, "En attente")
    preview(slack, "Expirée", timeout=10)
    wait_dm(slack, "pas été approuvée à temps")
    assert published(slack, "C0ANNONCES") == []
    driver.reaction_added(EDITOR, "white_check_mark", APPROVALS, card["ts"])
    slack.wait_for(lambda: published(slack, "C0ANNONCES"), timeout=10)
    preview(slack, "Publiée")


def test_editing_an_approved_post_sends_it_back_to_approval(
        vigie: RunningVigie, driver: SlackDriver, slack: FakeSlack) -> None:
    """Edit from the preview: new text, pending again; only a new approval publishes it."""
    submit(driver, open_draft(driver, slack, "Version 1"), at=soon(8))
    card = preview(slack, "En attente")
    driver.click(EDITOR, "posts.approve", message=card, channel_id=APPROVALS)
    card = preview(slack, "Approuvée")
    driver.click(AUTHOR, "posts.edit", message=card, channel_id=APPROVALS)
    edit_view = slack.wait_for(lambda: [v for v in slack.views_for(AUTHOR)
                                        if v["callback_id"] == "posts.edit"])[-1]
    assert edit_view["blocks"][0]["element"]["initial_value"] == "Version 1"
    response = submit(driver, edit_view, text="Version 2", at=soon(3))
    assert response.content in (b"", b"{}"), response.content
    card = preview(slack, "Version 2")
    assert "En attente" in json.dumps(card["blocks"], ensure_ascii=False)
    slack.wait_for(lambda: any("a modifié" in m["text"] for m in thread(slack, card["ts"])))
    preview(slack, "Expirée", timeout=5)  # its time came: the old approval did not carry over
    assert published(slack, "C0ANNONCES") == []
    driver.click(EDITOR, "posts.approve", message=preview(slack), channel_id=APPROVALS)
    [message] = slack.wait_for(lambda: published(slack, "C0ANNONCES"), timeout=10)
    assert message["text"] == "Version 2"


@pytest.mark.parametrize(("words", "expected"), [
    ("demain 9h", lambda now: (now + timedelta(days=1)).replace(hour=9, minute=0, second=0,
                                                                 microsecond=0)),
    ("tomorrow at 9am", lambda now: (now + timedelta(days=1)).replace(hour=9, minute=0,
                                                                       second=0, microsecond=0)),
    ("dans 2 heures", lambda now: now + timedelta(hours=2)),
    ("in 2 hours", lambda now: now + timedelta(hours=2)),
], ids=["fr-demain-9h", "en-tomorrow-9am", "fr-dans-2-heures", "en-in-2-hours"])
def test_natural_language_times_in_both_languages(vigie: RunningVigie, driver: SlackDriver,
                                                  slack: FakeSlack, words: str,
                                                  expected: Any) -> None:
    """The time typed in words is stored in the newsroom's zone and shown on the preview."""
    paris = ZoneInfo("Europe/Paris")
    now = datetime.now(paris)
    submit(driver, open_draft(driver, slack, "Bonjour"), when=words)
    card = preview(slack, "En attente")
    [post] = stored(vigie)
    assert post.publish_at is not None
    assert abs((post.publish_at - expected(now)).total_seconds()) < 90
    assert f"<!date^{int(post.publish_at.timestamp())}^" in json.dumps(card["blocks"])


def test_invalid_drafts_are_answered_in_the_modal(vigie: RunningVigie, driver: SlackDriver,
                                                  slack: FakeSlack) -> None:
    """Past time, too long, no target, unreadable words: errors in place, nothing stored."""
    view = open_draft(driver, slack, "Bonjour")
    cases = [
        ({"targets": (), "at": soon(60)}, "targets", "au moins un"),
        ({"at": datetime.now(UTC) - timedelta(hours=1)}, "when_picker", "passée"),
        ({"when": "hier 9h"}, "when_text", "passée"),
        ({"when": "à la saint-glinglin"}, "when_text", "ne comprends pas"),
        ({"text": "x" * 2999 + " é", "targets": ("annonces",), "at": soon(60)}, "text-0",
         "Trop long"),
        ({"targets": ("matinale-mastodon",), "at": soon(60)}, "targets",
         "Aucun connecteur Mastodon"),
    ]
    for fields, block, words in cases:
        response = submit(driver, view, **fields)  # type: ignore[arg-type]
        body = response.json()
        assert body["response_action"] == "errors", fields
        assert words in body["errors"][block], body
    assert stored(vigie) == []
    assert previews(slack) == []


def test_partial_failure_retries_only_the_failed_target(vigie: RunningVigie,
                                                        driver: SlackDriver,
                                                        slack: FakeSlack) -> None:
    """#annonces fails once, #breves goes out; the retry posts #annonces once, reported."""
    submit(driver, open_draft(driver, slack, "Deux canaux"), targets=("annonces", "breves"),
           at=soon(3))
    card = preview(slack, "En attente")
    driver.reaction_added(EDITOR, "white_check_mark", APPROVALS, card["ts"])
    preview(slack, "Approuvée")
    wait_dm(slack, "a approuvé")
    slack.fail_next("chat.postMessage", status=200, error="internal_error")
    slack.wait_for(lambda: published(slack, "C0BREVES"), timeout=10)
    report = slack.wait_for(lambda: [m for m in thread(slack, card["ts"])
                                     if "nouvel essai" in m["text"]], timeout=5)
    assert "internal_error" in report[0]["text"]
    slack.wait_for(lambda: published(slack, "C0ANNONCES"), timeout=10)
    preview(slack, "Publiée")
    time.sleep(0.5)
    assert len(published(slack, "C0ANNONCES")) == 1
    assert len(published(slack, "C0BREVES")) == 1
    annonces = [c for c in slack.calls_to("chat.postMessage")
                if c.params.get("channel") == "C0ANNONCES"]
    assert [c.error for c in annonces] == ["internal_error", None]


def test_timeout_after_posting_is_recognised_not_reposted(vigie: RunningVigie,
                                                          driver: SlackDriver,
                                                          slack: FakeSlack) -> None:
    """Slack posts but the answer comes too late: Vigie finds its message and stops."""
    # The same Slack publisher, with a 1 s timeout so that a 2.5 s hang is a lost answer.
    short = SlackGateway(make_client(BOT_TOKEN, slack.base_url, timeout=1))
    vigie.vigie.posts.publishers.register(SlackChannelPublisher(short))
    # Armed before anything is scheduled, for the announcement channel only: however slow
    # the machine, the publication is the call that hangs.
    slack.hang_next("chat.postMessage", 2.5, channel="C0ANNONCES")
    submit(driver, open_draft(driver, slack, "Lent"), at=soon(3))
    card = preview(slack, "En attente")
    driver.click(EDITOR, "posts.approve", message=card, channel_id=APPROVALS)
    preview(slack, "Approuvée")
    wait_dm(slack, "a approuvé")
    preview(slack, "Publiée", timeout=12)
    time.sleep(1.5)
    assert len(published(slack, "C0ANNONCES")) == 1
    assert slack.calls_to("conversations.history")


def test_restart_between_approval_and_publication(start_vigie: StartVigie,
                                                  slack: FakeSlack) -> None:
    """Approved, Vigie restarts, the post still goes out at its time, once."""
    first = start_vigie()
    with SlackDriver(f"{first.url}/slack/events", SIGNING_SECRET, fake=slack) as driver:
        submit(driver, open_draft(driver, slack, "Après redémarrage"), at=soon(4))
        card = preview(slack, "En attente")
        driver.reaction_added(EDITOR, "white_check_mark", APPROVALS, card["ts"])
        preview(slack, "Approuvée")
    first.stop()
    start_vigie()
    slack.wait_for(lambda: published(slack, "C0ANNONCES"), timeout=12)
    preview(slack, "Publiée")
    time.sleep(0.5)
    assert len(published(slack, "C0ANNONCES")) == 1


def test_hours_of_downtime_ask_a_human_in_the_thread(start_vigie: StartVigie,
                                                     slack: FakeSlack, engine: Engine) -> None:
    """Down past the post's time by hours: on restart it is not sent; 'Publish now' sends."""
    first = start_vigie()
    with SlackDriver(f"{first.url}/slack/events", SIGNING_SECRET, fake=slack) as driver:
        submit(driver, open_draft(driver, slack, "Info du matin"), at=soon(60))
        card = preview(slack, "En attente")
        driver.reaction_added(EDITOR, "white_check_mark", APPROVALS, card["ts"])
        preview(slack, "Approuvée")
    first.stop()
    with Session(engine) as session:  # as if the downtime had lasted hours
        session.execute(update(Post).values(publish_at=datetime.now(UTC) - timedelta(hours=3)))
        session.commit()
    second = start_vigie()
    card = preview(slack, "En suspens", timeout=10)
    [question] = slack.wait_for(lambda: [m for m in thread(slack, card["ts"])
                                         if m.get("blocks") and any(
                                             b["type"] == "actions" for b in m["blocks"])])
    assert published(slack, "C0ANNONCES") == []
    with SlackDriver(f"{second.url}/slack/events", SIGNING_SECRET, fake=slack) as driver:
        driver.click(INTERN, "posts.publish_now", message=question, channel_id=APPROVALS)
        slack.wait_for(lambda: slack.ephemerals(APPROVALS, INTERN))
        driver.click(EDITOR, "posts.publish_now", message=question, channel_id=APPROVALS)
    slack.wait_for(lambda: published(slack, "C0ANNONCES"), timeout=10)

    def answered_question() -> dict[str, Any] | None:
        current = slack.message(APPROVALS, question["ts"])
        return current if current and "Publier maintenant" in current["text"] else None

    answered = until(slack, answered_question)
    assert not any(b["type"] == "actions" for b in answered["blocks"])


def test_template_insertion_fills_the_text(vigie: RunningVigie, driver: SlackDriver,
                                           slack: FakeSlack) -> None:
    """Choosing a template puts its rendered text in the box (a new block, so Slack shows it)."""
    view = open_draft(driver, slack)
    driver.select(AUTHOR, "posts.template", "correction", view=view)

    def updated() -> dict[str, Any] | None:
        current = slack.view(view["id"])
        return current if current and current["blocks"][0]["block_id"] == "text-1" else None

    current = until(slack, updated)
    text = current["blocks"][0]["element"]["initial_value"]
    assert text.startswith("Correction : dans notre publication du")
    assert "Radio Exemple" in text
    response = submit(driver, current, at=soon(60))
    assert response.content in (b"", b"{}")
    preview(slack, "Correction")


def test_calendar_lists_and_cancels(vigie: RunningVigie, driver: SlackDriver,
                                    slack: FakeSlack) -> None:
    """/calendar shows the day's posts with state and targets; cancel from there."""
    submit(driver, open_draft(driver, slack, "Au calendrier"), at=soon(3600),
           targets=("annonces", "breves"))
    preview(slack, "En attente")
    response = driver.command("/calendar", "semaine", user_id=AUTHOR)
    assert response.status_code == 200
    calendar = slack.wait_for(lambda: [v for v in slack.views_for(AUTHOR)
                                       if v["callback_id"] == "posts.calendar"])[-1]
    body = json.dumps(calendar["blocks"], ensure_ascii=False)
    assert "Au calendrier" in body and "#annonces (Slack), #breves (Slack)" in body
    assert "en attente" in body
    [post] = stored(vigie)
    driver.select(AUTHOR, "posts.calendar_item", f"cancel:{post.id}", view=calendar)
    slack.wait_for(lambda: "Publication annulée" in json.dumps(
        slack.view(calendar["id"]) or {}, ensure_ascii=False))
    preview(slack, "Annulée")
    assert stored(vigie)[0].state == PostState.CANCELLED
    bad = driver.command("/calendar", "demain", user_id=AUTHOR)
    assert "Usage" in bad.json()["text"]


def test_calendar_edit_opens_the_edit_modal(vigie: RunningVigie, driver: SlackDriver,
                                            slack: FakeSlack) -> None:
    """Edit from the calendar pushes the prefilled edit modal."""
    submit(driver, open_draft(driver, slack, "À modifier"), at=soon(3600))
    preview(slack, "En attente")
    driver.command("/calendar", "", user_id=AUTHOR)
    calendar = slack.wait_for(lambda: [v for v in slack.views_for(AUTHOR)
                                       if v["callback_id"] == "posts.calendar"])[-1]
    [post] = stored(vigie)
    driver.select(AUTHOR, "posts.calendar_item", f"edit:{post.id}", view=calendar)
    pushed = slack.wait_for(lambda: [v for v in slack.views_for(AUTHOR)
                                     if v["callback_id"] == "posts.edit"])[-1]
    assert pushed["blocks"][0]["element"]["initial_value"] == "À modifier"
    assert pushed["previous_view_id"] == calendar["id"]


def test_retried_reaction_event_counts_once(vigie: RunningVigie, driver: SlackDriver,
                                            slack: FakeSlack) -> None:
    """Slack redelivering the ✅ event changes nothing more."""
    submit(driver, open_draft(driver, slack, "Bonjour"), at=soon(60))
    card = preview(slack, "En attente")
    driver.reaction_added(EDITOR, "white_check_mark", APPROVALS, card["ts"])
    driver.redeliver()
    preview(slack, "Approuvée")
    until(slack, lambda: [t for t in dms(slack) if "a approuvé" in t])  # DMs are paced
    vigie.vigie.posts.notices.drain()  # whatever else was queued has gone out too
    approvals = [t for t in dms(slack) if "a approuvé" in t]
    assert len(approvals) == 1


def test_deliveries_table_has_one_row_per_target(vigie: RunningVigie, driver: SlackDriver,
                                                 slack: FakeSlack) -> None:
    """Each target has its own result row with its link."""
    submit(driver, open_draft(driver, slack, "Deux"), targets=("annonces", "breves"),
           at=soon(2))
    card = preview(slack, "En attente")
    driver.reaction_added(EDITOR, "white_check_mark", APPROVALS, card["ts"])
    preview(slack, "Publiée", timeout=10)
    with Session(vigie.vigie.engine) as session:
        rows = session.exec(select(PostDelivery).order_by(col(PostDelivery.id))).all()
    assert [(r.target_id, r.state, bool(r.url)) for r in rows] == [
        ("annonces", "published", True), ("breves", "published", True)]


def test_reactions_elsewhere_are_acknowledged_and_ignored(vigie: RunningVigie,
                                                          driver: SlackDriver,
                                                          slack: FakeSlack) -> None:
    """A ✅ on a message in another channel gets 200 (no redelivery) and does nothing."""
    ts = slack.add_message("C0MENTIONS", "un message", user=INTERN)
    response = driver.reaction_added(EDITOR, "white_check_mark", "C0MENTIONS", ts)
    assert response.status_code == 200
    removed = driver.reaction_removed(EDITOR, "white_check_mark", "C0MENTIONS", ts)
    assert removed.status_code == 200
    assert stored(vigie) == [] and not slack.ephemerals("C0MENTIONS")


def test_vigie_draft_subcommand_opens_the_same_modal(vigie: RunningVigie, driver: SlackDriver,
                                                     slack: FakeSlack) -> None:
    """`/vigie draft texte` is a synonym of `/draft texte`; help lists both sub-commands."""
    driver.command("/vigie", "draft Bonjour  à tous &amp; bienvenue", user_id=AUTHOR)
    view = until(slack, lambda: slack.views_for(AUTHOR)[-1] if slack.views_for(AUTHOR)
                 else None)
    assert view["blocks"][0]["element"]["initial_value"] == "Bonjour  à tous & bienvenue"
    helped = driver.command("/vigie", "help", user_id=AUTHOR).json()["text"]
    assert "/vigie draft" in helped and "/vigie calendar" in helped
