"""A burst of `@vigie <link>` flags: how fast Slack gets its ack, and how soon the card and
the thread reply follow, when the platform is slow to give the post.

Each flag is a different Mastodon link read by a fetcher double that answers after
`--fetch-latency` seconds (what a busy instance costs); the cards go through the normal
relay to the local Slack-compatible server. Every flag must give exactly one card and
one thread reply.

    python bench/flag_intake.py [--flags 100] [--concurrency 20] [--fetch-latency 0.3]
    python bench/flag_intake.py --quick    # 4 flags at once: does it run?
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import SIGNING_SECRET, newsroom, percentile, settings  # noqa: E402
from bot.app import build  # noqa: E402
from bot.clock import SystemClock  # noqa: E402
from bot.mentions.models import MentionIn  # noqa: E402
from bot.sandbox.driver import SlackDriver  # noqa: E402
from bot.sandbox.slack import FakeSlack  # noqa: E402
from bot.store import make_engine, upgrade  # noqa: E402
from tests.support.fetchers import ScriptedFetcher  # noqa: E402
from tests.support.harness import RunningVigie  # noqa: E402


class SlowFetcher(ScriptedFetcher):
    def __init__(self, latency: float) -> None:
        super().__init__()
        self.latency = latency

    def fetch(self, url: str) -> MentionIn:
        time.sleep(self.latency)
        return super().fetch(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flags", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--fetch-latency", type=float, default=0.3)
    parser.add_argument("--quick", action="store_true",
                        help="4 flags at once: checks the bench runs")
    args = parser.parse_args()
    if args.quick:
        args.flags, args.concurrency = 4, 4
    with tempfile.TemporaryDirectory() as tmp, FakeSlack() as slack:
        url = f"sqlite:///{tmp}/bench.db"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        fetcher = SlowFetcher(args.fetch_latency)
        for n in range(args.flags):
            fetcher.publish(f"https://mastodon.social/@user{n}/{n}", status_id=str(n),
                            handle=f"@user{n}@mastodon.social", name=f"User {n}",
                            text=f"Post number {n} about last night's show")
        vigie = build(settings(url, slack.base_url), newsroom(), clock=SystemClock(),
                      fetchers=[fetcher])
        running = RunningVigie(vigie).start()
        driver = SlackDriver(f"{running.url}/slack/events", SIGNING_SECRET, fake=slack)
        sent_at: dict[int, float] = {}
        lock = threading.Lock()

        def one(n: int) -> float:
            started = time.perf_counter()
            with lock:
                sent_at[n] = started
            response = driver.app_mention(f"U{n:08d}", f"<https://mastodon.social/@user{n}/{n}>"
                                          " angry", channel="C0DESK")
            assert response.status_code == 200, response.text
            return time.perf_counter() - started

        try:
            started = time.perf_counter()
            with ThreadPoolExecutor(args.concurrency) as pool:
                acks = list(pool.map(one, range(args.flags)))

            def cards() -> list[dict[str, object]]:
                return [m for m in slack.messages("C0MENTIONS") if m.get("metadata")]

            def replies() -> list[dict[str, object]]:
                return [m for m in slack.messages("C0DESK")
                        if m.get("user") == "U0BOT" and m.get("thread_ts")]

            # Cards and thread replies each go out at Slack's pace, one a second per
            # channel (bot.slack.PacedSlack): a burst of N flags takes about N seconds.
            budget = 120 + 2 * args.flags
            slack.wait_for(lambda: len(cards()) >= args.flags, timeout=budget, interval=0.02)
            all_cards = time.perf_counter() - started
            slack.wait_for(lambda: len(replies()) >= args.flags, timeout=budget,
                           interval=0.02)
            all_replies = time.perf_counter() - started
            time.sleep(0.5)  # anything more would be a repeat
            assert len(cards()) == args.flags, "one card per flag"
            assert len(replies()) == args.flags, "one reply per flag"
        finally:
            driver.close()
            running.stop()
        print(f"{args.flags} × @vigie <link>, {args.concurrency} at a time, "
              f"post fetched in {args.fetch_latency * 1000:.0f} ms")
        print(f"ack to Slack: p50 {percentile(acks, 50) * 1000:.1f} ms, "
              f"p99 {percentile(acks, 99) * 1000:.1f} ms, max {max(acks) * 1000:.1f} ms")
        print(f"all {args.flags} cards posted after {all_cards:.1f} s, all thread replies "
              f"after {all_replies:.1f} s ({args.flags / all_replies:.1f} flags/s; Slack's "
              f"pace of 1 message/s per channel allows about 1)")


if __name__ == "__main__":
    main()
