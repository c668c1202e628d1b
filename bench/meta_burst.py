"""A bad-buzz burst on a Facebook Page: comments delivered by Meta's signed webhook to
the real Vigie (HTTP edge, intake, relay, pacing, spikes, polling) against a local
Slack-compatible server and a local Graph API (FakeGraph), beside a floor measured in
the same run.

    python bench/meta_burst.py              # 1,000 comments in one minute
    python bench/meta_burst.py --quick      # 120 comments in 12 s: does it run?
    python bench/meta_burst.py -n 2000 --seconds 60 --database-url postgresql+psycopg://…

Figures:
- every comment stored (one mention each, however many deliveries), and how long the
  last one took to be stored after its delivery;
- the webhook's answer time (p50 / p99 / max) beside the floor: the same edge's bare
  `/healthz` (a worker thread and one database round trip), asked at the same pace in
  the same run. Meta gives up after 20 s and disables endpoints that answer slowly;
- the channel: Slack messages posted and 429s (Vigie's pacing and bursts as today);
- the Graph API: calls made by the fallback polling meanwhile, the highest usage Meta
  reported, and calls made over the limit (must be zero: Vigie slows down first). The
  Page's usage starts at `--usage` percent, near Meta's limit, so the pacing matters.

The PostgreSQL database given is emptied (its `public` schema is dropped): never point
it at a database that matters.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import argparse
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import func, text
from sqlmodel import Session, select

from bench._common import environ, newsroom, percentile, settings
from bot.app import build
from bot.config import Source
from bot.mentions.models import Mention
from bot.platforms.meta.graph import DEFAULT_MAX_WAIT, SLOW_FROM
from bot.platforms.meta.webhook import SIGNATURE_HEADER, signature
from bot.sandbox.slack import FakeSlack
from bot.store import make_engine, upgrade
from tests.support.graph_server import FakeGraph
from tests.support.harness import RunningVigie
from tests.support.meta_webhooks import encode, page_comment

APP_SECRET = "bench-meta-app-secret-0123456789"
PAGE_TOKEN = "bench-page-token"
TEXTS = ["Honteux ce que vous avez laissé dire ce matin", "Je me désabonne",
         "Bravo pour le courage de l'invitée", "Vous devriez présenter des excuses",
         "Pourquoi censurez-vous les commentaires ?", "Lamentable, vraiment"]


def paced(count: int, seconds: float, workers: int, call: object) -> list[float]:
    """`call(i)` for i in range(count), the i-th at i × seconds / count from now, on
    `workers` threads; each call's duration in seconds."""
    times = [0.0] * count
    start = time.perf_counter()

    def one(index: int) -> None:
        delay = start + index * seconds / count - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        began = time.perf_counter()
        call(index)  # type: ignore[operator]
        times[index] = time.perf_counter() - began

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(one, range(count)))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1000, help="comments in the burst")
    parser.add_argument("--seconds", type=float, default=60.0, help="the burst's length")
    parser.add_argument("--workers", type=int, default=16, help="Meta's parallel deliveries")
    parser.add_argument("--usage", type=float, default=70.0,
                        help="the Page token's usage (percent) when the burst starts")
    parser.add_argument("--database-url", help="a throw-away PostgreSQL database")
    parser.add_argument("--quick", action="store_true",
                        help="120 comments in 12 s: checks the bench runs")
    args = parser.parse_args()
    if args.quick:
        args.n, args.seconds = 120, 12.0
    with tempfile.TemporaryDirectory() as tmp, FakeSlack() as slack, \
            FakeGraph(usage_step=1.0) as graph:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        engine = make_engine(url)
        if args.database_url:
            with engine.begin() as connection:
                connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        upgrade(engine)
        engine.dispose()
        run(args, url, slack, graph)


def run(args: argparse.Namespace, url: str, slack: FakeSlack, graph: FakeGraph) -> None:
    page = graph.add_page("La Matinale", token=PAGE_TOKEN)
    post = graph.add_post(page, "Ce matin, notre invitée")
    config = newsroom()
    source = Source.model_validate({
        "id": "fb-matinale", "type": "facebook", "account": "matinale", "account_id": page,
        "token_env": "BENCH_FB_TOKEN", "app_secret_env": "BENCH_META_SECRET",
        "verify_token_env": "BENCH_META_VERIFY", "api_url": graph.url, "interval": 10})
    config = config.model_copy(update={"sources": [*config.sources, source]})
    env = {**environ(), "BENCH_FB_TOKEN": PAGE_TOKEN, "BENCH_META_SECRET": APP_SECRET,
           "BENCH_META_VERIFY": "bench-verify"}
    graph.set_usage(PAGE_TOKEN, args.usage)
    vigie = RunningVigie(build(settings(url, slack.base_url), config, environ=env)).start()
    try:
        bodies = []
        for index in range(args.n):
            comment = graph.add_comment(post, f"{TEXTS[index % len(TEXTS)]} (#{index})",
                                        author=(str(20_000 + index), f"Auditeur {index}"))
            bodies.append(encode(page_comment(
                page, comment_id=comment, post_id=post,
                message=f"{TEXTS[index % len(TEXTS)]} (#{index})",
                author=(str(20_000 + index), f"Auditeur {index}"))))
        hook = f"{vigie.url}/webhooks/facebook"
        client = httpx.Client(timeout=20.0, limits=httpx.Limits(max_connections=64))
        statuses: list[int] = []
        lock = threading.Lock()

        def deliver(index: int) -> None:
            body = bodies[index]
            answer = client.post(hook, content=body, headers={
                "Content-Type": "application/json",
                SIGNATURE_HEADER: signature(body, APP_SECRET)})
            with lock:
                statuses.append(answer.status_code)

        def bare(index: int) -> None:
            client.get(f"{vigie.url}/healthz")

        floor_times: list[float] = []
        floor_thread = threading.Thread(target=lambda: floor_times.extend(
            paced(max(args.n // 4, 20), args.seconds, 4, bare)))
        started = time.monotonic()
        floor_thread.start()
        hook_times = paced(args.n, args.seconds, args.workers, deliver)
        floor_thread.join()
        sent_for = time.monotonic() - started

        def stored() -> int:
            with Session(vigie.vigie.engine) as session:
                return int(session.exec(select(func.count()).select_from(Mention)
                                        .where(Mention.platform == "facebook")).one())

        deadline = time.monotonic() + 120
        while stored() < args.n and time.monotonic() < deadline:
            time.sleep(0.2)
        all_stored_after = time.monotonic() - started
        time.sleep(2.0)  # the relay and the polls keep going a little
        posted = slack.calls_to("chat.postMessage")
        graph_calls = [r for r in graph.requests if r.token == PAGE_TOKEN]
        print(f"{args.n} Facebook comments by signed webhook in {sent_for:.1f} s "
              f"({args.workers} deliveries in parallel)")
        print(f"  stored: {stored()} of {args.n} (all stored {all_stored_after:.1f} s after "
              f"the first delivery); answers: "
              f"{', '.join(f'{s}×{statuses.count(s)}' for s in sorted(set(statuses)))}")
        print(f"  {'':<26}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
        for label, times in (("webhook /webhooks/facebook", hook_times),
                             ("floor: bare /healthz", floor_times)):
            print(f"  {label:<26}{percentile(times, 50) * 1000:>9.1f}"
                  f"{percentile(times, 99) * 1000:>9.1f}{max(times) * 1000:>9.1f}")
        print(f"  channel: {len(posted)} Slack messages posted, "
              f"{slack.ratelimited_count} answered 429")
        peak = graph.grants[PAGE_TOKEN].usage
        print(f"  Graph API (fallback polling): {len(graph_calls)} calls, usage from "
              f"{args.usage:.0f}% to {peak:.0f}%, calls over the limit: "
              f"{graph.over_limit_calls}")
        client.close()
    finally:
        vigie.stop()
        if graph.grants[PAGE_TOKEN].usage > SLOW_FROM:
            time.sleep(DEFAULT_MAX_WAIT)  # a poll paced by the usage ends before teardown


if __name__ == "__main__":
    main()
