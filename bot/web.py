"""The HTTP edge: `/slack/events`, `/healthz`, `/readyz`, `/metrics` and the platforms'
routes (the webhook's `/ingest/{source_id}`, `bot.platforms`) on Starlette.

`/healthz` is liveness: 200 while the database answers (restart the process otherwise).
`/readyz` is readiness: 503 while this replica should get no traffic (database
unreachable, schema not the code's, stopping), 200 otherwise, and both name what is
degraded. `/metrics` is Prometheus' text format (`bot.metrics`); keep it off the public
side of the proxy (the shipped configuration refuses it there).
Every request runs as one piece of work for the logs (`bot.logs`), with the proxy's
`X-Request-Id` when it sends one, and is counted and timed by route.

Bolt's sync `App` and the SQLModel services are blocking code, so every request runs
them on a worker thread (`run_in_threadpool`) and the event loop only moves bytes. This
keeps acks fast under concurrent load: see `bench/http_ack.py` for the measurement
against Bolt's own Starlette adapter, which calls `App.dispatch` inside the loop.

Nothing from Slack is parsed before its signature is checked on the raw bytes, and
nothing malformed reaches Bolt (`bot.slack_edge`): a forged request is a 401, a signed
but malformed one a 400, each with one log line and no traceback.

Clicks (`block_actions`) are acknowledged here, once their signature is checked, and
handed to Bolt on the edge's own threads: Slack expects an empty 200 for them whatever the
listener does, and a sync Bolt app only notices its listener's `ack()` on a 10 ms poll,
behind the card's update competing for the interpreter (`bench/interaction.py`).
Everything else (commands, views, options, events) is answered by Bolt, as its answer
can carry content.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_bolt.context import BoltContext
from slack_bolt.request.internals import build_context
from slack_bolt.response import BoltResponse
from sqlalchemy.exc import DBAPIError, PendingRollbackError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot import metrics
from bot.logs import database_trouble, request_id, working
from bot.platforms.base import WebRequest, WebRoute
from bot.slack_edge import MAX_BODY_BYTES as MAX_SLACK_BODY_BYTES
from bot.slack_edge import Refused, check_signature
from bot.slack_edge import parse as parse_slack_body
from bot.store import is_reachable

if TYPE_CHECKING:
    from pydantic import SecretStr

    from bot.app import Vigie

log = logging.getLogger(__name__)

ACKED_AT_THE_EDGE = frozenset({"block_actions"})
RETRY_AFTER = 5  # seconds an integrator is asked to wait while the database is away


def create_web_app(vigie: Vigie, *, slack_events: bool = True) -> Starlette:
    """The ASGI app. Socket Mode serves it without `/slack/events`."""
    secret = vigie.settings.slack_signing_secret

    async def healthz(request: Request) -> Response:
        # 503 only without the database: without Slack the intake still works (mentions
        # wait as pending), and a load balancer pulling every replica would help nobody.
        database = await run_in_threadpool(is_reachable, vigie.engine)
        parts, degraded = vigie.health.report()
        body = {"ok": database, "database": "reachable" if database else "unreachable",
                **parts, "degraded": ([] if database else ["database"]) + degraded}
        return JSONResponse(body, status_code=200 if database else 503)

    async def readyz(request: Request) -> Response:
        ready, body = await run_in_threadpool(vigie.readiness)
        return JSONResponse(body, status_code=200 if ready else 503)

    async def metrics_(request: Request) -> Response:
        body = await run_in_threadpool(metrics.exposition, vigie.state_metrics)
        return Response(body, media_type=metrics.CONTENT_TYPE)

    async def slack(request: Request) -> Response:
        body = await _read_capped(request, MAX_SLACK_BODY_BYTES + 1)
        try:
            payload = _checked_slack_request(secret, request, body)
        except Refused as refused:
            log.warning("/slack/events: refused (%d): %s", refused.status, refused.reason)
            return JSONResponse({"error": refused.reason}, status_code=refused.status)
        bolt_request = to_bolt_request(request, body)
        if bolt_request.body != payload:
            # Bolt reads any form whose bytes contain "payload" as an interactivity
            # payload, so `/draft the payload of the rocket` reached no listener (404).
            # The signature was checked on the raw bytes above; Bolt gets the true reading.
            bolt_request.body = payload
            bolt_request.context = build_context(BoltContext({}), payload)
        if payload.get("type") in ACKED_AT_THE_EDGE:
            handled = vigie.click_pool.submit(vigie.bolt.dispatch, bolt_request)
            handled.add_done_callback(_log_failure)
            return Response(status_code=200)
        bolt_response = await run_in_threadpool(vigie.bolt.dispatch, bolt_request)
        return to_starlette_response(bolt_response)

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_, methods=["GET"]),
        *(Route(route.path, _platform_endpoint(route), methods=list(route.methods))
          for route in vigie.web_routes),
    ]
    if slack_events:
        routes.append(Route("/slack/events", slack, methods=["POST"]))
    return Starlette(routes=routes, middleware=[Middleware(_Work)])


def _platform_endpoint(route: WebRoute) -> Any:
    """A platform's route (`bot.platforms.base.WebRoute`, e.g. the webhook's
    `/ingest/{source_id}`): the raw body, capped, handled on a worker thread."""

    async def endpoint(request: Request) -> Response:
        body = await _read_capped(request, route.max_body + 1)
        try:
            answer = await run_in_threadpool(route.handle, WebRequest(
                method=request.method, path_params=dict(request.path_params),
                query=dict(request.query_params), headers=request.headers, body=body))
        except (DBAPIError, PendingRollbackError) as exc:  # the sender sends it again
            # PendingRollbackError: the connection died mid-commit (PostgreSQL restarting)
            # and SQLAlchemy says so instead of the driver's error. Stored or not, a
            # mention sent again is recognised by its id.
            log.warning("%.80s: database unavailable (%s); answered 503", request.url.path,
                        database_trouble(exc) or type(exc).__name__)
            return JSONResponse({"ok": False, "error": "database unavailable; send it again"},
                                status_code=503, headers={"Retry-After": str(RETRY_AFTER)})
        if answer.status >= 400:  # the sender's mistake or a forgery: one line, no traceback
            error = answer.json.get("error", "") if isinstance(answer.json, dict) else ""
            log.warning("%.80s: refused (%d): %.200s", request.url.path, answer.status, error)
        if answer.text is not None:
            return PlainTextResponse(answer.text, status_code=answer.status)
        return JSONResponse(answer.json, status_code=answer.status)

    return endpoint


def _checked_slack_request(secret: SecretStr | None, request: Request, body: bytes
                           ) -> dict[str, Any]:
    """The parsed body of a signed, well-formed Slack request; `Refused` otherwise.

    The signature is checked on the raw bytes before anything reads them. Without a
    signing secret (never for `vigie serve`, which requires one) Bolt does not verify
    either, and only the shape is checked."""
    if len(body) > MAX_SLACK_BODY_BYTES:
        raise Refused(413, f"body over {MAX_SLACK_BODY_BYTES} bytes")
    if secret is not None:
        check_signature(secret=secret.get_secret_value(),
                        timestamps=request.headers.getlist("x-slack-request-timestamp"),
                        signatures=request.headers.getlist("x-slack-signature"),
                        body=body, now=time.time())  # Bolt checks against the wall clock too
    return parse_slack_body(body, request.headers.getlist("content-type"))


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


_ROUTES = {"/slack/events": "/slack/events", "/healthz": "/healthz", "/readyz": "/readyz",
           "/metrics": "/metrics"}


def route_label(path: str) -> str:
    """The route a path belongs to, as a metric label (never the path itself)."""
    if path.startswith("/ingest/"):
        return "/ingest/{source}"
    return _ROUTES.get(path, "other")


class _Work:
    """Each request: one work id for its log lines (given back as `X-Request-Id`),
    counted and timed by route and status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-request-id", b"").decode("latin-1") or None
        route = route_label(scope.get("path", ""))
        started = time.perf_counter()
        status = 500

        with working("req", request_id(given)) as work:
            async def send_with_id(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    message.setdefault("headers", [])
                    message["headers"] = [*message["headers"],
                                          (b"x-request-id", work.encode("latin-1"))]
                await send(message)

            try:
                await self.app(scope, receive, send_with_id)
            finally:
                metrics.HTTP_REQUESTS.labels(route, str(status)).inc()
                metrics.HTTP_SECONDS.labels(route).observe(time.perf_counter() - started)
