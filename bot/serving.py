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
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable
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
    """uvicorn's server, saying "ready" once it listens, with the address it got."""

    def __init__(self, config: uvicorn.Config, ready: Callable[[str], None]) -> None:
        super().__init__(config)
        self._ready = ready

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
        return _listen(create_web_app(vigie), host, port, stop, "HTTP mode")
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
                           "Socket Mode; /ingest and /healthz")
        log.info("Vigie ready (Socket Mode, no HTTP port)")
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


def _listen(app: Any, host: str, port: int, stop: _Stop, mode: str) -> int:
    config = uvicorn.Config(app, host=host, port=port, log_level="warning")
    server = _Server(config, lambda url: log.info("Vigie ready on %s (%s)", url, mode))
    stop.server = server
    if stop.code:  # refused while the server was being made
        return stop.code
    server.run()
    if stop.code:
        return stop.code
    return 0 if server.started else 1


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
