"""The HTTP edge refuses what Slack (or an integrator) would never send, without a traceback:
a forged Slack request is a 401 before its body is read, a signed but malformed one a 400
with one log line, and neither stores anything."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping

from tests.conftest import SIGNING_SECRET, WEBHOOK_SECRET
from tests.support.edge import Answer, Edge, slack_headers, tracebacks, webhook_headers

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"

APP_HOME = json.dumps({
    "token": "t", "team_id": "T0001", "api_app_id": "A0001", "type": "event_callback",
    "event_id": "Ev0EDGE", "event_time": 1,
    "event": {"type": "app_home_opened", "user": "U0STAFF", "channel": "D0001", "tab": "home",
              "event_ts": "1.000001"},
}).encode()

MALFORMED_BODIES = [  # what an attacker sends to make a parser throw
    (b'{"type": "event_callback", "event": {"type": "app_men', JSON),  # truncated
    (b'\xff\xfe{"type": "event_callback"}', JSON),  # not UTF-8
    (b"payload=%7Bnot+json", FORM),
    (b"[1, 2, 3]", JSON),
    (APP_HOME, JSON),  # well-formed, only unsigned
]


def refused_quietly(answer: Answer, status: int) -> None:
    assert answer.status == status, answer.text
    assert not answer.parsed  # Bolt was never handed the body
    assert answer.stored == {}
    assert tracebacks(answer.logs) == []


def test_unsigned_or_forged_slack_requests_are_401_before_the_body_is_read(edge: Edge) -> None:
    """Missing, forged, stale or garbled signatures get a 401 and one short log line, whatever
    the body holds: nothing parses it, runs or is stored."""
    now = int(time.time())
    forged = {"X-Slack-Request-Timestamp": str(now), "X-Slack-Signature": "v0=" + "0" * 64}
    for body, content_type in MALFORMED_BODIES:
        signed = slack_headers(body, SIGNING_SECRET, content_type=content_type)
        attempts: list[Mapping[str, str | bytes]] = [
            {"Content-Type": content_type},
            {"Content-Type": content_type, **forged},
            slack_headers(body, SIGNING_SECRET, content_type=content_type, timestamp=now - 301),
            {**signed, "X-Slack-Request-Timestamp": "yesterday"},
            {**signed, "X-Slack-Signature": signed["X-Slack-Signature"][:-1].encode() + b"\xe9"},
        ]
        for headers in attempts:
            answer = edge.post("/slack/events", body, headers)
            refused_quietly(answer, 401)
            assert len(answer.logs) <= 1


def test_signed_but_malformed_slack_bodies_are_400_with_one_log_line(edge: Edge) -> None:
    """A signed body Slack would never send is a 400 naming the problem, logged once as a
    warning, with nothing run or stored."""
    home = json.loads(APP_HOME)
    click = {"type": "block_actions", "user": {"id": "U0STAFF"}, "trigger_id": "1.2.3",
             "actions": [{"action_id": "home_page_next", "block_id": "b"}]}
    bodies = [
        *MALFORMED_BODIES[:4],
        (json.dumps(home).encode(), "text/plain"),  # wrong content type
        (json.dumps({**home, "event": "app_home_opened"}).encode(), JSON),  # event not object
        (json.dumps({**home, "event": [home["event"]]}).encode(), JSON),
        (json.dumps({k: v for k, v in home.items() if k != "type"}).encode(), JSON),
        (APP_HOME[:-1] + b', "type": "url_verification"}', JSON),  # duplicate key
        (b'{"type": "url_verification", "challenge": NaN}', JSON),
        (b'{"type": "event_callback", "event": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", JSON),
        (b"hello world", FORM),  # not form-encoded
        (b"payload=%FF%FE", FORM),  # percent-encoded bytes that are not UTF-8
        (b"payload=" + json.dumps(["block_actions"]).encode(), FORM),
        (b"payload=" + json.dumps({**click, "actions": []}).encode(), FORM),
        (b"payload=" + json.dumps({**click, "user": "U0STAFF"}).encode(), FORM),
        (json.dumps(click).encode(), JSON),  # interactivity is form-encoded
        (json.dumps({**home, "event_id": "Ev" + "0" * 63}).encode(), JSON),  # not Slack's id
        (json.dumps({**home, "event": {**home["event"], "tab": "home\u0000"}}).encode(), JSON),
        (b"payload=" + json.dumps({  # Vigie's views carry a JSON object, Slack echoes it
            "type": "view_submission", "user": {"id": "U0STAFF"}, "view": {
                "id": "V0REJECT", "type": "modal", "callback_id": "posts.reject_reason",
                "private_metadata": '{"post_id": 7} and more'}}).encode(), FORM),
        (b"command=%2Fvigie&text=help", FORM),  # a command without its user
        (b"command=%2Fvigie&command=%2Fdraft&user_id=U1&channel_id=C1&trigger_id=1", FORM),
        (b"", JSON),
    ]
    for body, content_type in bodies:
        answer = edge.post("/slack/events", body,
                           slack_headers(body, SIGNING_SECRET, content_type=content_type))
        refused_quietly(answer, 400)
        [line] = answer.logs
        assert line.name == "bot.web" and line.levelno == logging.WARNING
        assert "refused (400)" in line.getMessage()
        assert json.loads(answer.text)["error"]


def test_well_formed_slack_requests_still_reach_bolt(edge: Edge) -> None:
    """The URL check, Slack's ssl_check, a home tab event and an unknown but well-formed type
    are answered as before."""
    challenge = json.dumps({"token": "t", "challenge": "c4llenge", "type": "url_verification"})
    answer = edge.post("/slack/events", challenge.encode(),
                       slack_headers(challenge.encode(), SIGNING_SECRET, content_type=JSON))
    assert answer.status == 200 and "c4llenge" in answer.text
    ssl_check = b"ssl_check=1&token=legacy-token"
    answer = edge.post("/slack/events", ssl_check,
                       slack_headers(ssl_check, SIGNING_SECRET, content_type=FORM))
    assert answer.status == 200 and answer.text == ""
    answer = edge.post("/slack/events", APP_HOME,
                       slack_headers(APP_HOME, SIGNING_SECRET, content_type=JSON))
    assert answer.status == 200 and answer.parsed
    unknown = json.dumps({"type": "something_slack_adds_later", "token": "t"}).encode()
    answer = edge.post("/slack/events", unknown,
                       slack_headers(unknown, SIGNING_SECRET, content_type=JSON))
    assert answer.status == 404 and answer.parsed  # Bolt's answer to what nothing handles
    assert tracebacks(answer.logs) == []


def test_oversized_slack_body_is_413_without_reading_it_all(edge: Edge) -> None:
    """A body over 1 MiB is refused before its signature is even computed."""
    body = b'{"type": "event_callback", "text": "' + b"a" * (1024 * 1024) + b'"}'
    answer = edge.post("/slack/events", body, {"Content-Type": JSON})
    refused_quietly(answer, 413)


def test_webhook_refuses_garbled_signatures_and_deep_json_without_a_traceback(edge: Edge
                                                                              ) -> None:
    """A signature header with non-ASCII bytes is a 401, a signed, absurdly nested body a 400
    and a NUL character in a field a 422: none is a 500, and nothing is stored."""
    mention = json.dumps({"external_id": "e1", "text": "Bravo", "author": {"handle": "@a"},
                          "created_at": "2026-11-02T07:00:00Z"}).encode()
    headers = webhook_headers(mention, WEBHOOK_SECRET)
    garbled = headers["X-Vigie-Signature"].encode() + b"\xe9"
    answer = edge.post("/ingest/monitoring", mention, {**headers, "X-Vigie-Signature": garbled})
    refused_quietly(answer, 401)
    nested = b"[" * 30_000 + b"]" * 30_000
    answer = edge.post("/ingest/monitoring", nested, webhook_headers(nested, WEBHOOK_SECRET))
    refused_quietly(answer, 400)
    with_nul = json.dumps({**json.loads(mention), "text": "Bravo\u0000"}).encode()
    answer = edge.post("/ingest/monitoring", with_nul, webhook_headers(with_nul, WEBHOOK_SECRET))
    refused_quietly(answer, 422)  # PostgreSQL cannot store a NUL: it was a 500 there
    assert json.loads(answer.text)["details"][0]["field"] == "text"
    assert edge.post("/ingest/monitoring", mention, headers).status == 201  # the real thing


def _click(action: dict[str, object], *, view: dict[str, object] | None = None,
           **extra: object) -> bytes:
    payload: dict[str, object] = {
        "type": "block_actions", "user": {"id": "U0STAFF", "team_id": "T0001"},
        "trigger_id": "1.2.3", "team": {"id": "T0001"}, "api_app_id": "A0001",
        "actions": [{"block_id": "b", "type": "button", **action}], **extra}
    if view is not None:
        payload["view"] = view
    else:
        payload.update(channel={"id": "C0MENTIONS"}, container={"type": "message"},
                       message={"ts": "1700000000.000100", "type": "message", "text": "x"})
    return b"payload=" + json.dumps(payload).encode()


def test_hand_made_clicks_that_do_not_fit_their_listener_are_refused_without_a_traceback(
        edge: Edge) -> None:
    """A signed click whose values are not what the button, menu or modal gives (an id
    that is an object or JSON, a modal's control clicked from a message, a menu without
    its choice, a user id that is a number, state values as a list) is refused at the
    edge in one warning line: no 5xx, no traceback from any listener, nothing stored and
    nothing sent to Slack. Each kind of listener used to log a traceback (security
    campaign: 21 listeners)."""
    from bot.slack_edge import ACTION_NEEDS

    modal: dict[str, object] = {
        "id": "V0MODAL", "type": "modal", "callback_id": "x", "private_metadata": "{}",
        "blocks": [], "state": {"values": {}}}
    bodies: list[bytes] = []
    for action_id, needs in ACTION_NEEDS.items():
        if needs.value is not None:  # a button naming a row
            bodies += [_click({"action_id": action_id, "value": '{"mention_id": 1}'}),
                       _click({"action_id": action_id, "value": "12 OR 1=1"}),
                       _click({"action_id": action_id, "value": {"id": 1}})]
        if needs.in_view:  # a control of a modal, clicked as if from a message
            bodies.append(_click({"action_id": action_id, "value": "1"}))
        if needs.option:  # a menu, without its choice
            bodies.append(_click({"action_id": action_id}, view=modal))
        if needs.option_value is not None:
            bodies.append(_click({"action_id": action_id, "selected_option": {
                "value": 'edit:{"id": 1}'}}, view=modal))
        bodies += [
            _click({"action_id": action_id, "value": "1"},
                   user={"id": 42, "team_id": "T0001"}),
            _click({"action_id": action_id, "value": "1"},
                   view={**modal, "state": {"values": []}}),
        ]
    for body in bodies:
        answer = edge.post("/slack/events", body,
                           slack_headers(body, SIGNING_SECRET, content_type=FORM))
        assert answer.status == 400, (body[:200], answer.status, answer.text)
        assert tracebacks(answer.logs) == [], (body[:200], tracebacks(answer.logs))
        assert answer.stored == {}, body[:200]
        assert not answer.parsed, body[:200]  # Bolt never had it: no listener ran, no call
        [line] = answer.logs
        assert "refused (400)" in line.getMessage()


def test_clicks_shaped_as_slack_sends_them_still_reach_their_listener(edge: Edge) -> None:
    """Every action the edge checks against its listener (`ACTION_NEEDS`) is still handled
    when the click has the shape its button, menu or modal gives: Bolt finds a listener
    (no 404) — so the table names real listeners and refuses none of Slack's clicks."""
    from bot.slack_edge import ACTION_NEEDS

    modal: dict[str, object] = {
        "id": "V0MODAL", "type": "modal", "callback_id": "x", "private_metadata": "{}",
        "blocks": [], "state": {"values": {}}}
    for action_id, needs in ACTION_NEEDS.items():
        action: dict[str, object] = {"action_id": action_id, "value": "1"}
        if needs.option:
            action["selected_option"] = {"value": "edit:1"}
        body = _click(action, view=modal if needs.in_view else None)
        answer = edge.post("/slack/events", body,
                           slack_headers(body, SIGNING_SECRET, content_type=FORM))
        assert answer.parsed and answer.status == 200, (action_id, answer.status, answer.text)
