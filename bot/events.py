"""Slack's retries: Slack resends an event it thinks we missed, and Bolt does not
deduplicate. The first delivery of each `event_id` is recorded here, atomically, so a
retry (or a second replica receiving it) changes nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col

from bot.store import UTCDateTime

KEEP = timedelta(days=2)  # Slack retries for minutes; two days is generous.


class ProcessedEvent(SQLModel, table=True):
    __tablename__ = "processed_event"

    event_id: str = Field(primary_key=True, max_length=64)
    received_at: datetime = Field(sa_type=UTCDateTime, index=True)


class EventLedger:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def first_delivery(self, event_id: str, now: datetime) -> bool:
        """True the first time `event_id` is seen, False for every later delivery."""
        with Session(self._engine) as session:
            session.add(ProcessedEvent(event_id=event_id, received_at=now))
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                return False
        return True

    def forget_before(self, when: datetime) -> int:
        with Session(self._engine) as session:
            result = session.execute(
                delete(ProcessedEvent).where(col(ProcessedEvent.received_at) < when)
            )
            session.commit()
            return int(result.rowcount)  # type: ignore[attr-defined]
