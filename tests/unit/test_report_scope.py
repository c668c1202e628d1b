"""`/vigie report` and `/vigie export` arguments, and how figures are written in French
and English."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bot.config import load_config
from bot.reports import formats
from bot.reports.scope import Request, ScopeError, last_days, parse
from bot.settings import ConfigurationError

ACCOUNTS = {"matinale": "La Matinale", "grand-debat": "Le Grand Débat"}
NAMES = {"desk-matinale": "C0DESK"}


def parsed(*args: str, default_days: int = 7) -> Request:
    return parse(list(args), accounts=ACCOUNTS, here="C0HERE", channel_named=NAMES.get,
                 default_days=default_days)


def test_periods_accounts_and_channels_in_any_order() -> None:
    """7d / 30j, an account id (any case), and a channel as Slack, an id, #name or here."""
    assert parsed() == Request(7)
    assert parsed(default_days=30) == Request(30)
    assert parsed("30j", "Matinale") == Request(30, account="matinale")
    assert parsed("<#C0ABC|desk>", "90d") == Request(90, channel="C0ABC")
    assert parsed("C0XYZ") == Request(7, channel="C0XYZ")
    assert parsed("#desk-matinale", "grand-debat") == Request(7, "grand-debat", "C0DESK")
    assert parsed("ici") == parsed("here") == Request(7, channel="C0HERE")


@pytest.mark.parametrize(("args", "key"), [
    (["0d"], "days_range"), (["400d"], "days_range"), (["7d", "30d"], "twice"),
    (["#nowhere"], "unknown_channel"), (["lundi"], "unknown"),
    (["here", "C0ABC"], "twice"), (["matinale", "grand-debat"], "twice"),
])
def test_bad_arguments_name_what_is_wrong(args: list[str], key: str) -> None:
    """Each mistake is refused with its own message, naming the word at fault."""
    with pytest.raises(ScopeError) as caught:
        parsed(*args)
    assert caught.value.key == key


def test_here_needs_a_channel() -> None:
    """`here` from a place without a channel id is refused rather than guessed."""
    with pytest.raises(ScopeError) as caught:
        parse(["here"], accounts=ACCOUNTS, here=None, channel_named=NAMES.get)
    assert caught.value.key == "no_here"


def test_last_days_start_at_local_midnight() -> None:
    """`7d` on Wednesday 11 Nov at 10:00 Paris starts Thursday 5 Nov, 00:00 Paris."""
    now = datetime(2026, 11, 11, 9, 0, tzinfo=UTC)
    scope = last_days(Request(7, account="matinale"), now, "Europe/Paris")
    assert scope.start == datetime(2026, 11, 4, 23, 0, tzinfo=UTC)
    assert (scope.end, scope.account) == (now, "matinale")


def test_numbers_durations_and_dates_in_french_and_english() -> None:
    """Decimal comma and narrow no-break spaces in French; French day and month names."""
    assert formats.number(1234.5, "fr", 1) == "1\u202f234,5"
    assert formats.number(1234.5, "en", 1) == "1,234.5"
    assert formats.percent(0.42, "fr") == "42\u202f%" and formats.percent(0.42, "en") == "42%"
    assert [formats.duration(s, "fr") for s in (None, 30, 1800, 4560, 3 * 86400 + 7200)] == [
        "—", "< 1 min", "30 min", "1 h 16", "3 j 2 h"]
    assert formats.duration(3 * 86400 + 7200, "en") == "3 d 2 h"
    assert formats.day_label(date(2026, 11, 9), "fr") == "lun. 9"
    assert formats.date_range(date(2026, 11, 9), date(2026, 11, 15), "fr") == \
        "9 nov. – 15 nov. 2026"
    assert formats.date_range(date(2026, 11, 9), date(2026, 11, 15), "en") == \
        "Nov 9 – Nov 15, 2026"


def test_report_config_mistakes_are_named(tmp_path: Path) -> None:
    """A weekday, time or ratio that cannot be read is reported with its key."""
    path = tmp_path / "vigie.toml"
    path.write_text('[channels]\nmentions = "C0MENTIONS"\n[reports]\nchannel = "C0REPORTS"\n'
                    'day = "lundi"\ntime = "9h"\n[reports.trends]\nratio = 1\n')
    with pytest.raises(ConfigurationError) as caught:
        load_config(path)
    where = sorted(problem.where.split(": ")[1] for problem in caught.value.problems)
    assert where == ["reports.day", "reports.time", "reports.trends.ratio"]
