"""Posts: what the newsroom wants to say, who approved it, and where it went.

One `Post` row is one publication. A recurring post is a chain of rows (`previous_id`):
the next occurrence is created in the same transaction that claims the current one, so
each occurrence exists, and goes out, once. Each target of a post has its own
`PostDelivery` row, its own claim and its own result (published with link / failed with
reason / unconfirmed), so a partial failure retries only what failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from bot.store import UTCDateTime


class PostState(StrEnum):
    PENDING = "pending"  # waiting for editors
    APPROVED = "approved"  # enough approvals; waits for its time
    REJECTED = "rejected"
    EXPIRED = "expired"  # its time came while still pending; approving it sends it now
    STALE = "stale"  # approved, but its time passed long ago (downtime): a human decides
    CANCELLED = "cancelled"
    PUBLISHING = "publishing"  # claimed: deliveries under way (or retrying)
    PUBLISHED = "published"  # every target confirmed
    FAILED = "failed"  # done trying; at least one target failed or is unconfirmed


EDITABLE = (PostState.PENDING, PostState.APPROVED, PostState.REJECTED, PostState.EXPIRED,
            PostState.STALE)
CANCELLABLE = EDITABLE
OPEN = (PostState.PENDING, PostState.APPROVED, PostState.EXPIRED, PostState.STALE)
FINISHED = (PostState.PUBLISHED, PostState.FAILED)
ERROR_LENGTH = 512  # PostDelivery.error: why a delivery failed, as a stored `Reason`


class DeliveryState(StrEnum):
    QUEUED = "queued"  # to send when the post is claimed
    SENDING = "sending"  # claimed by one runner; the platform call is in flight
    PUBLISHED = "published"
    FAILED = "failed"  # not published; retried at `next_attempt_at` unless `gave_up`
    # May have gone out: looked for at `next_attempt_at` (bot.connectors.doubt), or, once
    # `gave_up`, left to a human. Resent only after a look proved it absent.
    UNCONFIRMED = "unconfirmed"


class Recurrence(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    CRON = "cron"


class Post(SQLModel, table=True):
    __table_args__ = (
        Index("ix_post_due", "state", "publish_at"),
        Index("ix_post_preview", "preview_channel", "preview_ts"),
        UniqueConstraint("previous_id", name="uq_post_previous"),
    )

    id: int | None = Field(default=None, primary_key=True)
    author_id: str = Field(max_length=32, index=True)
    text: str = Field(sa_column=Column(Text, nullable=False))
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    publish_at: datetime | None = Field(
        default=None, sa_type=UTCDateTime, description="None: as soon as approved"
    )
    recurrence: str | None = Field(default=None, max_length=16)
    cron: str | None = Field(default=None, max_length=128)
    previous_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("post.id"), nullable=True),
        description="the occurrence this one follows, for recurring posts",
    )
    state: PostState = Field(default=PostState.PENDING, sa_type=String(16))
    version: int = Field(default=1, description="bumped by every edit; approvals are per version")
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    decided_by: str | None = Field(default=None, max_length=32, description="rejecter/canceller")
    reason: str | None = Field(default=None, max_length=1000)
    preview_channel: str | None = Field(default=None, max_length=32)
    preview_ts: str | None = Field(default=None, max_length=32)
    preview_claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    preview_drawn_at: datetime | None = Field(
        default=None, sa_type=UTCDateTime,
        description="when the preview last showed the post; older than updated_at: redraw")
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime,
                                        description="when publishing started")
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class PostDelivery(SQLModel, table=True):
    """One target of one post: its own claim, attempts and result."""

    __tablename__ = "post_delivery"
    __table_args__ = (
        UniqueConstraint("post_id", "target_id", name="uq_delivery_post_target"),
        Index("ix_delivery_due", "state", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    post_id: int = Field(sa_column=Column(Integer, ForeignKey("post.id"), nullable=False,
                                          index=True))
    target_id: str = Field(max_length=64)
    kind: str = Field(max_length=16)
    state: DeliveryState = Field(default=DeliveryState.QUEUED, sa_type=String(16))
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    gave_up: bool = Field(default=False, description="no automatic retry left: a human decides")
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    claimed_by: str | None = Field(default=None, max_length=64,
                                   description="the process holding the claim (bot.replicas)")
    calling_at: datetime | None = Field(
        default=None, sa_type=UTCDateTime,
        description="while claimed: since when the platform may have been called (None: "
                    "not yet, e.g. waiting for its channel's slot)")
    checks: int = Field(default=0, description="lookups done after an unknown outcome")
    creatable_until: datetime | None = Field(
        default=None, sa_type=UTCDateTime,
        description="after an unknown outcome: until when the platform may still create "
                    "the post (None: the attempt's start plus the platform's window)")
    external_id: str | None = Field(default=None, max_length=256)
    url: str | None = Field(default=None, max_length=2048)
    error: str | None = Field(default=None, max_length=ERROR_LENGTH)  # a stored Reason
    published_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class NoticeState(StrEnum):
    PENDING = "pending"  # to send (now, or at `next_attempt_at` after a failure)
    SENDING = "sending"  # claimed: the Slack call is in flight
    SENT = "sent"
    UNCONFIRMED = "unconfirmed"  # Slack's answer was lost: not sent again (no duplicate DM)
    FAILED = "failed"  # refused by Slack, or out of attempts
    # A report whose every delivery a later report of the post lists: that one shows them.
    SUPERSEDED = "superseded"


class PostNotice(SQLModel, table=True):
    """A note to a person about a post (the author's DM, a line in the approval thread),
    kept until Slack has it: the worker that sends notes lives in memory, the notes do
    not. Rendered when sent, from the post as it is then and these params (so a report
    held back leaves out the deliveries a later report lists: it would repeat its lines)."""

    __tablename__ = "post_notice"
    __table_args__ = (Index("ix_post_notice_due", "state", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    post_id: int = Field(sa_column=Column(Integer, ForeignKey("post.id"), nullable=False,
                                          index=True))
    kind: str = Field(max_length=16, description="author, thread or report")
    event: str = Field(max_length=32)
    params: str = Field(sa_column=Column(Text, nullable=False), description="JSON")
    state: NoticeState = Field(default=NoticeState.PENDING, sa_type=String(16))
    attempts: int = 0
    uncertain: bool = False
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    claimed_by: str | None = Field(default=None, max_length=64)  # bot.replicas
    next_attempt_at: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)
    error: str | None = Field(default=None, max_length=512)


class PostApproval(SQLModel, table=True):
    """An editor's approval of one version of a post (an edit needs new approvals)."""

    __tablename__ = "post_approval"
    __table_args__ = (
        UniqueConstraint("post_id", "editor_id", "version", name="uq_approval_editor_version"),
    )

    id: int | None = Field(default=None, primary_key=True)
    post_id: int = Field(sa_column=Column(Integer, ForeignKey("post.id"), nullable=False,
                                          index=True))
    editor_id: str = Field(max_length=32)
    version: int
    via: str = Field(max_length=16, description="reaction or button")
    at: datetime = Field(sa_type=UTCDateTime)


@dataclass(frozen=True)
class DraftIn:
    """A checked draft, as the modal hands it to the service."""

    text: str
    targets: tuple[str, ...]
    publish_at: datetime | None
    recurrence: Recurrence | None = None
    cron: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class DraftForm:
    """The modal's raw answers, before any checking."""

    text: str
    targets: tuple[str, ...]
    when_text: str | None = None
    when_picked: datetime | None = None
    recurrence: str | None = None
    cron: str | None = None
    note: str | None = None
