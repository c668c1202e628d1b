"""Running the bot in one process: the start-up that `vigie serve` and `vigie run` share.

The order is chosen so the bot serves as soon as it can, and stops only for what no
waiting can fix:
1. Slack's `auth.test` is asked in the background while the app is built;
2. a token Slack refuses for good stops here, before any job runs (exit code 2, with
   the fix). Slack merely unreachable does not stop anything: `/healthz` says
   `"slack": "unreachable"`, mentions wait as pending and Slack is asked again with
   growing delays (`bot.health`). A refusal that comes later stops the bot the same way;
3. background work starts, the HTTP edge listens, and one log line says where.

In Socket Mode the connection to Slack (`apps.connections.open`) is made in the
background too, retried with growing delays, so `/ingest` and `/healthz` never wait for it.

SIGTERM (or Ctrl-C) stops gracefully: `/readyz` says 503 at once, the listening socket
stays open `VIGIE_DRAIN_SECONDS` more (for the proxy's health check to notice), then
closes; requests under way are answered, and `Vigie.stop` finishes what was acknowledged
and releases the leader lock. The exit code is 0. A second signal stops without waiting
for the drain.
"""

from __future__ import annotations

import gc
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, Any

import uvicorn

from bot.checks import app_token_refused, bot_token_refused
from bot.health import NEVER_WORKS, Backoff, Health, SlackWatch
from bot.settings import Problem
from bot.slack import SlackGateway, make_client

if TYPE_CHECKING:
    from bot.app import Vigie
    from bot.checks import Report

log = logging.getLogger("vigie")

FIRST_ANSWER_WAIT = 5.0  # seconds start-up waits for Slack's first answer, then goes on

ProblemsSink = Callable[[list[Problem]], None]


class _Stop:
    """Ends the process from any thread, with an exit code: the server's loop sees it."""

    def __init__(self, report: ProblemsSink) -> None:
        self._report = report
        self._lock = threading.Lock()
        self.code = 0
        self.event = threading.Event()
        self.server: uvicorn.Server | None = None

    def refuse(self, problem: Problem) -> None:
        with self._lock:
            if self.code:
                return
            self.code = 2
        log.error("%s; Vigie stops", problem)
        self._report([problem])
        self.event.set()
        if self.server is not None:
            self.server.should_exit = True


class _Server(uvicorn.Server):
    """uvicorn's server, saying "ready" once it listens, with the address it got, and
    draining before it stops on a signal."""

    def __init__(self, config: uvicorn.Config, ready: Callable[[str], None],
                 drain: Callable[[], None] | None = None, drain_seconds: float = 0.0) -> None:
        super().__init__(config)
        self._ready = ready
        self._drain = drain
        self._drain_seconds = drain_seconds
        self._draining = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Unlike uvicorn's, the signal is not raised again once the server is down:
        the process goes on to stop Vigie's work cleanly, and exits with 0."""
        if self._draining or not self._drain_seconds:
            if self.should_exit:
                self.force_exit = True
            self.should_exit = True
        if not self._draining:
            self._draining = True
            log.info("stopping (signal %d): no new work; %g s for the proxy to notice",
                     sig, self._drain_seconds)
            if self._drain is not None:
                self._drain()
            if self._drain_seconds:
                timer = threading.Timer(self._drain_seconds, self._close)
                timer.daemon = True
                timer.start()

    def _close(self) -> None:
        self.should_exit = True

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and not self.should_exit:
            host, port = self.servers[0].sockets[0].getsockname()[:2]
            self._ready(f"http://{host}:{port}")


def serve(report: Report, problems: ProblemsSink, *, host: str, port: int) -> int:
    """HTTP mode; returns the process's exit code."""
    from bot.web import create_web_app

    started = _start(report, problems)
    if started is None:
        return 2
    vigie, watch, stop = started
    try:
        return _listen(create_web_app(vigie), host, port, stop, "HTTP mode", vigie)
    finally:
        watch.stop()
        vigie.stop()


def run(report: Report, problems: ProblemsSink, *, host: str, http_port: int) -> int:
    """Socket Mode; returns the process's exit code."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from bot.web import create_web_app

    assert report.settings and report.settings.slack_app_token
    started = _start(report, problems)
    if started is None:
        return 2
    vigie, watch, stop = started
    handler = SocketModeHandler(vigie.bolt, report.settings.slack_app_token.get_secret_value())
    vigie.health.track("socket_mode", lambda: ("connected", True)
                       if handler.client.is_connected() else ("connecting", False))
    connecting = threading.Thread(target=_connect, args=(handler, stop),
                                  name="vigie-socket-mode", daemon=True)
    connecting.start()
    try:
        if http_port:
            return _listen(create_web_app(vigie, slack_events=False), host, http_port, stop,
                           "Socket Mode; /ingest and /healthz", vigie)
        log.info("Vigie ready (Socket Mode, no HTTP port)")
        with _stop_on_signals(stop, vigie):
            stop.event.wait()
        return stop.code
    finally:
        stop.event.set()
        connecting.join(5)
        handler.close()  # type: ignore[no-untyped-call]
        watch.stop()
        vigie.stop()


def _start(report: Report, problems: ProblemsSink) -> tuple[Vigie, SlackWatch, _Stop] | None:
    from bot.app import build

    settings, config = report.settings, report.config
    assert settings is not None and config is not None
    stop = _Stop(problems)
    health = Health()
    gateway = SlackGateway(make_client(settings.slack_bot_token.get_secret_value(),
                                       settings.slack_api_url, timeout=10))
    watch = SlackWatch(gateway, health,
                       on_refused=lambda error: stop.refuse(bot_token_refused(error)))
    watch.start()  # while the app is built
    vigie = build(settings, config, environ=report.environ, health=health)
    watch.wait_first(FIRST_ANSWER_WAIT)
    if stop.code:  # refused for good: nothing was started
        watch.stop()
        vigie.stop()
        return None
    vigie.start_background()  # ends with gc.freeze(): what start-up built stays
    gc.enable()  # `vigie` (bot.cli.main) held collection off while it was built
    return vigie, watch, stop


def _listen(app: Any, host: str, port: int, stop: _Stop, mode: str, vigie: Vigie) -> int:
    # log_config=None: uvicorn's lines go through Vigie's handler (text or JSON, redacted).
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", log_config=None,
                            timeout_graceful_shutdown=30)
    server = _Server(config, lambda url: log.info("Vigie ready on %s (%s)", url, mode),
                     drain=vigie.draining.set, drain_seconds=vigie.settings.drain_seconds)
    stop.server = server
    if stop.code:  # refused while the server was being made
        return stop.code
    server.run()
    if stop.code:
        return stop.code
    return 0 if server.started else 1


@contextmanager
def _stop_on_signals(stop: _Stop, vigie: Vigie) -> Iterator[None]:
    """Socket Mode without an HTTP port: SIGTERM and Ctrl-C end the wait, and the
    caller stops Vigie cleanly."""
    def handle(sig: int, frame: FrameType | None) -> None:
        log.info("stopping (signal %d)", sig)
        vigie.draining.set()
        stop.event.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _connect(handler: Any, stop: _Stop) -> None:
    """Open the Socket Mode connection, with growing delays while Slack cannot be reached.
    Once open, slack_sdk's client keeps it open (it reconnects by itself)."""
    from slack_sdk.errors import SlackApiError

    backoff = Backoff(stop.event)
    while not stop.event.is_set():
        try:
            handler.client.wss_uri = None  # a fresh URL each time: they expire
            handler.connect()
            log.info("Socket Mode connected")
            return
        except SlackApiError as exc:
            error = str(exc.response.get("error") or "")
            if error in NEVER_WORKS:
                stop.refuse(app_token_refused(error))
                return
            reason: object = error or exc
        except Exception as exc:  # network: Slack cannot be reached, try again
            reason = exc
        log.warning("Socket Mode cannot connect (%s); trying again in %g s", reason,
                    backoff.delay)
        if not backoff.wait():
            return
