"""Claimed sends: the one pattern behind every message Vigie must post exactly once.

A row waiting to be sent (a mention's card, an outbox message) is *claimed* with an
atomic `UPDATE … WHERE state = pending` before Slack is called, so two threads or
replicas never both send it. The worker then writes the outcome only if it still holds
that claim (same `claimed_at`): one whose lease ran out while Slack was slow must not
overwrite its successor's result. A claim older than the lease belongs to a worker that
died mid-call; it is handed back as *uncertain*, and whoever sends next first looks in
Slack for the message before posting again. Where the table records the claim's owner
(`ClaimColumns.owner`), a claim of a process whose heartbeat stopped (`bot.replicas`) is
handed back the same way without waiting for the lease.

`bot.mentions.relay` and `bot.listen.outbox` each describe their table's columns with a
`ClaimColumns` and use one `Claims` for those three steps.

The database lost mid-step (PostgreSQL restarting) leaves a claim nobody will close: a
claim committed whose answer never came back, or an outcome (a card posted, its `ts`)
that could not be written. Waiting out the lease held that card back 45 s after the
database's return (campaign.database). This process remembers what it owes and writes
it first thing once the database answers: the outcome it knows, or the claim handed
back (Slack was never called). A process that dies instead still has the lease.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import or_, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, SQLModel, col

from bot.replicas import Heartbeat

Row = TypeVar("Row", bound=SQLModel)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClaimColumns(Generic[Row]):
    """Where a table keeps its send state (attribute names on `model`)."""

    model: type[Row]
    state: str
    claimed_at: str
    attempts: str
    uncertain: str
    next_at: str
    pending: Any
    sending: Any
    id: str = "id"
    owner: str | None = None  # the process holding the claim (`bot.replicas`)


class Claims(Generic[Row]):
    def __init__(self, engine: Engine, columns: ClaimColumns[Row], *, lease: timedelta,
                 heartbeat: Heartbeat | None = None) -> None:
        self._engine = engine
        self._c = columns
        self.lease = lease
        self._heartbeat = heartbeat if columns.owner else None
        # row id → (its claim's claimed_at, the values to write while that claim stands)
        self._owed: dict[Any, tuple[datetime, dict[str, Any]]] = {}
        self._owed_lock = threading.Lock()

    def _column(self, name: str) -> Any:
        return col(getattr(self._c.model, name))

    def claim(self, row_id: int, now: datetime) -> Row | None:
        """The row, now ours to send (its attempts counted); None if someone has it or it
        is no longer waiting."""
        model, c = self._c.model, self._c
        values = {c.state: c.sending, c.claimed_at: now,
                  c.attempts: self._column(c.attempts) + 1}
        if self._heartbeat is not None and c.owner:
            values[c.owner] = self._heartbeat.id
        try:
            with Session(self._engine, expire_on_commit=False) as session:
                claimed = session.execute(
                    update(model)
                    .where(self._column(c.id) == row_id)
                    .where(self._column(c.state) == c.pending)
                    .values(values)
                )
                session.commit()
                if claimed.rowcount != 1:  # type: ignore[attr-defined]
                    return None
                return session.get(model, row_id)
        except SQLAlchemyError:
            # Committed or not, nothing was sent: hand the claim back, if it is ours.
            self._owe(row_id, now, {c.state: c.pending})
            raise

    def finish(self, row: Row, **values: Any) -> bool:
        """Write the outcome if `row`'s claim still stands; False when it was lost."""
        c = self._c
        try:
            return self._write(getattr(row, c.id), getattr(row, c.claimed_at), values)
        except SQLAlchemyError:
            self._owe(getattr(row, c.id), getattr(row, c.claimed_at), values)
            raise

    def _write(self, row_id: Any, claimed_at: datetime, values: dict[str, Any]) -> bool:
        c = self._c
        with Session(self._engine) as session:
            written = session.execute(
                update(self._c.model)
                .where(self._column(c.id) == row_id)
                .where(self._column(c.state) == c.sending)
                .where(self._column(c.claimed_at) == claimed_at)
                .values(**values)
            )
            session.commit()
        return int(written.rowcount) == 1  # type: ignore[attr-defined]

    def _owe(self, row_id: Any, claimed_at: datetime, values: dict[str, Any]) -> None:
        with self._owed_lock:
            self._owed[row_id] = (claimed_at, values)

    def settle_owed(self) -> int:
        """Write what the database could not take (see the module's docstring); how many
        were written. Stops at the first failure: the database is still away."""
        with self._owed_lock:
            owed = list(self._owed.items())
        written = 0
        for row_id, (claimed_at, values) in owed:
            if self._write(row_id, claimed_at, values):
                written += 1
                log.info("%s %s: claim settled once the database was back (%s)",
                         self._c.model.__name__.lower(), row_id, values.get(self._c.state))
            with self._owed_lock:
                if self._owed.get(row_id) == (claimed_at, values):
                    del self._owed[row_id]
        return written

    def release_stale(self, now: datetime) -> int:
        """Hand back the claims of workers that died mid-call, as uncertain, due now: past
        the lease, or held by a process whose heartbeat stopped; first write what this
        process owes from a database outage (`settle_owed`)."""
        self.settle_owed()
        c = self._c
        stale = self._column(c.claimed_at) < now - self.lease
        if self._heartbeat is not None and c.owner:
            stale = or_(stale, self._heartbeat.abandoned(self._column(c.owner),
                                                         self._column(c.claimed_at), now))
        with Session(self._engine) as session:
            released = session.execute(
                update(self._c.model)
                .where(self._column(c.state) == c.sending)
                .where(stale)
                .values({c.state: c.pending, c.uncertain: True, c.next_at: now})
            )
            session.commit()
        return int(released.rowcount)  # type: ignore[attr-defined]
