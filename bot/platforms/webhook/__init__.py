"""The signed mention webhook: any monitoring tool that can call a URL feeds Vigie
(`POST /ingest/{source_id}`, see `receiver`). Push only; Vigie never writes back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from bot.platforms.base import (
    Connection,
    Context,
    Platform,
    SourceField,
    WebRequest,
    WebResponse,
    WebRoute,
)
from bot.settings import Problem

if TYPE_CHECKING:
    from bot.config import Source
    from bot.mentions.service import Intake

MIN_SECRET_LENGTH = 16


class WebhookPlatform(Platform):
    name = "webhook"
    label = "Webhook"
    listens = frozenset({"push"})
    source_fields = (SourceField("secret_env", "the name of the environment variable "
                                 "holding its signing secret"),)

    def secret_problems(self, source: Source, index: int, environ: Mapping[str, str]
                        ) -> list[Problem]:
        if not source.secret_env:
            return []
        value = environ.get(source.secret_env, "")
        if not value:
            return [Problem(
                source.secret_env, f"is not set; source {source.id!r} (sources[{index}]) "
                "needs it", "generate one with: python -c \"import secrets; "
                "print(secrets.token_hex(32))\" and give the same value to the tool that "
                "calls the webhook")]
        if len(value) < MIN_SECRET_LENGTH:
            return [Problem(source.secret_env,
                            f"is too short (at least {MIN_SECRET_LENGTH} characters)", "")]
        return []

    def connect(self, context: Context) -> Connection:
        def push(intake: Intake) -> Sequence[WebRoute]:
            from bot.platforms.webhook.receiver import (
                MAX_BODY_BYTES,
                WebhookReceiver,
                source_secrets,
            )

            receiver = WebhookReceiver(
                config=context.config, secrets=source_secrets(context.config, context.environ),
                intake=intake, clock=context.clock,
                sources=lambda source_id: next(
                    (s for s in context.sources() if s.id == source_id), None),
                environ=context.environ)

            def ingest(request: WebRequest) -> WebResponse:
                status, body = receiver.receive(request.path_params["source_id"],
                                                request.headers, request.body)
                return WebResponse(status, json=body)

            return [WebRoute("/ingest/{source_id}", ("POST",), ingest, MAX_BODY_BYTES)]

        return Connection(push=push)


WEBHOOK = WebhookPlatform()
