"""Meta's side of webhooks, for tests: deliveries built as Meta builds them (Page `feed`,
Instagram `comments` / `mentions`, Threads `replies` / `mentions`), signed with
`X-Hub-Signature-256` and POSTed — and POSTed again while the endpoint does not answer
200, as Meta retries — plus the GET verification handshake Meta makes when a callback
URL is saved.

`WebhookSink` stands in for Vigie's endpoint until the adapters are wired: a small HTTP
server that answers with `bot.platforms.meta.webhook` (handshake, signature, parsing)
and keeps one item per (external id, kind), so retries can be counted.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from bot.platforms.meta.models import MetaItem
from bot.platforms.meta.webhook import (
    SIGNATURE_HEADER,
    WebhookRefused,
    handshake,
    read_delivery,
    signature,
)


def page_feed(page_id: str, value: dict[str, Any], *, field_name: str = "feed",
              at: int | None = None) -> dict[str, Any]:
    """An `object=page` delivery with one change."""
    return {"object": "page", "entry": [{
        "id": page_id, "time": at or int(time.time()),
        "changes": [{"field": field_name, "value": value}]}]}


def page_comment(page_id: str, *, comment_id: str, post_id: str, message: str | None = "Bravo",
                 verb: str = "add", parent_id: str | None = None,
                 author: tuple[str, str] = ("10158", "Kévin Fan"),
                 created_time: int | None = None) -> dict[str, Any]:
    value: dict[str, Any] = {
        "from": {"id": author[0], "name": author[1]}, "item": "comment",
        "comment_id": comment_id, "post_id": post_id, "verb": verb,
        "parent_id": parent_id or post_id, "created_time": created_time or int(time.time())}
    if message is not None:
        value["message"] = message
    return page_feed(page_id, value)


def instagram(ig_user_id: str, field_name: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"object": "instagram", "entry": [{
        "id": ig_user_id, "time": int(time.time()),
        "changes": [{"field": field_name, "value": value}]}]}


def threads(target_id: str, field_name: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"app_id": "123456", "topic": "moderate" if field_name == "replies"
            else "interaction", "target_id": target_id, "time": int(time.time()),
            "subscription_id": "234567", "has_uid_field": False,
            "values": {"value": value, "field": field_name}}


def encode(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode()


@dataclass
class Meta:
    """Delivers to `url` as Meta does, signing with `app_secret`."""

    url: str
    app_secret: str
    timeout: float = 20.0  # Meta gives up after 20 s
    statuses: list[int] = field(default_factory=list)

    def deliver(self, payload: Any, *, attempts: int = 1, secret: str | None = None,
                body: bytes | None = None, header: str | None = None) -> list[int]:
        """POST the delivery, again while the answer is not 200 (up to `attempts`);
        each answer's status. `secret`/`header` forge it."""
        raw = body if body is not None else encode(payload)
        signed = header if header is not None else signature(raw, secret or self.app_secret)
        answers: list[int] = []
        for _ in range(attempts):
            try:
                response = httpx.post(self.url, content=raw, timeout=self.timeout, headers={
                    "Content-Type": "application/json", SIGNATURE_HEADER: signed,
                    "User-Agent": "facebookexternalua"})
                answers.append(response.status_code)
            except httpx.TimeoutException:
                answers.append(0)
            if answers[-1] == 200:
                break
        self.statuses.extend(answers)
        return answers

    def verify(self, verify_token: str, challenge: str = "1158201444") -> httpx.Response:
        """The GET Meta makes when the callback URL is saved in the App Dashboard."""
        return httpx.get(self.url, params={"hub.mode": "subscribe",
                                           "hub.verify_token": verify_token,
                                           "hub.challenge": challenge}, timeout=self.timeout)


class WebhookSink:
    """A callback URL answering with `bot.platforms.meta.webhook`. `fail_after_store`:
    the next deliveries are stored, then answered 500 (Meta will retry them)."""

    def __init__(self, *, app_secret: str, verify_token: str) -> None:
        self.app_secret = app_secret
        self.verify_token = verify_token
        self.items: dict[tuple[str, str], MetaItem] = {}
        self.received = 0
        self.refused: list[tuple[int, str]] = []
        self.fail_after_store = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def __enter__(self) -> WebhookSink:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                params = dict(parse_qsl(urlsplit(self.path).query))
                try:
                    self._answer(200, handshake(params, sink.verify_token).encode())
                except WebhookRefused as refused:
                    self._answer(refused.status, str(refused).encode())

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    items = read_delivery(raw, self.headers.get(SIGNATURE_HEADER),
                                          sink.app_secret)
                except WebhookRefused as refused:
                    with sink._lock:
                        sink.refused.append((refused.status, str(refused)))
                    self._answer(refused.status, str(refused).encode())
                    return
                with sink._lock:
                    sink.received += 1
                    for item in items:
                        sink.items.setdefault((item.external_id, item.kind), item)
                    failing = sink.fail_after_store > 0
                    sink.fail_after_store -= 1 if failing else 0
                self._answer(500 if failing else 200, b"EVENT_RECEIVED")

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True, name="WebhookSink").start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/meta/webhook"
