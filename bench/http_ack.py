"""How fast Slack gets its ack under concurrent load, by HTTP edge design.

Compares, in one run and against the same local Slack-compatible server:
- Vigie's edge: Starlette handing Bolt's sync `App.dispatch` to a worker thread;
- Bolt's own sync Starlette adapter, which calls `App.dispatch` inside the event loop.

Each request is `/vigie help`, whose listener looks up the user's language with
`users.info` (cached after the first call per user); Slack's latency is simulated by the
server answering that call after `--slack-latency` seconds. Users are all different, so
every request pays it once, as on a busy morning.

    python bench/http_ack.py [--requests 200] [--concurrency 20] [--slack-latency 0.05]
    python bench/http_ack.py --quick      # 30 requests, 10 at a time: does it run?
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from slack_bolt.adapter.starlette.handler import SlackRequestHandler  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import Response  # noqa: E402
from starlette.routing import Route  # noqa: E402

from bench._common import SIGNING_SECRET, newsroom, percentile, settings  # noqa: E402
from bot.app import build  # noqa: E402
from bot.sandbox.driver import SlackDriver  # noqa: E402
from bot.sandbox.slack import FakeSlack  # noqa: E402
from bot.store import make_engine, upgrade  # noqa: E402
from tests.support.harness import RunningVigie  # noqa: E402


class BoltAdapterVigie(RunningVigie):
    """The same Vigie, served through Bolt's sync Starlette adapter instead."""

    def __init__(self, vigie: object) -> None:
        super().__init__(vigie)  # type: ignore[arg-type]
        handler = SlackRequestHandler(self.vigie.bolt)

        async def events(request: Request) -> Response:
            return await handler.handle(request)

        self._server.config.app = Starlette(routes=[Route("/slack/events", events,
                                                          methods=["POST"])])
        self._server.config.loaded = False


def measure(app_class: type[RunningVigie], slack: FakeSlack, database_url: str,
            requests: int, concurrency: int, latency: float) -> list[float]:
    vigie = build(settings(database_url, slack.base_url), newsroom())
    running = app_class(vigie).start(background=False)
    driver = SlackDriver(f"{running.url}/slack/events", SIGNING_SECRET, fake=slack)
    for n in range(requests):
        slack.add_user(f"U{n:08d}", f"user{n}", locale="fr-FR")
    slack.hang_next("users.info", latency, times=requests)

    def one(n: int) -> float:
        started = time.perf_counter()
        response = driver.command("/vigie", "help", user_id=f"U{n:08d}")
        assert response.status_code == 200, response.text
        return time.perf_counter() - started

    try:
        with ThreadPoolExecutor(concurrency) as pool:
            return list(pool.map(one, range(requests)))
    finally:
        driver.close()
        running.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--slack-latency", type=float, default=0.05)
    parser.add_argument("--quick", action="store_true",
                        help="30 requests, 10 at a time: checks the bench runs")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.concurrency = 30, 10
    with tempfile.TemporaryDirectory() as tmp, FakeSlack() as slack:
        url = f"sqlite:///{tmp}/bench.db"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        print(f"{args.requests} × /vigie help, {args.concurrency} at a time, "
              f"Slack answering users.info in {args.slack_latency * 1000:.0f} ms")
        print(f"{'edge':<38}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'req/s':>8}")
        for label, app_class in (("Vigie (dispatch on worker threads)", RunningVigie),
                                 ("Bolt sync Starlette adapter", BoltAdapterVigie)):
            started = time.perf_counter()
            times = measure(app_class, slack, url, args.requests, args.concurrency,
                            args.slack_latency)
            elapsed = time.perf_counter() - started
            slack.reset()
            print(f"{label:<38}{percentile(times, 50) * 1000:>9.1f}"
                  f"{percentile(times, 99) * 1000:>9.1f}{max(times) * 1000:>9.1f}"
                  f"{args.requests / elapsed:>8.1f}")


if __name__ == "__main__":
    main()
