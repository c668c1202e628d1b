"""Intake throughput: mentions per second through `Intake.ingest` (normalise, dedupe,
route, store — one commit per mention, as they arrive one by one) beside the floor: the
raw SQLAlchemy INSERT of the same rows, one transaction each, on the same database in
the same run.

    python bench/ingest.py                       # SQLite (a temporary file)
    python bench/ingest.py --pg postgresql+psycopg://postgres@127.0.0.1:5432/bench_db
    python bench/ingest.py -n 20000
    python bench/ingest.py --quick               # a few hundred mentions: does it run?

The PostgreSQL database given is emptied (its `public` schema is dropped): never point
it at a database that matters. Target: intake ≥ 50% of the raw rate and ≥ 10,000 stored
mentions per minute on one core.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, text
from sqlalchemy.engine import Engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import SAMPLE_MENTIONS
from bot.clock import SystemClock
from bot.config import Alerts, Config
from bot.listen.alerts import AlertWords
from bot.listen.catalog import Catalog
from bot.mentions.models import Author, Mention, MentionIn
from bot.mentions.routing import Router
from bot.mentions.service import Intake, _row
from bot.store import make_engine, upgrade
from bot.text import fingerprint

CONFIG = Config.model_validate({
    "channels": {"mentions": "C0MENTIONS"},
    "accounts": [{"id": "matinale", "name": "La Matinale"},
                 {"id": "grand-debat", "name": "Le Grand Débat", "channel": "C0DEBAT"},
                 {"id": "radio-musique", "name": "Radio Musique"},
                 {"id": "sport-talk", "name": "Sport Talk", "channel": "C0SPORT"}],
    "sources": [{"id": "monitoring", "type": "webhook", "account": "matinale",
                 "secret_env": "X"}],
    "routes": [
        {"name": "legal", "channel": "C0LEGAL",
         "keywords": ["avocat", "plainte", "diffamation", "lawsuit"]},
        {"name": "english", "channel": "C0ENGLISH", "languages": ["en"],
         "accounts": ["matinale"]},
        {"name": "sport", "channel": "C0SPORT", "keywords": ["match", "foot", "score"]},
    ],
})
ALERTS = Alerts(oncall=[], words={"fr": ["menace", "attentat"], "en": ["threat", "bomb"]})


def sample(count: int) -> list[MentionIn]:
    """`count` mentions cycling through the 240 labelled ones of the test fixtures."""
    texts: list[tuple[str, str | None, str]] = []
    for line in SAMPLE_MENTIONS.read_text("utf-8").splitlines():
        row = json.loads(line)
        texts.append((row["text"], row.get("lang"), row.get("account") or "matinale"))
    rng = random.Random(42)
    start = datetime(2026, 11, 2, 7, 0, tzinfo=UTC)
    items = []
    for i in range(count):
        body, lang, account = texts[i % len(texts)]
        items.append(MentionIn(
            external_id=f"bench-{i}", text=f"{body} #{i}",
            author=Author(handle=f"@user{rng.randrange(count)}@pouet.example", name="Someone"),
            created_at=start + timedelta(seconds=i), url=f"https://pouet.example/@u/{i}",
            language=lang, account=account, platform="mastodon",
        ))
    return items


def empty(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM mention"))


def raw_rows(items: list[MentionIn]) -> list[dict[str, object]]:
    """The rows intake would store, computed beforehand: the raw path does no work."""
    router = Router(CONFIG)
    now = datetime.now(UTC)
    rows = []
    for item in items:
        decision = router.route(source="monitoring", account=item.account, lang=item.lang,
                                author=item.author.handle, text=item.text)
        rows.append(_row("monitoring", item.account, item, fingerprint(item.text), now,
                         decision.channel, decision.route))
    return rows


def raw_seconds(engine: Engine, rows: list[dict[str, object]]) -> float:
    """The floor: one INSERT (statement built once) and one commit per row."""
    statement = insert(Mention.__table__)  # type: ignore[attr-defined]
    started = time.perf_counter()
    for row in rows:
        with engine.begin() as connection:
            connection.execute(statement, row)
    return time.perf_counter() - started


def intake_seconds(intake: Intake, items: list[MentionIn]) -> float:
    started = time.perf_counter()
    for item in items:
        result = intake.ingest("monitoring", item)
        assert not result.duplicate, item.external_id
    return time.perf_counter() - started


def run(label: str, engine: Engine, count: int, rounds: int = 10, warmup: int = 200
        ) -> tuple[float, float]:
    """Raw and intake take turns in `rounds` chunks, so a busy machine slows both alike."""
    clock = SystemClock()
    catalog = Catalog(engine=engine, config=CONFIG, clock=clock)
    intake = Intake(engine=engine, config=CONFIG, router=Router(CONFIG, catalog.routes),
                    clock=clock, sources=catalog.source, alerts=AlertWords(ALERTS))
    catalog.snapshot()  # seed outside the timing
    items = sample(count)
    # The floor's own copy of the rows (other ids and texts, or intake would see reposts).
    rows = raw_rows([i.model_copy(update={"external_id": f"raw-{i.external_id}",
                                          "text": f"raw {i.text}"}) for i in items])
    warm = sample(warmup)
    raw_seconds(engine, raw_rows([w.model_copy(update={"external_id": f"w-{w.external_id}",
                                                        "text": f"w {w.text}"})
                                  for w in warm]))
    intake_seconds(intake, warm)
    empty(engine)
    size = -(-count // rounds)
    raw_time = fed_time = 0.0
    for start in range(0, count, size):
        raw_time += raw_seconds(engine, rows[start:start + size])
        fed_time += intake_seconds(intake, items[start:start + size])
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT count(*) FROM mention")).scalar_one()
    assert stored == 2 * count, f"{stored} stored, {2 * count} expected"
    raw, fed = count / raw_time, count / fed_time
    print(f"{label:<11} raw insert {raw:7.0f}/s   intake {fed:7.0f}/s   "
          f"ratio {fed / raw:6.1%}   intake {fed * 60:8.0f} stored/min")
    return raw, fed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=5000, help="mentions per run")
    parser.add_argument("--pg", help="PostgreSQL URL of a throw-away database")
    parser.add_argument("--quick", action="store_true",
                        help="300 mentions, a short warm-up: checks the bench runs")
    args = parser.parse_args()
    count, warmup = (300, 20) if args.quick else (args.n, 200)
    print(f"{count} mentions, one commit each, one thread\n")
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{folder}/bench.db")
        upgrade(engine)
        run("SQLite", engine, count, warmup=warmup)
        engine.dispose()
    if args.pg:
        engine = make_engine(args.pg)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        upgrade(engine)
        run("PostgreSQL", engine, count, warmup=warmup)
        engine.dispose()


if __name__ == "__main__":
    main()
