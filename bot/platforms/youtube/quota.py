"""YouTube's quota, spent on purpose: each channel has a daily budget of units (the
newsroom file's `daily_units`), counted as Google counts them (1 per list, 50 per
reply or moderation action) over Google's day, which ends at midnight Pacific time.

Polling may spend the budget down to `reserve_units`, kept for replies and moderation;
those may spend it all. When Google says the quota is gone (`quotaExceeded`, e.g. other
apps of the same Cloud project spent it), nothing more is tried until the reset.

`next_read_in` paces one stream of comments: about `TARGET_BATCH` new comments per
read when a video is busy (so a read is one full page, not ten nearly empty ones), at
most `slowest` apart when it is calm, `quiet` apart when not even one comment is
expected in that time (a night), and never faster than the budget left for polling
allows until the reset.

The count lives in this process: after a restart it starts again from zero for the
day, and Google's own `quotaExceeded` remains the last word.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.clock import Clock

PACIFIC = ZoneInfo("America/Los_Angeles")
LIST_COST = 1
WRITE_COST = 50  # comments.insert, comments.setModerationStatus
TARGET_BATCH = 60  # new comments a read aims for when busy (a page holds 100)


def google_day(now: datetime) -> date:
    return now.astimezone(PACIFIC).date()


def next_reset(now: datetime) -> datetime:
    """The next midnight, Pacific time (DST included), as an aware datetime."""
    tomorrow = google_day(now) + timedelta(days=1)
    return datetime.combine(tomorrow, time(0), tzinfo=PACIFIC)


class Quota:
    """One channel's units for Google's day."""

    def __init__(self, *, budget: int, reserve: int, clock: Clock) -> None:
        self.budget = budget
        self.reserve = min(reserve, budget)
        self._clock = clock
        self._lock = threading.Lock()
        self._day = google_day(clock.now())
        self._spent = 0
        self._gone = False  # Google said quotaExceeded today

    def _roll(self) -> datetime:
        now = self._clock.now()
        if google_day(now) != self._day:
            self._day, self._spent, self._gone = google_day(now), 0, False
        return now

    @property
    def spent(self) -> int:
        with self._lock:
            self._roll()
            return self._spent

    @property
    def left(self) -> int:
        with self._lock:
            self._roll()
            return 0 if self._gone else max(self.budget - self._spent, 0)

    @property
    def gone(self) -> bool:
        return self.left <= 0

    def for_polling(self) -> int:
        """Units polling may still spend today (the reserve is not for it)."""
        return max(self.left - self.reserve, 0)

    def may_read(self, units: int = LIST_COST) -> bool:
        return self.for_polling() >= units

    def may_write(self, units: int = WRITE_COST) -> bool:
        return self.left >= units

    def spend(self, units: int) -> None:
        with self._lock:
            self._roll()
            self._spent += units

    def exhausted(self) -> None:
        """Google refused with quotaExceeded: nothing more until the reset."""
        with self._lock:
            self._roll()
            self._gone = True

    def resets_at(self) -> datetime:
        return next_reset(self._clock.now())

    def seconds_to_reset(self) -> float:
        now = self._clock.now()
        return max((next_reset(now) - now).total_seconds(), 1.0)


def reset_label(quota: Quota) -> str:
    """When the quota comes back, as staff read it (UTC; Google resets at midnight
    Pacific time)."""
    return quota.resets_at().astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def next_read_in(rate_per_hour: float, *, fastest: float, slowest: float, quiet: float,
                 quota: Quota, streams: int) -> float:
    """Seconds until a stream is read again: busy → about `TARGET_BATCH` comments per
    read; calm → `slowest`; so quiet that not even one comment is expected in
    `slowest` → `quiet`; never faster than what the budget left for polling, shared by
    `streams` streams, can pay for until the reset."""
    wanted = TARGET_BATCH / rate_per_hour * 3600 if rate_per_hour > 0 else quiet
    cap = quiet if rate_per_hour * slowest / 3600 < 1 else slowest
    if not quota.for_polling():
        return quota.seconds_to_reset()
    affordable = quota.seconds_to_reset() * streams / quota.for_polling()
    return max(min(wanted, cap), fastest, affordable)
