"""X polling cost: what Vigie is billed to bring in 1,000 mentions, beside the least any
poller could be billed for the same mentions (the floor), against the local X API.

X bills reads per resource returned (a post $0.005, a user $0.010; docs.x.com pricing):
a poller pays for every post it reads and for every author `expansions=author_id` sends
with each page. The floor reads each mention once and each distinct author once (one
read of everything at the very end: useless for a newsroom, but nothing is cheaper).
Vigie polls every 5 minutes through a simulated day whose mentions arrive as in the
labelled sample (/work/shared/data/mentions.jsonl's times of day and author repeats, or
a morning peak without it), with `since_id`: a mention is never read twice; what it pays
above the floor is an author named again on a later poll, and who the token is
(`users/me`, once). Aim: no more than 1.5 × the floor.

    python bench/x_poll.py            # 1,000 mentions over a day
    python bench/x_poll.py --quick    # 200 mentions: does it run?
    python bench/x_poll.py --regulars 30   # the same 30 people write everything

X deduplicates what it bills within a UTC day (an author read twice that day is billed
once); Vigie's budget and this bench count every resource returned, so the figures are
an upper bound of the bill.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.clock import FrozenClock
from bot.config import Source
from bot.connectors import PollState
from bot.platforms.x.client import XClients, XConnector
from bot.platforms.x.settings import XSettings
from bot.platforms.x.spend import MICROS, Budget, standalone_engine
from tests.support.x_server import FakeX

SAMPLE = Path("/work/shared/data/mentions.jsonl")
ENV = {"K": "app-key", "S": "app-secret", "T": "tok-matinale", "TS": "tok-secret"}
POLL_EVERY = 300


def arrivals(count: int, regulars: int = 0) -> list[tuple[int, str]]:
    """(second of the day, author) for `count` mentions, shaped like the sample
    (`regulars`: every mention by one of that many people instead)."""
    shape: list[tuple[int, str]] = []
    if SAMPLE.exists():
        for line in SAMPLE.read_text("utf-8").splitlines():
            row = json.loads(line)
            when = datetime.fromisoformat(row["created_at"].replace("Z", "+00:00"))
            handle = str(row["author"]["handle"]).lstrip("@").split("@")[0].split(".")[0]
            shape.append((when.hour * 3600 + when.minute * 60 + when.second, handle))
    if not shape:  # a morning peak, every author new
        shape = [(6 * 3600 + i * 97 % 14_400, f"fan{i}") for i in range(240)]
    out = []
    for i in range(count):
        second, handle = shape[i % len(shape)]
        author = f"regular{i % regulars}" if regulars else \
            f"{handle[:10]}_{i // len(shape)}".replace("-", "_")
        out.append(((second + 37 * (i // len(shape))) % 86_400, author))
    return sorted(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1000, help="mentions in the day")
    parser.add_argument("--quick", action="store_true", help="200 mentions")
    parser.add_argument("--regulars", type=int, default=0,
                        help="every mention by one of this many people (worst case: the "
                        "same authors named again on many polls)")
    args = parser.parse_args()
    count = 200 if args.quick else args.n
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    clock = FrozenClock(day)
    source = Source.model_validate({
        "id": "x", "type": "x", "account": "matinale", "api_key_env": "K",
        "api_secret_env": "S", "token_env": "T", "token_secret_env": "TS",
        "interval": POLL_EVERY})
    with FakeX() as fake:
        fake.limits = {k: 100_000 for k in fake.limits}  # a simulated day in seconds
        settings = XSettings(api_url=fake.url, monthly_budget=1000)
        budget = Budget(engine=standalone_engine(), settings=settings, clock=clock)
        connector = XConnector(XClients(ENV, settings, budget, clock=clock,
                                        sources=lambda: (source,)))
        pending = arrivals(count, args.regulars)
        seen: Counter[str] = Counter()
        authors: set[str] = set()
        cursor, first, polls = None, True, 0
        for tick in range(0, 86_400 + POLL_EVERY, POLL_EVERY):
            clock.set(day + timedelta(seconds=tick))
            while pending and pending[0][0] <= tick:
                _, author = pending.pop(0)
                authors.add(author)
                fake.mention("matinale", by=author, text=f"question {len(authors)}")
            fetched = connector(source, PollState(now=clock.now(), first=first, cursor=cursor))
            cursor, first, polls = fetched.cursor or cursor, False, polls + 1
            seen.update(m.external_id for m in fetched.mentions)
        requests = len(fake.calls("GET", "/2/users/"))
        spent = budget.standing().spent / MICROS
    assert len(seen) == count and max(seen.values()) == 1, "a mention read twice or lost"
    billed = fake.billed["post_read"] + fake.billed["user_read"]
    floor = count + len(authors)
    floor_cost = count * settings.prices.post_read + len(authors) * settings.prices.user_read
    per = 1000 / count
    print(f"{count} mentions from {len(authors)} authors over a day, polled every "
          f"{POLL_EVERY // 60} min ({polls} polls, {requests} requests: X bills what they "
          "return, not the requests)")
    print(f"billed resources per 1,000 mentions: {billed * per:,.0f} "
          f"(posts {fake.billed['post_read'] * per:,.0f}, users "
          f"{fake.billed['user_read'] * per:,.0f}); floor {floor * per:,.0f}; "
          f"{billed / floor:.2f}x")
    print(f"dollars per 1,000 mentions: ${spent * per:.2f}; floor ${floor_cost * per:.2f}; "
          f"{spent / floor_cost:.2f}x (aim: <= 1.5x)")


if __name__ == "__main__":
    main()
