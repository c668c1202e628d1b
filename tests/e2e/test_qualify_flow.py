"""Staff triage mentions from their cards: every control, permissions, DMs, rules,
round-robin, history, concurrency, and the SLA reminders with a frozen clock."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from sqlmodel import Session, col, select

from bot.app import build
from bot.clock import FrozenClock
from bot.config import Config
from bot.mentions.models import Mention
from bot.mentions.qualify_models import AuditEntry, MentionTriage, SlaState
from bot.sandbox.driver import SlackDriver
from bot.sandbox.slack import FakeSlack
from tests.conftest import SIGNING_SECRET, WEBHOOK_SECRET, make_settings
from tests.support.harness import RunningVigie

STAFF, OTHER_STAFF, OUTSIDER = "U0STAFF1", "U0STAFF2", "U0OUTSIDER"
MONDAY_0800_UTC = datetime(2030, 1, 7, 8, 0, tzinfo=UTC)  # 09:00 in Paris; in the future,
# so APScheduler never fires these jobs by itself during a test.


def a_mention(external_id: str = "m1", **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "external_id": external_id,
        "url": "https://pouet.example/@kev59/1",
        "author": {"handle": "@kev59@pouet.example", "name": "Kévin"},
        "text": "Le jingle pub de 7h28 est deux fois plus fort que le reste 😤",
        "created_at": "2026-11-02T07:04:39Z",
        "language": "fr",
        "account": "matinale",
        "platform": "mastodon",
    }
    body.update(fields)
    return body


def stored(vigie: RunningVigie, mention_id: int = 1) -> Mention:
    with Session(vigie.vigie.engine) as session:
        found = session.get(Mention, mention_id)
        assert found is not None
        return found


def audit(vigie: RunningVigie, mention_id: int = 1) -> list[AuditEntry]:
    with Session(vigie.vigie.engine) as session:
        return list(session.exec(select(AuditEntry).where(AuditEntry.mention_id == mention_id)
                                 .order_by(col(AuditEntry.id))))


def card_text(card: dict[str, Any]) -> str:
    return json.dumps(card["blocks"], ensure_ascii=False)


class Desk:
    """A running Vigie, its fake Slack and a signed driver, with the steps of a test."""

    def __init__(self, vigie: RunningVigie, slack: FakeSlack, driver: SlackDriver) -> None:
        self.vigie, self.slack, self.driver = vigie, slack, driver

    def post(self, external_id: str = "m1", **fields: Any) -> tuple[int, str, str]:
        """Post a mention; wait for its card; return (mention id, channel, card ts)."""
        sent_at = int(self.vigie.vigie.clock.now().timestamp())
        response = self.vigie.post_mention("monitoring", a_mention(external_id, **fields),
                                           secret=WEBHOOK_SECRET, timestamp=sent_at)
        assert response.status_code in (200, 201), response.text
        mention_id, channel = response.json()["id"], response.json()["channel"]

        def relayed() -> str:
            return stored(self.vigie, mention_id).slack_ts or ""

        ts = self.slack.wait_for(relayed, timeout=10)
        return mention_id, channel, ts

    def card(self, channel: str, ts: str) -> dict[str, Any]:
        found = self.slack.message(channel, ts)
        assert found is not None
        return found

    def updates(self) -> int:
        return len(self.slack.calls_to("chat.update"))

    def settled(self, channel: str, ts: str) -> bool:
        """The card shows the stored version and no redraw arrived in the last 50 ms.

        A listener that drew an older version re-reads after its update and redraws, so
        the card always ends on the stored state; a test must wait for that end."""
        calls = self.slack.calls_to("chat.update")
        if calls and time.monotonic() - calls[-1].at < 0.05:
            return False
        ids = [b.get("block_id", "") for b in self.card(channel, ts)["blocks"]]
        shown = {i.rsplit(":", 1)[1] for i in ids if i.count(":") == 2}
        return shown == {str(stored(self.vigie, self.mention_of(channel, ts)).version)}

    def mention_of(self, channel: str, ts: str) -> int:
        ids = [b.get("block_id", "") for b in self.card(channel, ts)["blocks"]]
        return int(next(i for i in ids if i.count(":") == 2).split(":")[1])

    def act(self, do: Callable[[], Any], channel: str, ts: str) -> None:
        """Use a control, check Slack got its ack, wait for the work done after it."""
        before = self.updates()
        response = do()
        assert response.status_code == 200, response.text
        self.slack.wait_for(lambda: self.updates() > before and self.settled(channel, ts),
                            timeout=10)

    def select(self, user: str, control: str, value: Any, channel: str, ts: str) -> None:
        self.act(lambda: self.driver.select(user, f"qualify.{control}", value,
                                            message={"ts": ts}, channel_id=channel),
                 channel, ts)

    def click(self, user: str, control: str, channel: str, ts: str) -> None:
        self.act(lambda: self.driver.click(user, f"qualify.{control}", message={"ts": ts},
                                           channel_id=channel),
                 channel, ts)


@pytest.fixture
def desk(vigie: RunningVigie, slack: FakeSlack, driver: SlackDriver) -> Desk:
    return Desk(vigie, slack, driver)


@pytest.fixture
def frozen(database_url: str, config: Config, environ: dict[str, str], slack: FakeSlack
           ) -> Iterator[tuple[FrozenClock, Callable[[], Desk]]]:
    """Vigie on a frozen clock (Monday 09:00 in Paris); call again to restart it."""
    clock = FrozenClock(MONDAY_0800_UTC)
    running: list[RunningVigie] = []
    drivers: list[SlackDriver] = []

    def start() -> Desk:
        for app in running:
            app.stop()
        vigie = build(make_settings(database_url, slack.base_url), config, clock=clock,
                      environ=environ)
        app = RunningVigie(vigie).start()
        running.append(app)
        driver = SlackDriver(f"{app.url}/slack/events", SIGNING_SECRET, fake=slack)
        drivers.append(driver)
        return Desk(app, slack, driver)

    yield clock, start
    for driver in drivers:
        driver.close()
    for app in running:
        app.stop()


# -- the controls -------------------------------------------------------------------------
def test_each_control_sets_its_field_and_the_card_shows_who_and_when(desk: Desk) -> None:
    """Sentiment, category, priority, assignee, Take it and status each store their value,
    write one audit line, and the card is updated to show the value and who set it."""
    mention_id, channel, ts = desk.post()
    card = card_text(desk.card(channel, ts))
    assert "Sentiment :* non renseigné" in card and "suggestion : Négatif" in card

    desk.select(STAFF, "sentiment", "negative", channel, ts)
    desk.select(STAFF, "category", "complaint", channel, ts)
    desk.select(STAFF, "priority", "high", channel, ts)
    desk.select(STAFF, "assignee", OTHER_STAFF, channel, ts)
    row = stored(desk.vigie)
    assert (row.sentiment, row.category, row.priority, row.assignee_id, row.status) == (
        "negative", "complaint", "high", OTHER_STAFF, "assigned")

    desk.click(OTHER_STAFF, "take", channel, ts)  # already theirs: nothing changes
    desk.click(STAFF, "take", channel, ts)
    assert stored(desk.vigie).assignee_id == STAFF
    desk.select(STAFF, "status", "answered", channel, ts)
    row = stored(desk.vigie)
    assert row.status == "answered" and row.first_response_at is not None
    assert row.answered_by == STAFF

    entries = [(e.field, e.old_value, e.new_value, e.actor_id, e.source) for e in audit(desk.vigie)]
    assert entries == [
        ("sentiment", None, "negative", STAFF, "button"),
        ("category", None, "complaint", STAFF, "button"),
        ("priority", "normal", "high", STAFF, "button"),
        ("status", "open", "assigned", STAFF, "button"),
        ("assignee", None, OTHER_STAFF, STAFF, "button"),
        ("assignee", OTHER_STAFF, STAFF, STAFF, "button"),
        ("status", "assigned", "answered", STAFF, "button"),
    ]
    card = card_text(desk.card(channel, ts))
    for shown in ("Négatif — <@U0STAFF1>", "Réclamation — <@U0STAFF1>", "Haute — <@U0STAFF1>",
                  "Répondue", "attribuée à <@U0STAFF1>", "<!date^"):
        assert shown in card, shown
    menus = {e["action_id"]: e for b in desk.card(channel, ts)["blocks"]
             if b["type"] == "actions" for e in b["elements"]}
    assert menus["qualify.sentiment"]["initial_option"]["value"] == "negative"
    assert menus["qualify.priority"]["initial_option"]["value"] == "high"
    assert menus["qualify.assignee"]["initial_user"] == STAFF
    assert mention_id == 1


def test_control_clicks_are_acked_before_the_card_is_updated(desk: Desk) -> None:
    """Slack gets its 200 even while chat.update hangs: the card work runs after ack."""
    _, channel, ts = desk.post()
    desk.slack.hang_next("chat.update", 1.5)
    started = time.monotonic()
    response = desk.driver.select(STAFF, "qualify.priority", "urgent", message={"ts": ts},
                                  channel_id=channel)
    assert response.status_code == 200 and time.monotonic() - started < 1.0
    assert desk.updates() == 0  # the update had not finished when Slack got its ack
    desk.slack.wait_for(lambda: desk.updates() == 1, timeout=5)
    assert stored(desk.vigie).priority == "urgent"



def test_a_forged_click_is_refused_and_changes_nothing(desk: Desk) -> None:
    """Clicks are acknowledged at the HTTP edge, but only once their signature is checked:
    a forged or replayed "Take it" is a 401, and the mention stays unassigned."""
    _, channel, ts = desk.post()
    take = next(e for b in desk.card(channel, ts)["blocks"] if b["type"] == "actions"
                for e in b["elements"] if e["action_id"] == "qualify.take")
    block = next(b["block_id"] for b in desk.card(channel, ts)["blocks"]
                 if take in b.get("elements", []))
    payload = {"type": "block_actions", "user": {"id": STAFF}, "trigger_id": "1.2.3",
               "container": {"type": "message", "message_ts": ts, "channel_id": channel},
               "channel": {"id": channel}, "message": desk.card(channel, ts),
               "actions": [{**take, "block_id": block, "action_ts": str(time.time())}]}
    body = "payload=" + quote(json.dumps(payload))
    form = "application/x-www-form-urlencoded"
    forged = desk.driver.raw(body, {"X-Slack-Signature": "v0=" + "0" * 64},
                             content_type=form)
    replayed = desk.driver.raw(body, timestamp=int(time.time()) - 600, content_type=form)
    assert forged.status_code == 401 and replayed.status_code == 401
    time.sleep(0.3)
    assert desk.updates() == 0 and stored(desk.vigie).assignee_id is None
    assert desk.driver.raw(body, content_type=form).status_code == 200  # signed: taken
    desk.slack.wait_for(lambda: stored(desk.vigie).assignee_id == STAFF, timeout=5)


def test_two_people_clicking_at_once_never_lose_an_update(desk: Desk) -> None:
    """Concurrent clicks on one card all land, and the card ends on the stored state."""
    _, channel, ts = desk.post()
    plans = [
        [("sentiment", "negative"), ("category", "complaint"), ("priority", "high")],
        [("priority", "urgent"), ("sentiment", "neutral"), ("category", "question")],
    ]
    errors: list[BaseException] = []

    def click(barrier: threading.Barrier, user: str, change: tuple[str, str]) -> None:
        try:
            barrier.wait()
            response = desk.driver.select(user, f"qualify.{change[0]}", change[1],
                                          message={"ts": ts}, channel_id=channel)
            assert response.status_code == 200
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    for round_index in range(3):
        barrier = threading.Barrier(2)
        threads = [threading.Thread(target=click, args=(barrier, user, plans[i][round_index]))
                   for i, user in enumerate((STAFF, OTHER_STAFF))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors
        expected = 2 * (round_index + 1)
        desk.slack.wait_for(lambda: len(audit(desk.vigie)) >= expected)  # noqa: B023

    entries = audit(desk.vigie)
    assert len(entries) == 6  # every click is in the log: none was lost
    row = stored(desk.vigie)
    assert row.version == 1 + 6
    final = {}
    for entry in entries:
        final[entry.field] = entry.new_value
    assert (row.sentiment, row.category, row.priority) == (
        final["sentiment"], final["category"], final["priority"])

    def card_shows_stored_state() -> bool:
        blocks = desk.card(channel, ts)["blocks"]
        menus = {e["action_id"]: e for b in blocks if b["type"] == "actions"
                 for e in b["elements"]}
        shown = {name: menus[f"qualify.{name}"].get("initial_option", {}).get("value")
                 for name in ("sentiment", "category", "priority")}
        return shown == {"sentiment": row.sentiment, "category": row.category,
                         "priority": row.priority}

    desk.slack.wait_for(card_shows_stored_state, timeout=5)


def test_someone_not_on_staff_is_refused_politely_and_nothing_changes(desk: Desk) -> None:
    """A non-staff click gets an ephemeral refusal; the mention, log and card stay as they
    were. A member of the staff user group is let in."""
    _, channel, ts = desk.post()
    before = desk.card(channel, ts)
    response = desk.driver.select(OUTSIDER, "qualify.priority", "urgent", message={"ts": ts},
                                  channel_id=channel)
    assert response.status_code == 200
    [refusal] = desk.slack.wait_for(lambda: desk.slack.ephemerals(channel, OUTSIDER))
    assert "seule l'équipe réseaux sociaux" in refusal["text"]
    assert stored(desk.vigie).priority == "normal" and stored(desk.vigie).version == 1
    assert audit(desk.vigie) == []
    assert desk.updates() == 0 and desk.card(channel, ts)["blocks"] == before["blocks"]

    desk.slack.add_usergroup("S0DESK", ["U0GROUPIE"])
    desk.vigie.vigie.qualifier.staff._lists.clear()  # forget the cached (empty) group
    desk.select("U0GROUPIE", "priority", "urgent", channel, ts)
    assert stored(desk.vigie).priority == "urgent"


def test_channel_members_are_staff_when_the_config_says_so(
        database_url: str, config: Config, environ: dict[str, str], slack: FakeSlack) -> None:
    """With staff.channel_members, anyone in the card's channel may qualify; others not."""
    qualify = config.qualify.model_copy(update={
        "staff": config.qualify.staff.model_copy(update={"users": [], "channel_members": True})})
    vigie = RunningVigie(build(make_settings(database_url, slack.base_url),
                               config.model_copy(update={"qualify": qualify}),
                               environ=environ)).start()
    slack.set_channel_members("C0MENTIONS", ["U0MEMBER"])
    try:
        with SlackDriver(f"{vigie.url}/slack/events", SIGNING_SECRET, fake=slack) as driver:
            desk = Desk(vigie, slack, driver)
            _, channel, ts = desk.post()
            desk.driver.select(STAFF, "qualify.priority", "high", message={"ts": ts},
                               channel_id=channel)
            slack.wait_for(lambda: slack.ephemerals(channel, STAFF))
            desk.select("U0MEMBER", "priority", "urgent", channel, ts)
            assert stored(vigie).priority == "urgent"
    finally:
        vigie.stop()


def test_the_assignee_gets_a_dm_with_a_link_to_the_card(desk: Desk) -> None:
    """Assigning someone DMs them the card's permalink; taking it yourself sends none."""
    _, channel, ts = desk.post()
    desk.select(STAFF, "assignee", OTHER_STAFF, channel, ts)
    dm = desk.slack.dm_channel(OTHER_STAFF)
    [message] = desk.slack.wait_for(lambda: desk.slack.messages(dm))
    permalink = f"https://vigie-test.slack.com/archives/{channel}/p{ts.replace('.', '')}"
    assert permalink in message["text"] and "<@U0STAFF1> vous a attribué" in message["text"]
    assert "Kévin" in message["text"]

    desk.select(OTHER_STAFF, "assignee", OTHER_STAFF, channel, ts)  # unchanged: no 2nd DM
    desk.click(STAFF, "take", channel, ts)
    assert desk.slack.messages(desk.slack.dm_channel(STAFF)) == []
    assert len(desk.slack.messages(dm)) == 1


def test_closing_collapses_the_card_to_one_line_and_reopen_restores_it(desk: Desk) -> None:
    """Closed and ignored cards are one line with who closed them; Reopen brings back
    the full card with its controls."""
    _, channel, ts = desk.post(text="<!channel> ferme-la *bot* " + "x" * 400)
    desk.select(STAFF, "status", "closed", channel, ts)
    [line] = desk.card(channel, ts)["blocks"]
    assert line["type"] == "section" and line["accessory"]["action_id"] == "qualify.reopen"
    text = line["text"]["text"]
    assert "Close* — <@U0STAFF1>" in text and "&lt;!channel&gt;" in text
    assert "<!channel>" not in text and len(text) < 600

    desk.click(OTHER_STAFF, "reopen", channel, ts)
    blocks = desk.card(channel, ts)["blocks"]
    assert len(blocks) > 4 and stored(desk.vigie).status == "open"
    desk.select(STAFF, "status", "ignored", channel, ts)
    assert len(desk.card(channel, ts)["blocks"]) == 1


# -- rules, round-robin, history ---------------------------------------------------------
def test_a_rule_suggestion_is_marked_on_the_card_and_staff_override_it(desk: Desk) -> None:
    """A matching rule pre-sets category and priority 'suggested by rule X'; a staff
    choice replaces the mark with the person, and both are in the audit log."""
    _, channel, ts = desk.post(text="Free CRYPTO airdrop for listeners, claim now")
    row = stored(desk.vigie)
    assert (row.category, row.priority) == ("spam", "low")
    card = card_text(desk.card(channel, ts))
    assert card.count("suggéré par la règle _crypto-spam_") == 2

    desk.select(STAFF, "category", "question", channel, ts)
    card = card_text(desk.card(channel, ts))
    assert "Question — <@U0STAFF1>" in card
    assert card.count("suggéré par la règle _crypto-spam_") == 1  # priority still is
    sources = [(e.field, e.source, e.rule, e.new_value) for e in audit(desk.vigie)]
    assert sources == [("category", "rule", "crypto-spam", "spam"),
                       ("priority", "rule", "crypto-spam", "low"),
                       ("category", "button", None, "question")]


def test_a_rule_assignee_is_told_once_the_card_exists(desk: Desk) -> None:
    """A rule that assigns someone DMs them the card's link once it is posted."""
    _, channel, ts = desk.post(text="Mon avocat vous contactera pour diffamation")
    dm = desk.slack.dm_channel("U0LEGAL")
    [message] = desk.slack.wait_for(lambda: desk.slack.messages(dm))
    assert "legal-threats" in message["text"] and ts.replace(".", "") in message["text"]
    assert stored(desk.vigie).status == "assigned"


def test_round_robin_assigns_in_turn_and_skips_people_away(desk: Desk) -> None:
    """Sport mentions go to each person in turn; someone away is skipped until back."""
    driver = desk.driver

    def assignee_of(external_id: str) -> str | None:
        mention_id, _, _ = desk.post(external_id, account="sport-talk", text=external_id)
        return stored(desk.vigie, mention_id).assignee_id

    assert [assignee_of("a"), assignee_of("b")] == ["U0STAFF1", "U0STAFF2"]
    away = driver.command("/vigie", "away", user_id="U0STAFF3")
    assert "absent" in away.json()["text"]
    assert [assignee_of("c"), assignee_of("d")] == ["U0STAFF1", "U0STAFF2"]
    back = driver.command("/vigie", "back", user_id="U0STAFF3")
    assert "retour" in back.json()["text"]
    assert assignee_of("e") == "U0STAFF3"
    [first] = [e for e in audit(desk.vigie, 1) if e.field == "assignee"]
    assert (first.source, first.rule) == ("rule", "round-robin")


def test_history_command_shows_who_changed_what(desk: Desk) -> None:
    """`/vigie history <permalink or id>` lists the audit log; others are refused."""
    _, channel, ts = desk.post()
    desk.select(STAFF, "priority", "high", channel, ts)
    permalink = f"https://vigie-test.slack.com/archives/{channel}/p{ts.replace('.', '')}"
    for reference in (permalink, "1", "#1"):
        answer = desk.driver.command("/vigie", f"history {reference}", user_id=STAFF).json()
        assert answer["response_type"] == "ephemeral"
        assert "Historique de la mention 1" in answer["text"]
        assert "<@U0STAFF1> · priorité : Normale → Haute (carte)" in answer["text"]
    missing = desk.driver.command("/vigie", "history 999", user_id=STAFF).json()
    assert "Aucune mention" in missing["text"]
    refused = desk.driver.command("/vigie", "history 1", user_id=OUTSIDER).json()
    assert "seule l'équipe" in refused["text"]
    usage = desk.driver.command("/vigie", "history", user_id=STAFF).json()
    assert "/vigie history 42" in usage["text"]


# -- SLA ------------------------------------------------------------------------------------
def triage(desk: Desk, mention_id: int = 1) -> MentionTriage:
    with Session(desk.vigie.vigie.engine) as session:
        found = session.get(MentionTriage, mention_id)
        assert found is not None
        return found


def thread_replies(desk: Desk, channel: str, ts: str) -> list[dict[str, Any]]:
    return [m for m in desk.slack.messages(channel) if m.get("thread_ts") == ts and m["ts"] != ts]


def test_sla_nudges_once_then_escalates_once_in_working_time(
        frozen: tuple[FrozenClock, Callable[[], Desk]]) -> None:
    """Past its delay a mention gets one nudge in its thread; past twice the delay one
    escalation to on-call; nothing fires early and nothing fires twice."""
    clock, start = frozen
    desk = start()
    _, channel, ts = desk.post()
    reminders = desk.vigie.vigie.reminders
    # normal = 240 working minutes from Monday 09:00 Paris: nudge 13:00, escalate 17:00.
    assert triage(desk).nudge_at == MONDAY_0800_UTC + timedelta(hours=4)
    assert triage(desk).escalate_at == MONDAY_0800_UTC + timedelta(hours=8)

    clock.advance(hours=3, minutes=59)
    reminders.sweep()
    assert not reminders.nudge(1) and thread_replies(desk, channel, ts) == []

    clock.advance(minutes=2)
    assert reminders.nudge(1) is True
    assert reminders.nudge(1) is False
    reminders.sweep()
    [nudge] = thread_replies(desk, channel, ts)
    assert "Personne n'a répondu" in nudge["text"] and "4 h" in nudge["text"]
    assert nudge.get("subtype") == "thread_broadcast"  # nobody assigned: the channel sees it

    clock.advance(hours=4)
    reminders.sweep()
    reminders.sweep()
    assert reminders.escalate(1) is False
    replies = thread_replies(desk, channel, ts)
    assert len(replies) == 2 and "escaladée à <@U0ONCALL>" in replies[1]["text"]
    [dm] = desk.slack.messages(desk.slack.dm_channel("U0ONCALL"))
    assert ts.replace(".", "") in dm["text"] and "8 h" in dm["text"]
    row = stored(desk.vigie)
    assert row.status == "escalated" and triage(desk).sla_state == SlaState.ESCALATED
    assert [(e.field, e.source, e.new_value) for e in audit(desk.vigie)] == [
        ("status", "sla", "escalated")]
    assert "escalade SLA" in card_text(desk.card(channel, ts))


def test_sla_nudge_goes_to_the_assignee_and_stops_once_answered(
        frozen: tuple[FrozenClock, Callable[[], Desk]]) -> None:
    """An assigned mention's nudge names the assignee; answering it cancels the rest;
    raising the priority brings the deadline forward."""
    clock, start = frozen
    desk = start()
    _, channel, ts = desk.post()
    desk.select(STAFF, "assignee", OTHER_STAFF, channel, ts)
    desk.select(STAFF, "priority", "high", channel, ts)
    assert triage(desk).nudge_at == MONDAY_0800_UTC + timedelta(hours=1)
    scheduler = desk.vigie.vigie.scheduler
    desk.slack.wait_for(lambda: scheduler.next_run("sla-nudge-1") == triage(desk).nudge_at)
    clock.advance(hours=1, minutes=1)
    desk.vigie.vigie.reminders.sweep()
    [nudge] = thread_replies(desk, channel, ts)
    assert nudge["text"].startswith(":alarm_clock: <@U0STAFF2>")
    assert nudge.get("subtype") is None

    desk.select(OTHER_STAFF, "status", "answered", channel, ts)
    assert triage(desk).sla_state == SlaState.DONE
    desk.slack.wait_for(lambda: scheduler.next_run("sla-escalate-1") is None)
    clock.advance(hours=8)
    desk.vigie.vigie.reminders.sweep()
    assert desk.vigie.vigie.reminders.escalate(1) is False
    assert len(thread_replies(desk, channel, ts)) == 1
    assert desk.slack.messages(desk.slack.dm_channel("U0ONCALL")) == []


def test_sla_job_scheduled_before_a_restart_fires_once_after_it(
        frozen: tuple[FrozenClock, Callable[[], Desk]]) -> None:
    """The nudge job survives a restart in the shared job store, runs in the new process
    by name when due, and neither it nor the sweep sends a second nudge."""
    clock, start = frozen
    first = start()
    _, channel, ts = first.post()
    due = triage(first).nudge_at
    assert first.vigie.vigie.scheduler.next_run("sla-nudge-1") == due

    second = start()  # the first process stops; a new one starts on the same database
    scheduler = second.vigie.vigie.scheduler
    assert scheduler.next_run("sla-nudge-1") == due
    assert scheduler.next_run("sla.sweep") is not None
    clock.advance(hours=4, minutes=1)
    # Make the stored job due now on the wall clock, as its time coming would: APScheduler
    # in the new process picks it up from the store and runs it by its registered name.
    scheduler._scheduler.modify_job("sla-nudge-1", jobstore="default",
                                    next_run_time=datetime.now(UTC))
    second.slack.wait_for(lambda: thread_replies(second, channel, ts), timeout=15)
    assert scheduler.next_run("sla-nudge-1") is None
    second.vigie.vigie.reminders.sweep()
    assert second.vigie.vigie.reminders.nudge(1) is False
    assert len(thread_replies(second, channel, ts)) == 1


def test_the_sweep_catches_up_a_reminder_whose_job_was_lost(
        frozen: tuple[FrozenClock, Callable[[], Desk]]) -> None:
    """With its job gone (misfired during downtime, say), the periodic sweep still sends
    the nudge once it is due, and only once."""
    clock, start = frozen
    desk = start()
    _, channel, ts = desk.post()
    scheduler = desk.vigie.vigie.scheduler
    assert scheduler.cancel("sla-nudge-1") and scheduler.cancel("sla-escalate-1")
    clock.advance(hours=4, minutes=5)
    desk.vigie.vigie.reminders.sweep()
    desk.vigie.vigie.reminders.sweep()
    assert len(thread_replies(desk, channel, ts)) == 1
    assert triage(desk).sla_state == SlaState.NUDGED


def test_escalating_by_hand_tells_the_on_call_people(desk: Desk) -> None:
    """Choosing the Escalated status DMs on-call a link, naming who escalated."""
    _, channel, ts = desk.post()
    desk.select(STAFF, "status", "escalated", channel, ts)
    dm = desk.slack.dm_channel("U0ONCALL")
    [message] = desk.slack.wait_for(lambda: desk.slack.messages(dm))
    assert "<@U0STAFF1> a escaladé" in message["text"] and ts.replace(".", "") in message["text"]


def test_status_changes_reach_listeners_and_card_wrappers_survive_redraws(desk: Desk) -> None:
    """Other subjects hear each status change (who, what), and what they add to the card's
    rendering (as `wrap_card` does) is kept when the card is redrawn after a click."""
    heard: list[tuple[int, str, str | None]] = []
    qualifier = desk.vigie.vigie.qualifier

    def listener(mention_id: int, status: str, *, by: str | None = None) -> None:
        heard.append((mention_id, status, by))

    qualifier.status_listeners.append(listener)
    render = qualifier._render

    def with_note(mention: Mention) -> Any:
        message = render(mention)
        extra = {"type": "context", "block_id": "flags",
                 "elements": [{"type": "mrkdwn", "text": "flagged by Ana"}]}
        return type(message)(message.text, [*message.blocks, extra], message.metadata)

    qualifier._render = with_note
    _, channel, ts = desk.post()
    desk.select(STAFF, "status", "answered", channel, ts)
    desk.slack.wait_for(lambda: heard)
    assert heard == [(1, "answered", STAFF)]
    assert "flagged by Ana" in card_text(desk.card(channel, ts))
