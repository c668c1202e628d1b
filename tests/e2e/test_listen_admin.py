"""Editors change routes and sources from Slack; the next mention follows the change."""

from __future__ import annotations

import json
from typing import Any

import httpx
from sqlmodel import Session, select

from bot.listen import views
from bot.listen.models import ConfigChange
from bot.sandbox.driver import SlackDriver
from bot.sandbox.slack import FakeSlack
from tests.conftest import SIGNING_SECRET, WEBHOOK_SECRET
from tests.e2e.test_webhook_flow import a_mention, cards, wait_for_cards
from tests.support.edge import Edge, recorded_bodies, slack_headers, tracebacks
from tests.support.harness import RunningVigie

EDITOR = "U0EDITOR"


def modal(slack: FakeSlack, callback_id: str) -> dict[str, Any]:
    def found() -> dict[str, Any]:
        return next((v for v in reversed(slack.views_for(EDITOR))
                     if v["callback_id"] == callback_id), {})

    return slack.wait_for(found)


def submit(driver: SlackDriver, form: dict[str, Any], values: dict[str, Any]) -> httpx.Response:
    return driver.view_submission(user_id=EDITOR, view=form, values={
        block: {views.FIELD: value} for block, value in values.items()})


def test_a_route_added_from_slack_sends_the_next_mention_to_its_channel(
        vigie: RunningVigie, slack: FakeSlack, driver: SlackDriver) -> None:
    """/vigie routes → Add → 'météo' to C0METEO: the next 'Météo' mention goes there."""
    slack.add_user(EDITOR, "editrice", real_name="Éditrice")
    assert driver.command("/vigie", "routes", user_id=EDITOR).status_code == 200
    listing = modal(slack, views.ROUTES_CALLBACK)
    assert "legal" in json.dumps(listing["blocks"])
    driver.click(EDITOR, views.ROUTE_ADD, view=listing)
    form = modal(slack, views.ROUTE_FORM)
    refused = submit(driver, form, {"channel": "C0METEO"})
    assert refused.json()["response_action"] == "errors"
    assert "keywords" in refused.json()["errors"]
    accepted = submit(driver, form, {"channel": "C0METEO", "name": "météo",
                                     "keywords": "météo, orage"})
    assert accepted.status_code == 200 and not accepted.text
    refreshed = slack.wait_for(lambda: "météo" in json.dumps(
        slack.view(listing["id"]) or {}, ensure_ascii=False))
    assert refreshed
    vigie.post_mention("monitoring", a_mention("m1", text="La METEO de ce matin était fausse"),
                       secret=WEBHOOK_SECRET)
    [card] = wait_for_cards(slack, "C0METEO")
    assert "METEO" in json.dumps(card["blocks"])
    assert cards(slack, "C0MENTIONS") == []
    with Session(vigie.vigie.engine) as session:
        [change] = session.exec(select(ConfigChange)).all()
    assert (change.user_id, change.subject, change.action) == (EDITOR, "route", "add")


def test_moving_and_deleting_routes_reorders_what_matches_first(
        vigie: RunningVigie, slack: FakeSlack, driver: SlackDriver) -> None:
    """Deleting 'legal' from the menu sends a lawyer's mention to the default channel."""
    slack.add_user(EDITOR, "editrice")
    driver.command("/vigie", "routes", user_id=EDITOR)
    listing = modal(slack, views.ROUTES_CALLBACK)
    [legal] = vigie.vigie.listen.catalog.stored_routes()[:1]  # type: ignore[union-attr]
    driver.select(EDITOR, views.ROUTE_MENU, f"delete:{legal.id}", view=listing,
                  block_id=f"route_{legal.id}")
    slack.wait_for(lambda: "legal" not in json.dumps(slack.view(listing["id"]) or {}))
    vigie.post_mention("monitoring", a_mention("m2", text="Mon avocat vous écrira"),
                       secret=WEBHOOK_SECRET)
    wait_for_cards(slack, "C0MENTIONS")
    assert cards(slack, "C0LEGAL") == []


def test_only_editors_see_sources_and_routes(vigie: RunningVigie, slack: FakeSlack,
                                             driver: SlackDriver) -> None:
    """Anyone else gets an ephemeral refusal and no modal opens."""
    slack.add_user("U0INTERN", "stagiaire")
    for name in ("routes", "sources"):
        answer = driver.command("/vigie", name, user_id="U0INTERN")
        assert "Seuls les éditeurs" in answer.json()["text"]
    assert slack.calls_to("views.open") == []


def test_an_rss_source_added_from_slack_is_listed_and_audited(
        vigie: RunningVigie, slack: FakeSlack, driver: SlackDriver) -> None:
    """Add RSS → the source shows in the list, turned on, and the change is audited."""
    slack.add_user(EDITOR, "editrice")
    driver.command("/vigie", "sources", user_id=EDITOR)
    listing = modal(slack, views.SOURCES_CALLBACK)
    driver.click(EDITOR, f"{views.SOURCE_ADD}_rss", view=listing)
    form = modal(slack, views.SOURCE_FORM)
    bad = submit(driver, form, {"id": "Alertes Google", "url": "pas une url"})
    assert set(bad.json()["errors"]) >= {"id", "url"}
    good = submit(driver, form, {"id": "alertes-google", "url": "https://alerts.example/feed",
                                 "interval": "600", "account": "matinale"})
    assert good.status_code == 200 and not good.text
    slack.wait_for(lambda: "alertes-google" in json.dumps(slack.view(listing["id"]) or {}))
    source = vigie.vigie.listen.catalog.source("alertes-google")  # type: ignore[union-attr]
    assert source is not None and source.interval == 600 and source.account == "matinale"
    updated = slack.view(listing["id"]) or {}
    driver.select(EDITOR, views.SOURCE_MENU, "disable:alertes-google", view=updated,
                  block_id="source_alertes-google")
    slack.wait_for(lambda: not vigie.vigie.listen.catalog.source(  # type: ignore[union-attr]
        "alertes-google").enabled)
    with Session(vigie.vigie.engine) as session:
        actions = [c.action for c in session.exec(select(ConfigChange))]
    assert actions == ["add", "disable"]


def test_a_source_form_without_its_kind_is_refused_not_a_500(edge: Edge) -> None:
    """Found by the security campaign: a source form submitted without `kind` in its
    metadata (someone not an editor, replaying a view of another version) was a 500 and
    a traceback (KeyError); it is answered in the form, and nothing is stored."""
    body = recorded_bodies(SIGNING_SECRET, lambda d: d.view_submission(
        user_id="U0OUTSIDER", view={"id": "V0SOURCE", "type": "modal",
                                    "callback_id": views.SOURCE_FORM,
                                    "private_metadata": json.dumps({"source_id": "x"}),
                                    "blocks": []}))
    answer = edge.post("/slack/events", body, slack_headers(
        body, SIGNING_SECRET, content_type="application/x-www-form-urlencoded"))
    assert answer.status == 200 and answer.stored == {}
    assert json.loads(answer.text)["response_action"] == "errors"
    assert tracebacks(answer.logs) == []


def test_an_editors_control_clicked_by_someone_else_says_editors_only(
        edge: Edge, slack: FakeSlack) -> None:
    """Found by the security campaign: a non-editor's click on "Add a route" (from an old
    view, or crafted) was refused by a NotAnEditor crash: a traceback in the log and
    "something went wrong" in Slack. It is a refusal that says why, and changes nothing."""
    slack.add_user("U0OUTSIDER", "oscar")
    body = recorded_bodies(SIGNING_SECRET, lambda d: d.block_actions(
        user_id="U0OUTSIDER", channel_id="C0MENTIONS",
        message={"ts": "1700000000.000100", "type": "message", "text": "x", "blocks": []},
        actions=[{"action_id": views.ROUTE_ADD, "block_id": "b", "type": "button",
                  "value": "1"}]))
    answer = edge.post("/slack/events", body, slack_headers(
        body, SIGNING_SECRET, content_type="application/x-www-form-urlencoded"))
    assert answer.status == 200 and answer.stored == {}
    assert tracebacks(answer.logs) == []
    [ephemeral] = slack.ephemerals("C0MENTIONS", "U0OUTSIDER")
    assert ephemeral["text"].startswith("Seuls les éditeurs")
