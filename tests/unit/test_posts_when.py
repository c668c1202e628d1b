"""Natural-language publish times in French and English, and recurrences."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.posts.models import Recurrence
from bot.posts.when import first_cron_time, next_occurrence, parse_when

MONDAY_9_30_PARIS = datetime(2026, 11, 2, 8, 30, tzinfo=UTC)
PARIS = "Europe/Paris"


@pytest.mark.parametrize(("text", "expected_paris"), [
    ("demain 9h", "2026-11-03 09:00"),
    ("demain à 9h", "2026-11-03 09:00"),
    ("lundi 18:30", "2026-11-09 18:30"),
    ("mardi 18h30", "2026-11-03 18:30"),
    ("jeudi 14h15", "2026-11-05 14:15"),
    ("dans 2 heures", "2026-11-02 11:30"),
    ("dans 2h", "2026-11-02 11:30"),
    ("ce soir 20h", "2026-11-02 20:00"),
    ("lundi prochain 10h", "2026-11-09 10:00"),
    ("le 5 novembre à 14h", "2026-11-05 14:00"),
    ("5/11 14h", "2026-11-05 14:00"),
    ("18h", "2026-11-02 18:00"),
], ids=lambda value: value if isinstance(value, str) and not value[:1].isdigit() else None)
def test_french_phrases(text: str, expected_paris: str) -> None:
    """What a French-speaking community manager types, read in Paris time."""
    parsed = parse_when(text, now=MONDAY_9_30_PARIS, timezone=PARIS)
    assert parsed is not None
    assert parsed.astimezone(_zone()).strftime("%Y-%m-%d %H:%M") == expected_paris


@pytest.mark.parametrize(("text", "expected_paris"), [
    ("in 2 hours", "2026-11-02 11:30"),
    ("in 30 minutes", "2026-11-02 10:00"),
    ("tomorrow 9am", "2026-11-03 09:00"),
    ("tomorrow at 9:00", "2026-11-03 09:00"),
    ("monday 6:30pm", "2026-11-09 18:30"),
    ("friday at 17", "2026-11-06 17:00"),
    ("tonight at 8pm", "2026-11-02 20:00"),
    ("November 5 at 2pm", "2026-11-05 14:00"),
])
def test_english_phrases(text: str, expected_paris: str) -> None:
    """The same for English speakers, still in the newsroom's zone."""
    parsed = parse_when(text, now=MONDAY_9_30_PARIS, timezone=PARIS)
    assert parsed is not None
    assert parsed.astimezone(_zone()).strftime("%Y-%m-%d %H:%M") == expected_paris


def test_the_newsroom_zone_decides() -> None:
    """"tomorrow 9am" in New York is 14:00 UTC, not Paris' 08:00."""
    parsed = parse_when("tomorrow 9am", now=MONDAY_9_30_PARIS, timezone="America/New_York")
    assert parsed == datetime(2026, 11, 3, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize("text", ["", "   ", "quand vous voulez", "blah"])
def test_unreadable_phrases_are_none(text: str) -> None:
    """Nonsense is not guessed at."""
    assert parse_when(text, now=MONDAY_9_30_PARIS, timezone=PARIS) is None


def test_past_phrases_parse_to_the_past() -> None:
    """"hier" is yesterday: the desk then refuses it as past."""
    parsed = parse_when("hier 9h", now=MONDAY_9_30_PARIS, timezone=PARIS)
    assert parsed is not None and parsed < MONDAY_9_30_PARIS


def test_daily_keeps_the_wall_clock_across_daylight_saving() -> None:
    """9:00 in Paris stays 9:00 when clocks go back (25 Oct 2026)."""
    saturday = datetime(2026, 10, 24, 7, 0, tzinfo=UTC)  # 9:00 CEST
    sunday = next_occurrence(Recurrence.DAILY, None, saturday, after=saturday, timezone=PARIS)
    assert sunday == datetime(2026, 10, 25, 8, 0, tzinfo=UTC)  # 9:00 CET


def test_weekly_skips_what_a_downtime_missed() -> None:
    """After three missed weeks the next occurrence is in the future, not a backlog."""
    first = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    later = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    following = next_occurrence(Recurrence.WEEKLY, None, first, after=later, timezone=PARIS)
    assert following == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def test_cron_recurrence() -> None:
    """"30 8 * * 1-5": weekdays at 8:30 Paris; Friday's successor is Monday."""
    friday = datetime(2026, 11, 6, 7, 30, tzinfo=UTC)
    assert next_occurrence(Recurrence.CRON, "30 8 * * 1-5", friday, after=friday,
                           timezone=PARIS) == datetime(2026, 11, 9, 7, 30, tzinfo=UTC)
    assert first_cron_time("30 8 * * 1-5", now=friday, timezone=PARIS) == \
        datetime(2026, 11, 9, 7, 30, tzinfo=UTC)


def _zone() -> ZoneInfo:
    return ZoneInfo(PARIS)


@pytest.mark.parametrize(("crontab", "names"), [
    ("1-5", "mon,tue,wed,thu,fri"),
    ("0", "sun"),
    ("7", "sun"),
    ("0,6", "sun,sat"),
    ("*/2", "sun,tue,thu,sat"),
    ("mon-fri", "mon-fri"),
    ("*", "*"),
])
def test_crontab_weekdays_mean_what_cron_means(crontab: str, names: str) -> None:
    """0 and 7 are Sunday, 1 is Monday — not APScheduler 3's own numbering."""
    from bot.posts.when import cron_weekdays

    assert cron_weekdays(crontab) == names
