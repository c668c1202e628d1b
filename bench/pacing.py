"""Pacing under load: many posts due in the same second, with their notes and DMs,
against a Slack that limits each channel as it documents; beside the floor that limit
sets, measured in the same run.

    python bench/pacing.py                  # 30 posts into 3 channels, 3 authors
    python bench/pacing.py --quick          # 6 posts into 2 channels, 2 authors (CI)
    python bench/pacing.py --database-url postgresql+psycopg://…/scratch --scratch

Run 1 — Vigie: the posts are drafted and approved through the real desk (a preview each
in the approvals channel, DMs to their authors), then all made due at the same instant
T. The real app runs (scheduler, publishing job, notices, pacer) against the local
Slack-compatible server enforcing Slack's posting limit: one message per second per
channel, short bursts allowed, 429 with Retry-After beyond. Figures: the 429s, when each
post reached Slack (lateness = arrival − T), when the last message the publication
causes (thread reports, the authors' "it went out" DMs) arrived, and how many
chat.update calls (Tier 3, about 50 a minute per workspace) the previews took.

Run 2 — floor: a bare sender posts the same number of messages into the same channels,
each channel exactly one per second from T, all channels in parallel: the least time
Slack's limit allows for that traffic, on the same machine and server.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import argparse
import json
import statistics
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import text
from sqlmodel import Session, col, select

from bot.sandbox.slack import SLACK_POSTING_RATE, Call, FakeSlack
from tests.support.posts import due_together

APPROVALS = "C0APPROVALS"
EDITOR = "U0EDITOR"


@dataclass
class Traffic:
    """What reached Slack after T: message arrival times (s after T) per channel."""

    arrivals: dict[str, list[float]]
    ratelimited: Counter[str]
    posts: list[float]  # the posts' arrival times, s after T

    @property
    def messages(self) -> int:
        return sum(len(times) for times in self.arrivals.values())

    @property
    def last(self) -> float:
        return max((t for times in self.arrivals.values() for t in times), default=0.0)


def channels(count: int) -> list[str]:
    return [f"C0BENCH{i:02d}" for i in range(count)]


def authors(count: int) -> list[str]:
    return [f"U0AUTHOR{i}" for i in range(count)]


def config_for(channel_count: int, pace: float) -> Any:
    from bot.config import Bursts, Config, Posts, PostTarget

    config = Config.model_validate({
        "newsroom": {"name": "Bench", "locale": "fr", "timezone": "Europe/Paris"},
        "channels": {"mentions": "C0MENTIONS", "approvals": APPROVALS},
        "editors": {"users": [EDITOR]},
    })
    return config.model_copy(update={
        "bursts": Bursts(pace=pace),
        "posts": Posts(targets=[PostTarget(id=f"bench{i:02d}", kind="slack", channel=channel)
                                for i, channel in enumerate(channels(channel_count))]),
    })


def notes_done(engine: Any, posts: int) -> bool:
    """Every note sent, every delivery reported in its thread, every author told."""
    from bot.posts.models import FINISHED, NoticeState, PostDelivery, PostNotice

    with Session(engine) as session:
        notes = session.exec(select(PostNotice)).all()
        deliveries = set(session.exec(select(PostDelivery.id)).all())
    reported = {d for n in notes if n.kind == "report"
                for d in json.loads(n.params)["deliveries"]}
    told = sum(1 for n in notes if n.kind == "author" and n.event in FINISHED)
    return (all(n.state == NoticeState.SENT for n in notes) and reported == deliveries
            and told == posts)


def wait(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"! {what} not done within {timeout:.0f} s")
        time.sleep(0.1)


def run_vigie(database_url: str, slack: FakeSlack, *, posts: int, channel_count: int,
              author_count: int, pace: float, lead: float) -> tuple[Traffic, list[Call]]:
    from bot.app import build
    from bot.clock import SystemClock
    from bot.posts.models import DraftIn, NoticeState, Post, PostNotice
    from bot.settings import Settings

    config = config_for(channel_count, pace)
    settings = Settings(slack_bot_token=slack.token, slack_api_url=slack.base_url,  # type: ignore[arg-type]
                        database_url=database_url, _env_file=None)  # type: ignore[call-arg]
    vigie = build(settings, config, clock=SystemClock())
    vigie.start_background()
    try:
        desk = vigie.posts.desk
        later = datetime.now(UTC) + timedelta(days=1)
        started = time.monotonic()
        ids: list[int] = []
        writers = authors(author_count)
        for index in range(posts):
            post = desk.draft(writers[index % author_count], DraftIn(
                text=f"Publication {index}", targets=(f"bench{index % channel_count:02d}",),
                publish_at=later))
            desk.approve(int(post.id or 0), EDITOR, via="button")
            ids.append(int(post.id or 0))

        def told() -> bool:
            with Session(vigie.engine) as session:
                states = session.exec(select(PostNotice.state)).all()
                previews = session.exec(select(Post.id).where(
                    col(Post.preview_ts).is_(None))).first()
            return previews is None and all(s == NoticeState.SENT for s in states)

        wait(told, 60 + 3 * posts, "drafting: previews and DMs")
        print(f"  drafted and approved {posts} posts; previews and DMs out in "
              f"{time.monotonic() - started:.1f} s, {slack.ratelimited_count} × 429")
        mark = len(slack.calls)

        due = datetime.now(UTC) + timedelta(seconds=lead)
        at_mono = time.monotonic() + (due - datetime.now(UTC)).total_seconds()
        due_together(vigie, ids, due)
        print(f"  all {posts} due at {due:%H:%M:%S.%f} UTC (T)")
        wait(lambda: notes_done(vigie.engine, posts), 120 + 3 * posts,
             "publishing: posts, thread reports and DMs")
        time.sleep(1.0)  # let the last preview redraws land (they are counted, not waited for)
    finally:
        vigie.stop()
    after = slack.calls[mark:]
    targets = set(channels(channel_count))
    arrivals: dict[str, list[float]] = defaultdict(list)
    ratelimited: Counter[str] = Counter()
    post_times: list[float] = []
    for call in after:
        if call.method != "chat.postMessage":
            continue
        channel = str(call.params.get("channel"))
        if call.status == 429:
            ratelimited[channel] += 1
        elif call.status == 200 and call.error is None:
            arrivals[channel].append(call.at - at_mono)
            if channel in targets:
                post_times.append(call.at - at_mono)
    return Traffic(dict(arrivals), ratelimited, post_times), after


def run_floor(counts: dict[str, int], targets: set[str], pace: float) -> Traffic:
    """The same messages per channel, each channel one per `pace` seconds from T."""
    with FakeSlack(channel_rate_limit=SLACK_POSTING_RATE) as slack:
        client = WebClient(token=slack.token, base_url=slack.base_url)
        start = time.monotonic() + 0.5
        arrivals: dict[str, list[float]] = defaultdict(list)
        ratelimited: Counter[str] = Counter()
        lock = threading.Lock()

        def send(channel: str, count: int) -> None:
            for index in range(count):
                delay = start + index * pace - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                try:
                    client.chat_postMessage(channel=channel, text=f"floor {index}")
                except SlackApiError:
                    with lock:
                        ratelimited[channel] += 1

        threads = [threading.Thread(target=send, args=item) for item in counts.items()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        post_times: list[float] = []
        for call in slack.calls_to("chat.postMessage"):
            if call.status == 200:
                channel = str(call.params.get("channel"))
                arrivals[channel].append(call.at - start)
                if channel in targets:
                    post_times.append(call.at - start)
    return Traffic(dict(arrivals), ratelimited, post_times)


def pick(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))] \
        if ordered else 0.0


def updates_per_minute(calls: list[Call]) -> tuple[int, int]:
    """chat.update calls, and the most in any 60 s."""
    times = sorted(c.at for c in calls if c.method == "chat.update")
    peak, low = 0, 0
    for high, at in enumerate(times):
        while times[low] < at - 60:
            low += 1
        peak = max(peak, high - low + 1)
    return len(times), peak


def scratch_database(url: str | None, allow: bool) -> str:
    from bot.store import make_engine, upgrade

    if url is None:
        url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='vigie-pacing-')) / 'bench.db'}"
    elif not allow:
        raise SystemExit("--database-url empties Vigie's tables there: add --scratch to confirm")
    engine = make_engine(url)
    upgrade(engine)
    if not url.startswith("sqlite"):
        with engine.begin() as connection:
            connection.execute(text(
                "TRUNCATE post_notice, post_delivery, post_approval, post, channel_pace "
                "RESTART IDENTITY CASCADE"))
            connection.execute(text("DROP TABLE IF EXISTS apscheduler_jobs"))
    engine.dispose()
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--posts", type=int, default=30)
    parser.add_argument("--channels", type=int, default=3, help="target channels")
    parser.add_argument("--authors", type=int, default=3)
    parser.add_argument("--pace", type=float, default=1.0,
                        help="Vigie's seconds between two messages in a channel")
    parser.add_argument("--lead", type=float, default=3.0,
                        help="seconds between scheduling and T")
    parser.add_argument("--quick", action="store_true", help="6 posts, 2 channels, 2 authors")
    parser.add_argument("--database-url")
    parser.add_argument("--scratch", action="store_true",
                        help="confirm that --database-url is a scratch database")
    args = parser.parse_args()
    if args.quick:
        args.posts, args.channels, args.authors = 6, 2, 2

    url = scratch_database(args.database_url, args.scratch)
    print(f"database: {url.split('@')[-1]}")
    print(f"Vigie: {args.posts} posts into {args.channels} channels by {args.authors} authors; "
          f"Slack allows {SLACK_POSTING_RATE[0]} message per {SLACK_POSTING_RATE[1]:g} s "
          "per channel (short bursts)")
    with FakeSlack(channel_rate_limit=SLACK_POSTING_RATE) as slack:
        vigie, calls = run_vigie(url, slack, posts=args.posts, channel_count=args.channels,
                                 author_count=args.authors, pace=args.pace, lead=args.lead)
    counts = {channel: len(times) for channel, times in vigie.arrivals.items()}
    print(f"floor: a bare sender, the same {sum(counts.values())} messages in "
          f"{len(counts)} channels, each channel exactly 1 per {SLACK_POSTING_RATE[1]:g} s")
    floor = run_floor(counts, set(channels(args.channels)), SLACK_POSTING_RATE[1])

    print()
    print(f"{'after T (seconds)':<36}{'msgs':>6}{'429':>6}{'posts p50':>11}{'p99':>7}"
          f"{'max':>7}{'all out':>9}")
    for label, run in (("Vigie", vigie), ("floor: 1 msg/s/channel, bare", floor)):
        print(f"{label:<36}{run.messages:>6}{sum(run.ratelimited.values()):>6}"
              f"{statistics.median(run.posts) if run.posts else 0:>11.2f}"
              f"{pick(run.posts, 0.99):>7.2f}{max(run.posts, default=0):>7.2f}{run.last:>9.2f}")
    if vigie.ratelimited:
        print(f"  429s by channel: {dict(vigie.ratelimited)}")
    print()
    busiest = max(counts.items(), key=lambda item: item[1])
    print(f"messages per channel after T: {dict(sorted(counts.items()))} "
          f"(busiest: {busiest[0]}, {busiest[1]})")
    spread = (max(vigie.posts) - min(vigie.posts)) if vigie.posts else 0.0
    floor_spread = (max(floor.posts) - min(floor.posts)) if floor.posts else 0.0
    print(f"posts' delivery spread (first → last): Vigie {spread:.2f} s, floor "
          f"{floor_spread:.2f} s")
    total, peak = updates_per_minute(calls)
    print(f"chat.update after T: {total}, at most {peak} in any 60 s "
          "(Slack's Tier 3: about 50 a minute per workspace)")


if __name__ == "__main__":
    main()
