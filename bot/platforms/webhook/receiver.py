"""The signed mention webhook: `POST /ingest/{source_id}`.

Any monitoring tool that can call a URL can feed Vigie. The body is a JSON `MentionIn`
(see README, "Webhook"); it is authenticated with HMAC-SHA256 over
`"{X-Vigie-Timestamp}.{raw body}"` with the source's secret, sent as
`X-Vigie-Signature: v1=<hex>`. Requests older (or newer) than five minutes are refused,
so a captured request cannot be replayed later. These errors are for the integrator's
logs, so they are in English.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import SecretStr, ValidationError

from bot.clock import Clock
from bot.config import Config, Source
from bot.mentions.models import MentionIn
from bot.mentions.service import Intake, UnknownAccount

MAX_AGE_SECONDS = 300
MAX_BODY_BYTES = 64 * 1024


@dataclass
class WebhookRejected(Exception):
    status: int
    error: str
    details: list[dict[str, Any]] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error": self.error}
        if self.details:
            body["details"] = self.details
        return body


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value a caller must send (used by tests and the README)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"v1={digest.hexdigest()}"


def verify(*, secret: str, timestamp: str | None, signature: str | None, body: bytes,
           now: datetime) -> None:
    if not timestamp or not signature:
        raise WebhookRejected(
            401, "X-Vigie-Timestamp and X-Vigie-Signature headers are required"
        )
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise WebhookRejected(401, "X-Vigie-Timestamp must be Unix time in seconds") from None
    age = int(now.timestamp()) - sent_at
    if abs(age) > MAX_AGE_SECONDS:
        raise WebhookRejected(
            401,
            f"request timestamp is {age} s off (at most {MAX_AGE_SECONDS} s): "
            "replayed request or clock out of sync",
        )
    sent = signature.strip()
    if not sent.isascii() or not hmac.compare_digest(sign(secret, sent_at, body), sent):
        raise WebhookRejected(
            401, 'invalid signature: expected v1=<hex HMAC-SHA256 of "{timestamp}.{body}">'
        )


def parse(body: bytes) -> MentionIn:
    try:
        raw = json.loads(body)
    except RecursionError:
        raise WebhookRejected(400, "body is not valid JSON: nested too deeply") from None
    except ValueError as exc:  # not JSON, not UTF-8, or a number of over 4300 digits
        raise WebhookRejected(400, f"body is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise WebhookRejected(422, "body must be a JSON object (one mention)")
    nul = _nul_field(raw)
    if nul is not None:
        raise WebhookRejected(422, "mention does not match the schema", [{
            "field": nul, "problem": "contains a NUL character (\\u0000), which cannot be stored"}])
    try:
        return MentionIn.model_validate(raw)
    except ValidationError as exc:
        details = [
            {"field": ".".join(str(p) for p in error["loc"]), "problem": error["msg"]}
            for error in exc.errors(include_url=False, include_input=False)
        ]
        raise WebhookRejected(422, "mention does not match the schema", details) from None


def _nul_field(raw: dict[str, Any]) -> str | None:
    """The dotted path of the first string holding a NUL, which PostgreSQL refuses to store."""
    stack: list[tuple[str, Any]] = [("", raw)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str) and "\x00" in item:
            return path or "body"
        if isinstance(item, dict):
            for key, value in item.items():
                name = f"{path}.{key}" if path else str(key)
                if "\x00" in key:
                    return name
                stack.append((name, value))
        elif isinstance(item, list):
            stack.extend((f"{path}.{index}", value) for index, value in enumerate(item))
    return None


def source_secrets(
    config: Config, environ: Mapping[str, str] | None = None
) -> dict[str, SecretStr]:
    """Read each webhook source's secret from the environment variable it names."""
    env = os.environ if environ is None else environ
    secrets: dict[str, SecretStr] = {}
    for source in config.sources:
        if source.secret_env and env.get(source.secret_env):
            secrets[source.id] = SecretStr(env[source.secret_env])
    return secrets


class WebhookReceiver:
    """Checks a webhook call against its source's secret and hands the mention to intake."""

    def __init__(self, *, config: Config, secrets: dict[str, SecretStr], intake: Intake,
                 clock: Clock, sources: Callable[[str], Source | None] | None = None,
                 environ: Mapping[str, str] | None = None) -> None:
        self._config = config
        self._secrets = secrets
        self._intake = intake
        self._clock = clock
        self._source = sources or config.source  # sources added from Slack count too
        self._environ = environ or {}

    def _secret(self, source: Source) -> SecretStr | None:
        known = self._secrets.get(source.id)
        if known is not None:
            return known
        value = self._environ.get(source.secret_env or "", "")
        return SecretStr(value) if value else None

    def receive(self, source_id: str, headers: Mapping[str, str], body: bytes
                ) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON body) for one call; nothing is stored unless it is 200/201."""
        try:
            source = self._source(source_id)
            if source is None or source.type != "webhook" or not source.enabled:
                raise WebhookRejected(404, f"unknown webhook source: {source_id!r}")
            secret = self._secret(source)
            if secret is None:
                raise WebhookRejected(
                    503, f"source {source_id!r} has no secret configured ({source.secret_env})"
                )
            if len(body) > MAX_BODY_BYTES:
                raise WebhookRejected(
                    413, f"body too large ({len(body)} bytes, at most {MAX_BODY_BYTES})"
                )
            verify(
                secret=secret.get_secret_value(),
                timestamp=headers.get("x-vigie-timestamp"),
                signature=headers.get("x-vigie-signature"),
                body=body,
                now=self._clock.now(),
            )
            mention = parse(body)
            result = self._intake.ingest(source_id, mention)
        except WebhookRejected as rejected:
            return rejected.status, rejected.body()
        except UnknownAccount as exc:
            return 422, WebhookRejected(
                422, "mention does not match the schema",
                [{"field": "account", "problem": str(exc)}],
            ).body()
        return (200 if result.duplicate else 201), {
            "ok": True,
            "id": result.mention_id,
            "duplicate": result.duplicate,
            "channel": result.channel,
        }
