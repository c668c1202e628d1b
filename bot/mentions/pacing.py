"""Per-channel pacing, shared by every replica through the database.

Slack accepts about one message per second per channel and answers 429 beyond. Before
posting, a sender takes the channel's next slot with one atomic UPDATE; whoever gets it
posts, everyone else waits for the slot after. A 429 pushes the slot to `Retry-After`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.listen.models import ChannelPace


class ChannelPacer:
    def __init__(self, engine: Engine, interval: float = 1.0) -> None:
        self._engine = engine
        self.interval = timedelta(seconds=interval)

    def take(self, channel: str, now: datetime) -> bool:
        """True if this caller may post in `channel` now (the slot is then used)."""
        for _ in range(2):
            with Session(self._engine) as session:
                taken = session.execute(
                    update(ChannelPace)
                    .where(col(ChannelPace.channel) == channel)
                    .where(col(ChannelPace.next_at) <= now)
                    .values(next_at=now + self.interval)
                )
                session.commit()
                if taken.rowcount == 1:  # type: ignore[attr-defined]
                    return True
                if session.get(ChannelPace, channel) is not None:
                    return False
                session.add(ChannelPace(channel=channel, next_at=now + self.interval))
                try:
                    session.commit()
                    return True
                except IntegrityError:  # another sender created it first: try its slot
                    session.rollback()
        return False

    def block(self, channel: str, until: datetime) -> None:
        """Slack said wait (429): nobody posts in `channel` before `until`."""
        with Session(self._engine) as session:
            session.execute(
                update(ChannelPace).where(col(ChannelPace.channel) == channel)
                .where(col(ChannelPace.next_at) < until).values(next_at=until)
            )
            session.commit()

    def next_free(self, channels: set[str]) -> datetime | None:
        if not channels:
            return None
        with Session(self._engine) as session:
            times = session.exec(
                select(ChannelPace.next_at).where(col(ChannelPace.channel).in_(channels))
            ).all()
        return min(times) if times else None
