"""Per-channel pacing, shared by every replica through the database.

Slack accepts about one message per second per channel and answers 429 beyond. Every
message Vigie posts takes a slot of its channel (a DM: of the DM's channel) from the
`channel_pace` row, which holds when the channel is next free:

- `take` is for queue workers (the card relay, the outbox): the slot if it is free now,
  else nothing, and the worker moves on to another channel.
- `reserve` is for everyone else (`bot.slack.PacedSlack`): book the next free slot,
  now or a little later, so senders queue in the order they asked; a caller told the
  channel is booked beyond its horizon waits for nothing and tries again later.

A 429 pushes the slot to `Retry-After` (`block`), for everyone. Each step is one short
transaction: nobody holds the database while waiting for a slot.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.listen.models import ChannelPace
from bot.slack import Slot

RACES = 50  # compare-and-set rounds lost to other senders before giving up on a booking


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
                if self._create(session, channel, now + self.interval):
                    return True
        return False

    def reserve(self, channel: str, now: datetime, *, within: timedelta) -> Slot:
        """Book `channel`'s next free slot if it starts within `within` of `now`.

        Compare-and-set on the row's `next_at`, so two senders (threads or replicas)
        never book the same slot; the loser reads the new time and books the one after.
        """
        for _ in range(RACES):
            with Session(self._engine) as session:
                row = session.get(ChannelPace, channel)
                if row is None:
                    if self._create(session, channel, now + self.interval):
                        return Slot(now, booked=True)
                    continue
                free = max(row.next_at, now)
                if free - now > within:
                    return Slot(free, booked=False)
                booked = session.execute(
                    update(ChannelPace)
                    .where(col(ChannelPace.channel) == channel)
                    .where(col(ChannelPace.next_at) == row.next_at)
                    .values(next_at=free + self.interval)
                )
                session.commit()
                if booked.rowcount == 1:  # type: ignore[attr-defined]
                    return Slot(free, booked=True)
        return Slot(now + self.interval, booked=False)  # a crowd: try again in a moment

    def block(self, channel: str, until: datetime) -> None:
        """Slack said wait (429): nobody posts in `channel` before `until`."""
        for _ in range(2):
            with Session(self._engine) as session:
                session.execute(
                    update(ChannelPace).where(col(ChannelPace.channel) == channel)
                    .where(col(ChannelPace.next_at) < until).values(next_at=until)
                )
                session.commit()
                if session.get(ChannelPace, channel) is not None:
                    return
                if self._create(session, channel, until):
                    return

    def free_at(self, channel: str) -> datetime | None:
        """When `channel` is next free, if it has a row."""
        with Session(self._engine) as session:
            row = session.get(ChannelPace, channel)
            return row.next_at if row is not None else None

    def next_free(self, channels: set[str]) -> datetime | None:
        if not channels:
            return None
        with Session(self._engine) as session:
            times = session.exec(
                select(ChannelPace.next_at).where(col(ChannelPace.channel).in_(channels))
            ).all()
        return min(times) if times else None

    @staticmethod
    def _create(session: Session, channel: str, next_at: datetime) -> bool:
        """The channel's first row; False if another sender created it first."""
        session.add(ChannelPace(channel=channel, next_at=next_at))
        try:
            session.commit()
            return True
        except IntegrityError:
            session.rollback()
            return False
