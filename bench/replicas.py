"""How much one replica holds, and two: signed webhook mentions and Slack clicks per second
at p99 under 200 ms, on this machine; and the container's figures (image size, start to
ready) when podman and the image are here.

Processes: `vigie serve` replicas on a PostgreSQL cluster of the bench's own (initdb on a
free port), a local Slack-compatible server, and an open-loop client that sends requests
at a fixed rate (round-robin over the replicas, as the proxy does) and records each
answer's latency. The rate steps up until p99 goes over 200 ms or a request fails; the
figure is the last rate that held. The client runs on the same machine and takes its
share of the CPU: the figures are a floor, not a ceiling.

Container part (skipped, saying so, without podman or the image `localhost/vigie:latest`,
which `deploy/test-stack.sh` builds): the image's size and the seconds from `podman run`
to `/readyz` 200 on a migrated SQLite database.

    python bench/replicas.py [--seconds 5] [--quick]

`--quick` runs one short step per figure (CI: checks the bench runs; no verdict).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import SIGNING_SECRET, WEBHOOK_SECRET, percentile  # noqa: E402
from bot.sandbox.driver import SlackDriver  # noqa: E402
from bot.sandbox.slack import FakeSlack  # noqa: E402
from bot.store import make_engine, upgrade  # noqa: E402
from tests.support.cluster import (  # noqa: E402
    PrivatePostgres,
    Replica,
    mention_body,
    newsroom_file,
    replica_env,
    webhook_headers,
)
from tests.support.processes import free_port  # noqa: E402

P99_TARGET = 0.200
STAFF, CHANNEL = "U0STAFF1", "C0MENTIONS"
PRIORITIES = ("high", "urgent", "low", "normal")
RATES = (25, 50, 75, 100, 150, 200, 300, 400)
_ids = itertools.count(1)


def step(rate: float, seconds: float, send: Callable[[], int]) -> tuple[float, int, int]:
    """Send at `rate`/s for `seconds` (open loop); (p99 seconds, answered, failed)."""
    latencies: list[float] = []
    failed = 0
    lock = threading.Lock()

    def one() -> None:
        nonlocal failed
        started = time.perf_counter()
        try:
            ok = send() in (200, 201)
        except httpx.HTTPError:
            ok = False
        with lock:
            latencies.append(time.perf_counter() - started)
            failed += 0 if ok else 1

    total = max(1, int(rate * seconds))
    begin = time.perf_counter()
    with ThreadPoolExecutor(64) as pool:
        for n in range(total):
            delay = begin + n / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one)
    return percentile(latencies, 99), len(latencies), failed


def holds(name: str, rates: tuple[int, ...], seconds: float, send: Callable[[], int]) -> int:
    """The highest rate whose p99 stayed under the target with no failure."""
    held = 0
    for rate in rates:
        p99, answered, failed = step(rate, seconds, send)
        ok = p99 < P99_TARGET and not failed
        print(f"  {name}: {rate:4d}/s for {seconds:g} s: p99 {p99 * 1000:6.1f} ms, "
              f"{answered} answered, {failed} failed{'' if ok else '  ← over'}", flush=True)
        if not ok:
            break
        held = rate
    return held


def webhook_sender(replicas: list[Replica], client: httpx.Client) -> Callable[[], int]:
    urls = itertools.cycle([f"{r.url}/ingest/monitoring" for r in replicas])

    def send() -> int:
        body = mention_body(f"bench-{next(_ids)}")
        return client.post(next(urls), content=body,
                           headers=webhook_headers(WEBHOOK_SECRET, body)).status_code
    return send


def click_sender(replicas: list[Replica], slack: FakeSlack, client: httpx.Client
                 ) -> Callable[[], int]:
    drivers = itertools.cycle([SlackDriver(f"{r.url}/slack/events", SIGNING_SECRET, fake=slack,
                                           client=client) for r in replicas])
    cards = [m for m in slack.messages(CHANNEL) if m.get("metadata")]

    def send() -> int:
        card = random.choice(cards)
        return next(drivers).select(STAFF, "qualify.priority", random.choice(PRIORITIES),
                                    message={"ts": card["ts"]}, channel_id=CHANNEL
                                    ).status_code
    return send


def measure(count: int, pg: PrivatePostgres, slack: FakeSlack, folder: Path, seconds: float,
            rates: tuple[int, ...]) -> tuple[int, int]:
    """(webhook rate, click rate) that `count` replicas hold."""
    env = replica_env(pg.url, slack.base_url, newsroom_file(folder), VIGIE_LOG_LEVEL="WARNING")
    replicas = [Replica(f"replica{n}", folder, env).start() for n in range(1, count + 1)]
    try:
        for replica in replicas:
            replica.wait_ready()
        with httpx.Client(timeout=10, limits=httpx.Limits(max_connections=128)) as client:
            send = webhook_sender(replicas, client)
            for _ in range(20):  # cards to click on
                send()
            slack.wait_for(lambda: len([m for m in slack.messages(CHANNEL)
                                        if m.get("metadata")]) >= 20, timeout=60)
            print(f"{count} replica(s):", flush=True)
            hooks = holds("webhook", rates, seconds, send)
            clicks = holds("clicks ", rates, seconds, click_sender(replicas, slack, client))
    finally:
        for replica in replicas:
            replica.stop()
    return hooks, clicks


def container_figures(quick: bool) -> None:
    podman = os.environ.get("PODMAN") or next(
        (p for p in ("/var/tmp/container-base/podman", shutil.which("podman")) if p
         and Path(p).exists()), None)
    if podman is None:
        print("container: skipped, podman is not installed")
        return
    image = "localhost/vigie:latest"
    found = subprocess.run([podman, "image", "inspect", image, "--format", "{{.Size}}"],
                           capture_output=True, text=True)
    if found.returncode != 0:
        print(f"container: skipped, no image {image} (build it: deploy/test-stack.sh)")
        return
    print(f"container: image {image}: {int(found.stdout.strip()) / 1e6:.0f} MB")
    with FakeSlack() as slack, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.chmod(folder, 0o777)  # the image runs as an unprivileged user
        shutil.copy(ROOT / "tests" / "fixtures" / "newsroom.toml", folder / "vigie.toml")
        port = free_port()
        env = {"SLACK_BOT_TOKEN": slack.token, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
               "SLACK_API_URL": slack.base_url, "DATABASE_URL": "sqlite:////data/vigie.db",
               "VIGIE_TEST_WEBHOOK_SECRET": WEBHOOK_SECRET,
               "VIGIE_TEST_ALERTS_SECRET": "bench-alerts-secret-0123456789"}
        flags = [arg for k, v in env.items() for arg in ("-e", f"{k}={v}")]
        base = [podman, "run", "--rm", "--network", "host", "-v", f"{folder}:/data",
                "-v", f"{folder / 'vigie.toml'}:/srv/vigie/vigie.toml:ro", *flags, image]
        subprocess.run([*base, "db", "upgrade"], check=True, capture_output=True)
        runs = 1 if quick else 3
        for _ in range(runs):
            name = f"vigie-bench-{port}"
            started = time.monotonic()
            process = subprocess.Popen([*base[:3], "--name", name, *base[3:], "serve",
                                        "--host", "127.0.0.1", "--port", str(port)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                while True:
                    try:
                        if httpx.get(f"http://127.0.0.1:{port}/readyz",
                                     timeout=2).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if process.poll() is not None or time.monotonic() - started > 120:
                        raise SystemExit("the container did not become ready")
                    time.sleep(0.05)
                print(f"container: podman run → /readyz 200 in "
                      f"{time.monotonic() - started:.1f} s")
            finally:
                subprocess.run([podman, "stop", "-t", "30", name], capture_output=True)
                process.wait(60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each step")
    parser.add_argument("--quick", action="store_true",
                        help="one 1-second step per figure: checks the bench runs")
    args = parser.parse_args()
    rates = (10,) if args.quick else RATES
    seconds = 1.0 if args.quick else args.seconds
    random.seed(15)
    pg = PrivatePostgres()
    try:
        upgrade(make_engine(pg.url))
        with FakeSlack() as slack, tempfile.TemporaryDirectory() as tmp:
            one = measure(1, pg, slack, Path(tmp), seconds, rates)
            two = measure(2, pg, slack, Path(tmp), seconds, rates)
    finally:
        pg.close()
    print(json.dumps({"p99_target_ms": P99_TARGET * 1000, "cores": os.cpu_count(),
                      "one_replica": {"webhook_per_s": one[0], "clicks_per_s": one[1]},
                      "two_replicas": {"webhook_per_s": two[0], "clicks_per_s": two[1]}}))
    if args.quick:
        print("(quick: one low step each, no verdict)")
    container_figures(args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
