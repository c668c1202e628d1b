"""SLA deadlines count working time only, in the newsroom's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.config import WorkingHours
from bot.mentions.sla import add_working_time

PARIS = ZoneInfo("Europe/Paris")
HOURS = WorkingHours(days=["mon", "tue", "wed", "thu", "fri"], start="09:00", end="19:00")


def paris(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=PARIS)


def test_without_working_hours_the_clock_runs_all_the_time() -> None:
    """No working hours configured: the deadline is plain elapsed time."""
    start = datetime(2026, 11, 7, 23, 0, tzinfo=UTC)
    assert add_working_time(start, timedelta(hours=4), None, PARIS) == start + timedelta(hours=4)


def test_delay_within_the_working_day() -> None:
    """Monday 10:00 + 4 h = Monday 14:00."""
    assert add_working_time(paris(2026, 11, 2, 10, 0), timedelta(hours=4), HOURS, PARIS) \
        == paris(2026, 11, 2, 14, 0)


def test_friday_evening_carries_over_the_weekend() -> None:
    """Friday 18:00 + 4 h: one hour on Friday, three on Monday morning (12:00)."""
    assert add_working_time(paris(2026, 11, 6, 18, 0), timedelta(hours=4), HOURS, PARIS) \
        == paris(2026, 11, 9, 12, 0)


def test_night_and_weekend_arrivals_start_at_the_next_opening() -> None:
    """Saturday 03:00 + 15 min = Monday 09:15; Tuesday 21:00 + 1 h = Wednesday 10:00."""
    assert add_working_time(paris(2026, 11, 7, 3, 0), timedelta(minutes=15), HOURS, PARIS) \
        == paris(2026, 11, 9, 9, 15)
    assert add_working_time(paris(2026, 11, 3, 21, 0), timedelta(hours=1), HOURS, PARIS) \
        == paris(2026, 11, 4, 10, 0)


def test_working_hours_follow_daylight_saving_time() -> None:
    """Across the October change, 09:00 stays 09:00 local (08:00 UTC, not 07:00)."""
    due = add_working_time(paris(2026, 10, 23, 18, 30), timedelta(hours=1), HOURS, PARIS)
    assert due == datetime(2026, 10, 26, 8, 30, tzinfo=UTC)  # Monday 09:30 in winter time
