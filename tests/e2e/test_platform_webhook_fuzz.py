"""Fuzzing the platforms' webhooks (`/webhooks/facebook`, `/webhooks/instagram`,
`/webhooks/threads`): Meta's documented deliveries, mutated (values retyped, emptied,
blown up, made strange: right-to-left, zero-width, lone surrogates, NUL; keys repeated;
bytes cut; nested thousands deep) and sent signed, unsigned, forged or garbled. Never a
5xx or a traceback; an unsigned or forged delivery is a 403 that stores nothing; every
mention stored renders a card Slack accepts. The strategies are shared with the campaign
(`tests/support/fuzzing.py`); `VIGIE_FUZZ_EXAMPLES` raises the count as in
`test_http_edge_fuzz.py`."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, col, select

from bot.mentions.models import Mention
from bot.platforms.meta.webhook import SIGNATURE_HEADER, signature
from bot.sandbox.slack import FakeSlack
from tests.support.edge import Edge
from tests.support.fuzzing import (
    META_SECRET,
    PAGE,
    content_types,
    extra_headers,
    json_bodies,
    meta_seeds,
    open_edge,
    send_meta,
    signings,
)

EXAMPLES = int(os.environ.get("VIGIE_FUZZ_EXAMPLES", "100"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])
pytestmark = pytest.mark.timeout(60 + EXAMPLES)
SEEDS = meta_seeds()


@pytest.fixture
def meta_edge(database_url: str, slack: FakeSlack) -> Iterator[Edge]:
    with open_edge(database_url, slack) as edge:
        yield edge


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[str, bytes]:
    path = draw(st.sampled_from(sorted(SEEDS)))
    return path, draw(json_bodies(SEEDS[path]))


@FUZZ
@given(delivery=deliveries(), content_type=content_types, signing=signings,
       extra=extra_headers)
def test_meta_webhooks_survive_mutated_deliveries(meta_edge: Edge,
                                                  delivery: tuple[str, bytes],
                                                  content_type: str | None, signing: str,
                                                  extra: dict[str, str]) -> None:
    """Mutated deliveries never get a 5xx or a traceback; forged ones store nothing."""
    path, raw = delivery
    answer = send_meta(meta_edge, path, raw, content_type, signing, extra)
    event(f"{path} {answer.status}")


def _post(edge: Edge, path: str, payload: object | bytes) -> int:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    answer = edge.post(path, raw, {"Content-Type": "application/json",
                                   SIGNATURE_HEADER: signature(raw, META_SECRET)})
    assert answer.status < 500 and answer.logs is not None
    return answer.status


@pytest.mark.parametrize("path", sorted(SEEDS))
def test_a_signed_delivery_nested_too_deeply_is_a_400(meta_edge: Edge, path: str) -> None:
    """Found by the campaign: a signed body nested 100,000 deep crashed the parser (500)
    on every Meta route; it is refused as unreadable and stores nothing."""
    depth = 100_000
    assert _post(meta_edge, path, b"[" * depth + b"]" * depth) == 400


def test_strings_meta_could_never_store_are_cleaned_not_crashed_on(meta_edge: Edge) -> None:
    """Found by the campaign: a lone surrogate in a comment was a 500 (not UTF-8), a NUL
    was stored as is (PostgreSQL refuses it), a time past year 9999 was a 500. The
    comment is stored, its text cleaned, its time read as unknown."""
    delivery = SEEDS["/webhooks/facebook"][0]
    value = delivery["entry"][0]["changes"][0]["value"]
    strange = {**delivery, "entry": [{**delivery["entry"][0], "time": 1e400, "changes": [
        {"field": "feed", "value": {**value, "message": "allô \ud800 la\x00 radio",
                                    "created_time": "99999999999999999999"}}]}]}
    assert _post(meta_edge, "/webhooks/facebook", json.dumps(strange).encode()) == 200
    with Session(meta_edge.vigie.engine) as session:
        [mention] = session.exec(select(Mention).where(col(Mention.source_id)
                                                       == "fb-matinale")).all()
    assert mention.text == "allô ? la radio"
    assert mention.external_id == f"facebook:{value['comment_id']}"
    assert PAGE in json.dumps(delivery)
