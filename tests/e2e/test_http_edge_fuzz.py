"""Fuzzing the HTTP edge: random and mutated bodies, headers and content types on
`/slack/events` and `/ingest/{source}` never get a 5xx, never log a traceback, and a refused
request stores nothing.

Mutations start from real requests (Slack's event_callback, block_actions, view_submission,
slash command and options payloads; a webhook mention) and are sent unsigned, forged, stale
or validly signed: the test signs the mutated bytes, so the signature passes and the parser
behind it is what gets exercised. The strategies and invariants are shared with the
campaign (`tests/support/fuzzing.py`, `python -m campaign.fuzz`, which runs thousands).
Examples are derandomized so CI sees the same ones every run (150 each);
`VIGIE_FUZZ_EXAMPLES=2000` explores further.
"""

from __future__ import annotations

import json
import os
import time
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from slack_bolt.context import BoltContext
from slack_bolt.request import BoltRequest
from slack_bolt.request.internals import build_context

from bot.sandbox.driver import sign
from bot.sandbox.slack import FakeSlack
from bot.slack_edge import Refused
from bot.slack_edge import parse as parse_slack_body
from tests.conftest import SIGNING_SECRET
from tests.support.edge import Answer, Edge
from tests.support.fuzzing import (
    JSON,
    MENTION,
    TRIGGER,
    USER,
    check_answer,
    content_types,
    extra_headers,
    json_bodies,
    mostly,
    send_slack,
    send_webhook,
    signings,
    slack_bodies,
    slack_seeds,
)

EXAMPLES = int(os.environ.get("VIGIE_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])
pytestmark = pytest.mark.timeout(60 + EXAMPLES)  # about 0.1 s an example on 2 busy cores
SLACK_SEEDS = slack_seeds()


def _no_crash(answer: Answer) -> None:
    event(f"{answer.status}{' (handed to Bolt)' if answer.parsed else ''}")


# ------------------------------------------------------------------ /slack/events


@FUZZ
@given(body=slack_bodies(SLACK_SEEDS), content_type=content_types, signing=signings,
       extra=extra_headers)
def test_slack_edge_survives_mutated_requests(edge: Edge, slack: FakeSlack,
                                              body: tuple[bytes, str, bool],
                                              content_type: str | None, signing: str,
                                              extra: dict[str, str]) -> None:
    """Mutated Slack requests never get a 5xx or a traceback; unsigned ones get a 401 and
    reach nothing; signed malformed ones get a 400, one log line, and store nothing."""
    raw, own_type, _ = body
    raw = raw.replace(TRIGGER.encode(), slack.new_trigger_id(user_id=USER).encode())
    answer = send_slack(edge, raw, own_type if content_type is None else content_type,
                        signing, extra)
    _no_crash(answer)


@FUZZ
@given(raw=st.binary(max_size=2000), content_type=content_types)
def test_slack_edge_survives_random_signed_bytes(edge: Edge, raw: bytes,
                                                 content_type: str | None) -> None:
    """Any validly signed bytes, under any content type, are answered below 500 with no
    traceback; what the edge refuses stores nothing."""
    stamp = str(int(time.time()))
    answer = edge.post("/slack/events", raw, {
        "Content-Type": content_type or JSON, "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": sign(SIGNING_SECRET, stamp, raw)})
    check_answer(edge, answer)
    _no_crash(answer)
    if not answer.parsed:
        assert answer.stored == {} and answer.status in (400, 413)


# ------------------------------------------------------------------ /ingest/{source}


@FUZZ
@given(raw=json_bodies([MENTION]), source=mostly(st.just("monitoring"), st.sampled_from(
           ["alerts", "nope"]) | st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.",
                                         min_size=1, max_size=12)),
       content_type=content_types, signing=signings, extra=extra_headers)
def test_webhook_survives_mutated_requests(edge: Edge, raw: bytes, source: str,
                                           content_type: str | None, signing: str,
                                           extra: dict[str, str]) -> None:
    """Mutated mentions on /ingest never get a 5xx or a traceback, only a 200/201
    stores anything, and every mention stored renders a card Slack accepts."""
    _no_crash(send_webhook(edge, raw, source, content_type, signing, extra))


@FUZZ
@given(body=slack_bodies(SLACK_SEEDS), content_type=content_types)
def test_edge_reads_a_body_exactly_as_bolt_will(body: tuple[bytes, str, bool],
                                                content_type: str | None) -> None:
    """Whatever the edge accepts, Bolt parses to the very dict the edge checked (and Bolt's
    context building does not throw on it), so no unchecked shape reaches a listener; the
    one exception is a form that mentions "payload" without carrying one, which Bolt reads
    as empty and `bot.web` replaces with the edge's reading."""
    raw, own_type, _ = body
    declared = own_type if content_type is None else content_type
    try:
        checked = parse_slack_body(raw, [declared])
    except Refused as refused:
        event(f"refused {refused.status}")
        return
    event("accepted")
    bolt = BoltRequest(body=raw.decode(), headers={"content-type": declared})
    if bolt.body != checked:
        assert bolt.body == {} and b"payload" in raw and not raw.startswith(b"payload=")
        build_context(BoltContext({}), checked)
        return
    assert bolt.body == checked


def test_a_payload_of_an_unknown_type_is_checked_too(edge: Edge) -> None:
    """Found by campaign.fuzz (seed 1717): a signed click whose `type` was mutated to an
    unknown one skipped the shape checks of interactivity payloads, so its `view` (made a
    list) reached Bolt and crashed a listener: a 500 and a traceback. An unknown type
    still reaches Bolt (test_http_edge.py), but with the fields Bolt reads in shape."""
    payload = {"type": "x" * 1001, "user": {"id": USER, "team_id": "T0001"},
               "api_app_id": "A0001", "token": "legacy-verification-token",
               "container": {"type": "view", "view_id": "V0HOME"}, "trigger_id": TRIGGER,
               "team": {"id": "T0001", "domain": "vigie-test"},
               "view": [{"id": "V0HOME", "type": "home", "blocks": [], "callback_id": "",
                         "state": {"values": {}}}],
               "actions": [{"action_id": "home_page_next", "block_id": "pages",
                            "type": "button", "value": "2"}]}
    answer = send_slack(edge, urlencode({"payload": json.dumps(payload)}).encode(),
                        "application/x-www-form-urlencoded", "signed", {})
    assert answer.status == 400 and "payload.view must be an object" in answer.text
