"""Fail-over proof: two replicas behind HAProxy on PostgreSQL, under a steady load of signed
webhook mentions and Slack clicks, lose nothing when one is killed, when PostgreSQL
restarts, and through a rolling restart.

Everything runs here as processes: a PostgreSQL cluster of this script's own (initdb on
another port: it is restarted, so never the machine's shared server), two `vigie serve`,
HAProxy from Debian's package with `deploy/haproxy/haproxy.cfg` terminating TLS, and a
local Slack-compatible server. The timeline, under load all along:
1. the replica that leads the scheduler is killed (`kill -9`), then started again;
2. PostgreSQL restarts (fast shutdown: every session cut);
3. rolling restart: each replica gets SIGTERM (must exit 0), then starts again;
and meanwhile 20 posts (two Slack targets each) fall due.

Checked at the end: every mention the clients sent is stored once and has exactly one
card; every post is published once per target; the scheduler always found a leader again
within seconds. Clients behave as integrators should: a refused or failed request is sent
again (same external id) until it is accepted. Printed: requests served, errors clients
saw, the longest time without a scheduler leader.

    python deploy/failover.py [--seconds 60] [--rate 20] [--click-rate 5]

Needs haproxy (apt-get install -y haproxy), PostgreSQL's server programs and openssl.
About a minute and a half; not part of CI. Exit code 1 if anything was lost or doubled.
"""

from __future__ import annotations

import argparse
import itertools
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlmodel import Session, col, select  # noqa: E402

from bot.app import build  # noqa: E402
from bot.clock import SystemClock  # noqa: E402
from bot.config import load_config  # noqa: E402
from bot.mentions.models import Mention  # noqa: E402
from bot.posts.models import DraftIn, Post, PostState  # noqa: E402
from bot.sandbox.driver import SlackDriver  # noqa: E402
from bot.sandbox.slack import FakeSlack  # noqa: E402
from bot.store import make_engine, upgrade  # noqa: E402
from tests.support.cluster import (  # noqa: E402
    HAProxy,
    PrivatePostgres,
    Replica,
    mention_body,
    newsroom_file,
    replica_env,
    webhook_headers,
)
from tests.support.newsroom import (  # noqa: E402
    SIGNING_SECRET,
    WEBHOOK_SECRET,
    newsroom_environ,
)

STAFF = "U0STAFF1"
CHANNEL = "C0MENTIONS"
PRIORITIES = ("high", "urgent", "low", "normal")
POSTS = 20
AUTHOR, EDITOR = "U0CM", "U0EDITOR"


@dataclass
class Tally:
    """What the clients saw."""

    served: Counter[str] = field(default_factory=Counter)  # kind → 2xx answers
    errors: Counter[str] = field(default_factory=Counter)  # kind → other answers, failures
    seen: Counter[str] = field(default_factory=Counter)  # "kind status" → count
    accepted: set[str] = field(default_factory=set)  # external ids stored
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, kind: str, status: int) -> None:
        with self.lock:
            self.seen[f"{kind} {status or 'no answer'}"] += 1
            if 200 <= status < 300:
                self.served[kind] += 1
            else:
                self.errors[kind] += 1


class Leadership:
    """Polls both replicas' `vigie_scheduler_leader`; the gaps with no leader."""

    def __init__(self, replicas: list[Replica]) -> None:
        self.replicas = replicas
        self.gaps: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        without: float | None = None
        while not self._stop.is_set():
            led = any(r.process is not None and r.is_leader() for r in self.replicas)
            now = time.monotonic()
            if not led and without is None:
                without = now
            elif led and without is not None:
                self.gaps.append(now - without)
                without = None
            self._stop.wait(0.1)


def send_mentions(proxy: str, rate: float, stop: threading.Event, tally: Tally,
                  ids: itertools.count[int]) -> None:
    """One client: a new mention every 1/rate s; each sent again until it is accepted."""
    with httpx.Client(verify=False, timeout=30) as client:
        while not stop.is_set():
            external_id = f"load-{next(ids)}"
            body = mention_body(external_id)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    status = client.post(f"{proxy}/ingest/monitoring", content=body,
                                         headers=webhook_headers(WEBHOOK_SECRET, body)
                                         ).status_code
                except httpx.TransportError:
                    status = 0
                tally.note("webhook", status)
                if status in (200, 201):
                    with tally.lock:
                        tally.accepted.add(external_id)
                    break
                time.sleep(0.2)
            stop.wait(1 / rate)


def send_clicks(proxy: str, slack: FakeSlack, rate: float, stop: threading.Event,
                tally: Tally) -> None:
    """One person re-prioritising cards already in Slack, every 1/rate s."""
    with httpx.Client(verify=False, timeout=30) as client:
        driver = SlackDriver(f"{proxy}/slack/events", SIGNING_SECRET, fake=slack, client=client)
        while not stop.is_set():
            cards = [m for m in slack.messages(CHANNEL) if m.get("metadata")]
            if cards:
                card = random.choice(cards)
                try:
                    status = driver.select(STAFF, "qualify.priority", random.choice(PRIORITIES),
                                           message={"ts": card["ts"]},
                                           channel_id=CHANNEL).status_code
                except httpx.TransportError:
                    status = 0
                tally.note("click", status)
            stop.wait(1 / rate)


def create_posts(database_url: str, slack: FakeSlack, config_path: Path, first_due: float,
                 spread: float) -> list[int]:
    """20 approved posts (two Slack targets each) due from `first_due` s on, through the
    real desk; this process never runs the scheduler (its store is written, not run)."""
    from tests.support.newsroom import make_settings

    settings = make_settings(database_url, slack.base_url)
    settings = settings.model_copy(update={"vigie_config": config_path})
    vigie = build(settings, load_config(config_path), clock=SystemClock(),
                  environ=newsroom_environ())
    vigie.scheduler._scheduler.start(paused=True)  # jobs land in the shared store
    now = datetime.now(UTC)
    ids = []
    try:
        for index in range(POSTS):
            when = now + timedelta(seconds=first_due + spread * index / POSTS)
            post = vigie.posts.desk.draft(AUTHOR, DraftIn(
                text=f"Publication {index}", targets=("annonces", "breves"), publish_at=when))
            vigie.posts.desk.approve(int(post.id or 0), EDITOR, via="button")
            ids.append(int(post.id or 0))
    finally:
        vigie.scheduler._scheduler.shutdown(wait=False)
        vigie.engine.dispose()
    return ids


def published(slack: FakeSlack, channel: str) -> Counter[int]:
    return Counter(m["metadata"]["event_payload"]["post_id"] for m in slack.messages(channel)
                   if (m.get("metadata") or {}).get("event_type") == "vigie_post")


def carded(slack: FakeSlack) -> Counter[int]:
    return Counter(m["metadata"]["event_payload"]["mention_id"]
                   for m in slack.messages(CHANNEL)
                   if (m.get("metadata") or {}).get("event_type") == "vigie_mention")


def say(started: float, line: str) -> None:
    print(f"[{time.monotonic() - started:6.1f} s] {line}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60, help="length of the load")
    parser.add_argument("--rate", type=float, default=20, help="webhook mentions per second")
    parser.add_argument("--click-rate", type=float, default=5, help="clicks per second")
    args = parser.parse_args()
    random.seed(15)
    pg = PrivatePostgres()
    folder = Path(tempfile.mkdtemp(prefix="vigie-failover-"))
    replicas: list[Replica] = []
    proxy: HAProxy | None = None
    problems: list[str] = []
    with FakeSlack() as slack:
        try:
            engine = make_engine(pg.url)
            upgrade(engine)
            config = newsroom_file(folder)
            env = replica_env(pg.url, slack.base_url, config, VIGIE_DRAIN_SECONDS="2",
                              VIGIE_LOG_FORMAT="json")
            replicas = [Replica(f"replica{n}", folder, env) for n in (1, 2)]
            for replica in replicas:
                replica.start()
            for replica in replicas:
                replica.wait_ready()
            proxy = HAProxy(folder, replicas)
            started = time.monotonic()
            say(started, f"2 replicas ready behind HAProxy {proxy.url}; PostgreSQL on port "
                f"{pg.port}; load: {args.rate:g} mentions/s, {args.click_rate:g} clicks/s")
            leadership = Leadership(replicas)
            leadership.start()
            tally = Tally()
            stop = threading.Event()
            ids = itertools.count(1)
            clients = max(1, round(args.rate / 5))
            threads = [threading.Thread(target=send_mentions, daemon=True, args=(
                proxy.url, args.rate / clients, stop, tally, ids)) for _ in range(clients)]
            threads.append(threading.Thread(target=send_clicks, daemon=True, args=(
                proxy.url, slack, args.click_rate, stop, tally)))
            for thread in threads:
                thread.start()
            step = args.seconds / 6
            posts = create_posts(pg.url, slack, config, first_due=step, spread=3 * step)
            say(started, f"{len(posts)} posts due between {step:.0f} s and {4 * step:.0f} s "
                "from now")

            time.sleep(step)
            leader = next((r for r in replicas if r.is_leader()), replicas[0])
            leader.kill()
            say(started, f"{leader.name} (the scheduler's leader) killed with -9")
            time.sleep(step / 2)
            leader.start()
            say(started, f"{leader.name} started again, ready in {leader.wait_ready():.1f} s")

            time.sleep(step / 2)
            down = pg.restart()
            say(started, f"PostgreSQL restarted (fast shutdown): down {down:.1f} s")

            time.sleep(step)
            for replica in replicas:
                code = replica.terminate()
                say(started, f"{replica.name}: SIGTERM, exit code {code}")
                if code != 0:
                    problems.append(f"{replica.name} exited {code} on SIGTERM")
                replica.start()
                say(started, f"{replica.name} started again, ready in "
                    f"{replica.wait_ready():.1f} s")

            remaining = args.seconds - (time.monotonic() - started)
            if remaining > 0:
                time.sleep(remaining)
            stop.set()
            for thread in threads:
                thread.join(150)
            say(started, "load stopped; waiting for every card and post")

            def settled() -> bool:
                with Session(engine) as session:
                    stored = set(session.exec(select(Mention.external_id)).all())
                    states = set(session.exec(select(Post.state)).all())
                cards = carded(slack)
                return tally.accepted <= stored and len(cards) >= len(stored) \
                    and states <= {PostState.PUBLISHED, PostState.FAILED}

            deadline = time.monotonic() + 180
            while not settled() and time.monotonic() < deadline:
                time.sleep(0.5)
            leadership.stop()

            with Session(engine) as session:
                mentions = session.exec(select(Mention).order_by(col(Mention.id))).all()
                post_states = Counter(str(p.state) for p in session.exec(select(Post)).all())
            stored_ids = Counter(m.external_id for m in mentions)
            lost = tally.accepted - set(stored_ids)
            cards = carded(slack)
            uncarded = [m.id for m in mentions if cards[int(m.id or 0)] == 0]
            twice = {k: v for k, v in cards.items() if v > 1}
            post_twice = {ch: {k: v for k, v in published(slack, ch).items() if v > 1}
                          for ch in ("C0ANNONCES", "C0BREVES")}
            post_missing = {ch: POSTS - len(published(slack, ch))
                            for ch in ("C0ANNONCES", "C0BREVES")}
            if lost:
                problems.append(f"{len(lost)} accepted mentions not stored")
            if any(v > 1 for v in stored_ids.values()):
                problems.append("a mention stored twice")
            if uncarded:
                problems.append(f"{len(uncarded)} mentions without a card")
            if twice:
                problems.append(f"cards posted twice: {twice}")
            if any(post_twice.values()):
                problems.append(f"posts published twice: {post_twice}")
            if any(post_missing.values()):
                problems.append(f"posts not published: {post_missing}, states {post_states}")
            longest = max(leadership.gaps, default=0.0)

            print("\n== figures")
            print(f"requests served (2xx): {sum(tally.served.values())} "
                  f"({tally.served['webhook']} webhook, {tally.served['click']} clicks) "
                  f"in {args.seconds:g} s")
            print(f"errors seen by clients: {sum(tally.errors.values())} "
                  f"({tally.errors['webhook']} webhook, {tally.errors['click']} clicks); "
                  f"answers: {dict(sorted(tally.seen.items()))}")
            print(f"mentions: {len(tally.accepted)} accepted, {len(stored_ids)} stored, "
                  f"{len(cards)} carded, {len(twice)} carded twice, {len(lost)} lost")
            print(f"posts: {POSTS} × 2 targets, {dict(post_states)}; published twice: "
                  f"{sum(len(v) for v in post_twice.values())}")
            print(f"time without a scheduler leader: longest {longest:.1f} s, "
                  f"{len(leadership.gaps)} gaps: "
                  f"{', '.join(f'{g:.1f}' for g in leadership.gaps) or 'none'}")
            if longest > 15:
                problems.append(f"no leader for {longest:.1f} s")
        finally:
            if proxy is not None:
                proxy.stop()
            for replica in replicas:
                replica.stop()
            pg.close()
    for replica in replicas:
        (folder / f"{replica.name}.log").write_text("\n".join(replica.outputs))
        tracebacks = sum(o.count("Traceback") for o in replica.outputs)
        if tracebacks:
            print(f"{replica.name}: {tracebacks} traceback(s) in its logs "
                  f"({folder / replica.name}.log)")
    if problems:
        print("FAILED: " + "; ".join(problems))
        return 1
    print("OK: nothing lost, nothing doubled")
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except subprocess.CalledProcessError as exc:
        raise SystemExit(f"{exc.cmd}: {exc.stderr!r}") from None
