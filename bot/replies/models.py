"""Tables of the respond flow: the answers sent (or waiting) for mentions, and the reply
templates written from Slack with their history.

A `Reply` moves through one state at a time, each change being a conditional `UPDATE`
(`WHERE state = …`), so two clicks, an editor's reaction and the sweep can race without
sending anything twice:

    awaiting_approval ──approve──▶ queued ──claim──▶ sending ──▶ sent
          │                          ▲                  ├──▶ failed ──retry──┐
          └──reject──▶ rejected      └──────────────────┴──▶ unconfirmed ────┘
                                                               └──confirm──▶ sent
    (by hand: awaiting_approval ──approve──▶ by_hand, or straight to by_hand)

`unconfirmed`: the platform may have the answer (a server error, a timeout after
sending). Vigie looks for it at `next_check_at` (`bot.connectors.doubt`): found → sent;
certainly absent once the platform can no longer create it → queued again, with the same
Idempotency-Key or record key, so it cannot appear twice. When the looks cannot tell,
`next_check_at` is cleared and a person decides to send again or to mark it sent.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from bot.store import UTCDateTime

ERROR_LENGTH = 512  # Reply.error: why sending failed, as a stored `Reason`


class ReplyState(StrEnum):
    AWAITING_APPROVAL = "awaiting_approval"  # in the approvals channel, for an editor
    QUEUED = "queued"  # to be sent; nobody has tried yet
    SENDING = "sending"  # claimed by one process, call to the platform in flight
    SENT = "sent"
    FAILED = "failed"  # certainly not sent; a person may retry
    UNCONFIRMED = "unconfirmed"  # maybe sent: looked for, then a person decides
    BY_HAND = "by_hand"  # recorded as answered by hand, text ready to copy
    REJECTED = "rejected"  # an editor refused it


class ReplyKind(StrEnum):
    """How the answer goes out."""

    MASTODON = "mastodon"
    BLUESKY = "bluesky"
    BY_HAND = "by_hand"


class Reply(SQLModel, table=True):
    """One answer to one mention, as written in the reply modal."""

    __tablename__ = "reply"
    __table_args__ = (
        Index("ix_reply_mention", "mention_id", "id"),
        Index("ix_reply_state", "state", "updated_at"),
        Index("ix_reply_preview", "preview_channel", "preview_ts"),
        Index("ix_reply_next_check", "state", "next_check_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    mention_id: int = Field(sa_column=Column(Integer, ForeignKey("mention.id"), nullable=False))
    author_id: str = Field(max_length=32, description="the staff member who wrote it")
    kind: str = Field(sa_type=String(16), description="a ReplyKind, or the name of the "
                      "platform that sends it (`bot.platforms`)")
    account_id: str | None = Field(default=None, max_length=64)
    template: str | None = Field(default=None, max_length=80, description="locale/name used")
    text: str = Field(sa_column=Column(Text, nullable=False), description="as it goes out")
    key: str = Field(max_length=64, description="Idempotency-Key / record key seed: one per "
                     "reply, so sending again cannot post twice where the platform helps")
    state: ReplyState = Field(sa_type=String(24))
    needs_approval: bool = False
    sensitive: str | None = Field(default=None, max_length=128,
                                  description="why an editor must approve (category, route)")
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)

    # Approval (same mechanics as posts: the preview in the approvals channel).
    preview_channel: str | None = Field(default=None, max_length=32)
    preview_ts: str | None = Field(default=None, max_length=32)
    preview_claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decided_by: str | None = Field(default=None, max_length=32, description="editor")
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reason: str | None = Field(default=None, max_length=1000, description="of a rejection")

    # Sending.
    attempts: int = 0
    attempted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    claimed_by: str | None = Field(default=None, max_length=64,
                                   description="the process sending it (bot.replicas)")
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    remote_id: str | None = Field(default=None, max_length=512, description="status id, AT URI")
    remote_url: str | None = Field(default=None, max_length=2048)
    error: str | None = Field(default=None, max_length=ERROR_LENGTH,
                              description="why it failed, a stored `bot.reasons.Reason`")
    checks: int = Field(default=0, description="looks done since the last send")
    next_check_at: datetime | None = Field(
        default=None, sa_type=UTCDateTime,
        description="unconfirmed: when to look for it again (None: a person decides)")
    creatable_until: datetime | None = Field(
        default=None, sa_type=UTCDateTime,
        description="unconfirmed: until when the platform may still create it")
    settled_by: str | None = Field(default=None, max_length=32,
                                   description="who retried or confirmed it last")


class ReplyTemplateRow(SQLModel, table=True):
    """A reply template written or changed from Slack. It shadows the shipped file of
    the same locale and name, if any (an edited default, or an archived one)."""

    __tablename__ = "reply_template"
    __table_args__ = (UniqueConstraint("locale", "name", name="uq_reply_template_name"),)

    id: int | None = Field(default=None, primary_key=True)
    locale: str = Field(max_length=8)
    name: str = Field(max_length=64)
    title: str = Field(max_length=150)
    body: str = Field(sa_column=Column(Text, nullable=False))
    archived: bool = False
    version: int = 1
    created_by: str = Field(max_length=32)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_by: str = Field(max_length=32)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class TemplateAction(StrEnum):
    CREATED = "created"
    EDITED = "edited"
    ARCHIVED = "archived"
    RESTORED = "restored"


class ReplyTemplateRevision(SQLModel, table=True):
    """Every saved state of a template: who did what, when, and the text it had."""

    __tablename__ = "reply_template_revision"
    __table_args__ = (Index("ix_reply_template_revision", "template_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    template_id: int = Field(
        sa_column=Column(Integer, ForeignKey("reply_template.id"), nullable=False))
    version: int
    action: TemplateAction = Field(sa_type=String(16))
    title: str = Field(max_length=150)
    body: str = Field(sa_column=Column(Text, nullable=False))
    archived: bool = False
    by: str = Field(max_length=32)
    at: datetime = Field(sa_type=UTCDateTime)
