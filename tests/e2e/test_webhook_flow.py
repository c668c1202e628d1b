"""A mention posted to the signed webhook becomes one card in the right Slack channel."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from sqlmodel import Session, col, select

from bot.mentions.models import Mention, RelayState
from bot.sandbox.slack import FakeSlack
from tests.conftest import WEBHOOK_SECRET
from tests.e2e.conftest import StartVigie
from tests.support.harness import RunningVigie


def a_mention(external_id: str = "m0001", **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "external_id": external_id,
        "url": "https://pouet.example/@kev59/1",
        "author": {"handle": "@kev59@pouet.example", "name": "Kévin"},
        "text": "c quoi le nom du livre dont vous parliez vers 7h50 ?",
        "created_at": "2026-11-02T07:04:39Z",
        "language": "fr",
        "account": "matinale",
        "platform": "mastodon",
    }
    body.update(fields)
    return body


def mentions(vigie: RunningVigie) -> list[Mention]:
    with Session(vigie.vigie.engine) as session:
        return list(session.exec(select(Mention).order_by(col(Mention.id))))


def relayed(slack: FakeSlack, vigie: RunningVigie, timeout: float = 10) -> Mention:
    """The first mention, once its card's ts is stored."""

    def first_relayed() -> Mention | None:
        rows = mentions(vigie)
        return rows[0] if rows and rows[0].slack_ts else None

    found = slack.wait_for(first_relayed, timeout=timeout)
    assert found is not None
    return found


def cards(slack: FakeSlack, channel: str) -> list[dict[str, Any]]:
    return [m for m in slack.messages(channel) if m.get("metadata")]


def wait_for_cards(slack: FakeSlack, channel: str, count: int = 1,
                   timeout: float = 10) -> list[dict[str, Any]]:
    def enough() -> list[dict[str, Any]]:
        found = cards(slack, channel)
        return found if len(found) >= count else []

    return slack.wait_for(enough, timeout=timeout)


def test_signed_mention_becomes_a_card_in_its_channel(vigie: RunningVigie, slack: FakeSlack
                                                      ) -> None:
    """201, one card in the account's channel with author, text, link; ts stored."""
    response = vigie.post_mention("monitoring", a_mention(), secret=WEBHOOK_SECRET)
    assert response.status_code == 201, response.text
    assert response.json() == {"ok": True, "id": 1, "duplicate": False, "channel": "C0MENTIONS"}
    [card] = wait_for_cards(slack, "C0MENTIONS")
    rendered = json.dumps(card["blocks"], ensure_ascii=False)
    for expected in ("Kévin", "@kev59@pouet.example", "La Matinale", "vers 7h50",
                     "https://pouet.example/@kev59/1", "source monitoring"):
        assert expected in rendered
    stored = relayed(slack, vigie)
    assert (stored.slack_channel, stored.slack_ts) == ("C0MENTIONS", card["ts"])
    assert stored.relay_state == RelayState.RELAYED


def test_routing_rules_pick_the_channel(vigie: RunningVigie, slack: FakeSlack) -> None:
    """A legal keyword goes to the legal channel; an English post to the English one."""
    vigie.post_mention("monitoring", a_mention("a", text="Mon AVOCAT vous écrira"),
                       secret=WEBHOOK_SECRET)
    vigie.post_mention("monitoring", a_mention("b", text="Loved the show", language="en"),
                       secret=WEBHOOK_SECRET)
    wait_for_cards(slack, "C0LEGAL")
    wait_for_cards(slack, "C0ENGLISH")
    assert cards(slack, "C0MENTIONS") == []


def test_same_external_id_again_is_a_duplicate_and_posts_nothing(vigie: RunningVigie,
                                                                 slack: FakeSlack) -> None:
    """The second delivery answers 200 duplicate:true and Slack sees one card only."""
    first = vigie.post_mention("monitoring", a_mention(), secret=WEBHOOK_SECRET)
    wait_for_cards(slack, "C0MENTIONS")
    again = vigie.post_mention("monitoring", a_mention(), secret=WEBHOOK_SECRET)
    assert again.status_code == 200
    assert again.json()["duplicate"] is True and again.json()["id"] == first.json()["id"]
    time.sleep(0.3)
    assert len(slack.calls_to("chat.postMessage")) == 1
    assert len(mentions(vigie)) == 1


@pytest.mark.parametrize(
    ("source", "body", "secret", "timestamp", "status", "error"),
    [
        ("monitoring", a_mention(), None, None, 401, "headers are required"),
        ("monitoring", a_mention(), "not-the-secret-at-all", None, 401, "invalid signature"),
        ("monitoring", a_mention(), WEBHOOK_SECRET, int(time.time()) - 600, 401, "replayed"),
        ("nowhere", a_mention(), WEBHOOK_SECRET, None, 404, "unknown webhook source"),
        ("monitoring", b"{oops", WEBHOOK_SECRET, None, 400, "not valid JSON"),
        ("monitoring", {"text": "hi"}, WEBHOOK_SECRET, None, 422, "schema"),
        ("monitoring", a_mention(account="matinal"), WEBHOOK_SECRET, None, 422, "schema"),
        ("monitoring", b"x" * 70_000, WEBHOOK_SECRET, None, 413, "too large"),
    ],
    ids=["unsigned", "bad-signature", "replay", "unknown-source", "not-json", "schema",
         "unknown-account", "too-large"],
)
def test_bad_requests_are_refused_and_change_nothing(
    vigie: RunningVigie, slack: FakeSlack, source: str, body: dict[str, Any] | bytes,
    secret: str | None, timestamp: int | None, status: int, error: str,
) -> None:
    """Each bad request gets its status and a JSON error; nothing is stored or posted."""
    response = vigie.post_mention(source, body, secret=secret, timestamp=timestamp)
    assert response.status_code == status, response.text
    assert response.json()["ok"] is False and error in response.json()["error"]
    assert mentions(vigie) == []
    assert slack.calls_to("chat.postMessage") == []


def test_schema_errors_name_each_field(vigie: RunningVigie) -> None:
    """A 422 lists every field that is wrong, so the integrator can fix them at once."""
    response = vigie.post_mention("monitoring", {"text": "hi", "created_at": "soon"},
                                  secret=WEBHOOK_SECRET)
    fields = {d["field"] for d in response.json()["details"]}
    assert {"external_id", "author", "created_at"} <= fields


def test_hostile_text_pings_nobody_and_hides_no_link(vigie: RunningVigie, slack: FakeSlack
                                                     ) -> None:
    """<!channel>, <!here>, <@U…>, <!subteam^…> and <url|label> arrive as plain text."""
    hostile = ("<!channel> <!here> réveillez-vous <@U0EDITOR> <!subteam^S0TEAM|@team> "
               "<https://evil.example/phish|https://radio.example/podcast>")
    vigie.post_mention("monitoring", a_mention(text=hostile, author={
        "handle": "@troll@x.example", "name": "<!everyone>"}), secret=WEBHOOK_SECRET)
    [card] = wait_for_cards(slack, "C0MENTIONS")
    sent = json.dumps({"text": card["text"], "blocks": card["blocks"]})
    for raw in ("<!channel>", "<!here>", "<@U0EDITOR>", "<!subteam^", "<https://evil",
                "<!everyone>"):
        assert raw not in sent, raw
    assert "&lt;!channel&gt;" in sent and "&lt;https://evil.example/phish|" in sent


def test_rate_limited_card_waits_retry_after_then_is_posted_once(vigie: RunningVigie,
                                                                  slack: FakeSlack) -> None:
    """On 429 the relay waits Retry-After and posts once, without losing the mention."""
    slack.fail_next("chat.postMessage", status=429, retry_after=1)
    vigie.post_mention("monitoring", a_mention(), secret=WEBHOOK_SECRET)
    wait_for_cards(slack, "C0MENTIONS")
    attempts = slack.calls_to("chat.postMessage")
    assert [c.status for c in attempts] == [429, 200]
    assert attempts[1].at - attempts[0].at >= 0.95
    time.sleep(0.3)
    assert len(cards(slack, "C0MENTIONS")) == 1


def test_slack_down_then_back_after_restart_relays_once(start_vigie: StartVigie,
                                                        slack: FakeSlack) -> None:
    """A mention received while Slack is down is kept, and posted once after a restart."""
    first = start_vigie()
    slack.set_down(True)
    assert first.post_mention("monitoring", a_mention(), secret=WEBHOOK_SECRET).status_code == 201
    slack.wait_for(lambda: slack.calls_to("chat.postMessage"))
    first.stop()
    assert mentions(first)[0].relay_state == RelayState.PENDING
    assert mentions(first)[0].relay_error

    slack.set_down(False)
    second = start_vigie()
    [card] = wait_for_cards(slack, "C0MENTIONS", timeout=15)
    stored = relayed(slack, second)
    assert stored.slack_ts == card["ts"]
    assert len(cards(slack, "C0MENTIONS")) == 1


def test_card_that_went_through_before_a_timeout_is_not_posted_again(
    database_url: str, config: Any, environ: dict[str, str], slack: FakeSlack
) -> None:
    """Slack posts the card but answers too late: the retry finds it; one card only."""
    from bot.app import build
    from bot.clock import SystemClock
    from tests.conftest import make_settings

    vigie = build(make_settings(database_url, slack.base_url), config, clock=SystemClock(),
                  environ=environ, slack_timeout=1)
    app = RunningVigie(vigie).start()
    try:
        slack.hang_next("chat.postMessage", 2.5, then_apply=True)
        app.post_mention("monitoring", a_mention(), secret=WEBHOOK_SECRET)
        stored = relayed(slack, app, timeout=15)
        assert len(cards(slack, "C0MENTIONS")) == 1
        assert stored.slack_ts == cards(slack, "C0MENTIONS")[0]["ts"]
        assert slack.calls_to("conversations.history")
    finally:
        app.stop()


def test_healthz_reports_the_database(vigie: RunningVigie) -> None:
    """/healthz is 200 while the database answers."""
    response = vigie.http.get("/healthz")
    assert response.status_code == 200 and response.json()["database"] == "reachable"


def test_healthz_is_503_when_the_database_is_gone(config: Any, environ: dict[str, str],
                                                  slack: FakeSlack) -> None:
    """With the database unreachable, /healthz says so with a 503."""
    from bot.app import build
    from bot.store import make_engine
    from tests.conftest import make_settings

    engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    vigie = build(make_settings("sqlite://", slack.base_url), config, engine=engine,
                  environ=environ, check_schema=False)
    app = RunningVigie(vigie).start(background=False)
    try:
        response = app.http.get("/healthz")
        assert response.status_code == 503 and response.json()["database"] == "unreachable"
    finally:
        app.stop()


def test_a_connection_lost_mid_commit_is_a_503_to_send_again(
        vigie: RunningVigie, monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by campaign.database (PostgreSQL restarted under load): the connection died
    during the commit and SQLAlchemy raised PendingRollbackError, which the webhook
    answered 500 with a traceback. It is a 503 with Retry-After; sent again, accepted."""
    from sqlalchemy.exc import PendingRollbackError

    def cut(*args: Any, **kwargs: Any) -> None:
        raise PendingRollbackError("Can't reconnect until invalid transaction is rolled back.")

    monkeypatch.setattr(vigie.vigie.intake, "ingest", cut)
    refused = vigie.post_mention("monitoring", a_mention("cut-1"), secret=WEBHOOK_SECRET)
    assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
    assert mentions(vigie) == []
    monkeypatch.undo()
    again = vigie.post_mention("monitoring", a_mention("cut-1"), secret=WEBHOOK_SECRET)
    assert again.status_code == 201 and len(mentions(vigie)) == 1
