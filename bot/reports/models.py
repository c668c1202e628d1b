"""Tables of the evaluate side: each weekly report's progress (so it is posted once), and
the page each person last chose on their Home tab (so a refresh keeps it)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import String
from sqlmodel import Field, SQLModel

from bot.store import UTCDateTime


class RunState(StrEnum):
    RUNNING = "running"  # claimed by one runner
    DONE = "done"
    FAILED = "failed"  # a later retry takes it over


class ReportRun(SQLModel, table=True):
    """One scheduled report: claimed before Slack is called, each step recorded, so a
    retry after a failure posts what is missing and nothing twice."""

    __tablename__ = "report_run"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=64, unique=True, description="weekly:<end of the period>")
    channel: str = Field(max_length=32)
    state: RunState = Field(default=RunState.RUNNING, sa_type=String(16))
    attempts: int = 1
    started_at: datetime = Field(sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    summary_ts: str | None = Field(default=None, max_length=32)
    summary_uncertain: bool = False  # the summary may be in Slack: look before posting
    charts_done: bool = False
    charts_uncertain: bool = False
    error: str | None = Field(default=None, max_length=512)


class HomeState(SQLModel, table=True):
    """The page of their queue a person is looking at, kept across refreshes."""

    __tablename__ = "home_state"

    user_id: str = Field(primary_key=True, max_length=32)
    page: int = 0
    updated_at: datetime = Field(sa_type=UTCDateTime)
