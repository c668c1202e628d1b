"""The scheduler survives jobs that another process removed under its feet."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

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


def test_a_database_error_after_a_job_ran_does_not_stop_the_scheduler(
        engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    """The store refuses to remove a job that just ran (the disk is full): one warning,
    and the scheduler keeps running jobs, instead of its thread dying for good."""
    ran: list[int] = []
    scheduler = Scheduler(engine=engine, timezone="Europe/Paris", leader_poll=0.1)
    scheduler.register("test.note", ran.append)
    store = scheduler._scheduler._lookup_jobstore("default")
    refusals = [OperationalError("DELETE FROM apscheduler_jobs", {},
                                 sqlite3.OperationalError("database or disk is full"))]
    real_remove = store.remove_job

    def remove_job(job_id: str) -> None:
        if refusals:
            raise refusals.pop()
        real_remove(job_id)

    store.remove_job = remove_job
    scheduler.start()
    try:
        scheduler.at("test.note", "full", datetime.now(UTC) + timedelta(seconds=0.2), 1)
        deadline = time.monotonic() + 30
        while not (1 in ran and not refusals) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert 1 in ran and not refusals
        scheduler.at("test.note", "after", datetime.now(UTC) + timedelta(seconds=0.2), 2)
        while 2 not in ran and time.monotonic() < deadline:
            time.sleep(0.05)
        assert 2 in ran
        assert scheduler._scheduler._thread.is_alive()
        assert "could not write to the database (database or disk is full)" in caplog.text
    finally:
        scheduler.shutdown()
