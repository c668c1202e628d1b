"""The scheduler: persistent jobs by name, one leader at a time on PostgreSQL."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from bot.scheduler import Scheduler
from tests.conftest import PG_URL


def make(engine: Engine, ran: list[tuple[str, int]], *, poll: float = 0.1) -> Scheduler:
    scheduler = Scheduler(engine=engine, timezone="Europe/Paris", leader_poll=poll)
    scheduler.register("test.note", lambda n: ran.append(("note", n)))
    return scheduler


def wait_until(condition: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not met")
        time.sleep(0.02)


def test_job_runs_once_at_its_time(engine: Engine) -> None:
    """A job scheduled for a moment from now runs once, with its arguments."""
    ran: list[tuple[str, int]] = []
    scheduler = make(engine, ran)
    scheduler.start()
    try:
        scheduler.at("test.note", "note-1", datetime.now(UTC) + timedelta(seconds=0.3), 7)
        wait_until(lambda: ran)
        time.sleep(0.3)
        assert ran == [("note", 7)]
        assert scheduler.next_run("note-1") is None
    finally:
        scheduler.shutdown()


def test_same_job_id_replaces_rather_than_duplicates(engine: Engine) -> None:
    """Rescheduling a stable job id moves it; it still runs once."""
    ran: list[tuple[str, int]] = []
    scheduler = make(engine, ran)
    scheduler.start()
    try:
        soon = datetime.now(UTC) + timedelta(seconds=0.3)
        scheduler.at("test.note", "note-1", soon + timedelta(hours=1), 1)
        scheduler.at("test.note", "note-1", soon, 2)
        wait_until(lambda: ran)
        time.sleep(0.3)
        assert ran == [("note", 2)]
    finally:
        scheduler.shutdown()


def test_job_survives_a_restart(engine: Engine) -> None:
    """A job scheduled before a restart runs in the next process, by name."""
    first_ran: list[tuple[str, int]] = []
    first = make(engine, first_ran)
    first.start()
    first.at("test.note", "later", datetime.now(UTC) + timedelta(seconds=1), 3)
    first.shutdown()
    assert first_ran == []

    ran: list[tuple[str, int]] = []
    second = make(engine, ran)
    second.start()
    try:
        wait_until(lambda: ran, timeout=8)
        assert ran == [("note", 3)]
    finally:
        second.shutdown()


def test_unknown_job_name_is_refused(engine: Engine) -> None:
    """Scheduling a job nobody registered fails at once, not when it would fire."""
    scheduler = make(engine, [])
    with pytest.raises(LookupError):
        scheduler.at("nope", "x", datetime.now(UTC), 1)


@pytest.mark.skipif(not PG_URL, reason="advisory locks are PostgreSQL's; SQLite has one process")
def test_only_one_replica_leads_and_another_takes_over(engine: Engine) -> None:
    """Two schedulers on one PostgreSQL database: one leads; when it stops, the other does."""
    ran: list[tuple[str, int]] = []
    a, b = make(engine, ran), make(engine, ran)
    a.start()
    wait_until(lambda: a.is_leader)
    b.start()
    time.sleep(0.5)
    assert a.is_leader and not b.is_leader
    a.shutdown()
    wait_until(lambda: b.is_leader)
    b.at("test.note", "after-failover", datetime.now(UTC) + timedelta(seconds=0.2), 9)
    wait_until(lambda: ran)
    assert ran == [("note", 9)]
    b.shutdown()


def test_stopping_while_a_job_schedules_its_next_step_does_not_hang(engine: Engine) -> None:
    """A job still running when the replica stops, and scheduling a follow-up then (a post
    round noting its next look), lets the stop finish, and the follow-up is kept in the
    shared store for the next leader. The stop used to wait for the job while holding
    the lock the job needed to schedule: the process never exited (chaos campaign)."""
    import threading

    started, stopping, scheduled = threading.Event(), threading.Event(), threading.Event()
    later = datetime.now(UTC) + timedelta(hours=1)

    def round_then_follow_up() -> None:
        started.set()
        stopping.wait(30)
        time.sleep(0.3)  # inside the stop, past its pause
        scheduler.at("test.note", "follow-up", later, 2)
        scheduled.set()

    scheduler = make(engine, [])
    scheduler.register("test.round", round_then_follow_up)
    scheduler.start()
    wait_until(lambda: scheduler.is_leader, 30)
    scheduler.at("test.round", "round-1", datetime.now(UTC))
    assert started.wait(30), "the job never ran"
    stopper = threading.Thread(target=scheduler.shutdown, daemon=True)
    stopping.set()
    stopper.start()
    stopper.join(60)
    assert not stopper.is_alive(), "the stop hung on the running job"
    assert scheduled.is_set()
    successor = make(engine, [])
    successor.start()
    try:
        wait_until(lambda: successor.is_leader, 30)
        assert successor.next_run("follow-up") is not None
    finally:
        successor.shutdown()


def test_catching_up_skips_a_job_that_ran_meanwhile(engine: Engine,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Moving the sandbox's clock runs what fell due; a job that ran and went away between
    the listing and its turn is passed over, and the others still run."""
    ran: list[tuple[str, int]] = []
    scheduler = make(engine, ran)
    scheduler.start()
    try:
        later = datetime.now(UTC) + timedelta(hours=2)
        scheduler.at("test.note", "gone", later, 1)
        scheduler.at("test.note", "stays", later, 2)
        listed = scheduler._scheduler.get_jobs

        def listing_then_gone(*args: object, **kwargs: object) -> list[object]:
            jobs = listed(*args, **kwargs)
            scheduler.cancel("gone")  # it ran meanwhile, and a one-off job is then removed
            return list(jobs)

        monkeypatch.setattr(scheduler._scheduler, "get_jobs", listing_then_gone)
        assert scheduler.run_due(later + timedelta(minutes=1)) == 1
        monkeypatch.undo()
        wait_until(lambda: ("note", 2) in ran, timeout=30)
        assert ("note", 1) not in ran
    finally:
        scheduler.shutdown()
