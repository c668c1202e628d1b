"""Report cost over a big history: the weekly report built from 1,000,000 mentions.

    python bench/report.py                      # SQLite (a temporary file)
    python bench/report.py --pg postgresql+psycopg://postgres@127.0.0.1:5432/bench_db
    python bench/report.py -n 200000 --span-days 30
    python bench/report.py --quick              # 5,000 mentions, timed once: does it run?

Seeds `-n` mentions (default 1,000,000) spread over `--span-days` (default 365) with a
daily rhythm, qualified the way a desk leaves them (sentiment, category, status,
assignee, first response after a log-normal delay) plus their triage rows, then times,
best of `--repeat` after one warm-up run:
- `figures`: the report's queries (volume by day × sentiment × category × source, first
  responses over 8 weeks, workload, open queue);
- `charts`: rendering the five PNGs;
- `weekly report`: what the scheduler does before calling Slack (figures, sections,
  message, charts); the target is under 2 s;
- the 30-day report, one person's App Home, a trend check and a 30-day CSV export.

The PostgreSQL database given is emptied (its `public` schema is dropped): never point
it at a database that matters. Indexes used are those of migration 0007 (see README).
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.engine import Engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.clock import FrozenClock
from bot.config import Config
from bot.listen.trends import Trends
from bot.mentions.models import Mention
from bot.mentions.qualify_models import MentionTriage
from bot.mentions.staff import StaffPolicy
from bot.moderation.exposure import Exposure
from bot.people import Directory
from bot.reports import charts
from bot.reports.exposure_sections import ExposureSections
from bot.reports.home import Dashboard
from bot.reports.messages import ReportFigures
from bot.reports.posts_sections import PostsSections
from bot.reports.queries import Scope
from bot.reports.scope import Request, last_week
from bot.reports.service import Reports
from bot.slack import SlackGateway, make_client
from bot.store import make_engine, upgrade

CONFIG = Config.model_validate({
    "newsroom": {"locale": "fr", "timezone": "Europe/Paris"},
    "channels": {"mentions": "C0MENTIONS"},
    "accounts": [{"id": a, "name": a.replace("-", " ").title()} for a in
                 ("matinale", "grand-debat", "sport-talk", "radio-musique", "info-soir",
                  "podcast")],
    "qualify": {"staff": {"users": ["U0BENCH"], "channel_members": False}},
})
PEOPLE = [f"U0STAFF{n}" for n in range(8)]
SOURCES = ("mastodon", "bluesky", "rss-alertes", "webhook-veille", "slack")
CHANNELS = ("C0MENTIONS", "C0DEBAT", "C0SPORT", "C0LEGAL")
WORDS = ("émission", "direct", "invité", "podcast", "replay", "question", "bravo", "grève",
         "micro", "chronique", "merci", "horaires", "antenne", "débat", "son", "musique")
NOW = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)  # a Monday, 10:00 in Paris


class NoSlack(SlackGateway):
    """Names without Slack: the bench measures the database and the charts."""

    def __init__(self) -> None:
        super().__init__(make_client("xoxb-bench", "http://127.0.0.1:9/api/"))

    def user_info(self, user: str) -> dict[str, Any]:
        return {"id": user, "name": user.lower(), "profile": {"display_name": f"Staff {user[-1]}"},
                "locale": "fr-FR"}

    def auth_test(self) -> dict[str, Any]:
        return {"url": "https://newsroom.slack.com/"}

    def usergroup_members(self, usergroup: str) -> list[str]:
        return []


def rows(n: int, span: timedelta, seed: int) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    rng = random.Random(seed)
    start = NOW - span
    # Busier by day than by night: accept a uniform instant with the daily rhythm's odds.
    moments: list[float] = []
    seconds = span.total_seconds()
    while len(moments) < n:
        at = rng.random() * seconds
        hour = ((start + timedelta(seconds=at)).hour + 1) % 24
        if rng.random() < 0.25 + 0.75 * math.sin(math.pi * max(0, hour - 6) / 18) ** 2:
            moments.append(at)
    moments.sort()
    for n_, at in enumerate(moments, start=1):
        received = start + timedelta(seconds=at)
        recent = NOW - received < timedelta(days=2)
        roll = rng.random()
        if recent:
            status = "open" if roll < 0.25 else "assigned" if roll < 0.45 else "answered"
        else:
            status = ("answered" if roll < 0.55 else "closed" if roll < 0.8 else
                      "ignored" if roll < 0.97 else "open" if roll < 0.985 else "assigned")
        assignee = rng.choice(PEOPLE) if status != "open" and rng.random() < 0.8 else None
        first = by = None
        if status == "answered":
            delay = min(rng.lognormvariate(math.log(1800), 1.0), 5 * 86400)
            first = received + timedelta(seconds=delay)
            if first > NOW:
                first = NOW
            by = assignee or rng.choice(PEOPLE)
        sentiment = rng.choices((None, "positive", "neutral", "negative"), (25, 30, 30, 15))[0]
        category = rng.choices((None, "question", "complaint", "praise", "crisis", "spam",
                                "other"), (30, 25, 15, 15, 2, 5, 8))[0]
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 25)))
        mention = {
            "id": n_, "source_id": rng.choice(SOURCES), "external_id": f"x{n_}",
            "platform": "mastodon", "account_id": rng.choice(CONFIG.accounts).id,
            "author_handle": f"@user{rng.randint(1, 50_000)}@example.social",
            "author_name": None, "text": f"@vigie {words}", "url": None, "lang": "fr",
            "fingerprint": f"{n_:032x}", "created_at": received, "received_at": received,
            "channel_id": rng.choice(CHANNELS), "route": None, "relay_state": "relayed",
            "relay_attempts": 1, "relay_uncertain": False, "slack_channel": "C0MENTIONS",
            "slack_ts": f"{int(received.timestamp())}.{n_ % 1_000_000:06d}",
            "relayed_at": received, "sentiment": sentiment, "category": category,
            "priority": "normal", "status": status, "assignee_id": assignee,
            "first_response_at": first, "answered_by": by, "version": 2,
        }
        done = status not in ("open", "assigned")
        triage = {"mention_id": n_, "sla_state": "done" if done else "nudged",
                  "nudge_at": received + timedelta(hours=4),
                  "escalate_at": received + timedelta(hours=8)}
        yield mention, triage


def seed(engine: Engine, n: int, span: timedelta) -> float:
    started = time.perf_counter()
    mentions: list[dict[str, Any]] = []
    triages: list[dict[str, Any]] = []
    if engine.dialect.name == "postgresql":
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            generated = rows(n, span, 7)
            first, first_triage = next(generated)
            columns = list(first)
            triages.append(first_triage)
            with cursor.copy(f"COPY mention ({', '.join(columns)}) FROM STDIN") as copy:
                copy.write_row([first[c] for c in columns])
                for mention, triage in generated:
                    copy.write_row([mention[c] for c in columns])
                    triages.append(triage)
            with cursor.copy("COPY mention_triage (mention_id, sla_state, nudge_at, "
                             "escalate_at) FROM STDIN") as copy:
                for t in triages:
                    copy.write_row([t["mention_id"], t["sla_state"], t["nudge_at"],
                                    t["escalate_at"]])
            raw.commit()
        finally:
            raw.close()
        with engine.connect() as connection:
            autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
            autocommit.execute(text("VACUUM ANALYZE mention"))
            autocommit.execute(text("VACUUM ANALYZE mention_triage"))
        return time.perf_counter() - started
    with engine.begin() as connection:
        for mention, triage in rows(n, span, 7):
            mentions.append(mention)
            triages.append(triage)
            if len(mentions) == 20_000:
                connection.execute(insert(Mention), mentions)
                connection.execute(insert(MentionTriage), triages)
                mentions, triages = [], []
        if mentions:
            connection.execute(insert(Mention), mentions)
            connection.execute(insert(MentionTriage), triages)
    with engine.connect() as connection:
        connection.exec_driver_sql("ANALYZE")
    return time.perf_counter() - started


def timed(label: str, action: Callable[[], object], repeat: int, warm: bool = True
          ) -> tuple[str, float, float]:
    if warm:
        action()  # warm-up: imports, caches, the database's pages
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return label, min(times), statistics.median(times)


def run(url: str, n: int, span_days: int, repeat: int, keep: bool = False,
        warm: bool = True) -> None:
    """Seed (unless `keep`), then time each piece: best and median of `repeat` runs, after
    one warm-up run each when `warm` (the first full build below warms them anyway)."""
    engine = make_engine(url)
    seconds = 0.0
    if not keep:
        if engine.dialect.name == "postgresql":
            with engine.begin() as connection:
                connection.execute(text("DROP SCHEMA public CASCADE"))
                connection.execute(text("CREATE SCHEMA public"))
        upgrade(engine)
        seconds = seed(engine, n, timedelta(days=span_days))
    clock = FrozenClock(NOW)
    slack = NoSlack()
    people = Directory(slack=slack, config=CONFIG, default_locale="fr")
    reports = Reports(engine=engine, config=CONFIG, clock=clock, slack=slack, people=people,
                      staff=StaffPolicy(slack=slack, staff=CONFIG.qualify.staff), locale="fr")
    dashboard = Dashboard(engine=engine, clock=clock, config=CONFIG, slack=slack,
                          people=people, workspace_url=reports.workspace_url)
    # As in production: posts and exposure sections (their tables are empty here).
    posts = PostsSections(engine=engine, config=CONFIG, workspace_url=reports.workspace_url,
                          editors=people.editors)
    exposure = ExposureSections(Exposure(engine=engine, clock=clock))
    reports.sections.extend([posts.report, exposure.report])
    dashboard.sections.extend([posts.home, exposure.home])
    trends = Trends(engine=engine, config=CONFIG, clock=clock)
    week = last_week(NOW, CONFIG.newsroom.timezone)
    month = reports.scope(Request(days=30))
    with engine.connect() as connection:
        in_week = connection.execute(text(
            "SELECT count(*) FROM mention WHERE received_at >= :a AND received_at < :b"),
            {"a": week.start if url.startswith("postgresql") else
             week.start.replace(tzinfo=None), "b": week.end if url.startswith("postgresql")
             else week.end.replace(tzinfo=None)}).scalar()
    built = reports.build(week, title="bench")
    figures = reports.figures(week)
    results = [
        timed("figures (weekly)", lambda: reports.figures(week), repeat, warm),
        timed("charts (5 mention PNGs)", lambda: _charts_only(reports, figures), repeat, warm),
        timed("weekly report (all, 6 charts)", lambda: reports.build(week, title="w"),
              repeat, warm),
        timed("30-day report", lambda: reports.build(month, title="m"), repeat, warm),
        timed("App Home of one person", lambda: dashboard.view(PEOPLE[0]), repeat, warm),
        timed("trend check (all accounts)", trends.check, repeat, warm),
        timed("CSV export, 30 days", lambda: reports.export(Scope(month.start, month.end),
                                                             locale="fr"), 1, warm),
    ]
    print(f"\n{engine.dialect.name}: {n:,} mentions over {span_days} days "
          f"({in_week:,} in the reported week), seeded in {seconds:.0f} s; "
          f"{len(built.charts)} charts, {sum(len(c.png) for c in built.charts) // 1024} KiB")
    print(f"{'':36} {'best':>8} {'median':>8}")
    for label, best, middle in results:
        print(f"{label:36} {best:7.3f}s {middle:7.3f}s")
    engine.dispose()


def _charts_only(reports: Reports, figures: ReportFigures) -> None:
    names = reports._names()
    charts.first_response_chart(filename="f.png", weeks=figures.response.weeks,
                                people=figures.response.people, names=names, locale="fr")
    charts.workload_chart(filename="w.png", loads=figures.loads, names=names, locale="fr")
    for series in (figures.volume.by_sentiment, figures.volume.by_source,
                   figures.volume.by_category):
        charts.stacked_by_day(filename="s.png", title="t", days=figures.volume.days,
                              series=series, labels=str, colours=None, locale="fr")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pg", help="PostgreSQL URL (the database is emptied)")
    parser.add_argument("-n", type=int, default=1_000_000)
    parser.add_argument("--span-days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", action="store_true",
                        help="PostgreSQL: time again on the data a previous run seeded")
    parser.add_argument("--quick", action="store_true",
                        help="5,000 mentions over 60 days, timed once without warm-up: checks the "
                        "bench runs")
    args = parser.parse_args()
    if args.quick:
        args.n, args.span_days, args.repeat = 5000, 60, 1
    if args.pg:
        run(args.pg, args.n, args.span_days, args.repeat, keep=args.keep, warm=not args.quick)
        return
    with tempfile.TemporaryDirectory() as directory:
        run(f"sqlite:///{directory}/bench.db", args.n, args.span_days, args.repeat,
            warm=not args.quick)


if __name__ == "__main__":
    main()
