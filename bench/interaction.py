"""Interaction latency: a signed `block_actions` click → Slack's HTTP ack, and → the
`chat.update` that redraws the card; beside a bare Bolt app that only acks, in one run.

Each app runs in its own process, as in production (uvicorn + Starlette, Bolt dispatched
on a worker thread); this process plays Slack: the local Slack-compatible Web API server
records when each `chat.update` arrives, and the test driver sends the same Slack-shaped
signed requests to both apps, alternating between them so they share the machine's
conditions. Vigie runs for real: SQLite database, relay, scheduler; each click changes
the card's priority (so SLA jobs are rescheduled too) by a staff member.

    python bench/interaction.py [--clicks 300] [--warmup 30]
    python bench/interaction.py --quick        # 20 clicks: does it run? (no verdict)

Vigie acknowledges clicks at its HTTP edge once the signature is checked, and hands them
to Bolt on its own threads (`bot.web`); the bare app answers through Bolt, which notices
its listener's `ack()` on a 10 ms poll.

Target (issue 4): Vigie's ack p99 under 50 ms and within 1.5× of the bare app's.
Times are taken on the system-wide monotonic clock, so they compare across processes.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import (  # noqa: E402
    BOT_TOKEN,
    SIGNING_SECRET,
    WEBHOOK_SECRET,
    environ,
    newsroom,
    settings,
)
from bot.platforms.webhook.receiver import sign  # noqa: E402
from bot.sandbox.driver import SlackDriver  # noqa: E402
from bot.sandbox.slack import FakeSlack  # noqa: E402

STAFF = "U0STAFF1"
CHANNEL = "C0MENTIONS"
PRIORITIES = ("high", "urgent", "low", "normal")


# -- the two servers, each in its own process ------------------------------------------------
def serve(kind: str, api_url: str, database_url: str) -> None:
    """Run one app until stdin closes; print its URL once it serves."""
    from slack_bolt import Ack, App
    from slack_sdk import WebClient

    from bot.app import build
    from bot.store import make_engine, upgrade
    from tests.support.harness import RunningVigie

    logging.basicConfig(level=logging.WARNING)
    if kind == "vigie":
        engine = make_engine(database_url)
        upgrade(engine)
        vigie: Any = build(settings(database_url, api_url), newsroom(), engine=engine,
                           environ=environ())
        running = RunningVigie(vigie).start()
    else:
        bolt = App(client=WebClient(token=BOT_TOKEN, base_url=api_url),
                   signing_secret=SIGNING_SECRET, token_verification_enabled=False,
                   raise_error_for_unhandled_request=False)

        @bolt.action(re.compile(r"^qualify\."))
        def only_ack(ack: Ack) -> None:
            ack()

        url, stop = serve_bare(bolt)
        print(f"READY {url}", flush=True)
        sys.stdin.read()
        stop()
        return
    print(f"READY {running.url}", flush=True)
    sys.stdin.read()
    running.stop()


def serve_bare(bolt: Any) -> tuple[str, Any]:
    """The bare app behind the same kind of edge Vigie has (uvicorn + Starlette, Bolt on a
    worker thread), answering every request through Bolt, as a Bolt app does."""
    import socket
    import threading

    import uvicorn
    from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def events(request: Request) -> Response:
        body = await request.body()
        answer = await run_in_threadpool(bolt.dispatch, to_bolt_request(request, body))
        return to_starlette_response(answer)

    app = Starlette(routes=[Route("/slack/events", events, methods=["POST"])])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)

    def stop() -> None:
        server.should_exit = True
        thread.join(5)

    return f"http://127.0.0.1:{sock.getsockname()[1]}", stop


def start(kind: str, api_url: str, database_url: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", kind, "--api-url", api_url, "--db", database_url],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line.startswith("READY "):
        process.kill()
        raise RuntimeError(f"{kind} did not start: {line!r}")
    return process, line.removeprefix("READY ")


# -- measuring ------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q / 100 * len(ordered))) - 1))]


def summary(name: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (f"{name:36} p50 {percentile(ms, 50):6.1f} ms   p99 {percentile(ms, 99):6.1f} ms   "
            f"mean {statistics.fmean(ms):6.1f} ms   max {max(ms):6.1f} ms")


def post_mention(url: str) -> None:
    body = json.dumps({"external_id": "bench-1", "text": "Le son coupe sans arrêt ce matin",
                       "author": {"handle": "@kev@pouet.example", "name": "Kévin"},
                       "created_at": "2026-11-02T07:04:39Z", "language": "fr"}).encode()
    sent = int(time.time())
    response = httpx.post(f"{url}/ingest/monitoring", content=body, headers={
        "Content-Type": "application/json", "X-Vigie-Timestamp": str(sent),
        "X-Vigie-Signature": sign(WEBHOOK_SECRET, sent, body)})
    response.raise_for_status()


def measure(clicks: int, warmup: int) -> dict[str, list[float]]:
    sent_at: dict[str, float] = {}

    def mark(request: httpx.Request) -> None:
        sent_at["t"] = time.monotonic()

    results: dict[str, list[float]] = {"bare_ack": [], "vigie_ack": [], "vigie_update": []}
    with tempfile.TemporaryDirectory() as tmp, FakeSlack() as slack:
        vigie, vigie_url = start("vigie", slack.base_url, f"sqlite:///{tmp}/bench.db")
        bare, bare_url = start("bare", slack.base_url, "sqlite://")
        client = httpx.Client(timeout=10, event_hooks={"request": [mark]})
        try:
            post_mention(vigie_url)
            [card] = slack.wait_for(lambda: [m for m in slack.messages(CHANNEL)
                                             if m.get("metadata")], timeout=10)
            to_vigie = SlackDriver(f"{vigie_url}/slack/events", SIGNING_SECRET, fake=slack,
                                   client=client)
            to_bare = SlackDriver(f"{bare_url}/slack/events", SIGNING_SECRET, fake=slack,
                                  client=client)
            for index in range(warmup + clicks):
                value = PRIORITIES[index % len(PRIORITIES)]
                measured = index >= warmup
                before = len(slack.calls_to("chat.update"))

                def updated(before: int = before) -> list[Any]:
                    return slack.calls_to("chat.update")[before:]

                response = to_vigie.select(STAFF, "qualify.priority", value,
                                           message={"ts": card["ts"]}, channel_id=CHANNEL)
                acked = time.monotonic()
                assert response.status_code == 200, response.text
                start_time = sent_at["t"]
                [update, *_] = slack.wait_for(updated, timeout=10)
                if measured:
                    results["vigie_ack"].append(acked - start_time)
                    results["vigie_update"].append(update.at - start_time)
                time.sleep(0.01)  # let the listener finish before the next request
                response = to_bare.select(STAFF, "qualify.priority", value,
                                          message={"ts": card["ts"]}, channel_id=CHANNEL)
                assert response.status_code == 200
                if measured:
                    results["bare_ack"].append(time.monotonic() - sent_at["t"])
        finally:
            client.close()
            for process in (vigie, bare):
                assert process.stdin is not None
                process.stdin.close()
                process.wait(10)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--serve", choices=["vigie", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("--api-url", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true",
                        help="20 clicks after 5: checks the bench runs, gives no verdict")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.api_url, args.db)
        return 0
    if args.quick:
        args.clicks, args.warmup = 20, 5
    results = measure(args.clicks, args.warmup)
    print(f"Interaction latency: {args.clicks} signed block_actions clicks per app (after "
          f"{args.warmup} warm-up), each app in its own process, on 127.0.0.1")
    print(summary("bare Bolt app: request → ack", results["bare_ack"]))
    print(summary("Vigie: request → ack", results["vigie_ack"]))
    print(summary("Vigie: request → chat.update call", results["vigie_update"]))
    ack_p99, bare_p99 = percentile(results["vigie_ack"], 99), percentile(results["bare_ack"], 99)
    ratio = ack_p99 / bare_p99
    ok = ack_p99 < 0.050 and ratio <= 1.5
    verdict = "too few clicks to judge" if args.quick else "met" if ok else "MISSED"
    print(f"Vigie ack p99 {ack_p99 * 1000:.1f} ms (target < 50 ms), {ratio:.2f}× the bare "
          f"app's (target ≤ 1.5×): {verdict}")
    return 0 if ok or args.quick else 1


if __name__ == "__main__":
    raise SystemExit(main())
