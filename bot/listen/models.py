"""Tables of the listening side: sources and routes as edited from Slack, each polled
source's state, the audit of configuration changes, spikes, the per-channel pace and
the outbox of messages that are not cards (spike alerts, digests, notices, alert DMs)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Index, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from bot.store import UTCDateTime


class SourceRow(SQLModel, table=True):
    """A source as currently configured; seeded from the TOML file, then edited in Slack."""

    __tablename__ = "listen_source"

    id: str = Field(primary_key=True, max_length=64)
    position: int = 0
    definition: str = Field(sa_column=Column(Text, nullable=False),
                            description="the `bot.config.Source` as JSON")
    deleted: bool = False  # kept so the TOML seed does not bring it back
    updated_at: datetime = Field(sa_type=UTCDateTime)
    updated_by: str | None = Field(default=None, max_length=32, description="None: the TOML")


class RouteRow(SQLModel, table=True):
    """A routing rule; `position` orders them (first match wins)."""

    __tablename__ = "listen_route"

    id: int | None = Field(default=None, primary_key=True)
    position: int = Field(index=True)
    definition: str = Field(sa_column=Column(Text, nullable=False),
                            description="the `bot.config.Route` as JSON")
    deleted: bool = False
    updated_at: datetime = Field(sa_type=UTCDateTime)
    updated_by: str | None = Field(default=None, max_length=32)


class ConfigChange(SQLModel, table=True):
    """Who changed which route or source from Slack, and from what to what."""

    __tablename__ = "config_change"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    user_id: str = Field(max_length=32)
    subject: str = Field(max_length=16)  # "route" | "source"
    subject_id: str = Field(max_length=64)
    action: str = Field(max_length=16)  # add | edit | delete | enable | disable | move
    before: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    after: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class SourceState(SQLModel, table=True):
    """What polling a source has learnt: validators, cursor, health."""

    __tablename__ = "source_state"

    source_id: str = Field(primary_key=True, max_length=64)
    etag: str | None = Field(default=None, max_length=512)
    last_modified: str | None = Field(default=None, max_length=128)
    cursor: str | None = Field(default=None, max_length=512,
                               description="Mastodon since_id / Bluesky last indexedAt")
    next_poll_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_polled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_ok_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    failures: int = 0  # consecutive
    failing_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=512)
    reported_down: bool = False
    ingested: int = 0  # mentions stored from this source, all time


class ChannelPace(SQLModel, table=True):
    """When the next message may go to a channel: Slack allows about one per second."""

    __tablename__ = "channel_pace"

    channel: str = Field(primary_key=True, max_length=32)
    next_at: datetime = Field(sa_type=UTCDateTime)


class Spike(SQLModel, table=True):
    """A burst of mentions for one channel and account: one alert, then digests."""

    __tablename__ = "spike"

    id: int | None = Field(default=None, primary_key=True)
    channel_id: str = Field(max_length=32)
    account_id: str | None = Field(default=None, max_length=64)
    open_key: str | None = Field(default=None, max_length=128, unique=True,
                                 description="channel|account while open, NULL once over")
    started_at: datetime = Field(sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    rate_at_start: int = 0  # mentions in the window when it began
    negative_share: float = 0.0
    top_terms: str = Field(default="", max_length=512)


class OutboxState(StrEnum):
    PENDING = "pending"
    POSTING = "posting"
    SENT = "sent"
    FAILED = "failed"  # Slack refused it for good; kept for inspection


class OutboxKind(StrEnum):
    SPIKE_ALERT = "spike_alert"
    SPIKE_UPDATE = "spike_update"  # chat.update of the alert with current figures
    DIGEST = "digest"
    SPIKE_OVER = "spike_over"
    SOURCE_DOWN = "source_down"
    SOURCE_UP = "source_up"
    ALERT_DM = "alert_dm"
    TREND_ALERT = "trend_alert"  # an account far above its usual level (bot.listen.trends)


class OutboxMessage(SQLModel, table=True):
    """A message to post (or update) in Slack, exactly once, paced like cards.

    Rendered when sent, from `payload` and the database, so an alert shows the latest
    figures. `thread_key`/`update_key` name another row (by `key`) whose posted
    message this one replies to or rewrites.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "state", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str | None = Field(default=None, max_length=128, unique=True)
    kind: OutboxKind = Field(sa_type=String(16))
    channel: str = Field(max_length=32, description="channel id, or user id for a DM")
    thread_key: str | None = Field(default=None, max_length=128)
    update_key: str | None = Field(default=None, max_length=128)
    payload: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    state: OutboxState = Field(default=OutboxState.PENDING, sa_type=String(16))
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_type=UTCDateTime)
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    claimed_by: str | None = Field(default=None, max_length=64)  # bot.replicas
    uncertain: bool = False
    posted_channel: str | None = Field(default=None, max_length=32)
    posted_ts: str | None = Field(default=None, max_length=32)
    error: str | None = Field(default=None, max_length=512)
    created_at: datetime = Field(sa_type=UTCDateTime)


class Trend(SQLModel, table=True):
    """An hour in which an account got far more mentions than it usually does at that
    hour on that weekday: one alert each (unique per account and hour)."""

    __tablename__ = "trend"
    __table_args__ = (UniqueConstraint("account_key", "hour", name="uq_trend_account_hour"),
                      Index("ix_trend_account_detected", "account_key", "detected_at"))

    id: int | None = Field(default=None, primary_key=True)
    account_id: str | None = Field(default=None, max_length=64)
    account_key: str = Field(max_length=64, description="account id, or '' for none")
    hour: datetime = Field(sa_type=UTCDateTime, description="the window's end, to the hour")
    window_start: datetime = Field(sa_type=UTCDateTime)
    window_end: datetime = Field(sa_type=UTCDateTime)
    count: int  # mentions in the window
    usual: float  # mean of the same window over the past weeks
    weeks: int  # how many past weeks that mean covers
    negative_share: float = 0.0
    top_terms: str = Field(default="", max_length=512)
    samples: str = Field(default="", max_length=256, description="mention ids, comma-separated")
    channel_id: str = Field(max_length=32, description="where the alert goes")
    detected_at: datetime = Field(sa_type=UTCDateTime)
