"""The weekly report is posted once — figures then charts — in the configured channel,
however often the job fires; after a failure a retry posts only what is missing, and
finds a summary whose answer from Slack was lost instead of posting it again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine

from bot.clock import FrozenClock
from bot.config import Config, Reports
from bot.reports.service import WEEKLY_JOB, WEEKLY_RETRY
from bot.reports.service import Reports as ReportService
from bot.sandbox.slack import FakeSlack
from bot.scheduler import Scheduler
from bot.slack import SlackGateway, make_client
from tests.support.report_data import NOW, WEEK_END, OfflineSlack, make_reports, seed_week

CHANNEL = "C0REPORTS"


class Timer:
    """Stands in for the scheduler: records the retries asked for."""

    def __init__(self) -> None:
        self.jobs: list[tuple[str, str, datetime, tuple[Any, ...]]] = []

    def at(self, name: str, job_id: str, when: datetime, *args: Any) -> None:
        self.jobs.append((name, job_id, when, args))


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


def weekly(engine: Engine, config: Config, slack: FakeSlack, timer: Timer | None = None,
           timeout: int = 10) -> ReportService:
    seed_week(engine)
    configured = config.model_copy(update={"reports": Reports(channel=CHANNEL)})
    gateway = SlackGateway(make_client("xoxb-test", slack.base_url, timeout=timeout))
    reports = make_reports(engine, configured, FrozenClock(NOW), slack=gateway)
    reports._scheduler = timer  # type: ignore[assignment]
    return reports


def posted(slack: FakeSlack) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(summaries, chart shares) in the report channel."""
    messages = slack.messages(CHANNEL)
    return ([m for m in messages if not m.get("files")], [m for m in messages if m.get("files")])


def test_the_job_firing_twice_posts_the_report_once(engine: Engine, config: Config,
                                                    slack: FakeSlack) -> None:
    """One summary with the figures, then one share of five PNG charts; the second run
    finds the report done and calls Slack for nothing."""
    reports = weekly(engine, config, slack)
    assert reports.weekly() is True
    calls = len(slack.calls)
    assert reports.weekly() is False
    assert len(slack.calls) == calls
    summaries, shares = posted(slack)
    assert len(summaries) == 1 and len(shares) == 1
    header = summaries[0]["blocks"][0]["text"]["text"]
    assert header == "Rapport de la semaine — 9 nov. – 15 nov. 2026"
    files = [f for f in slack.uploaded_files() if f.completed]
    assert len(files) == 5 and all(f.content[:4] == b"\x89PNG" for f in files)
    assert {f.channel for f in files} == {CHANNEL}
    assert files[0].filename == "vigie-weekly-2026-11-15-sentiment.png"


def test_a_failed_chart_upload_is_retried_without_a_second_summary(
        engine: Engine, config: Config, slack: FakeSlack) -> None:
    """Slack refuses the share: a retry is scheduled in ten minutes for the same week,
    and it shares the charts without posting the figures again."""
    timer = Timer()
    reports = weekly(engine, config, slack, timer)
    slack.fail_next("files.completeUploadExternal", status=200, error="fatal_error")
    assert reports.weekly() is False
    assert [(name, job_id, args) for name, job_id, _, args in timer.jobs] == [
        (WEEKLY_JOB, WEEKLY_RETRY, (WEEK_END.isoformat(),))]
    assert (timer.jobs[0][2] - NOW).total_seconds() == 600
    summaries, shares = posted(slack)
    assert (len(summaries), len(shares)) == (1, 0)
    assert reports.weekly(WEEK_END.isoformat()) is True
    summaries, shares = posted(slack)
    assert (len(summaries), len(shares)) == (1, 1)


def test_a_summary_whose_answer_was_lost_is_found_not_posted_again(
        engine: Engine, config: Config, slack: FakeSlack) -> None:
    """The post reached Slack but the answer timed out: the retry looks in the channel,
    finds the summary by its metadata, and only shares the charts."""
    reports = weekly(engine, config, slack, Timer(), timeout=1)
    slack.hang_next("chat.postMessage", 2.0, then_apply=True)
    assert reports.weekly() is False
    assert len(posted(slack)[0]) == 1
    assert reports.weekly(WEEK_END.isoformat()) is True
    summaries, shares = posted(slack)
    assert (len(summaries), len(shares)) == (1, 1)
    assert slack.calls_to("conversations.history")


def test_the_cron_follows_the_config_in_the_newsrooms_time_zone(engine: Engine,
                                                                 config: Config) -> None:
    """Monday 09:00 in Paris is 08:00 UTC in winter; without a channel the job goes."""
    scheduler = Scheduler(engine=engine, timezone="Europe/Paris", leader_poll=0.1)
    scheduler.register(WEEKLY_JOB, lambda end=None: None)
    scheduler.start()
    try:
        configured = config.model_copy(update={"reports": Reports(channel=CHANNEL, day="wed",
                                                                  time="17:30")})
        ReportService(engine=engine, config=configured, clock=FrozenClock(NOW),
                      slack=OfflineSlack(), people=None, staff=None,  # type: ignore[arg-type]
                      locale="fr", scheduler=scheduler).schedule()
        next_run = scheduler.next_run(WEEKLY_JOB)
        assert next_run is not None
        local = next_run.astimezone(ZoneInfo("Europe/Paris"))
        assert (local.weekday(), local.hour, local.minute) == (2, 17, 30)
        ReportService(engine=engine, config=config, clock=FrozenClock(NOW),
                      slack=OfflineSlack(), people=None, staff=None,  # type: ignore[arg-type]
                      locale="fr", scheduler=scheduler).schedule()
        assert scheduler.next_run(WEEKLY_JOB) is None
    finally:
        scheduler.shutdown()
