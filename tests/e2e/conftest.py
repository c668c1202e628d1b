"""End-to-end fixtures: a Slack-compatible server, the real app over HTTP, a signed driver."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from bot.app import build
from bot.clock import SystemClock
from bot.config import Config
from bot.sandbox.driver import SlackDriver
from bot.sandbox.slack import FakeSlack
from tests.conftest import SIGNING_SECRET, make_settings
from tests.support.edge import Edge, recording_logs
from tests.support.harness import RunningVigie


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


StartVigie = Callable[[], RunningVigie]


@pytest.fixture
def start_vigie(database_url: str, config: Config, environ: dict[str, str], slack: FakeSlack
                ) -> Iterator[StartVigie]:
    """Start Vigie against the fake Slack; can be called again to simulate a restart."""
    running: list[RunningVigie] = []

    def start() -> RunningVigie:
        settings = make_settings(database_url, slack.base_url)
        vigie = build(settings, config, clock=SystemClock(), environ=environ)
        app = RunningVigie(vigie).start()
        running.append(app)
        return app

    yield start
    for app in running:
        app.stop()


@pytest.fixture
def vigie(start_vigie: StartVigie) -> RunningVigie:
    return start_vigie()


@pytest.fixture
def driver(vigie: RunningVigie, slack: FakeSlack) -> Iterator[SlackDriver]:
    with SlackDriver(f"{vigie.url}/slack/events", SIGNING_SECRET, fake=slack) as signed:
        yield signed


@pytest.fixture
def edge(database_url: str, config: Config, environ: dict[str, str], slack: FakeSlack
         ) -> Iterator[Edge]:
    """The HTTP edge in-process (no uvicorn, no background work), every log line recorded."""
    vigie = build(make_settings(database_url, slack.base_url), config, clock=SystemClock(),
                  environ=environ)
    with recording_logs() as recorder:
        edge = Edge(vigie, recorder)
        try:
            yield edge
        finally:
            edge.settle()
            vigie.click_pool.shutdown(wait=True)
            vigie.listener_pool.shutdown(wait=True)
            vigie.engine.dispose()
