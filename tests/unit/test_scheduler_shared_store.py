"""The scheduler survives jobs that another process removed under its feet."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from bot.scheduler import Scheduler


def test_a_job_removed_by_another_process_does_not_stop_the_scheduler(engine: Engine) -> None:
    """Both schedulers run the job (no lock on SQLite); both keep running later jobs."""
    ran: list[tuple[str, int]] = []
    schedulers = []
    for name in ("a", "b"):
        scheduler = Scheduler(engine=engine, timezone="Europe/Paris", leader_poll=0.1)
        scheduler.register("test.note", lambda n, name=name: ran.append((name, n)))
        scheduler.start()
        schedulers.append(scheduler)
    a, b = schedulers
    try:
        when = datetime.now(UTC) + timedelta(seconds=0.5)
        for number in range(1, 21):
            a.at("test.note", f"note-{number}", when, number)
        deadline = time.monotonic() + 8
        while len({n for _, n in ran}) < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert {n for _, n in ran} == set(range(1, 21))
        assert a._scheduler._thread.is_alive() and b._scheduler._thread.is_alive()
        a.at("test.note", "after", datetime.now(UTC) + timedelta(seconds=0.3), 99)
        deadline = time.monotonic() + 8
        while not any(n == 99 for _, n in ran) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert any(n == 99 for _, n in ran)
    finally:
        a.shutdown()
        b.shutdown()
