"""The [qualify] config section: defaults, and precise problems for mistakes."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import load_config
from bot.settings import ConfigurationError
from tests.unit.test_config import GOOD, write


def problems(tmp_path: Path, extra: str) -> list[str]:
    with pytest.raises(ConfigurationError) as caught:
        load_config(write(tmp_path, GOOD + extra))
    return [str(p) for p in caught.value.problems]


def test_without_a_qualify_section_channel_members_are_staff_and_sla_runs_all_day(
        tmp_path: Path) -> None:
    """Defaults: staff = the card's channel members; SLA 15/60/240/1440 min, no hours."""
    qualify = load_config(write(tmp_path, GOOD)).qualify
    assert qualify.staff.channel_members and not qualify.staff.users
    assert [qualify.sla.minutes(p) for p in ("urgent", "high", "normal", "low")] == [
        15, 60, 240, 1440]
    assert qualify.sla.working_hours is None and qualify.rules == []


@pytest.mark.parametrize(("extra", "expected"), [
    ('[[qualify.rules]]\nname = "x"\ncategory = "spam"\n', "needs a condition"),
    ('[[qualify.rules]]\nname = "x"\nkeywords = ["a"]\n', "sets nothing"),
    ('[[qualify.rules]]\nname = "x"\nkeywords = ["a"]\ncategory = "spam"\n'
     'accounts = ["nope"]\n', "unknown account(s) or source(s): nope"),
    ('[[qualify.rules]]\nname = "x"\nkeywords = ["a"]\ncategory = "junk"\n', "'junk'"),
    ('[qualify.staff]\nusers = ["bob"]\n', "Copy member ID"),
    ('[qualify.sla]\nhigh = 0\n', "qualify.sla.high"),
    ('[qualify.sla.working_hours]\nstart = "19:00"\nend = "09:00"\n', "must be before end"),
    ('[qualify.sla.working_hours]\nstart = "9h"\n', "qualify.sla.working_hours.start"),
    ('[qualify.sla]\ntimezone = "Mars/Olympus"\n', "unknown time zone"),
    ('[[qualify.round_robin]]\nchannel = "C0A"\npeople = []\n', "qualify.round_robin[0].people"),
    ('[qualify]\nstaf = true\n', "qualify.staf: is not a known key"),
    ('[qualify.staff]\nchannel_members = false\n', "nobody could qualify"),
])
def test_mistakes_are_reported_with_their_key(tmp_path: Path, extra: str, expected: str) -> None:
    """Each mistake names the key and says what is wrong."""
    found = "\n".join(problems(tmp_path, extra))
    assert expected in found, found
