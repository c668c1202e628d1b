"""Fuzzing the HTTP edge: random and mutated bodies, headers and content types on
`/slack/events` and `/ingest/{source}` never get a 5xx, never log a traceback, and a refused
request stores nothing.

Mutations start from real requests (Slack's event_callback, block_actions, view_submission,
slash command and options payloads; a webhook mention) and are sent unsigned, forged, stale
or validly signed: the test signs the mutated bytes, so the signature passes and the parser
behind it is what gets exercised. Examples are derandomized so CI sees the same ones every
run (150 each); `VIGIE_FUZZ_EXAMPLES=2000` explores further.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from slack_bolt.context import BoltContext
from slack_bolt.request import BoltRequest
from slack_bolt.request.internals import build_context

from bot.mentions.flag_messages import MODAL_CALLBACK
from bot.posts import messages as post_messages
from bot.reports.home_view import PAGE_ACTIONS
from bot.slack_edge import Refused
from bot.slack_edge import parse as parse_slack_body
from tests.conftest import SIGNING_SECRET, WEBHOOK_SECRET
from tests.support.edge import Answer, Edge, recorded_bodies, tracebacks
from tests.support.slack_driver import SlackDriver, sign
from tests.support.slack_server import FakeSlack

EXAMPLES = int(os.environ.get("VIGIE_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])
pytestmark = pytest.mark.timeout(60 + EXAMPLES)  # about 0.1 s an example on 2 busy cores
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
USER = "U0STAFF"
TRIGGER = "1000000.1700000000." + "0" * 32  # a fresh one from the fake Slack replaces it


# ------------------------------------------------------------------ real requests to mutate

def _slack_seeds() -> list[tuple[bytes, str]]:
    """One real body per kind of request Slack sends, as `SlackDriver` signs them."""
    reject = post_messages.reject_modal(7, locale="fr", channel="C0001")
    card = {"ts": "1700000000.000100", "type": "message", "user": "U0BOT", "text": "card",
            "blocks": [{"type": "actions", "block_id": "post", "elements": [
                {"type": "button", "action_id": "posts.approve", "value": "7",
                 "text": {"type": "plain_text", "text": "OK"}}]}]}
    bodies = [
        (recorded_bodies(SIGNING_SECRET, lambda d: d.app_mention(USER, "au secours", ts="1.1")),
         JSON),
        (recorded_bodies(SIGNING_SECRET, lambda d: d.app_home_opened(USER, channel="D0001")),
         JSON),
        (recorded_bodies(SIGNING_SECRET,
                         lambda d: d.reaction_added(USER, "white_check_mark", "C0APPROVALS",
                                                    "1700000000.000100")), JSON),
        (recorded_bodies(SIGNING_SECRET, lambda d: d.block_actions(
            user_id=USER, channel_id="C0001", message=card,
            actions=[{"action_id": "posts.approve", "block_id": "post", "type": "button",
                      "value": "7"}])), FORM),
        (recorded_bodies(SIGNING_SECRET, lambda d: d.block_actions(
            user_id=USER, view={"id": "V0HOME", "type": "home", "blocks": [],
                                "callback_id": ""},
            actions=[{"action_id": PAGE_ACTIONS[1], "block_id": "pages", "type": "button",
                      "value": "2"}])), FORM),
        (recorded_bodies(SIGNING_SECRET, lambda d: d.view_submission(
            user_id=USER, view={**reject, "id": "V0REJECT"},
            values={"reason": {post_messages.VALUE: "trop long"}})), FORM),
        (recorded_bodies(SIGNING_SECRET, lambda d: d.view_submission(
            user_id=USER, view={"id": "V0FLAG", "type": "modal", "callback_id": MODAL_CALLBACK,
                                "private_metadata": "{}", "blocks": []})), FORM),
        (recorded_bodies(SIGNING_SECRET, lambda d: d.command("/vigie", "help", user_id=USER)),
         FORM),
        (recorded_bodies(SIGNING_SECRET, lambda d: d.command("/draft", "", user_id=USER)), FORM),
    ]
    options = {"type": "block_suggestion", "user": {"id": USER, "team_id": "T0001"},
               "team": {"id": "T0001", "domain": "vigie-test"}, "api_app_id": "A0001",
               "token": "legacy-verification-token", "action_id": "posts.quote",
               "block_id": "quote", "value": "mati", "container": {"type": "view",
                                                                  "view_id": "V0DRAFT"},
               "view": {"id": "V0DRAFT", "type": "modal", "callback_id": "posts.draft",
                        "private_metadata": "{}", "blocks": [], "state": {"values": {}}}}
    driver = SlackDriver("http://slack.invalid/", SIGNING_SECRET)
    bodies.append((driver.build_interaction(options)[0], FORM))
    driver.close()
    return [(_with_trigger(body, content_type), content_type) for body, content_type in bodies]


def _with_trigger(body: bytes, content_type: str) -> bytes:
    """The body with `TRIGGER` for its trigger_id, so each example can get a live one."""
    if content_type == JSON:
        return body
    fields = dict(parse_qsl(body.decode(), keep_blank_values=True))
    if "payload" in fields:
        payload = json.loads(fields["payload"])
        if "trigger_id" in payload:
            payload["trigger_id"] = TRIGGER
        fields["payload"] = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    elif "trigger_id" in fields:
        fields["trigger_id"] = TRIGGER
    return urlencode(fields).encode()


SLACK_SEEDS = _slack_seeds()
MENTION = {"external_id": "m0001", "url": "https://pouet.example/@kev59/109",
           "author": {"handle": "@kev59@pouet.example", "name": "Kévin"},
           "text": "c quoi le nom du livre dont vous parliez vers 7h50 ?",
           "created_at": "2026-11-02T07:04:39Z", "language": "fr", "account": "matinale",
           "platform": "mastodon"}


# ------------------------------------------------------------------ mutations

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=8,
)


@st.composite
def byte_mutations(draw: st.DrawFn, body: bytes) -> bytes:
    """Flip, insert, delete, duplicate or cut bytes anywhere."""
    data = bytearray(body)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["flip", "insert", "delete", "duplicate", "truncate"]))
        if op == "flip" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[at:at + draw(st.integers(1, 16))]
        elif op == "duplicate":
            data[at:at] = data[at:at + draw(st.integers(1, 32))]
        elif op == "truncate":
            del data[at:]
    return bytes(data)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


@st.composite
def tree_mutations(draw: st.DrawFn, tree: Any) -> Any:
    """Delete, retype, replace, blow up or wrap one value somewhere in a JSON document."""
    tree = json.loads(json.dumps(tree))
    path = draw(st.sampled_from(_paths(tree)))
    op = draw(st.sampled_from(["replace", "delete", "huge", "wrap", "empty"]))
    if not path:
        return draw(json_values) if op == "replace" else [tree]
    parent = tree
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if op == "delete":
        del parent[last]
    elif op == "huge":
        parent[last] = "x" * draw(st.integers(1_000, 400_000))
    elif op == "wrap":
        parent[last] = [parent[last]]
    elif op == "empty":
        parent[last] = type(parent[last])() if isinstance(parent[last], (dict, list, str)) \
            else None
    else:
        parent[last] = draw(json_values)
    return tree


@st.composite
def slack_bodies(draw: st.DrawFn) -> tuple[bytes, str, bool]:
    """A real Slack body (its content type, whether it carries a trigger_id) mutated."""
    body, content_type = draw(st.sampled_from(SLACK_SEEDS))
    return draw(_mutated(body, content_type)), content_type, TRIGGER.encode() in body


@st.composite
def _mutated(draw: st.DrawFn, body: bytes, content_type: str) -> bytes:
    """Mutated as bytes or as a document (a JSON body, a form or its payload); or random."""
    how = draw(st.sampled_from(["bytes"] * 2 + ["tree"] * 4 + ["form", "duplicate", "random"]))
    if how == "bytes":
        return draw(byte_mutations(body))
    if how == "random":
        return draw(st.binary(max_size=300))
    fields = dict(parse_qsl(body.decode())) if content_type == FORM else None
    if how == "duplicate":  # the same key twice, as Slack's parsers would never see it
        text = body.decode()
        if fields is None:
            return ('{"type":"block_actions",' + text[1:]).encode()
        return (text + "&" + text.split("&")[0]).encode()
    if fields is None:
        return json.dumps(draw(tree_mutations(json.loads(body)))).encode()
    if "payload" in fields and how == "tree":
        payload = draw(tree_mutations(json.loads(fields["payload"])))
        return urlencode({"payload": json.dumps(payload)}).encode()
    mutated = draw(tree_mutations(fields))
    if not isinstance(mutated, dict):
        return json.dumps(mutated).encode()
    return urlencode({str(k): json.dumps(v) if not isinstance(v, str) else v
                      for k, v in mutated.items()}).encode()


odd_content_types = st.sampled_from([
    JSON, FORM, "application/json; charset=utf-8", "text/plain", "", "multipart/form-data; b=x",
    "APPLICATION/X-WWW-FORM-URLENCODED;;", "application/json, application/json",
]) | st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=40)


def mostly(usual: st.SearchStrategy[Any], other: st.SearchStrategy[Any]
           ) -> st.SearchStrategy[Any]:
    """`usual` three times out of four (`a | b` would be one in two)."""
    return st.integers(0, 3).flatmap(lambda n: usual if n else other)


# None: the request's own content type, so that most bodies get as far as the parser
content_types = mostly(st.none(), odd_content_types)
header_values = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255),
                        max_size=30)
extra_headers = st.dictionaries(
    st.sampled_from(["X-Slack-Retry-Num", "X-Slack-Retry-Reason", "X-Vigie-Timestamp",
                     "X-Vigie-Signature", "X-Slack-Signature", "X-Slack-Request-Timestamp",
                     "Content-Encoding", "X-Anything"]),
    header_values, max_size=2)
signings = st.sampled_from(["signed"] * 5 + ["none", "forged", "stale", "future", "garbled"])


def _signed(headers: dict[str, str | bytes], how: str, stamp: str, signature: str,
            *, ts_header: str, sig_header: str) -> dict[str, str | bytes]:
    if how == "none":
        return headers
    if how == "forged":
        signature = signature[:-4] + "beef"
    elif how in ("stale", "future"):
        stamp = str(int(stamp) + (-301 if how == "stale" else 360))  # the clock moves on
    elif how == "garbled":
        return {**headers, ts_header: stamp.encode() + b"\xa0",
                sig_header: signature.encode() + b"\xe9"}
    return {**headers, ts_header: stamp, sig_header: signature}


def _no_crash(answer: Answer) -> None:
    """Below 500 and no traceback, even when a listener's call to Slack is refused (a
    mutated trigger_id: one warning line, and a command is answered with the error's
    reference)."""
    event(f"{answer.status}{' (handed to Bolt)' if answer.parsed else ''}")
    assert answer.status < 500, (answer.text, [r.getMessage() for r in answer.logs])
    assert tracebacks(answer.logs) == []


# ------------------------------------------------------------------ /slack/events


@FUZZ
@given(body=slack_bodies(), content_type=content_types, signing=signings,
       extra=extra_headers)
def test_slack_edge_survives_mutated_requests(edge: Edge, slack: FakeSlack,
                                              body: tuple[bytes, str, bool],
                                              content_type: str | None, signing: str,
                                              extra: dict[str, str]) -> None:
    """Mutated Slack requests never get a 5xx or a traceback; unsigned ones get a 401 and
    reach nothing; signed malformed ones get a 400, one log line, and store nothing."""
    raw, own_type, _ = body
    raw = raw.replace(TRIGGER.encode(), slack.new_trigger_id(user_id=USER).encode())
    headers: dict[str, str | bytes] = {
        key: value for key, value in extra.items() if not key.startswith("X-Slack-Sig")
        and key != "X-Slack-Request-Timestamp"}
    headers["Content-Type"] = own_type if content_type is None else content_type
    stamp = str(int(time.time()))
    headers = _signed(headers, signing, stamp, sign(SIGNING_SECRET, stamp, raw),
                      ts_header="X-Slack-Request-Timestamp", sig_header="X-Slack-Signature")
    answer = edge.post("/slack/events", raw, headers)
    _no_crash(answer)
    if answer.status in (400, 401, 413):  # refused at the edge
        assert not answer.parsed and answer.stored == {}
        assert len(answer.logs) == 1, [r.getMessage() for r in answer.logs]
    if signing != "signed" and len(raw) <= 1024 * 1024:
        assert answer.status == 401


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
    _no_crash(answer)
    if not answer.parsed:
        assert answer.stored == {} and answer.status in (400, 413)


# ------------------------------------------------------------------ /ingest/{source}


@st.composite
def webhook_bodies(draw: st.DrawFn) -> bytes:
    """A valid mention, mutated as bytes or as a document; or random bytes."""
    seed = json.dumps(MENTION).encode()
    how = draw(st.sampled_from(["bytes", "tree", "tree", "random", "deep"]))
    if how == "bytes":
        return draw(byte_mutations(seed))
    if how == "tree":
        return json.dumps(draw(tree_mutations(MENTION))).encode()
    if how == "deep":
        depth = draw(st.integers(500, 20_000))
        return b"[" * depth + b"]" * depth
    return draw(st.binary(max_size=300))


@FUZZ
@given(raw=webhook_bodies(), source=mostly(st.just("monitoring"), st.sampled_from(
           ["alerts", "nope"]) | st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.",
                                         min_size=1, max_size=12)),
       content_type=content_types, signing=signings, extra=extra_headers)
def test_webhook_survives_mutated_requests(edge: Edge, raw: bytes, source: str,
                                           content_type: str | None, signing: str,
                                           extra: dict[str, str]) -> None:
    """Mutated mentions on /ingest never get a 5xx or a traceback, and only a 200/201
    stores anything."""
    from bot.platforms.webhook.receiver import sign as sign_webhook

    headers: dict[str, str | bytes] = {key: value for key, value in extra.items()
                                       if not key.startswith("X-Vigie")}
    headers["Content-Type"] = content_type or JSON
    stamp = str(int(time.time()))
    headers = _signed(headers, signing, stamp, sign_webhook(WEBHOOK_SECRET, int(stamp), raw),
                      ts_header="X-Vigie-Timestamp", sig_header="X-Vigie-Signature")
    answer = edge.post(f"/ingest/{source}", raw, headers)
    _no_crash(answer)
    if answer.status not in (200, 201):
        assert answer.stored == {}
    if signing != "signed" and source == "monitoring" and len(raw) <= 64 * 1024:
        assert answer.status == 401


@FUZZ
@given(body=slack_bodies(), content_type=content_types)
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
