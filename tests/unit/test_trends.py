"""Trend alerts: an account far above its usual level for this hour and weekday gets one
alert, through the listening outbox, with its top words and samples; no history, a
small rise or a recent alert mean no alert."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.clock import FrozenClock
from bot.config import Config
from bot.listen.models import OutboxKind, OutboxMessage, Trend
from bot.listen.notices import outbox_renderer
from bot.listen.trends import Trends
from tests.support.report_data import add

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 11, 16, 15, 0, tzinfo=UTC)  # Monday 16:00 in Paris


def seed(engine: Engine, *, history: dict[str, int], now: dict[str, int]) -> None:
    """`history[account]` mentions at 15:30 Paris on each of the last four Mondays (the
    oldest is before the end of summer time), and `now[account]` in the last hour."""
    number = 0
    with Session(engine) as session:
        for account, count in history.items():
            for week in range(1, 5):
                local = datetime(2026, 11, 16, 15, 30, tzinfo=PARIS) - timedelta(weeks=week)
                for _ in range(count):
                    number += 1
                    add(session, number, local.astimezone(UTC), account_id=account,
                        text="Merci pour l'émission de ce matin")
        for account, count in now.items():
            for n in range(count):
                number += 1
                add(session, number, NOW - timedelta(minutes=50 - n), account_id=account,
                    text=f"Encore la grève, l'antenne coupée {n}",
                    url=f"https://example.social/@x/{number}")
        session.commit()


def test_a_rise_against_the_usual_level_raises_one_alert(engine: Engine,
                                                         config: Config) -> None:
    """30 mentions where 4 is usual (same hour, four Mondays, across the change of time):
    one alert in the account's channel, with the shared words and three samples."""
    seed(engine, history={"matinale": 4, "grand-debat": 2}, now={"matinale": 30,
                                                                "grand-debat": 3})
    clock = FrozenClock(NOW)
    woken: list[bool] = []
    trends = Trends(engine=engine, config=config, clock=clock, on_alert=lambda: woken.append(True))
    [found] = trends.check()
    with Session(engine) as session:
        trend = session.get(Trend, found)
        assert trend is not None
        assert (trend.account_id, trend.count, trend.usual, trend.weeks) == ("matinale", 30,
                                                                              4.0, 4)
        assert "greve" in trend.top_terms and "antenne" in trend.top_terms
        assert len(trend.samples.split(",")) == 3
        [row] = session.exec(select(OutboxMessage)).all()
    assert (row.kind, row.channel, row.key) == (OutboxKind.TREND_ALERT, "C0MENTIONS",
                                                f"trend:{found}")
    assert woken == [True]
    message = outbox_renderer(engine, config, "fr")(row)
    assert message is not None
    text = json.dumps(message.blocks, ensure_ascii=False)
    for shown in ("Volume inhabituel pour La Matinale : 30 mentions dans la dernière heure",
                  "D’habitude 4,0 un lundi entre 15:00 et 16:00", "×7,5",
                  "Encore la grève, l'antenne coupée 29", "https://example.social/@x/"):
        assert shown in text, shown
    clock.advance(minutes=15)
    assert trends.check() == []  # cooling down: one alert per rise


def test_no_alert_without_history_or_for_a_small_rise(engine: Engine, config: Config) -> None:
    """A brand-new account has no usual level yet; 11 where 4 is usual is not 3×."""
    seed(engine, history={"matinale": 4}, now={"matinale": 11, "sport-talk": 40})
    assert Trends(engine=engine, config=config, clock=FrozenClock(NOW)).check() == []


def test_the_usual_level_counts_only_weeks_the_account_existed(engine: Engine,
                                                               config: Config) -> None:
    """With two weeks of history, the mean is over those two weeks, not four."""
    seed(engine, history={}, now={"matinale": 12})
    with Session(engine) as session:
        for week, count in ((1, 3), (2, 1)):
            for n in range(count):
                local = datetime(2026, 11, 16, 15, 10 + n, tzinfo=PARIS) - timedelta(weeks=week)
                add(session, 100 + 10 * week + n, local.astimezone(UTC))
        session.commit()
        usual = Trends(engine=engine, config=config, clock=FrozenClock(NOW)).usual(
            session, "matinale", NOW)
    assert usual == (2.0, 2)
