"""Report figures on a desk week whose answers were worked out by hand (see
tests/support/report_data.py): volume per local day, splits, first-response median and
90th percentile overall, per week and per person, workload, the open queue."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.clock import FrozenClock
from bot.config import Config
from bot.reports.queries import (
    Scope,
    Spread,
    answered,
    first_response,
    glance,
    open_queue,
    person_queue,
    volume,
    workload,
)
from bot.reports.scope import last_week
from tests.support.report_data import (
    ALICE,
    BOB,
    NOW,
    WEEK_END,
    WEEK_START,
    make_reports,
    seed_week,
)

PARIS = "Europe/Paris"
MINUTE = 60.0


@pytest.fixture
def week(engine: Engine) -> Scope:
    seed_week(engine)
    return Scope(WEEK_START, WEEK_END)


def test_the_weekly_report_covers_the_seven_local_days_before_today() -> None:
    """Posted Monday 09:00 in Paris, it covers Monday 00:00 to Sunday 24:00 Paris time."""
    scope = last_week(NOW, PARIS)
    assert (scope.start, scope.end) == (WEEK_START, WEEK_END)


def test_volume_counts_each_mention_on_its_local_day(engine: Engine, week: Scope) -> None:
    """23:30 UTC on Sunday is Monday in Paris; the split series add up per day."""
    with Session(engine) as session:
        counts = volume(session, week, PARIS)
    assert counts.days == [date(2026, 11, 9) + timedelta(days=n) for n in range(7)]
    assert counts.total == 7
    assert counts.by_sentiment == {
        "positive": [1, 0, 0, 1, 0, 0, 0], "neutral": [0, 1, 0, 0, 0, 0, 0],
        "negative": [1, 0, 1, 0, 0, 0, 0], "unqualified": [0, 0, 0, 0, 1, 0, 1]}
    assert counts.totals(counts.by_category) == {
        "question": 1, "complaint": 2, "praise": 1, "crisis": 0, "spam": 0, "other": 0,
        "unqualified": 3}
    assert counts.totals(counts.by_source) == {"rss": 3, "mastodon": 3, "monitoring": 1}
    assert dict(counts.by_account) == {"matinale": 4, "grand-debat": 3}


def test_first_response_median_and_p90_by_hand(engine: Engine, week: Scope) -> None:
    """Delays 10, 20, 30, 40, 100 min: median 30, p90 40 + 0.6 × 60 = 76 min; Alice
    (10, 30, 100): median 30, p90 30 + 0.8 × 70 = 86; Bob (20, 40): 30 and 38."""
    since = WEEK_START - timedelta(weeks=7)
    with Session(engine) as session:
        rows = answered(session, Scope(since, WEEK_END), zone=PARIS, period_start=WEEK_START)
    figures = first_response(rows, week, zone=PARIS, weeks_from=since)
    assert figures.overall == Spread(5, 30 * MINUTE, 76 * MINUTE)
    assert figures.people == [(ALICE, Spread(3, 30 * MINUTE, 86 * MINUTE)),
                              (BOB, Spread(2, 30 * MINUTE, 38 * MINUTE))]
    weeks = dict(figures.weeks)
    assert len(figures.weeks) == 8 and figures.weeks[-1][0] == date(2026, 11, 9)
    assert weeks[date(2026, 11, 2)] == Spread(1, 60 * MINUTE, 60 * MINUTE)
    assert weeks[date(2026, 11, 9)].median == 30 * MINUTE
    assert weeks[date(2026, 10, 26)] == Spread(0, None, None)


def test_workload_counts_assigned_still_open_and_answered(engine: Engine, week: Scope) -> None:
    """Alice: 4 assigned, 1 still open, 3 answered; Bob: 2, 0, 2."""
    with Session(engine) as session:
        rows = answered(session, week, zone=PARIS)
        loads = workload(session, week, rows)
    assert [(w.user, w.assigned, w.still_open, w.answered) for w in loads] == [
        (ALICE, 4, 1, 3), (BOB, 2, 0, 2)]


def test_open_queue_per_channel_counts_sla_breaches(engine: Engine, week: Scope) -> None:
    """Open now: two in the mentions channel, both past their SLA (one unassigned), one
    in the debate channel not due yet; the channel with breaches comes first."""
    with Session(engine) as session:
        queues = open_queue(session, NOW)
    assert [(q.channel, q.open, q.unassigned, q.breached) for q in queues] == [
        ("C0MENTIONS", 2, 1, 2), ("C0DEBAT", 1, 1, 0)]
    assert queues[0].oldest is not None and queues[0].oldest.day == 12


def test_scopes_narrow_to_an_account_or_a_channel(engine: Engine, week: Scope) -> None:
    """The Grand Débat account has three mentions in the week, the debate channel too."""
    with Session(engine) as session:
        by_account = volume(session, Scope(WEEK_START, WEEK_END, account="grand-debat"), PARIS)
        by_channel = volume(session, Scope(WEEK_START, WEEK_END, channel="C0DEBAT"), PARIS)
        queues = open_queue(session, NOW, Scope(WEEK_START, WEEK_END, account="grand-debat"))
    assert by_account.total == by_channel.total == 3
    assert [(q.channel, q.open) for q in queues] == [("C0DEBAT", 1)]


def test_a_persons_queue_is_oldest_first_with_breaches_marked(engine: Engine,
                                                              week: Scope) -> None:
    """Alice waits on one mention, past its SLA; Bob on none."""
    with Session(engine) as session:
        total, items = person_queue(session, ALICE, NOW, offset=0, limit=20)
        assert (total, [(i.mention.id, i.breached) for i in items]) == (1, [(8, True)])
        assert person_queue(session, BOB, NOW, offset=0, limit=20) == (0, [])


def test_glance_over_seven_days(engine: Engine, week: Scope) -> None:
    """The last seven days at a glance: volume, sentiment split, median first response."""
    with Session(engine) as session:
        figures = glance(session, Scope(NOW - timedelta(days=7), NOW))
    # 16 Nov 08:00 minus seven days: from 9 Nov 08:00 UTC, so #2 (8 Nov 23:30) is out,
    # #7 (15 Nov 23:30) is in.
    assert figures.total == 7
    assert figures.sentiments == {"positive": 1, "neutral": 1, "negative": 2, "unqualified": 3}
    assert figures.response.median == 35 * MINUTE  # 20, 30, 40, 100


def test_the_report_message_shows_the_hand_computed_figures(engine: Engine, config: Config,
                                                            week: Scope) -> None:
    """Mentions 7 (+250 % vs 2), median 30 min, p90 1 h 16, per person and workload lines,
    in French with the newsroom's separators."""
    reports = make_reports(engine, config, FrozenClock(NOW))
    built = reports.build(week, title="Rapport de la semaine")
    text = json.dumps(built.message.blocks, ensure_ascii=False)
    for shown in ("7 (+250\u202f% par rapport à la période précédente)",
                  "médiane 30 min · p90 1 h 16", "5 répondues (71\u202f% des mentions)",
                  "Alice : 3 répondues · médiane 30 min · p90 1 h 26",
                  "Bob : 2 répondues · médiane 30 min · p90 38 min",
                  "Alice : 4 attribuées · 3 répondues · 1 encore ouvertes",
                  "3 ouvertes · 2 hors délai", "9 nov. – 15 nov. 2026"):
        assert shown in text, shown
    assert "<@" not in text  # a report in a channel pings nobody
    assert [c.filename for c in built.charts] == [
        f"vigie-report-2026-11-15-{name}.png"
        for name in ("sentiment", "source", "category", "first-response", "workload")]
