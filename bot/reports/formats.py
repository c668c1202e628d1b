"""Numbers, durations and dates as a reader of the newsroom's language writes them.

French uses a decimal comma and a narrow no-break space between thousands ("1 234,5"),
English a decimal point and a comma ("1,234.5"). Day and month names come from the
message catalogue, not from the process locale, which is global and not thread-safe.
"""

from __future__ import annotations

from datetime import date

from bot.i18n import catalogue

NNBSP = "\u202f"  # narrow no-break space: French thousands separator and before "%"


def _t(locale: str, key: str, **params: object) -> str:
    return catalogue().text(locale, f"report.{key}", **params)


def number(value: float, locale: str, decimals: int = 0) -> str:
    text = f"{value:,.{decimals}f}"
    if locale == "fr":
        return text.replace(",", NNBSP).replace(".", ",")
    return text


def percent(share: float, locale: str) -> str:
    """`share` (0..1) as a whole percentage: "42 %" in French, "42%" in English."""
    value = number(round(share * 100), locale)
    return f"{value}{NNBSP}%" if locale == "fr" else f"{value}%"


def duration(seconds: float | None, locale: str) -> str:
    """A response time as people say it: "< 1 min", "42 min", "3 h 05", "2 j 4 h"."""
    if seconds is None:
        return "—"
    minutes = int(round(seconds / 60))
    if seconds < 60:
        return _t(locale, "duration.under_minute")
    if minutes < 60:
        return _t(locale, "duration.minutes", minutes=minutes)
    hours, rest = divmod(minutes, 60)
    if hours < 48:
        return _t(locale, "duration.hours", hours=hours, minutes=f"{rest:02d}")
    days, hours = divmod(hours, 24)
    return _t(locale, "duration.days", days=days, hours=hours)


def weekday(day: date, locale: str, *, long: bool = False) -> str:
    return _t(locale, "weekdays_long" if long else "weekdays").split(",")[day.weekday()]


def month(day: date, locale: str) -> str:
    return _t(locale, "months").split(",")[day.month - 1]


def day_label(day: date, locale: str) -> str:
    """'lun. 2' / 'Mon 2': a chart's tick for one day."""
    return _t(locale, "day_label", weekday=weekday(day, locale), day=day.day)


def short_date(day: date, locale: str) -> str:
    """'2 nov.' / 'Nov 2'."""
    return _t(locale, "short_date", day=day.day, month=month(day, locale))


def long_date(day: date, locale: str) -> str:
    """'2 nov. 2026' / 'Nov 2, 2026'."""
    return _t(locale, "long_date", day=day.day, month=month(day, locale), year=day.year)


def date_range(first: date, last: date, locale: str) -> str:
    """Both ends included: '2 – 8 nov. 2026'."""
    if first == last:
        return long_date(first, locale)
    return _t(locale, "date_range", start=short_date(first, locale), end=long_date(last, locale))
