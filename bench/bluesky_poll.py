"""Bluesky polling: how long one poll takes to read a backlog of mentions (20 pages of
listNotifications through the real atproto Client, parsed into mentions) and to store
them through intake, against the local XRPC server on SQLite.

    python bench/bluesky_poll.py            # 1,000 mentions
    python bench/bluesky_poll.py -n 500
    python bench/bluesky_poll.py --quick    # 100 mentions: does it run?

The local server answers in well under a millisecond: the figure is Vigie's own cost
(SDK models, parsing, intake), a floor under what bsky.social's latency adds per page.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.clock import FrozenClock
from bot.config import Config, Source
from bot.connectors import PollState
from bot.listen.catalog import Catalog
from bot.listen.polling import Poller
from bot.mentions.routing import Router
from bot.mentions.service import Intake
from bot.platforms.bluesky.client import PAGE, BlueskyClients, BlueskyConnector
from bot.store import make_engine, upgrade
from tests.support.bluesky_server import FakeBluesky

ME = "matinale.bsky.social"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1000, help="mentions waiting (≤ 1,000)")
    parser.add_argument("--quick", action="store_true",
                        help="100 mentions: checks the bench runs")
    args = parser.parse_args()
    count = 100 if args.quick else min(args.n, 1000)
    clock = FrozenClock(datetime.now(UTC))
    with FakeBluesky(accounts={ME: "pw"}) as fake:
        source = Source.model_validate({"id": "bsky", "type": "bluesky", "handle": ME,
                                        "password_env": "PW", "service": fake.url,
                                        "account": "matinale"})
        for i in range(count):
            fake.mention(ME, by=f"user{i % 97}.bsky.social", text=f"message numéro {i}")
        connector = BlueskyConnector(BlueskyClients({"PW": "pw"}))
        connector(source, PollState(now=clock.now(), first=True))  # session + warm-up
        started = time.perf_counter()
        fetched = connector(source, PollState(now=clock.now(), first=True))
        read = time.perf_counter() - started
        assert len(fetched.mentions) == count, len(fetched.mentions)
        with tempfile.TemporaryDirectory() as folder:
            engine = make_engine(f"sqlite:///{folder}/bench.db")
            upgrade(engine)
            config = Config.model_validate({
                "channels": {"mentions": "C0MENTIONS"},
                "accounts": [{"id": "matinale", "name": "La Matinale"}]})
            config = config.model_copy(update={"sources": [source]})
            catalog = Catalog(engine=engine, config=config, clock=clock)
            intake = Intake(engine=engine, config=config, clock=clock, sources=catalog.source,
                            router=Router(config, catalog.routes))
            poller = Poller(engine=engine, config=config, catalog=catalog, intake=intake,
                            clock=clock, connectors={"bluesky": connector})
            started = time.perf_counter()
            stored = poller.poll(source).stored
            total = time.perf_counter() - started
            engine.dispose()
    pages = -(-count // PAGE)
    print(f"{count} mentions, {pages} pages of listNotifications")
    print(f"read and parsed: {read:.2f} s ({count / read:,.0f} mentions/s, "
          f"{read / pages * 1000:.0f} ms per page)")
    print(f"read, parsed and stored through intake (SQLite): {total:.2f} s "
          f"({stored / total:,.0f} mentions/s, {stored} stored)")


if __name__ == "__main__":
    main()
