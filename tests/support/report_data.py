"""A small desk week whose figures are worked out by hand, for the report tests.

The newsroom is in Paris. The reported week runs from Monday 9 November 2026, 00:00 in
Paris (Sunday 23:00 UTC), to Monday 16 November, 00:00; "now" is Monday 16, 09:00 Paris.
Rows sit on the week's edges on purpose: 23:30 UTC on a Sunday is already Monday in Paris.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.clock import Clock
from bot.config import Config
from bot.mentions.models import Mention
from bot.mentions.qualify_models import MentionTriage, SlaState
from bot.mentions.staff import StaffPolicy
from bot.people import Directory
from bot.reports.service import Reports
from bot.slack import SlackGateway, make_client

ALICE, BOB = "U0ALICE", "U0BOB"
NOW = datetime(2026, 11, 16, 8, 0, tzinfo=UTC)
WEEK_START = datetime(2026, 11, 8, 23, 0, tzinfo=UTC)  # Monday 9 Nov, 00:00 in Paris
WEEK_END = datetime(2026, 11, 15, 23, 0, tzinfo=UTC)  # Monday 16 Nov, 00:00 in Paris


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def add(session: Session, number: int, received: datetime, *, answered_after: float | None = None,
        by: str | None = None, nudge_at: datetime | None = None, done: bool = False,
        **fields: Any) -> Mention:
    """One mention (and its triage row); `answered_after` minutes to its first response."""
    values: dict[str, Any] = {
        "source_id": "rss", "external_id": f"x{number}", "platform": "web",
        "account_id": "matinale", "author_handle": f"@reader{number}@example.social",
        "text": f"Mention {number} sur la grève du son", "fingerprint": f"f{number}",
        "created_at": received, "received_at": received, "channel_id": "C0MENTIONS",
        "url": f"https://example.social/@reader/{number}",
    }
    values.update(fields)
    if answered_after is not None:
        values.update(status="answered", answered_by=by,
                      first_response_at=received + timedelta(minutes=answered_after))
    mention = Mention(**values)
    session.add(mention)
    session.flush()
    if nudge_at is not None or done or answered_after is not None:
        session.add(MentionTriage(
            mention_id=mention.id or 0, nudge_at=nudge_at or received + timedelta(hours=4),
            sla_state=SlaState.DONE if done or answered_after is not None else SlaState.PENDING))
    return mention


def seed_week(engine: Engine) -> None:
    """Ten mentions; see tests/unit/test_report_figures.py for what they add up to."""
    with Session(engine) as s:
        add(s, 1, utc(8, 22, 30), sentiment="positive", status="closed", done=True)  # Sun, prev.
        add(s, 2, utc(8, 23, 30), answered_after=10, by=ALICE, sentiment="positive",
            category="question", assignee_id=ALICE)  # Monday 00:30 in Paris
        add(s, 3, utc(9, 10), answered_after=20, by=BOB, sentiment="negative",
            category="complaint", source_id="mastodon", assignee_id=BOB)
        add(s, 4, utc(10, 12), answered_after=30, by=ALICE, sentiment="neutral",
            source_id="mastodon", account_id="grand-debat", channel_id="C0DEBAT",
            assignee_id=ALICE)
        add(s, 5, utc(11, 9), answered_after=40, by=BOB, sentiment="negative",
            category="complaint", account_id="grand-debat", channel_id="C0DEBAT",
            assignee_id=BOB)
        add(s, 6, utc(15, 22, 30), answered_after=100, by=ALICE, source_id="mastodon",
            assignee_id=ALICE)  # Sunday 23:30 in Paris: still the reported week
        add(s, 7, utc(15, 23, 30), nudge_at=utc(16, 3, 30))  # Monday 16, 00:30: next week
        add(s, 8, utc(12, 8), sentiment="positive", category="praise", source_id="monitoring",
            assignee_id=ALICE, status="assigned", nudge_at=utc(12, 12))
        add(s, 9, utc(13, 8), account_id="grand-debat", channel_id="C0DEBAT",
            nudge_at=utc(16, 10))
        add(s, 10, utc(3, 10), answered_after=60, by=ALICE)  # the week before
        s.commit()


class OfflineSlack(SlackGateway):
    """Names and the workspace URL without a network: for tests that only build."""

    NAMES = {ALICE: "Alice", BOB: "Bob"}

    def __init__(self) -> None:
        super().__init__(make_client("xoxb-test", "http://127.0.0.1:9/api/"))

    def user_info(self, user: str) -> dict[str, Any]:
        return {"id": user, "name": user.lower(), "locale": "fr-FR",
                "profile": {"display_name": self.NAMES.get(user, user)}}

    def usergroup_members(self, usergroup: str) -> list[str]:
        return []

    def auth_test(self) -> dict[str, Any]:
        return {"url": "https://newsroom.slack.com/"}


def make_reports(engine: Engine, config: Config, clock: Clock,
                 slack: SlackGateway | None = None) -> Reports:
    slack = slack or OfflineSlack()
    people = Directory(slack=slack, config=config, default_locale="fr")
    return Reports(engine=engine, config=config, clock=clock, slack=slack, people=people,
                   staff=StaffPolicy(slack=slack, staff=config.qualify.staff), locale="fr")
