"""Which running Vigie process holds a claim, and whether that process is still alive.

A send in flight (a post's delivery, a reply) is claimed before the platform is called,
with a lease long enough for any platform's timeout (minutes). When a replica is killed
mid-call, waiting out that lease broke the promise that the bot recovers within a
minute. So each process has an identity (`Heartbeat.id`), written on every claim it
makes, and a row in `replica` whose `heartbeat_at` a daemon thread refreshes every
`HEARTBEAT_EVERY`. A claim whose owner has not beaten for `ABANDONED_AFTER` belongs to a
dead process: the sweeps take it back at once, as an *uncertain* send that is looked for
on the platform before anything is sent again (`bot.connectors.doubt`). The long lease
stays, for an owner that is alive but hung.

A process judges others only after beating steadily itself for `ABANDONED_AFTER`: after
the database was away for a while, every replica's heartbeat is old, and the first one
back must not take its peers' claims while they reconnect. Nobody judges its own claims.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, false, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, col

from bot.clock import Clock
from bot.logs import database_trouble
from bot.store import UTCDateTime

log = logging.getLogger(__name__)

HEARTBEAT_EVERY = timedelta(seconds=5)
# Four missed beats: longer than a garbage-collector pause or a busy machine starving the
# heartbeat thread for a while (a live owner taken for dead only costs a look on the
# platform, never a second send), and short enough that a killed replica's claim is
# taken back, and looked for, within the minute the bot promises to recover in (with a
# sweep every 30 s at most: posts' default, replies' 15 s).
ABANDONED_AFTER = timedelta(seconds=20)
FORGET_AFTER = timedelta(days=1)  # rows of processes gone this long are deleted
ID_LENGTH = 64


class ReplicaRow(SQLModel, table=True):
    """One running (or once running) Vigie process."""

    __tablename__ = "replica"

    id: str = Field(primary_key=True, max_length=ID_LENGTH)
    started_at: datetime = Field(sa_type=UTCDateTime)
    heartbeat_at: datetime = Field(sa_type=UTCDateTime)


def new_id() -> str:
    """host-pid-random: readable in the database, unique across restarts."""
    return f"{socket.gethostname()[:32]}-{os.getpid()}-{uuid.uuid4().hex[:12]}"


class Heartbeat:
    """This process's identity and liveness, and the rule for other processes' claims."""

    def __init__(self, *, engine: Engine, clock: Clock, every: timedelta = HEARTBEAT_EVERY
                 ) -> None:
        self._engine = engine
        self._clock = clock
        self._every = every
        self.id = new_id()
        self._started_at: datetime | None = None
        self._steady_since: datetime | None = None  # first beat of the current run of beats
        self._last_beat: datetime | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    # -- beating ----------------------------------------------------------------------------
    def beat(self) -> bool:
        """Say this process is alive; False when the database could not be told."""
        now = self._clock.now()
        try:
            with Session(self._engine) as session:
                changed = session.execute(update(ReplicaRow).where(col(ReplicaRow.id) == self.id)
                                          .values(heartbeat_at=now))
                if int(changed.rowcount) != 1:  # type: ignore[attr-defined]
                    session.add(ReplicaRow(id=self.id, started_at=self._started_at or now,
                                           heartbeat_at=now))
                session.commit()
        except Exception as exc:
            with self._lock:
                self._steady_since = None
            if not self._failing:
                log.warning("could not refresh this replica's heartbeat (%s)",
                            database_trouble(exc) or type(exc).__name__)
            self._failing = True
            return False
        with self._lock:
            gap = self._last_beat is None or now - self._last_beat > ABANDONED_AFTER
            if self._steady_since is None or gap:
                self._steady_since = now
            self._last_beat = now
            self._started_at = self._started_at or now
        self._failing = False
        return True

    def start(self) -> None:
        """Beat now (before this process claims anything), then every `HEARTBEAT_EVERY`."""
        self.forget_gone()
        self.beat()
        self._thread = threading.Thread(target=self._run, name="vigie-heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop beating and leave: a clean stop finished its sends first."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        try:
            with Session(self._engine) as session:
                session.execute(delete(ReplicaRow).where(col(ReplicaRow.id) == self.id))
                session.commit()
        except Exception:
            log.debug("could not remove this replica's row", exc_info=True)

    def _run(self) -> None:
        while not self._stop.wait(self._every.total_seconds()):
            self.beat()

    def forget_gone(self) -> None:
        """Delete the rows of processes gone for a day (every restart adds one)."""
        try:
            with Session(self._engine) as session:
                session.execute(delete(ReplicaRow).where(
                    col(ReplicaRow.heartbeat_at) < self._clock.now() - FORGET_AFTER))
                session.commit()
        except Exception:
            log.debug("could not forget old replicas", exc_info=True)

    # -- judging others' claims ------------------------------------------------------------
    def may_judge(self, now: datetime) -> bool:
        """Has this process beaten steadily for `ABANDONED_AFTER`, its last beat recent?
        Only then is another's old heartbeat a sign of death, not of an outage."""
        with self._lock:
            steady, last = self._steady_since, self._last_beat
        return steady is not None and last is not None and now - steady >= ABANDONED_AFTER \
            and now - last <= ABANDONED_AFTER

    def abandoned(self, owner: Any, claimed_at: Any, now: datetime) -> Any:
        """SQL condition: the claim (`owner`, `claimed_at` columns) is another process's,
        at least `ABANDONED_AFTER` old, and that process has not beaten for as long."""
        if not self.may_judge(now):
            return false()
        cutoff = now - ABANDONED_AFTER
        alive = select(col(ReplicaRow.id)).where(col(ReplicaRow.id) == owner) \
            .where(col(ReplicaRow.heartbeat_at) >= cutoff).exists()
        return and_(owner.is_not(None), owner != self.id, claimed_at < cutoff, ~alive)
