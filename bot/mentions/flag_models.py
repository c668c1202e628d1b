"""Flags: a mention someone handed to Vigie from Slack (@vigie, the message shortcut,
`/vigie add`), and the Slack thread where they hear what became of it.

A flag row is written before any slow work (fetching the post, storing the mention,
answering in Slack), so it is also the durable to-do list: whatever a crash or a Slack
outage interrupts is picked up by the periodic sweep. Its unique `key` (where the flag
came from and who raised it) is what makes a redelivered event a no-op.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Index, String, Text
from sqlmodel import Field, SQLModel

from bot.store import UTCDateTime

SLACK_SOURCE = "slack"  # the built-in source id of every mention flagged from Slack


class FlagWay(StrEnum):
    MENTION = "mention"  # @vigie in a channel
    SHORTCUT = "shortcut"  # "Send to Vigie" on a message
    COMMAND = "command"  # /vigie add <url> [note]


class FlagState(StrEnum):
    DRAFT = "draft"  # shortcut used, modal not submitted yet
    RECEIVED = "received"  # inputs stored; post to fetch, mention to store
    INGESTED = "ingested"  # mention stored (`mention_id`); the flagger not told yet
    ACKNOWLEDGED = "acknowledged"  # done (or gave up telling the flagger)


class MentionFlag(SQLModel, table=True):
    __tablename__ = "mention_flag"
    __table_args__ = (Index("ix_mention_flag_state_claim", "state", "claimed_at"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200, unique=True, description="origin + flagger: one flag")
    way: FlagWay = Field(sa_type=String(16))
    state: FlagState = Field(sa_type=String(16))
    flagger_id: str = Field(max_length=32)

    origin_channel: str = Field(max_length=32, description="where the flag was raised")
    origin_ts: str | None = Field(default=None, max_length=32, description="message flagged")
    origin_thread_ts: str | None = Field(default=None, max_length=32)
    permalink: str | None = Field(default=None, max_length=1024)

    url: str | None = Field(default=None, max_length=2048, description="the link flagged")
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    message: str | None = Field(
        default=None, sa_column=Column(Text, nullable=True),
        description="the Slack message flagged (JSON: text, user, files…), when there is one",
    )
    account_id: str | None = Field(default=None, max_length=64, description="chosen account")

    external_id: str = Field(max_length=256, index=True, description="the mention's, at source")
    mention_id: int | None = Field(default=None, foreign_key="mention.id", index=True)
    fetched_from: str | None = Field(default=None, max_length=32)
    fetch_error: str | None = Field(default=None, max_length=512)

    # Where the flagger is answered: the thread of their @vigie, or a direct message.
    ack_channel: str | None = Field(default=None, max_length=32)
    ack_thread_ts: str | None = Field(default=None, max_length=32)
    ack_attempts: int = 0

    # The mention's outcome the flagger should hear about, and the last one they did.
    outcome_status: str | None = Field(default=None, max_length=16)
    outcome_by: str | None = Field(default=None, max_length=32)
    reported_status: str | None = Field(default=None, max_length=16)
    report_attempts: int = 0

    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
