from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bot.platforms.webhook.receiver import WebhookRejected, parse, sign, verify

NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
TS = int(NOW.timestamp())
BODY = json.dumps({
    "external_id": "m0001", "text": "Bonjour", "author": {"handle": "@a@b.example"},
    "created_at": "2026-11-02T07:04:39Z", "account": "matinale", "platform": "mastodon",
    "language": "fr-FR", "url": "https://b.example/@a/1",
}).encode()


def rejected(**kwargs: object) -> WebhookRejected:
    with pytest.raises(WebhookRejected) as caught:
        verify(**{"secret": "k" * 20, "body": BODY, "now": NOW, **kwargs})  # type: ignore[arg-type]
    return caught.value


def test_good_signature_passes() -> None:
    """A body signed with the source's secret within five minutes is accepted."""
    verify(secret="k" * 20, timestamp=str(TS), signature=sign("k" * 20, TS, BODY), body=BODY,
           now=NOW)


def test_unsigned_wrongly_signed_and_stale_requests_are_401() -> None:
    """Missing headers, a wrong secret, a tampered body and a replay are all refused."""
    assert rejected(timestamp=None, signature=None).status == 401
    assert "invalid signature" in rejected(timestamp=str(TS),
                                           signature=sign("wrong" * 4, TS, BODY)).error
    assert rejected(timestamp=str(TS), signature=sign("k" * 20, TS, BODY + b" ")).status == 401
    stale = rejected(timestamp=str(TS - 301), signature=sign("k" * 20, TS - 301, BODY))
    assert stale.status == 401 and "301 s off" in stale.error
    assert "Unix time" in rejected(timestamp="yesterday", signature="v1=00").error


def test_schema_is_enforced_with_field_level_details() -> None:
    """Missing text, a bad date and an unknown field are each named."""
    with pytest.raises(WebhookRejected) as caught:
        parse(json.dumps({"external_id": "1", "author": {"handle": "x"},
                          "created_at": "hier", "colour": "red"}).encode())
    assert caught.value.status == 422
    fields = {d["field"] for d in caught.value.details}
    assert fields == {"text", "created_at", "colour"}


def test_not_json_is_400_and_json_list_is_422() -> None:
    """Garbage is a 400; valid JSON of the wrong shape a 422."""
    with pytest.raises(WebhookRejected) as caught:
        parse(b"{not json")
    assert caught.value.status == 400
    with pytest.raises(WebhookRejected) as caught:
        parse(b"[]")
    assert caught.value.status == 422


def test_parsed_mention_is_normalised() -> None:
    """Language tags are shortened and times made UTC."""
    mention = parse(BODY)
    assert mention.lang == "fr"
    assert mention.created_at == datetime(2026, 11, 2, 7, 4, 39, tzinfo=UTC)
    assert mention.author.handle == "@a@b.example"
