"""When a post goes out: natural-language times in French and English, and recurrences.

Parsing is `dateparser`'s job (maintained, both languages, relative dates); this module
only smooths the French habits it misreads — "9h" is a time of day, not "9 hours", and
"ce soir" or "lundi prochain" — and reads everything in the newsroom's time zone.
"""

from __future__ import annotations

import re
import threading
import warnings
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from bot.clock import as_utc
from bot.posts.models import Recurrence

_DURATION = re.compile(r"\b(dans|in|d'ici)\s+\d", re.IGNORECASE)
_FRENCH_HOUR = re.compile(r"(?<![\w:])(\d{1,2})\s*h\s*(\d{2})?(?!\w)", re.IGNORECASE)
_REWRITES = (
    (re.compile(r"\b(ce soir|ce matin|cet après-midi|cet apres-midi|cette nuit)\b", re.I),
     "aujourd'hui"),
    (re.compile(r"\b(tonight|this evening|this morning|this afternoon)\b", re.I), "today"),
    (re.compile(r"\b(lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche)\s+prochain\b", re.I),
     r"\1"),
    (re.compile(r"(?<!\w)à(?!\w)", re.I), " "),
    (re.compile(r"\bat\s+(\d{1,2})(?![\d:\w])", re.I), r"\1:00"),
)
_SETTINGS = {
    "PREFER_DATES_FROM": "future",
    "RETURN_AS_TIMEZONE_AWARE": True,
    "DATE_ORDER": "DMY",
}


def normalised(text: str) -> str:
    """The phrase as dateparser reads it best: "demain à 9h" → "demain 09:00"."""
    result = " ".join(text.strip().split())
    if not _DURATION.search(result):
        result = _FRENCH_HOUR.sub(lambda m: f"{int(m.group(1)):02d}:{m.group(2) or '00'}",
                                  result)
    for pattern, replacement in _REWRITES:
        result = pattern.sub(replacement, result)
    return " ".join(result.split())


def parse_when(text: str, *, now: datetime, timezone: str) -> datetime | None:
    """The UTC moment `text` names, read in `timezone` relative to `now`; None if unreadable.

    "demain 9h", "lundi 18:30", "in 2 hours", "5/11 14h", "tomorrow at 9am"…
    """
    phrase = normalised(text)
    if not phrase:
        return None
    zone = ZoneInfo(timezone)
    settings = dict(_SETTINGS, TIMEZONE=timezone,
                    RELATIVE_BASE=now.astimezone(zone).replace(tzinfo=None))
    import dateparser  # ~0.1 s and its language data: loaded by the first draft

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dateparser's own deprecation chatter
        parsed = dateparser.parse(phrase, languages=["fr", "en"], settings=settings)
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return as_utc(parsed).replace(microsecond=0)


def warm_up() -> None:
    """dateparser loads its language data on first use (~0.3 s): do it before a modal waits."""
    parse_when("demain 9h", now=datetime(2026, 1, 1, tzinfo=ZoneInfo("UTC")), timezone="UTC")


_warm_up_once = threading.Lock()  # taken by the first caller, never released


def warm_up_soon() -> None:
    """Warm dateparser up in the background, once per process, when a draft form opens:
    the person types meanwhile, and a bot that nobody drafts with never loads it."""
    if _warm_up_once.acquire(blocking=False):
        threading.Thread(target=warm_up, name="vigie-dateparser-warm-up", daemon=True).start()


_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def cron_weekdays(field: str) -> str:
    """Crontab weekdays (0 or 7 = Sunday) as names, which APScheduler 3 reads right.

    APScheduler 3's `from_crontab` takes 0 as *Monday* (its documented historical
    mistake), so "1-5" would mean Tuesday to Saturday. Numbers are expanded to names.
    """
    items = []
    for item in field.lower().split(","):
        part, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if part == "*" and not step_text:
            items.append("*")
            continue
        if part == "*":
            low, high = 0, 6
        elif "-" in part:
            first, _, last = part.partition("-")
            if not (first.isdigit() and last.isdigit()):
                items.append(item)  # names, e.g. mon-fri: already unambiguous
                continue
            low, high = int(first), int(last)
        elif part.isdigit():
            low = high = int(part)
        else:
            items.append(item)
            continue
        if not (0 <= low <= 7 and 0 <= high <= 7 and low <= high and step > 0):
            raise ValueError(f"weekday {item!r} is not valid (0-7, 0 and 7 = Sunday)")
        items.extend(_CRON_DAYS[day] for day in range(low, high + 1, step))
    return ",".join(dict.fromkeys(items))


def cron_trigger(expression: str, timezone: str) -> CronTrigger:
    """A 5-field crontab ("30 8 * * 1-5"); ValueError when it is not one."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError("a cron expression has 5 fields: minute hour day month weekday")
    minute, hour, day, month, weekdays = fields
    return CronTrigger(minute=minute, hour=hour, day=day, month=month,
                       day_of_week=cron_weekdays(weekdays), timezone=ZoneInfo(timezone))


def next_occurrence(recurrence: Recurrence, cron: str | None, previous: datetime, *,
                    after: datetime, timezone: str) -> datetime:
    """The first occurrence after both `previous` and `after`, keeping the wall-clock time
    across daylight-saving changes (9:00 stays 9:00 in Paris)."""
    zone = ZoneInfo(timezone)
    if recurrence is Recurrence.CRON:
        if not cron:
            raise ValueError("a cron recurrence needs its expression")
        fire = cron_trigger(cron, timezone).get_next_fire_time(None, max(previous, after)
                                                               .astimezone(zone)
                                                               + timedelta(seconds=1))
        if fire is None:
            raise ValueError("the cron expression never fires again")
        return as_utc(fire)
    step = timedelta(days=1 if recurrence is Recurrence.DAILY else 7)
    local = previous.astimezone(zone).replace(tzinfo=None)
    candidate = local + step
    while as_utc(candidate.replace(tzinfo=zone)) <= after:
        candidate += step
    return as_utc(candidate.replace(tzinfo=zone))


def first_cron_time(cron: str, *, now: datetime, timezone: str) -> datetime:
    fire = cron_trigger(cron, timezone).get_next_fire_time(
        None, now.astimezone(ZoneInfo(timezone)) + timedelta(seconds=1))
    if fire is None:
        raise ValueError("the cron expression never fires")
    return as_utc(fire)


_MONTHS = {
    "fr": ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
           "septembre", "octobre", "novembre", "décembre"],
    "en": ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"],
}
_WEEKDAYS = {
    "fr": ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"],
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
}


def weekday(day: date, locale: str) -> str:
    return _WEEKDAYS["fr" if locale == "fr" else "en"][day.weekday()]


def long_date(day: date, locale: str, *, with_weekday: bool = False) -> str:
    """"2 novembre 2026" / "November 2, 2026" (optionally "lundi 2 novembre 2026")."""
    if locale == "fr":
        text = f"{day.day} {_MONTHS['fr'][day.month - 1]} {day.year}"
    else:
        text = f"{_MONTHS['en'][day.month - 1]} {day.day}, {day.year}"
    return f"{weekday(day, locale)} {text}" if with_weekday else text
