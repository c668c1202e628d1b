"""The HTTP edge: `/slack/events`, `/ingest/{source_id}` and `/healthz` on Starlette.

Bolt's sync `App` and the SQLModel services are blocking code, so every request runs
them on a worker thread (`run_in_threadpool`) and the event loop only moves bytes. This
keeps acks fast under concurrent load: see `bench/http_ack.py` for the measurement
against Bolt's own Starlette adapter, which calls `App.dispatch` inside the loop.

Clicks (`block_actions`) are acknowledged here, once their signature is checked, and
handed to Bolt on the edge's own threads: Slack expects an empty 200 for them whatever the
listener does, and a sync Bolt app only notices its listener's `ack()` on a 10 ms poll,
behind the card's update competing for the interpreter (`bench/interaction.py`).
Everything else (commands, views, options, events) is answered by Bolt, as its answer
can carry content.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import Future
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_bolt.response import BoltResponse
from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.connectors.webhook import MAX_BODY_BYTES
from bot.store import is_reachable

if TYPE_CHECKING:
    from bot.app import Vigie

log = logging.getLogger(__name__)

ACKED_AT_THE_EDGE = frozenset({"block_actions"})


def create_web_app(vigie: Vigie, *, slack_events: bool = True) -> Starlette:
    """The ASGI app. Socket Mode serves it without `/slack/events`."""
    secret = vigie.settings.slack_signing_secret
    verifier = SignatureVerifier(secret.get_secret_value()) if secret else None

    async def healthz(request: Request) -> Response:
        # 503 only without the database: without Slack the intake still works (mentions
        # wait as pending), and a load balancer pulling every replica would help nobody.
        database = await run_in_threadpool(is_reachable, vigie.engine)
        parts, degraded = vigie.health.report()
        body = {"ok": database, "database": "reachable" if database else "unreachable",
                **parts, "degraded": ([] if database else ["database"]) + degraded}
        return JSONResponse(body, status_code=200 if database else 503)

    async def ingest(request: Request) -> Response:
        body = await _read_capped(request, MAX_BODY_BYTES + 1)
        status, payload = await run_in_threadpool(
            vigie.webhook.receive, request.path_params["source_id"], request.headers, body
        )
        return JSONResponse(payload, status_code=status)

    async def slack(request: Request) -> Response:
        body = await request.body()
        bolt_request = to_bolt_request(request, body)
        if _payload_type(body) in ACKED_AT_THE_EDGE and (
                verifier is None or verifier.is_valid_request(body, dict(request.headers))):
            handled = vigie.click_pool.submit(vigie.bolt.dispatch, bolt_request)
            handled.add_done_callback(_log_failure)
            return Response(status_code=200)
        bolt_response = await run_in_threadpool(vigie.bolt.dispatch, bolt_request)
        return to_starlette_response(bolt_response)

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/ingest/{source_id}", ingest, methods=["POST"]),
    ]
    if slack_events:
        routes.append(Route("/slack/events", slack, methods=["POST"]))
    return Starlette(routes=routes)


def _payload_type(body: bytes) -> str | None:
    """The `type` of an interactivity payload (`payload=<json>`, form-encoded), if any."""
    if not body.startswith(b"payload="):
        return None
    try:
        payload = json.loads(parse_qs(body.decode())["payload"][0])
    except (ValueError, KeyError, IndexError):
        return None
    kind = payload.get("type") if isinstance(payload, dict) else None
    return kind if isinstance(kind, str) else None


def _log_failure(future: Future[BoltResponse]) -> None:
    if future.exception() is not None:
        log.error("a click could not be handled", exc_info=future.exception())


async def _read_capped(request: Request, limit: int) -> bytes:
    """Read at most `limit` bytes: an oversized body is refused without buffering it all."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(chunks)
