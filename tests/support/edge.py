"""The HTTP edge in-process: the real Starlette app behind a TestClient, with what a test of
`/slack/events` and `/ingest/{source}` must see around each request: every log record, the
rows in every table, and the listener work still running after the answer."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
from sqlalchemy import func, select

from bot.app import Vigie
from bot.models import metadata
from bot.platforms.webhook.receiver import sign as sign_webhook
from bot.sandbox.driver import SlackDriver
from bot.web import create_web_app

QUIET = ("httpx", "httpcore")  # the test client's own request lines


class Recorder(logging.Handler):
    """Every record from the app's loggers (the test client's own excepted)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if not record.name.startswith(QUIET):
            self.records.append(record)


@contextmanager
def recording_logs(level: int = logging.INFO) -> Iterator[Recorder]:
    """Capture records at `level` and above from every logger, including worker threads."""
    root = logging.getLogger()
    recorder = Recorder()
    recorder.setLevel(level)
    previous = root.level
    root.addHandler(recorder)
    root.setLevel(level)
    try:
        yield recorder
    finally:
        root.removeHandler(recorder)
        root.setLevel(previous)


def tracebacks(records: list[logging.LogRecord]) -> list[str]:
    """The records an operator would read as a crash: ERROR and above, or any exc_info."""
    return [f"{r.name}: {r.getMessage()}" for r in records
            if r.levelno >= logging.ERROR or r.exc_info or r.exc_text or r.stack_info]


@dataclass
class Answer:
    status: int
    text: str
    logs: list[logging.LogRecord]
    stored: dict[str, int]  # rows added per table while the request (and its listeners) ran
    parsed: bool  # whether Bolt was handed the request


class Edge:
    """Sends raw requests to `create_web_app(vigie)` and reports what each one did."""

    def __init__(self, vigie: Vigie, recorder: Recorder) -> None:
        self.vigie = vigie
        self.recorder = recorder
        self.app = create_web_app(vigie)
        self._pending: list[Future[Any]] = []
        self._dispatched = 0
        if vigie.listen is not None:
            vigie.listen.catalog.seed()  # the newsroom file's sources, copied on first use
        for pool in (vigie.listener_pool, vigie.click_pool):
            self._track(pool)
        dispatch = vigie.bolt.dispatch

        def counted(request: Any) -> Any:
            self._dispatched += 1
            return dispatch(request)

        vigie.bolt.dispatch = counted  # type: ignore[method-assign,assignment]

    def __repr__(self) -> str:  # Hypothesis prints the fixtures of a failing example
        return f"Edge({self.vigie.settings.database_url})"

    def _track(self, pool: ThreadPoolExecutor) -> None:
        """Remember every task handed to `pool`, so a test can wait for all of them."""
        submit = pool.submit

        def tracked(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
            future = submit(fn, *args, **kwargs)
            self._pending.append(future)
            return future

        pool.submit = tracked  # type: ignore[method-assign]

    def settle(self, timeout: float = 60) -> None:
        """Wait for the listeners still running after their answer (clicks, events)."""
        deadline = time.monotonic() + timeout
        while self._pending:
            done, _ = wait(list(self._pending), timeout=max(0.0, deadline - time.monotonic()))
            if not done:
                raise TimeoutError("listeners still running after the answer")
            self._pending = [f for f in self._pending if f not in done]

    async def _send(self, path: str, body: bytes, headers: Mapping[str, str | bytes]
                    ) -> httpx.Response:
        """Through the ASGI interface, as uvicorn calls it; a crash is a 500, as there."""
        transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://vigie") as client:
            return await client.post(path, content=body, headers={
                name.encode(): value.encode("latin-1") if isinstance(value, str) else value
                for name, value in headers.items()})

    def rows(self) -> dict[str, int]:
        with self.vigie.engine.connect() as connection:
            return {table.name: int(connection.execute(
                select(func.count()).select_from(table)).scalar_one())
                for table in metadata.sorted_tables}

    def post(self, path: str, body: bytes, headers: Mapping[str, str | bytes]) -> Answer:
        """POST `body` as is; the answer, the log records and the rows it added."""
        self.settle()
        before, logged, dispatched = self.rows(), len(self.recorder.records), self._dispatched
        response = anyio.run(self._send, path, body, headers)
        self.settle()
        after = self.rows()
        return Answer(
            status=response.status_code, text=response.text,
            logs=self.recorder.records[logged:],
            stored={name: after[name] - before[name]
                    for name in after if after[name] != before[name]},
            parsed=self._dispatched > dispatched,
        )


def slack_headers(body: bytes, secret: str, *, content_type: str,
                  timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack sends with `body` (signed with `secret`)."""
    from bot.sandbox.driver import sign

    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": sign(secret, ts, body)}


def webhook_headers(body: bytes, secret: str, *, timestamp: int | None = None
                    ) -> dict[str, str]:
    """The headers the README tells integrators to send with `body`."""
    sent_at = int(time.time()) if timestamp is None else timestamp
    return {"Content-Type": "application/json", "X-Vigie-Timestamp": str(sent_at),
            "X-Vigie-Signature": sign_webhook(secret, sent_at, body)}


def recorded_bodies(signing_secret: str, send: Callable[[SlackDriver], object]) -> bytes:
    """The exact body a `SlackDriver` call would send, without sending it anywhere."""
    sent: list[bytes] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request.content)
        return httpx.Response(200)

    with httpx.Client(transport=httpx.MockTransport(record)) as client, SlackDriver(
            "http://slack.invalid/slack/events", signing_secret, client=client) as driver:
        send(driver)
    [body] = sent
    return body
