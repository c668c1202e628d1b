"""Scheduled work: APScheduler with its jobs persisted in Vigie's own database.

Every replica can *add* jobs (they land in the shared job store), but only the leader
*runs* them. Leadership is a PostgreSQL advisory lock held on a dedicated connection for
the life of the leader; when that process dies its connection closes, the lock is freed
and another replica takes over within `LEADER_POLL` seconds. On SQLite there is a single
process, which is always the leader.

Jobs are stored by name (`run_job("posts.publish", 42)`), never as pickled services, so a
job scheduled before a restart runs against the new process's services. The scheduler
only decides *when*: each job's side effect is guarded by its own atomic state change in
the database, so even a second runner could not repeat it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, JobExecutionEvent
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from bot.logs import database_trouble, working
from bot.metrics import JOBS

log = logging.getLogger(__name__)

JOBSTORE_TABLE = "apscheduler_jobs"
LEADER_LOCK_KEY = 0x56494749  # "VIGI"
LEADER_POLL = 5.0
STORE_POLL = 5.0  # the leader re-reads the shared store at least this often
STORE_RETRY = 2.0  # seconds before another pass after the database refused one

JobFunction = Callable[..., None]
_registry: dict[str, JobFunction] = {}
_registry_lock = threading.Lock()


def run_job(name: str, *args: Any) -> None:
    """What APScheduler stores and calls: look the job up by name in this process. Each
    run is one piece of work for the logs, and counted by outcome (`vigie_jobs`)."""
    with _registry_lock:
        function = _registry.get(name)
    if function is None:
        raise LookupError(f"no job named {name!r} is registered in this process")
    with working("job"):
        try:
            function(*args)
        except BaseException:
            JOBS.labels(name, "error").inc()
            raise
        JOBS.labels(name, "ok").inc()


class _SharedStore(SQLAlchemyJobStore):  # type: ignore[misc]
    """The job store several processes share: a job another process removed meanwhile
    (a post cancelled just as it fired) is gone, which is not an error for the loop."""

    def update_job(self, job: Any) -> None:
        try:
            super().update_job(job)
        except JobLookupError:
            log.info("job %s was removed by another process", job.id)


class _Background(BackgroundScheduler):  # type: ignore[misc]
    def _process_jobs(self) -> float | None:
        """One pass over the due jobs. APScheduler lets a database error escape from it
        when it updates or removes a job it has just submitted (PostgreSQL restarting,
        SQLite's disk full): that ended the scheduler's thread for good, while the
        process kept serving and holding the leader lock, so nothing scheduled ran again
        until a restart. One log line instead, and another pass soon: a job whose removal
        failed is submitted again, which its own claim makes harmless."""
        try:
            wait: float | None = super()._process_jobs()
        except SQLAlchemyError as exc:
            log.warning("the scheduler could not write to the database (%s); trying again "
                        "in %g s", database_trouble(exc) or type(exc).__name__, STORE_RETRY)
            return STORE_RETRY
        except Exception:
            log.exception("the scheduler's pass over due jobs failed; trying again in %g s",
                          STORE_RETRY)
            return STORE_RETRY
        return wait

    def remove_job(self, job_id: str, jobstore: str | None = None) -> None:
        """APScheduler removes a one-off job after submitting it; if another process did
        first, the `JobLookupError` would kill the scheduler's thread (while it keeps the
        leader lock). Callers other than that loop still get the error."""
        try:
            super().remove_job(job_id, jobstore)
        except JobLookupError:
            if threading.current_thread() is not getattr(self, "_thread", None):
                raise
            log.info("job %s was already removed by another process", job_id)


class LeaderLock:
    """Who runs the scheduler: a session-level advisory lock on PostgreSQL."""

    def __init__(self, engine: Engine) -> None:
        # A pool would keep the session (and its lock) alive after `close()`: the lock
        # gets a connection of its own that really closes.
        self._engine = create_engine(engine.url, poolclass=NullPool)
        self._connection: Connection | None = None

    @property
    def exclusive(self) -> bool:
        return self._engine.dialect.name == "postgresql"

    def acquire(self) -> bool:
        if not self.exclusive:
            return True
        if self._connection is not None and self.still_held():
            return True
        self.release()
        connection = self._engine.connect()
        got = bool(connection.execute(text("SELECT pg_try_advisory_lock(:key)"),
                                      {"key": LEADER_LOCK_KEY}).scalar())
        connection.commit()
        if got:
            self._connection = connection
        else:
            connection.close()
        return got

    def still_held(self) -> bool:
        if not self.exclusive:
            return True
        if self._connection is None:
            return False
        try:
            self._connection.execute(text("SELECT 1"))
            self._connection.commit()
            return True
        except Exception:
            log.warning("lost the scheduler leader connection")
            self.release()
            return False

    def release(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()  # closing the session frees the advisory lock
            except Exception:
                log.debug("error closing leader connection", exc_info=True)
            self._connection = None


class Scheduler:
    def __init__(self, *, engine: Engine, timezone: str, leader_poll: float = LEADER_POLL
                 ) -> None:
        self._engine = engine
        self._lock = LeaderLock(engine)
        self._leader_poll = leader_poll
        self._names: dict[str, JobFunction] = {}
        self._scheduler = _Background(
            jobstores={
                "default": _SharedStore(engine=engine, tablename=JOBSTORE_TABLE),
                "local": MemoryJobStore(),
            },
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
            timezone=timezone,
        )
        self._scheduler.add_listener(self._on_error, EVENT_JOB_ERROR)
        self._stop = threading.Event()
        self._watch: threading.Thread | None = None
        self.is_leader = False

    # -- registration and scheduling -----------------------------------------------------
    def register(self, name: str, function: JobFunction) -> None:
        """Make `name` runnable in this process (call before `start`)."""
        self._names[name] = function

    def at(self, name: str, job_id: str, when: datetime, *args: Any,
           grace: timedelta | None = None) -> None:
        """Run job `name` once at `when`; scheduling the same `job_id` again replaces it."""
        self._add(name, job_id, DateTrigger(run_date=when), args, grace)

    def every(self, name: str, job_id: str, interval: timedelta, *args: Any,
              grace: timedelta | None = None) -> None:
        self._add(name, job_id, IntervalTrigger(seconds=interval.total_seconds()), args, grace)

    def cron(self, name: str, job_id: str, *args: Any, grace: timedelta | None = None,
             **fields: str | int) -> None:
        # In the newsroom's zone: a CronTrigger built alone would use the machine's.
        self._add(name, job_id, CronTrigger(timezone=self._scheduler.timezone, **fields), args,
                  grace)

    def cancel(self, job_id: str) -> bool:
        try:
            self._scheduler.remove_job(job_id, jobstore="default")
            return True
        except JobLookupError:
            return False

    def run_due(self, until: datetime) -> int:
        """Run now every job due by `until`; how many. The sandbox's clock (`vigie demo`)
        is moved ahead of the wall's, and a post planned for tomorrow 9:00 must go out when
        a person moves it past; each job checks the time on Vigie's clock as usual."""
        now = datetime.now(self._scheduler.timezone)
        due = [job for job in self._scheduler.get_jobs(jobstore="default")
               if job.next_run_time is not None and job.next_run_time <= until]
        moved = 0
        for job in due:
            try:
                job.modify(next_run_time=now)
            except JobLookupError:  # it ran (and was removed) meanwhile: nothing left to do
                continue
            moved += 1
        if moved:
            self._scheduler.wakeup()
        return moved

    def next_run(self, job_id: str) -> datetime | None:
        job = self._scheduler.get_job(job_id, jobstore="default")
        return job.next_run_time if job else None

    def _add(self, name: str, job_id: str, trigger: Any, args: tuple[Any, ...],
             grace: timedelta | None) -> None:
        if name not in self._names:
            raise LookupError(f"job {name!r} is not registered")
        options: dict[str, Any] = {}
        if grace is not None:
            options["misfire_grace_time"] = int(grace.total_seconds())
        self._scheduler.add_job(run_job, trigger, args=(name, *args), id=job_id,
                                replace_existing=True, jobstore="default", **options)

    # -- life cycle ---------------------------------------------------------------------
    def start(self) -> None:
        """Start paused (jobs can be added), then run jobs once this replica leads."""
        with _registry_lock:
            _registry.update(self._names)
        self._scheduler.start(paused=True)
        self._scheduler.add_job(lambda: None, IntervalTrigger(seconds=STORE_POLL),
                                id="vigie.store-poll", jobstore="local", replace_existing=True)
        self._watch = threading.Thread(target=self._lead, name="vigie-leader", daemon=True)
        self._watch.start()

    def shutdown(self) -> None:
        self._stop.set()
        if self._watch:
            self._watch.join(5)
        if self._scheduler.running:
            # APScheduler makes one last pass over due jobs after `shutdown`, with its
            # executor already closed: a due one-off job would be dropped unrun. Detach
            # the shared store first so the next leader runs it instead. Jobs already
            # running finish (their side effects are claimed), then the lock is released.
            self._scheduler.pause()
            # Wait for the running jobs *before* APScheduler's shutdown: it waits for them
            # holding the job stores' lock, which a job scheduling its next step
            # (`at` → `add_job`) needs too — the stop then hung for good. Here they finish
            # with the shared store still attached, so what they schedule is kept.
            self._scheduler._lookup_executor("default").shutdown(wait=True)
            self._scheduler.remove_jobstore("default", shutdown=False)
            self._scheduler.shutdown(wait=True)
        self._lock.release()
        self.is_leader = False

    def _lead(self) -> None:
        while not self._stop.is_set():
            try:
                if not self.is_leader and self._lock.acquire():
                    log.info("this replica now runs the scheduler")
                    self.is_leader = True
                    self._scheduler.resume()
                elif self.is_leader and not self._lock.still_held():
                    self.is_leader = False
                    self._scheduler.pause()
            except Exception:
                log.exception("leader election failed; retrying")
            self._stop.wait(self._leader_poll)

    @staticmethod
    def _on_error(event: JobExecutionEvent) -> None:
        log.error("job %s failed: %s", event.job_id, event.exception,
                  exc_info=event.exception)
