"""What Vigie spent on X, and the monthly budget it keeps to.

Every billed call is written down as it returns (`x_spend`: one row per UTC day, account
and purpose, in millionths of a dollar), so the month's spend survives restarts and is
the same for every replica. Before a call, `Budget.spend` reserves the most the call can
cost (a page of mentions: every post and every author in it); the call is refused when
that would take the month over its budget, so the budget is never exceeded even if
every resource is billed (X's daily deduplication only makes the real bill lower).
Polling may only use the budget less its reserve: replies, moderation and posts keep
the rest.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select

from bot.clock import Clock
from bot.platforms.x.settings import XSettings

MICROS = 1_000_000


class Purpose(StrEnum):
    LISTEN = "listen"  # reading mentions
    REPLY = "reply"
    LOOKUP = "lookup"  # looking for a reply or post after a lost answer
    PUBLISH = "publish"
    MODERATE = "moderate"
    ACCOUNT = "account"  # who the token is (users/me)


class XSpend(SQLModel, table=True):
    __tablename__ = "x_spend"
    __table_args__ = (sa.UniqueConstraint("day", "account", "purpose",
                                          name="uq_x_spend_day_account_purpose"),)

    id: int | None = Field(default=None, primary_key=True)
    day: date = Field(index=True)
    account: str = Field(max_length=64)
    purpose: str = Field(max_length=16)
    calls: int = 0  # billed requests
    resources: int = 0  # resources billed (posts and users read, posts created…)
    micros: int = 0  # millionths of a US dollar


class BudgetSpent(Exception):
    """The call would take the month over its budget: it is not made."""

    def __init__(self, *, spent: int, budget: int, cost: int, resumes: datetime) -> None:
        super().__init__(f"X budget: {spent / MICROS:.2f} of {budget / MICROS:.2f} $ spent")
        self.spent, self.budget, self.cost, self.resumes = spent, budget, cost, resumes


class Pace(StrEnum):
    NORMAL = "normal"
    SLOW = "slow"  # past `slow_from`: polls spread out
    STOPPED = "stopped"  # polling's share is spent: only replies, moderation, posts


@dataclass(frozen=True)
class Standing:
    """The month so far, for `vigie check`, App Home and the weekly report."""

    spent: int
    budget: int
    listen_limit: int
    pace: Pace
    resumes: datetime  # the next month's first second (UTC)

    @property
    def left(self) -> int:
        return max(self.budget - self.spent, 0)


def dollars(micros: int) -> str:
    """"$1.23", or "$0.005" for prices under a cent."""
    value = micros / MICROS
    return f"${value:.3f}" if 0 < value < 0.01 or round(value, 2) != round(value, 3) \
        else f"${value:.2f}"


def micros(price: float) -> int:
    return round(price * MICROS)


def month_start(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month(moment: datetime) -> datetime:
    first = month_start(moment)
    return (first + timedelta(days=32)).replace(day=1)


class Budget:
    """The monthly budget of the `[x]` table, over the spend stored in `x_spend`."""

    def __init__(self, *, engine: Engine, settings: XSettings, clock: Clock) -> None:
        self._engine = engine
        self.settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._reserved = 0  # calls in flight in this process, at their most

    @property
    def budget(self) -> int:
        return micros(self.settings.monthly_budget)

    @property
    def listen_limit(self) -> int:
        return round(self.budget * (1 - self.settings.reserve))

    def standing(self) -> Standing:
        now = self._clock.now()
        spent = self.spent_between(month_start(now), next_month(now))
        limit = self.listen_limit
        if spent >= limit or self.budget == 0:
            pace = Pace.STOPPED
        elif spent >= self.budget * self.settings.slow_from:
            pace = Pace.SLOW
        else:
            pace = Pace.NORMAL
        return Standing(spent=spent, budget=self.budget, listen_limit=limit, pace=pace,
                        resumes=next_month(now))

    def spent_between(self, start: datetime, end: datetime, *, purpose: str | None = None
                      ) -> int:
        """Millionths of a dollar spent on days in [start, end)."""
        first, last = start.astimezone(UTC).date(), (end.astimezone(UTC) -
                                                     timedelta(microseconds=1)).date()
        query = select(sa.func.coalesce(sa.func.sum(XSpend.micros), 0)).where(
            col(XSpend.day) >= first, col(XSpend.day) <= last)
        if purpose is not None:
            query = query.where(XSpend.purpose == purpose)
        with Session(self._engine) as session:
            return int(session.exec(query).one())

    def by_purpose(self, start: datetime, end: datetime) -> dict[str, tuple[int, int]]:
        """purpose → (billed calls, millionths of a dollar) on days in [start, end)."""
        first, last = start.astimezone(UTC).date(), (end.astimezone(UTC) -
                                                     timedelta(microseconds=1)).date()
        query = select(XSpend.purpose, sa.func.sum(XSpend.calls), sa.func.sum(XSpend.micros)
                       ).where(col(XSpend.day) >= first, col(XSpend.day) <= last
                               ).group_by(XSpend.purpose)
        with Session(self._engine) as session:
            return {str(p): (int(c or 0), int(m or 0)) for p, c, m in session.exec(query)}

    def room(self, purpose: Purpose) -> int:
        """What may still be spent for `purpose` this month (reservations counted)."""
        standing = self.standing()
        ceiling = standing.listen_limit if purpose is Purpose.LISTEN else standing.budget
        with self._lock:
            return max(ceiling - standing.spent - self._reserved, 0)

    @contextmanager
    def spend(self, *, account: str, purpose: Purpose, most: int) -> Iterator[Any]:
        """Reserve `most` for one call; the caller reports what it cost with
        `record(resources, cost)` (nothing recorded: nothing billed). Raises
        `BudgetSpent` before the call when `most` does not fit."""
        standing = self.standing()
        ceiling = standing.listen_limit if purpose is Purpose.LISTEN else standing.budget
        with self._lock:
            if standing.spent + self._reserved + most > ceiling:
                raise BudgetSpent(spent=standing.spent, budget=standing.budget, cost=most,
                                  resumes=standing.resumes)
            self._reserved += most
        try:
            yield lambda resources, cost: self.record(account=account, purpose=purpose,
                                                      resources=resources, cost=cost)
        finally:
            with self._lock:
                self._reserved -= most

    def record(self, *, account: str, purpose: Purpose, resources: int, cost: int,
               calls: int = 1) -> None:
        """Add one billed call to today's row (created on first use, race-safe)."""
        day = self._clock.now().astimezone(UTC).date()
        key = (col(XSpend.day) == day, col(XSpend.account) == account,
               col(XSpend.purpose) == str(purpose))
        for _ in range(3):
            with Session(self._engine) as session:
                updated = session.execute(
                    sa.update(XSpend).where(*key).values(
                        calls=XSpend.calls + calls, resources=XSpend.resources + resources,
                        micros=XSpend.micros + cost))
                if getattr(updated, "rowcount", 0):
                    session.commit()
                    return
                session.add(XSpend(day=day, account=account, purpose=str(purpose),
                                   calls=calls, resources=resources, micros=cost))
                try:
                    session.commit()
                    return
                except IntegrityError:
                    session.rollback()  # another thread made today's row: add to it
        raise RuntimeError("could not record X spend")


def standalone_engine() -> Engine:
    """An in-memory store for a Vigie without a database at hand (a check offline)."""
    from sqlalchemy.pool import StaticPool
    from sqlmodel import create_engine

    engine = create_engine("sqlite://", poolclass=StaticPool,
                           connect_args={"check_same_thread": False})
    XSpend.__table__.create(engine)  # type: ignore[attr-defined]
    return engine


def standing_text(standing: Standing, locale: str) -> str:
    """One line for `vigie check`, App Home and the sources list."""
    from bot.i18n import catalogue

    key = {Pace.NORMAL: "x.budget.normal", Pace.SLOW: "x.budget.slow",
           Pace.STOPPED: "x.budget.stopped"}[standing.pace]
    return catalogue().text(locale, key, spent=dollars(standing.spent),
                            budget=dollars(standing.budget), left=dollars(standing.left),
                            resumes=standing.resumes.strftime("%Y-%m-%d"))
