"""What one Prometheus scrape of `/metrics` costs: the exposition Vigie builds (counters
plus the gauges read from the database at scrape time), with a mention table of a busy
newsroom and part of it waiting for Slack.

SQLite always; PostgreSQL too when its server programs are here (a cluster of the bench's
own, initdb on a free port). The target is under 10 ms per scrape.

    python bench/metrics_scrape.py [--mentions 50000] [--pending 2000] [--quick]

`--quick`: 2,000 mentions and 50 scrapes (CI: checks the bench runs; no verdict).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from bench._common import percentile  # noqa: E402
from bot.mentions.models import Mention, RelayState  # noqa: E402
from bot.metrics import StateCollector, exposition, state_registry  # noqa: E402
from bot.store import make_engine, upgrade  # noqa: E402

TARGET_MS = 10.0


def fill(engine: Engine, mentions: int, pending: int) -> None:
    now = datetime.now(UTC)
    rows = [{"source_id": "monitoring", "external_id": f"m{n}", "platform": "mastodon",
             "author_handle": f"@a{n}@x.example", "text": f"mention {n}",
             "fingerprint": f"{n:032x}", "created_at": now, "channel_id": "C0MENTIONS",
             "received_at": now - timedelta(seconds=mentions - n),
             "relay_state": RelayState.PENDING if n >= mentions - pending
             else RelayState.RELAYED, "relay_attempts": 0, "relay_uncertain": False,
             "priority": "normal", "status": "open", "version": 1}
            for n in range(mentions)]
    with engine.begin() as connection:
        for start in range(0, len(rows), 5000):
            connection.execute(insert(Mention), rows[start:start + 5000])


def measure(name: str, url: str, mentions: int, pending: int, scrapes: int) -> float:
    engine = make_engine(url)
    upgrade(engine)
    fill(engine, mentions, pending)
    registry = state_registry(StateCollector(engine=engine, now=lambda: datetime.now(UTC),
                                             is_leader=lambda: True, draining=lambda: False))
    exposition(registry)  # warm: the pool's first connection
    times = []
    for _ in range(scrapes):
        started = time.perf_counter()
        body = exposition(registry)
        times.append((time.perf_counter() - started) * 1000)
    assert f"vigie_cards_pending {float(pending)}".encode() in body
    engine.dispose()
    p50, p99 = percentile(times, 50), percentile(times, 99)
    print(f"{name:10s} {mentions:,} mentions, {pending:,} pending: scrape p50 {p50:.2f} ms, "
          f"p99 {p99:.2f} ms ({len(body):,} bytes)")
    return p99


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mentions", type=int, default=50_000)
    parser.add_argument("--pending", type=int, default=2_000)
    parser.add_argument("--scrapes", type=int, default=500)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.mentions, args.pending, args.scrapes = 2_000, 50, 50
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        worst = measure("SQLite", f"sqlite:///{tmp}/scrape.db", args.mentions, args.pending,
                        args.scrapes)
    if shutil.which("initdb") or list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        from tests.support.cluster import PrivatePostgres

        pg = PrivatePostgres()
        try:
            worst = max(worst, measure("PostgreSQL", pg.url, args.mentions, args.pending,
                                       args.scrapes))
        finally:
            pg.close()
    else:
        print("PostgreSQL: skipped, its server programs (initdb) are not installed")
    verdict = "no verdict (quick)" if args.quick else \
        ("met" if worst < TARGET_MS else "MISSED")
    print(f"target: p99 under {TARGET_MS:g} ms: {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
