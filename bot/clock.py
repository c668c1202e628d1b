"""Time as a dependency: services ask a clock instead of reading the wall themselves.

Tests pass a `FrozenClock` they can advance, so SLA, backoff and scheduling logic is
checked without sleeping or patching `datetime`. Waiting goes through the clock too (a
paced message waiting for its channel's slot): real time on the system clock, while a
frozen clock just moves to the end of the wait.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...

    def sleep_until(self, when: datetime) -> None:
        """Return once `when` has come."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep_until(self, when: datetime) -> None:
        wait = (when - self.now()).total_seconds()
        if wait > 0:
            time.sleep(wait)


class FrozenClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, **delta: float) -> datetime:
        with self._lock:
            self._now += timedelta(**delta)
            return self._now

    def sleep_until(self, when: datetime) -> None:
        """Nobody waits on a frozen clock: it moves on to `when` (never back)."""
        with self._lock:
            self._now = max(self._now, when)

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = when


def as_utc(value: datetime) -> datetime:
    """Treat naive datetimes as UTC and convert aware ones to UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
