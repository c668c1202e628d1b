"""What the fuzzing of the HTTP edge is made of, shared by the suite
(`tests/e2e/test_*_fuzz.py`, a modest, derandomized number of examples) and the campaign
(`python -m campaign.fuzz`, many more): real requests to start from, Hypothesis
strategies that mutate them (bytes flipped or cut, JSON values retyped, emptied, blown
up, wrapped, keys repeated, strange unicode, deep nesting, odd content types and
headers, signatures missing, forged, stale or garbled), an app whose every edge is
open (the Slack events, the signed webhook, Facebook, Instagram and Threads), and the
invariants each answer must hold.

Invariants: never a 5xx; never a traceback in the answer or the logs; a request refused
stores nothing; every mention an accepted request stored renders a card Slack accepts
(`validate_blocks`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from hypothesis import strategies as st
from sqlmodel import Session, col, select

from bot.app import build
from bot.clock import SystemClock
from bot.config import Config, Source
from bot.mentions.flag_messages import MODAL_CALLBACK
from bot.mentions.models import Mention
from bot.platforms.meta.webhook import SIGNATURE_HEADER
from bot.platforms.meta.webhook import signature as meta_signature
from bot.platforms.webhook.receiver import sign as sign_webhook
from bot.posts import messages as post_messages
from bot.reports.home_view import PAGE_ACTIONS
from bot.sandbox.driver import SlackDriver
from bot.sandbox.driver import sign as sign_slack
from bot.sandbox.slack import _TEXT_MAX, FakeSlack, validate_blocks
from tests.support.edge import Answer, Edge, recorded_bodies, recording_logs, tracebacks
from tests.support.newsroom import (
    SIGNING_SECRET,
    WEBHOOK_SECRET,
    make_settings,
    newsroom,
    newsroom_environ,
)

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
META_SECRET = "meta-app-secret-for-the-fuzz-0123"
META_VERIFY = "meta-verify-token-for-the-fuzz"
PAGE, IG_USER, THREADS_USER = "1010101", "1787654321", "2468013579"


# ------------------------------------------------------------------ an app with every edge open

def meta_newsroom(config: Config | None = None) -> tuple[Config, dict[str, str]]:
    """The test newsroom plus one Facebook, Instagram and Threads source sharing one app
    secret, and the environment they read (the Graph API unreachable: nothing polls)."""
    config = config or newsroom()
    common = {"app_secret_env": "VIGIE_FUZZ_META_SECRET",
              "verify_token_env": "VIGIE_FUZZ_META_VERIFY", "api_url": "http://127.0.0.1:9/",
              "interval": 3600}
    sources = [Source.model_validate({**common, **extra}) for extra in (
        {"id": "fb-matinale", "type": "facebook", "account": "matinale", "account_id": PAGE,
         "token_env": "VIGIE_FUZZ_FB_TOKEN"},
        {"id": "ig-matinale", "type": "instagram", "account": "matinale",
         "account_id": IG_USER, "token_env": "VIGIE_FUZZ_IG_TOKEN"},
        {"id": "threads-debat", "type": "threads", "account": "grand-debat",
         "account_id": THREADS_USER, "token_env": "VIGIE_FUZZ_THREADS_TOKEN"})]
    environ = {**newsroom_environ(), "VIGIE_FUZZ_META_SECRET": META_SECRET,
               "VIGIE_FUZZ_META_VERIFY": META_VERIFY, "VIGIE_FUZZ_FB_TOKEN": "fb-page-token",
               "VIGIE_FUZZ_IG_TOKEN": "ig-token", "VIGIE_FUZZ_THREADS_TOKEN": "threads-token"}
    return config.model_copy(update={"sources": [*config.sources, *sources]}), environ


@contextmanager
def open_edge(database_url: str, slack: FakeSlack) -> Iterator[Edge]:
    """Every edge of one Vigie in-process (`Edge`), its logs recorded."""
    config, environ = meta_newsroom()
    vigie = build(make_settings(database_url, slack.base_url), config, clock=SystemClock(),
                  environ=environ, platform_timeout=0.5)
    with recording_logs() as recorder:
        edge = Edge(vigie, recorder)
        try:
            yield edge
        finally:
            edge.settle()
            vigie.click_pool.shutdown(wait=True)
            vigie.listener_pool.shutdown(wait=True)
            vigie.engine.dispose()


# ------------------------------------------------------------------ the invariants


@dataclass
class Tally:
    """What a fuzzing run did, per edge: inputs sent, and how they were answered."""

    inputs: int = 0
    accepted: int = 0
    refused: int = 0
    mentions: int = 0

    def count(self, answer: Answer, mentions: int) -> None:
        self.inputs += 1
        self.accepted += answer.status < 300
        self.refused += answer.status >= 400
        self.mentions += mentions


def check_answer(edge: Edge, answer: Answer, *, tally: Tally | None = None) -> None:
    """Below 500, no traceback; refused stores nothing; stored mentions render a valid card."""
    assert answer.status < 500, (answer.status, answer.text[:300],
                                 [r.getMessage() for r in answer.logs])
    assert "Traceback" not in answer.text, answer.text[:300]
    assert tracebacks(answer.logs) == []
    if answer.status >= 400:
        assert answer.stored == {}, (answer.status, answer.stored)
    added = answer.stored.get("mention", 0)
    if added:
        cards_are_valid(edge, added)
    if tally is not None:
        tally.count(answer, added)


def cards_are_valid(edge: Edge, newest: int) -> None:
    """The last `newest` mentions each render a card Slack would accept."""
    with Session(edge.vigie.engine) as session:
        mentions = session.exec(select(Mention).order_by(col(Mention.id).desc())
                                .limit(newest)).all()
    for mention in mentions:
        message = edge.vigie.qualifier.render(mention)
        assert validate_blocks(message.blocks) == [], (mention.id, message.blocks)
        assert message.text and len(message.text) <= _TEXT_MAX, mention.id
        # Slack's message payload is UTF-8 JSON: every string must encode
        json.dumps(message.blocks, ensure_ascii=False).encode("utf-8")


# ------------------------------------------------------------------ real requests to start from

MENTION = {"external_id": "m0001", "url": "https://pouet.example/@kev59/109",
           "author": {"handle": "@kev59@pouet.example", "name": "Kévin"},
           "text": "c quoi le nom du livre dont vous parliez vers 7h50 ?",
           "created_at": "2026-11-02T07:04:39Z", "language": "fr", "account": "matinale",
           "platform": "mastodon"}


def meta_seeds() -> dict[str, list[dict[str, Any]]]:
    """Deliveries as Meta documents them, per route: a Page comment, post and mention; an
    Instagram comment and mention; a Threads reply and mention."""
    now = int(time.time())
    author = {"id": "10158", "name": "Kévin Fan"}
    page = [{"object": "page", "entry": [{"id": PAGE, "time": now, "changes": [
        {"field": "feed", "value": {"from": author, "item": "comment", "verb": "add",
                                    "comment_id": "111_222", "post_id": f"{PAGE}_111",
                                    "parent_id": f"{PAGE}_111", "created_time": now,
                                    "message": "Pourquoi pas de podcast hier ?",
                                    "post": {"permalink_url": "https://www.facebook.com/x/1"}}},
        {"field": "feed", "value": {"from": author, "item": "status", "verb": "edited",
                                    "post_id": f"{PAGE}_112", "message": "un statut",
                                    "link": "https://www.facebook.com/x/2"}},
        {"field": "mention", "value": {"post_id": f"{PAGE}_113", "verb": "add",
                                       "sender_id": "10159", "sender_name": "Zoé",
                                       "message": "@La Matinale bravo"}}]}]}]
    instagram = [{"object": "instagram", "entry": [{"id": IG_USER, "time": now, "changes": [
        {"field": "comments", "value": {"id": "17865799348089039", "text": "Trop bien 👏",
                                        "from": {"id": "1789", "username": "kev59"},
                                        "media": {"id": "17887498072083520",
                                                  "media_product_type": "FEED"},
                                        "timestamp": now}},
        {"field": "mentions", "value": {"comment_id": "17894227972186120",
                                        "media_id": "17918195224117851"}}]}]}]
    threads = [{"app_id": "123456", "topic": "moderate", "target_id": THREADS_USER,
                "time": now, "subscription_id": "234567", "has_uid_field": False,
                "values": {"field": "replies", "value": {
                    "id": "1889", "username": "kev59", "text": "Et la suite ?",
                    "media_type": "TEXT_POST", "permalink": "https://www.threads.net/@k/post/1",
                    "timestamp": "2026-11-02T07:04:39+0000",
                    "root_post": {"id": "1777", "owner_id": THREADS_USER,
                                  "username": "grand.debat"},
                    "replied_to": {"id": "1777"}}}},
               {"app_id": "123456", "topic": "interaction", "target_id": THREADS_USER,
                "time": now, "values": {"field": "mentions", "value": {
                    "id": "1890", "username": "zoe", "text": "@grand.debat vu !",
                    "timestamp": "2026-11-02T07:04:39+0000"}}}]
    return {"/webhooks/facebook": page, "/webhooks/instagram": instagram,
            "/webhooks/threads": threads}


# ------------------------------------------------------------------ strange values

# Unicode that breaks naive code: right-to-left and its overrides, zero-width joiners and
# spaces, combining marks piled up, emoji sequences, a BOM, line and paragraph
# separators, Slack's own control characters, and lone surrogates (valid as a JSON
# escape, not as UTF-8).
STRANGE = ["\u202e", "\u200f", "\u061c", "\u200b", "\u200d", "\u2060", "\ufeff",
           "\u2028", "\u2029", "e\u0301\u0301\u0301\u0301", "Z\u0338\u0322\u031b\u033a",
           "\U0001f469\u200d\U0001f469\u200d\U0001f467", "\U0001f3f3\ufe0f\u200d\U0001f308",
           "\U0001f1eb\U0001f1f7", "\U0001f9d1\u200d\U0001f4bb",
           "\ud800", "\udfff", "\x00", "\x7f", "\x1b[31m", "<!channel>", "<@U0STAFF1>",
           "<https://evil.example|banque>", "*gras* _it_ ~barré~ `code`", "&lt;&amp;",
           "=HYPERLINK(\"https://evil.example\",\"x\")", "{{ 7*7 }}", "%s%n", "\\u0000",
           "\U0001d54d\U0001d55a", "\ufdfa", "\u00df", "\u0130", "\u01c5"]
strange_text = st.lists(st.sampled_from(STRANGE) | st.text(max_size=6), min_size=1,
                        max_size=6).map("".join)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=20) | strange_text | st.sampled_from([10**30, -1, 2**63, 1e308]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=8,
)


# ------------------------------------------------------------------ mutations


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
    """Delete, retype, replace, blow up, wrap, empty or make strange one value somewhere
    in a JSON document (one to three times)."""
    tree = json.loads(json.dumps(tree))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(tree)))
        op = draw(st.sampled_from(["replace", "delete", "huge", "wrap", "empty", "strange",
                                   "strange"]))
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
            parent[last] = type(parent[last])() if isinstance(parent[last], dict | list | str) \
                else None
        elif op == "strange":
            value = parent[last]
            parent[last] = (value + draw(strange_text) if isinstance(value, str)
                            else draw(strange_text))
        else:
            parent[last] = draw(json_values)
    return tree


# The ids of the seeds' mentions and comments: each example gets its own, so that what an
# accepted example stores is a new mention (with its card checked), not a duplicate.
SEED_IDS = ("m0001", "111_222", f"{PAGE}_112", f"{PAGE}_113", "17865799348089039",
            "17894227972186120", "1889", "1890")


def _fresh_ids(seed: Any, suffix: int) -> Any:
    text = json.dumps(seed)
    for known in SEED_IDS:
        text = text.replace(f'"{known}"', f'"{known}{suffix}"')
    return json.loads(text)


@st.composite
def json_bodies(draw: st.DrawFn, seeds: list[Any]) -> bytes:
    """A real JSON document mutated as bytes or as a document, with a key repeated, nested
    thousands deep, or random bytes."""
    seed = _fresh_ids(draw(st.sampled_from(seeds)), draw(st.integers(0, 10**9)))
    how = draw(st.sampled_from(["bytes", "tree", "tree", "tree", "duplicate", "deep",
                                "random", "asis"]))
    raw = json.dumps(seed, ensure_ascii=draw(st.booleans())).encode(
            "utf-8", "surrogatepass")
    if how == "bytes":
        return draw(byte_mutations(raw))
    if how == "tree":
        return json.dumps(draw(tree_mutations(seed)),
                          ensure_ascii=draw(st.booleans())).encode(
            "utf-8", "surrogatepass")
    if how == "duplicate":  # a key twice: which one wins is the parser's choice
        key = draw(st.sampled_from(list(seed) or ["x"]))
        return b"{" + json.dumps(key).encode() + b":" + json.dumps(draw(json_values)).encode() \
            + b"," + raw[1:]  # json.dumps escapes: ASCII
    if how == "deep":  # past the parser's recursion limit, mostly
        depth = draw(st.sampled_from([900, 5_000, 100_000]) | st.integers(500, 20_000))
        opener, closer = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}")]))
        return opener * depth + b"1" + closer * depth
    if how == "random":
        return draw(st.binary(max_size=300))
    return raw


@st.composite
def form_mutations(draw: st.DrawFn, body: bytes, content_type: str) -> bytes:
    """A Slack request mutated as bytes or as a document (a JSON body, a form or its
    payload); or random bytes."""
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
        return json.dumps(draw(tree_mutations(json.loads(body))),
                          ensure_ascii=draw(st.booleans())).encode(
            "utf-8", "surrogatepass")
    if "payload" in fields and how == "tree":
        payload = draw(tree_mutations(json.loads(fields["payload"])))
        return urlencode({"payload": json.dumps(payload, ensure_ascii=draw(st.booleans()))},
                         errors="surrogatepass").encode()
    mutated = draw(tree_mutations(fields))
    if not isinstance(mutated, dict):
        return json.dumps(mutated).encode()
    return urlencode({str(k): json.dumps(v) if not isinstance(v, str) else v
                      for k, v in mutated.items()}, errors="surrogatepass").encode()


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
                     "X-Hub-Signature-256", "X-Hub-Signature", "Content-Encoding",
                     "X-Anything"]),
    header_values, max_size=2)
signings = st.sampled_from(["signed"] * 5 + ["none", "forged", "stale", "future", "garbled"])


def signed(headers: dict[str, str | bytes], how: str, stamp: str, signature: str,
           *, ts_header: str | None, sig_header: str) -> dict[str, str | bytes]:
    """`headers` with the signature as `how` says: right, missing, forged, too old, from
    the future (for schemes with a timestamp), or garbled bytes."""
    if how == "none":
        return headers
    if how == "forged":
        signature = signature[:-4] + ("beef" if not signature.endswith("beef") else "cafe")
    elif how in ("stale", "future") and ts_header is not None:
        stamp = str(int(stamp) + (-301 if how == "stale" else 360))  # the clock moves on
    elif how == "garbled":
        garbled: dict[str, str | bytes] = {**headers, sig_header: signature.encode() + b"\xe9"}
        if ts_header is not None:
            garbled[ts_header] = stamp.encode() + b"\xa0"
        return garbled
    elif how in ("stale", "future"):  # no timestamp in the scheme: another body's signature
        signature = meta_signature(b"{}", META_SECRET)
    if ts_header is None:
        return {**headers, sig_header: signature}
    return {**headers, ts_header: stamp, sig_header: signature}


# ------------------------------------------------------------------ Slack's requests

USER = "U0STAFF"
TRIGGER = "1000000.1700000000." + "0" * 32  # a fresh one from the fake Slack replaces it


def slack_seeds() -> list[tuple[bytes, str]]:
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


@st.composite
def slack_bodies(draw: st.DrawFn, seeds: list[tuple[bytes, str]]) -> tuple[bytes, str, bool]:
    """A real Slack body (its content type, whether it carries a trigger_id) mutated."""
    body, content_type = draw(st.sampled_from(seeds))
    return draw(form_mutations(body, content_type)), content_type, TRIGGER.encode() in body


# ------------------------------------------------------------------ one request per edge


def send_webhook(edge: Edge, raw: bytes, source: str, content_type: str | None, signing: str,
                 extra: dict[str, str], tally: Tally | None = None) -> Answer:
    """One request to `/ingest/{source}`, its invariants checked."""
    headers: dict[str, str | bytes] = {key: value for key, value in extra.items()
                                       if not key.startswith("X-Vigie")}
    headers["Content-Type"] = content_type or JSON
    stamp = str(int(time.time()))
    headers = signed(headers, signing, stamp, sign_webhook(WEBHOOK_SECRET, int(stamp), raw),
                     ts_header="X-Vigie-Timestamp", sig_header="X-Vigie-Signature")
    answer = edge.post(f"/ingest/{source}", raw, headers)
    check_answer(edge, answer, tally=tally)
    if signing != "signed" and source == "monitoring" and len(raw) <= 64 * 1024:
        assert answer.status == 401, answer.status
    return answer


def send_meta(edge: Edge, path: str, raw: bytes, content_type: str | None, signing: str,
              extra: dict[str, str], tally: Tally | None = None) -> Answer:
    """One delivery to a Meta route (`/webhooks/facebook`…), its invariants checked; an
    unsigned or forged one is a 403 that stores nothing."""
    headers: dict[str, str | bytes] = {key: value for key, value in extra.items()
                                       if not key.lower().startswith("x-hub")}
    headers["Content-Type"] = content_type or JSON
    headers = signed(headers, signing, "0", meta_signature(raw, META_SECRET), ts_header=None,
                     sig_header=SIGNATURE_HEADER)
    answer = edge.post(path, raw, headers)
    check_answer(edge, answer, tally=tally)
    if signing != "signed" and len(raw) <= 256 * 1024:
        assert answer.status == 403, answer.status
    return answer


def send_slack(edge: Edge, raw: bytes, content_type: str, signing: str,
               extra: dict[str, str], tally: Tally | None = None) -> Answer:
    """One request to `/slack/events`, its invariants checked: unsigned ones are a 401;
    whatever the edge refuses (400, 401, 413) reached nothing, with one log line."""
    headers: dict[str, str | bytes] = {
        key: value for key, value in extra.items() if not key.startswith("X-Slack-Sig")
        and key != "X-Slack-Request-Timestamp"}
    headers["Content-Type"] = content_type
    stamp = str(int(time.time()))
    headers = signed(headers, signing, stamp, sign_slack(SIGNING_SECRET, stamp, raw),
                     ts_header="X-Slack-Request-Timestamp", sig_header="X-Slack-Signature")
    answer = edge.post("/slack/events", raw, headers)
    check_answer(edge, answer, tally=tally)
    if answer.status in (400, 401, 413):  # refused at the edge
        assert not answer.parsed
        assert len(answer.logs) == 1, [r.getMessage() for r in answer.logs]
    if signing != "signed" and len(raw) <= 1024 * 1024:
        assert answer.status == 401, answer.status
    return answer


def fresh_database(directory: Path) -> str:
    """A migrated SQLite database in `directory` (for runs outside pytest)."""
    from bot.store import make_engine, upgrade

    url = f"sqlite:///{directory / 'vigie.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url
