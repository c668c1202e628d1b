"""YouTube polling: quota units spent per 1,000 comments brought in, beside the floor,
the least any poller could spend for the same comments read no later than Vigie read
each of them.

    python bench/youtube_poll.py            # a newsroom's day: 3 programmes, ~2,000 comments
    python bench/youtube_poll.py --days 3
    python bench/youtube_poll.py --quick    # two hours around a programme: does it run?

A simulated day, minute by minute, on a frozen clock: comments arrive on one channel
(a burst after each programme is published, decaying over hours; a trickle in the day,
less at night; 4 % held for review, 3 % likely spam), and Vigie's real connector polls
the local Data API v3 server whenever its pace says a stream is due, as the poller does.

The floor, per stream: a poller that knows the future reads exactly when the oldest
unread comment reaches the moment Vigie read it, taking everything published by then
in pages of 100 (1 unit each) — earliest deadline first, which no poller can beat while
bringing each comment in as early as Vigie did. Also shown: the floor with no freshness
at all (every comment in pages of 100, read once at the end of the day), and how long
comments waited before Vigie read them. Aim: units ≤ 1.5 × floor.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import percentile
from bot.clock import FrozenClock
from bot.config import Source
from bot.connectors import PollState
from bot.platforms.youtube.client import YouTubeClients
from bot.platforms.youtube.listen import YouTubeConnector
from tests.support.youtube_server import FakeYouTube

CHANNEL = "UCbench" + "x" * 17
VIDEO = "benchVideo1"
ENV = {"ID": "client-1.apps.googleusercontent.com", "SECRET": "client-secret",
       "REFRESH": "1//refresh"}
PROGRAMMES = (7.0, 12.5, 19.0)  # hours, newsroom time (UTC here)
BURST, DECAY = 240.0, 1.5  # comments/hour right after a programme; hours to fall by e
DAY_RATE, NIGHT_RATE = 12.0, 1.5  # comments/hour between bursts
HELD, SPAM = 0.04, 0.03
STATUS = {"published": "p", "heldForReview": "h", "likelySpam": "s"}
TAIL = 6 * 60  # minutes polled after the last comment, until every comment is read


def rate_at(hour: float) -> float:
    """Comments per hour at `hour` of the day."""
    base = DAY_RATE if 7 <= hour % 24 < 23 else NIGHT_RATE
    bursts = sum(BURST * math.exp(-(hour - day * 24 - start) / DECAY)
                 for day in range(int(hour // 24) + 1) for start in PROGRAMMES
                 if hour >= day * 24 + start)
    return base + bursts


def floor(comments: list[tuple[float, float]]) -> int:
    """Least units to read every (published, deadline) pair by its deadline."""
    units, pending = 0, sorted(comments, key=lambda c: c[1])
    while pending:
        at = pending[0][1]
        taken = [c for c in pending if c[0] <= at]
        units += max(1, math.ceil(len(taken) / 100))
        pending = [c for c in pending if c[0] > at]
    return units


def simulate(minutes: int, start_hour: float, seed: int) -> dict[str, float]:
    clock = FrozenClock(datetime(2030, 1, 7, tzinfo=UTC) + timedelta(hours=start_hour))
    rng = random.Random(seed)
    published_at: dict[str, tuple[str, datetime]] = {}  # id → stream, publish time
    read_at: dict[str, datetime] = {}
    with FakeYouTube(now=clock.now, daily_quota=1_000_000) as fake:
        fake.add_channel(CHANNEL)
        fake.add_video(VIDEO, CHANNEL)
        source = Source.model_validate({
            "id": "yt", "type": "youtube", "account": "matinale", "channel_id": CHANNEL,
            "client_id_env": "ID", "client_secret_env": "SECRET", "refresh_token_env": "REFRESH",
            "api_url": fake.url, "oauth_url": fake.url})
        connector = YouTubeConnector(YouTubeClients(ENV, clock=clock, timeout=10,
                                                    sources=lambda: (source,)))
        cursor: str | None = None
        due, units = clock.now(), 0
        for minute in range(minutes + TAIL):  # the tail: no new comment, the last are read
            hour = start_hour + minute / 60
            arriving = _poisson(rng, rate_at(hour) / 60) if minute < minutes else 0
            for _ in range(arriving):
                draw = rng.random()
                status = "heldForReview" if draw < HELD else \
                    "likelySpam" if draw < HELD + SPAM else "published"
                comment = fake.comment(VIDEO, f"commentaire {len(published_at)}",
                                       by=f"viewer{rng.randrange(500)}", status=status)
                published_at[comment["id"]] = (STATUS[status], clock.now())
            if clock.now() >= due:
                fetched = connector(source, PollState(now=clock.now(), first=cursor is None,
                                                      cursor=cursor))
                cursor = fetched.cursor
                for mention in fetched.mentions:
                    read_at.setdefault(mention.external_id, clock.now())
                due = clock.now() + timedelta(seconds=fetched.next_poll_in or 60)
                units = fake.spent_on("commentThreads.list")
                if minute >= minutes and len(read_at) == len(published_at):
                    break  # the last comment is in: what comes after is not for these
            clock.advance(minutes=1)
    brought = [i for i in published_at if i in read_at]
    least = sum(floor([(published_at[i][1].timestamp(), read_at[i].timestamp())
                       for i in brought if published_at[i][0] == stream])
                for stream in STATUS.values())
    anyhow = sum(math.ceil(sum(1 for i in brought if published_at[i][0] == s) / 100)
                 for s in STATUS.values())
    waits = [(read_at[i] - published_at[i][1]).total_seconds() / 60 for i in brought]
    return {"comments": len(published_at), "brought": len(brought), "units": units,
            "floor": least, "no_freshness": anyhow,
            "wait_p50": percentile(waits, 50) if waits else 0.0,
            "wait_p95": percentile(waits, 95) if waits else 0.0,
            "wait_max": max(waits) if waits else 0.0}


def _poisson(rng: random.Random, mean: float) -> int:
    count, limit, product = 0, math.exp(-mean), rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=1.0, help="days simulated")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--quick", action="store_true",
                        help="two hours around the evening programme: checks the bench runs")
    args = parser.parse_args()
    minutes, start = (120, 18.5) if args.quick else (int(args.days * 24 * 60), 0.0)
    found = simulate(minutes, start, args.seed)
    per_k = 1000 / max(found["brought"], 1)
    ratio = found["units"] / max(found["floor"], 1)
    print(f"YouTube polling, {minutes / 60:g} h simulated: {found['comments']:.0f} comments, "
          f"{found['brought']:.0f} brought in")
    print(f"  units spent:   {found['units']:.0f}  ({found['units'] * per_k:.1f} per 1,000 "
          f"comments)")
    print(f"  floor:         {found['floor']:.0f}  ({found['floor'] * per_k:.1f} per 1,000) "
          f"— same comments, each read no later than Vigie read it")
    print(f"  ratio:         {ratio:.2f} × floor (aim ≤ 1.5)")
    print(f"  no freshness:  {found['no_freshness']:.0f} units (every comment once, in full "
          f"pages, whenever)")
    print(f"  waits (min):   p50 {found['wait_p50']:.1f}, p95 {found['wait_p95']:.1f}, "
          f"max {found['wait_max']:.1f}")
    assert found["brought"] == found["comments"], "a comment was never brought in"


if __name__ == "__main__":
    main()
