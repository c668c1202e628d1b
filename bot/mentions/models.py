"""Mentions: what the outside world said about the newsroom, as stored and relayed.

`MentionIn` is the documented shape every source normalises to (and the webhook's JSON
schema); `Mention` is the stored row, which also tracks its relay to Slack.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Column, Index, String, Text, UniqueConstraint
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from bot.clock import as_utc
from bot.store import UTCDateTime


class RelayState(StrEnum):
    """Where a mention is on its way to its Slack card."""

    PENDING = "pending"  # stored, card not posted yet (or retrying)
    POSTING = "posting"  # claimed by one relay worker, call to Slack in flight
    RELAYED = "relayed"  # card posted, `slack_ts` known
    HELD = "held"  # will not be relayed on its own (e.g. grouped in a digest)


class Sentiment(StrEnum):
    POSITIVE = "positive"
    NEUTRAL = "neutral"
    NEGATIVE = "negative"


class Category(StrEnum):
    QUESTION = "question"
    COMPLAINT = "complaint"
    PRAISE = "praise"
    CRISIS = "crisis"
    SPAM = "spam"
    OTHER = "other"


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class Status(StrEnum):
    """open → assigned → answered / closed / ignored / escalated."""

    OPEN = "open"
    ASSIGNED = "assigned"
    ANSWERED = "answered"
    CLOSED = "closed"
    IGNORED = "ignored"
    ESCALATED = "escalated"


class Author(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    handle: str = Field(min_length=1, max_length=256, description="@user@instance, URL or id")
    name: str | None = Field(default=None, max_length=256)


class PlatformRef(BaseModel):
    """What a reply needs to go back to the post on its own platform."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: str = Field(min_length=1, max_length=512, description="Mastodon status id, AT URI")
    cid: str | None = Field(default=None, max_length=128, description="Bluesky CID")
    visibility: str | None = Field(default=None, max_length=16,
                                   description="Mastodon: public, unlisted, private, direct")
    root_id: str | None = Field(default=None, max_length=512, description="thread root (URI)")
    root_cid: str | None = Field(default=None, max_length=128)


class MentionIn(BaseModel):
    """A mention as a source hands it in. Also the `POST /ingest/{source}` JSON schema."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    external_id: str = Field(min_length=1, max_length=256, description="id at the source")
    text: str = Field(min_length=1, max_length=40_000)
    author: Author
    created_at: datetime = Field(description="ISO 8601; without an offset it is read as UTC")
    url: str | None = Field(default=None, max_length=2048, pattern=r"^https?://\S+$")
    lang: str | None = Field(
        default=None, alias="language", pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]+)?$"
    )
    account: str | None = Field(default=None, max_length=64)
    platform: str = Field(default="web", pattern=r"^[a-z0-9_-]{1,32}$")
    ref: PlatformRef | None = Field(default=None, description="for replies on the platform")

    @field_validator("created_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return as_utc(value)

    @field_validator("lang")
    @classmethod
    def _short_lang(cls, value: str | None) -> str | None:
        return value.split("-")[0].lower() if value else None


class Mention(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("source_id", "external_id", name="uq_mention_source_external"),
        Index("ix_mention_relay_due", "relay_state", "next_relay_at"),
        Index("ix_mention_author_fingerprint", "author_handle", "fingerprint"),
        Index("ix_mention_channel_received", "channel_id", "received_at"),
        # Reports and the App Home (bot.reports.queries; measured in bench/report.py).
        Index("ix_mention_report", "received_at", "sentiment", "category", "source_id",
              "account_id", "first_response_at", "answered_by"),
        Index("ix_mention_open_queue", "status", "channel_id", "assignee_id", "received_at",
              "id"),
        Index("ix_mention_assignee_open", "assignee_id", "status", "received_at"),
        Index("ix_mention_account_received", "account_id", "received_at"),
    )

    id: int | None = SQLField(default=None, primary_key=True)
    source_id: str = SQLField(max_length=64)
    external_id: str = SQLField(max_length=256)
    platform: str = SQLField(max_length=32)
    account_id: str | None = SQLField(default=None, max_length=64, index=True)
    author_handle: str = SQLField(max_length=256)
    author_name: str | None = SQLField(default=None, max_length=256)
    text: str = SQLField(sa_column=Column(Text, nullable=False))
    url: str | None = SQLField(default=None, max_length=2048)
    lang: str | None = SQLField(default=None, max_length=8)
    fingerprint: str = SQLField(max_length=64, description="hash of the normalised text")
    created_at: datetime = SQLField(sa_type=UTCDateTime)
    received_at: datetime = SQLField(sa_type=UTCDateTime, index=True)

    channel_id: str = SQLField(max_length=32, description="where routing sent it")
    route: str | None = SQLField(default=None, max_length=128, description="rule that matched")

    relay_state: RelayState = SQLField(default=RelayState.PENDING, sa_type=String(16))
    relay_attempts: int = 0
    next_relay_at: datetime | None = SQLField(default=None, sa_type=UTCDateTime)
    relay_claimed_at: datetime | None = SQLField(default=None, sa_type=UTCDateTime)
    relay_claimed_by: str | None = SQLField(default=None, max_length=64)  # bot.replicas
    relay_uncertain: bool = SQLField(
        default=False, description="a post may have reached Slack; look before posting again"
    )
    relay_error: str | None = SQLField(default=None, max_length=512)
    slack_channel: str | None = SQLField(default=None, max_length=32)
    slack_ts: str | None = SQLField(default=None, max_length=32)
    relayed_at: datetime | None = SQLField(default=None, sa_type=UTCDateTime)

    # Qualification: set by staff from the card, or by rules (see the audit log for who).
    sentiment: Sentiment | None = SQLField(default=None, sa_type=String(16))
    category: Category | None = SQLField(default=None, sa_type=String(16))
    priority: Priority = SQLField(default=Priority.NORMAL, sa_type=String(16))
    status: Status = SQLField(default=Status.OPEN, sa_type=String(16), index=True)
    assignee_id: str | None = SQLField(default=None, max_length=32, index=True)
    alert_terms: str | None = SQLField(
        default=None, max_length=512, description="alert words found, comma-separated"
    )
    first_response_at: datetime | None = SQLField(default=None, sa_type=UTCDateTime)
    answered_by: str | None = SQLField(default=None, max_length=32)
    version: int = SQLField(default=1, description="bumped on every change: optimistic lock")

    # Where the post lives on its platform, so a reply can go back to it.
    platform_ref: str | None = SQLField(default=None, max_length=512)
    platform_cid: str | None = SQLField(default=None, max_length=128)
    visibility: str | None = SQLField(default=None, max_length=16)
    root_ref: str | None = SQLField(default=None, max_length=512)
    root_cid: str | None = SQLField(default=None, max_length=128)
    # Bursts: held in a spike, then listed in a digest message (see bot.listen.spikes).
    spike_id: int | None = SQLField(default=None, index=True)
    digest_id: int | None = SQLField(default=None, description="outbox row of its digest")
    # Changed on its platform after it arrived (Facebook, Instagram webhooks): "edited",
    # "removed" or "hidden" (`bot.mentions.service.Intake.amend`), shown on the card.
    remote_state: str | None = SQLField(default=None, max_length=16)
    remote_state_at: datetime | None = SQLField(default=None, sa_type=UTCDateTime)
