"""Tables of the qualify flow: the audit log, each mention's triage state (sentiment
suggestion, SLA deadlines and reminders, assignee notice), who is away, and the
round-robin position per channel.

The qualification itself (sentiment, category, priority, status, assignee, version) stays
on `Mention`; these tables hold what the card and the reminders need beside it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, ForeignKey, Index, Integer, String
from sqlmodel import Field, SQLModel

from bot.store import UTCDateTime


class ChangeSource(StrEnum):
    """Where a change came from, as the audit log and the card say it."""

    BUTTON = "button"  # a button or menu on the card
    COMMAND = "command"  # a /vigie command
    RULE = "rule"  # an auto-qualification rule or round-robin
    SLA = "sla"  # an SLA escalation
    REPLY = "reply"  # an answer sent (or recorded by hand) from the card
    SYSTEM = "system"


class SlaState(StrEnum):
    PENDING = "pending"  # the first response is awaited; no reminder yet
    NUDGED = "nudged"  # the thread nudge went out
    ESCALATED = "escalated"  # on-call people were told
    DONE = "done"  # answered, closed or ignored: nothing more to remind


class AuditEntry(SQLModel, table=True):
    """One field of one mention changed: who, when, old → new, and through what."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_mention_at", "mention_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    mention_id: int = Field(sa_column=Column(Integer, ForeignKey("mention.id"), nullable=False))
    at: datetime = Field(sa_type=UTCDateTime)
    actor_id: str | None = Field(default=None, max_length=32,
                                 description="Slack user; None for rules and the SLA")
    source: ChangeSource = Field(sa_type=String(16))
    rule: str | None = Field(default=None, max_length=64, description="rule that made the change")
    field: str = Field(max_length=32)
    old_value: str | None = Field(default=None, max_length=64)
    new_value: str | None = Field(default=None, max_length=64)


class MentionTriage(SQLModel, table=True):
    """What the qualify flow keeps about one mention beside its qualification."""

    __tablename__ = "mention_triage"
    __table_args__ = (Index("ix_mention_triage_sla", "sla_state", "nudge_at"),)

    mention_id: int = Field(
        sa_column=Column(Integer, ForeignKey("mention.id"), primary_key=True, autoincrement=False)
    )
    suggested_sentiment: str | None = Field(default=None, sa_type=String(16))
    sentiment_score: float | None = None
    sla_state: SlaState = Field(default=SlaState.PENDING, sa_type=String(16))
    nudge_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    escalate_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    nudged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    escalated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    notified_assignee: str | None = Field(
        default=None, max_length=32, description="last assignee told by DM: never twice"
    )


class StaffPresence(SQLModel, table=True):
    """People marked away (`/vigie away`) are skipped by round-robin assignment."""

    __tablename__ = "staff_presence"

    user_id: str = Field(primary_key=True, max_length=32)
    away: bool = False
    since: datetime = Field(sa_type=UTCDateTime)


class RoundRobinCursor(SQLModel, table=True):
    """How many mentions each round-robin channel has handed out: the next turn."""

    __tablename__ = "round_robin_cursor"

    channel_id: str = Field(primary_key=True, max_length=32)
    turns: int = 0
