"""How late do scheduled posts go out? Vigie's whole publishing path against the floor.

    python bench/schedule.py                     # 1,000 posts due in the same minute
    python bench/schedule.py --spread 0          # worst case: all due in the same second
    python bench/schedule.py --database-url postgresql+psycopg://…/scratch --scratch
    python bench/schedule.py --quick             # 20 posts due within 1 s: does it run?

Run 1 — Vigie: 1,000 posts are drafted and approved through the real desk, then made
due within one minute from T (`--spread` seconds; 0 puts them all at T). The real app
runs: APScheduler with its SQLAlchemy job store, the publishing job (claim, delivery
claim, chat.postMessage, result rows; a Slack-compatible server in another process), the
notices thread (previews, thread reports, DMs) and the sweep.
Lateness = the delivery's `published_at` − the planned time.

Run 2 — floor: a bare APScheduler BackgroundScheduler with the same job store and
executor, and 1,000 date jobs at the same times doing nothing but note the time.

The fake Slack answers at once and paces nothing, and Vigie's own pacing is set to a
millisecond: this measures the scheduling path. Real Slack allows about one message per
second per channel, and Vigie paces every message to that: `bench/pacing.py` measures it.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import argparse
import multiprocessing
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text, update
from sqlmodel import Session, col, select

CHANNELS = [f"C0BENCH{i:02d}" for i in range(10)]


def serve_fake_slack(conn: Any) -> None:
    """A Slack-compatible server in its own process, so it does not share our GIL."""
    from bot.sandbox.slack import FakeSlack

    with FakeSlack() as slack:
        conn.send(slack.base_url)
        conn.recv()  # until told to stop


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]

    return {"p50": statistics.median(ordered), "p99": pick(0.99), "max": ordered[-1],
            "min": ordered[0]}


def run_vigie(database_url: str, slack_url: str, count: int, spread: float,
              lead: float) -> list[float]:
    from bot.app import build
    from bot.clock import SystemClock
    from bot.config import Bursts, Config, Posts, PostTarget
    from bot.posts.models import DraftIn, Post, PostDelivery, PostState
    from bot.posts.service import JOB, job_id
    from bot.settings import Settings

    config = Config.model_validate({
        "newsroom": {"name": "Bench", "locale": "fr", "timezone": "Europe/Paris"},
        "channels": {"mentions": "C0MENTIONS", "approvals": "C0APPROVALS"},
        "editors": {"users": ["U0EDITOR"]},
    })
    config = config.model_copy(update={"bursts": Bursts(pace=0.001), "posts": Posts(targets=[
        PostTarget(id=f"bench{i:02d}", kind="slack", channel=channel)
        for i, channel in enumerate(CHANNELS)])})
    settings = Settings(slack_bot_token="xoxb-test", slack_api_url=slack_url,  # type: ignore[arg-type]
                        database_url=database_url, _env_file=None)  # type: ignore[call-arg]
    vigie = build(settings, config, clock=SystemClock())
    vigie.start_background()
    desk = vigie.posts.desk
    far = datetime.now(UTC) + timedelta(days=1)
    ids = []
    started = time.perf_counter()
    for index in range(count):
        post = desk.draft("U0CM", DraftIn(text=f"Publication {index}",
                                          targets=(f"bench{index % len(CHANNELS):02d}",),
                                          publish_at=far))
        desk.approve(int(post.id or 0), "U0EDITOR", via="button")
        ids.append(int(post.id or 0))
    vigie.posts.notices.drain(120)
    print(f"  drafted and approved {count} posts in {time.perf_counter() - started:.1f} s "
          "(previews and DMs included)")
    due = datetime.now(UTC) + timedelta(seconds=lead)
    planned = {post_id: due + timedelta(seconds=spread * i / count)
               for i, post_id in enumerate(ids)}
    with Session(vigie.engine) as session:
        for post_id, when in planned.items():
            session.execute(update(Post).where(col(Post.id) == post_id).values(publish_at=when))
        session.commit()
    grace = timedelta(minutes=config.posts.stale_after_minutes)
    for post_id, when in planned.items():
        vigie.scheduler.at(JOB, job_id(post_id), when, post_id, grace=grace)
    print(f"  all {count} due from {due:%H:%M:%S.%f} UTC over {spread:g} s")
    deadline = time.time() + lead + spread + 300
    while time.time() < deadline:
        with Session(vigie.engine) as session:
            done = session.exec(select(Post.id).where(
                col(Post.state) == PostState.PUBLISHED)).all()
        if len(done) == count:
            break
        time.sleep(0.2)
    with Session(vigie.engine) as session:
        rows = session.exec(select(PostDelivery.post_id, PostDelivery.published_at)).all()
    waited = time.perf_counter()
    vigie.posts.notices.drain(600)
    print(f"  previews, thread reports and DMs caught up {time.perf_counter() - waited:.1f} s "
          "after the last post went out")
    vigie.stop()
    late = [(published - planned[post_id]).total_seconds()
            for post_id, published in rows if published is not None]
    if len(late) != count:
        print(f"  ! only {len(late)} of {count} published")
    return late


def run_floor(database_url: str, count: int, spread: float, lead: float) -> list[float]:
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    from bot.store import make_engine

    engine = make_engine(database_url)
    lateness: list[float] = []
    lock = threading.Lock()
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename="bench_floor_jobs")},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 900},
        timezone="Europe/Paris",
    )
    scheduler.start()
    due = datetime.now(UTC) + timedelta(seconds=lead)
    for index in range(count):
        when = due + timedelta(seconds=spread * index / count)
        scheduler.add_job(note, "date", run_date=when, args=(when.timestamp(),),
                          id=f"floor-{index}", replace_existing=True)
    deadline = time.time() + lead + spread + 120
    while time.time() < deadline and len(lateness) < count:
        time.sleep(0.1)
        with lock:
            lateness[:] = FLOOR[:]
    scheduler.shutdown(wait=True)
    engine.dispose()
    return lateness


FLOOR: list[float] = []


def note(planned: float) -> None:
    FLOOR.append(time.time() - planned)


def scratch_database(url: str | None, allow: bool) -> str:
    from bot.store import make_engine, upgrade

    if url is None:
        path = Path(tempfile.mkdtemp(prefix="vigie-bench-")) / "bench.db"
        url = f"sqlite:///{path}"
    elif not allow:
        raise SystemExit("--database-url empties Vigie's tables there: add --scratch to confirm")
    engine = make_engine(url)
    upgrade(engine)
    with engine.begin() as connection:
        if not url.startswith("sqlite"):
            connection.execute(text("TRUNCATE post_delivery, post_approval, post "
                                    "RESTART IDENTITY CASCADE"))
            for table in ("apscheduler_jobs", "bench_floor_jobs"):
                connection.execute(text(f"DROP TABLE IF EXISTS {table}"))
    engine.dispose()
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--spread", type=float, default=60.0,
                        help="seconds over which the due times are spread (0: same second)")
    parser.add_argument("--lead", type=float, default=8.0,
                        help="seconds between scheduling and the first due time")
    parser.add_argument("--database-url")
    parser.add_argument("--scratch", action="store_true",
                        help="confirm that --database-url is a scratch database")
    parser.add_argument("--quick", action="store_true",
                        help="20 posts due within 1 s, 1 s ahead: checks the bench runs")
    args = parser.parse_args()
    if args.quick:
        args.posts, args.spread, args.lead = 20, 1.0, 1.0

    url = scratch_database(args.database_url, args.scratch)
    print(f"database: {url.split('@')[-1]}")
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=serve_fake_slack, args=(child,), daemon=True)
    server.start()
    slack_url = parent.recv()
    try:
        print(f"Vigie: {args.posts} posts, 1 Slack target each ({len(CHANNELS)} channels)")
        vigie = run_vigie(url, slack_url, args.posts, args.spread, args.lead)
    finally:
        parent.send("stop")
        server.join(5)
    print(f"floor: bare APScheduler, {args.posts} date jobs, same job store")
    floor = run_floor(url, args.posts, args.spread, args.lead)
    print()
    print(f"{'lateness (s)':<34}{'n':>6}{'p50':>9}{'p99':>9}{'max':>9}")
    for label, values in (("Vigie publishing (planned → out)", vigie),
                          ("bare APScheduler job (floor)", floor)):
        figures = percentiles(values) if values else {"p50": 0, "p99": 0, "max": 0}
        print(f"{label:<34}{len(values):>6}{figures['p50']:>9.3f}{figures['p99']:>9.3f}"
              f"{figures['max']:>9.3f}")


if __name__ == "__main__":
    main()
