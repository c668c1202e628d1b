"""Tables of the moderate flow: which mentions are abusive, the authors on the watchlist,
moderation actions on the platforms, the moderation log, delegations to desks, saved
mentions and contest draws.

The mention itself is never changed to mask it: its text stays as received, and every
surface that shows it asks `bot.moderation.masking` first.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Text
from sqlmodel import Field, SQLModel

from bot.store import UTCDateTime


def _mention_fk(*, primary_key: bool = False, nullable: bool = False) -> Column[int]:
    return Column(Integer, ForeignKey("mention.id"), primary_key=primary_key,
                  autoincrement=False, nullable=nullable, index=not primary_key)


ERROR_LENGTH = 512  # ModerationAction.error and the log's detail: a stored `Reason`


class MarkSource(StrEnum):
    DETECTOR = "detector"  # the word list at intake
    STAFF = "staff"  # someone on the card


class MentionModeration(SQLModel, table=True):
    """A mention found or marked abusive (or cleared by staff: `abusive` false)."""

    __tablename__ = "mention_moderation"

    mention_id: int = Field(sa_column=_mention_fk(primary_key=True))
    author_key: str = Field(max_length=256, index=True)
    abusive: bool = True
    kinds: str | None = Field(default=None, max_length=64, description="comma-separated")
    terms: str | None = Field(default=None, max_length=512, description="audit only")
    source: MarkSource = Field(sa_type=String(16))
    marked_by: str | None = Field(default=None, max_length=32)
    marked_at: datetime = Field(sa_type=UTCDateTime)
    offender_routed: bool = Field(default=False, description="sent to the moderation channel")


class Offender(SQLModel, table=True):
    """An author with mentions marked abusive; on the watchlist from `watch_since`."""

    __tablename__ = "offender"

    author_key: str = Field(primary_key=True, max_length=256)
    handle: str = Field(max_length=256)
    name: str | None = Field(default=None, max_length=256)
    platform: str = Field(max_length=32)
    abusive_count: int = Field(default=0, description="marked abusive since counted_from")
    last_abusive_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_mention_id: int | None = None
    counted_from: datetime | None = Field(default=None, sa_type=UTCDateTime,
                                          description="set when taken off the watchlist")
    watch_since: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)


class ActionKind(StrEnum):
    MUTE = "mute"
    BLOCK = "block"
    REPORT = "report"
    HIDE = "hide"  # hide a reply under one of our posts (Bluesky threadgate, Meta)
    DELETE = "delete"  # delete a comment on one of our posts (Facebook, Instagram)
    HOLD = "hold"  # YouTube: hold a comment for review (undo: publish it)
    REJECT = "reject"  # YouTube: remove a comment
    REJECT_BAN = "reject_ban"  # YouTube: remove it and ban its author from the channel
    RELEASE = "release"  # YouTube: publish a comment held for review or as likely spam


class ActionState(StrEnum):
    PENDING = "pending"  # claimed, call to the platform in flight
    DONE = "done"
    FAILED = "failed"
    UNDONE = "undone"


class ModerationAction(SQLModel, table=True):
    """Mute, block, report or hide, done as one of the newsroom's accounts."""

    __tablename__ = "moderation_action"
    __table_args__ = (Index("ix_moderation_action_author", "author_key", "state"),)

    id: int | None = Field(default=None, primary_key=True)
    mention_id: int = Field(sa_column=_mention_fk())
    author_key: str = Field(max_length=256)
    platform: str = Field(max_length=32)
    account_id: str = Field(max_length=64)
    action: ActionKind = Field(sa_type=String(16))
    state: ActionState = Field(sa_type=String(16))
    target: str | None = Field(default=None, max_length=256, description="account id / DID")
    remote_ref: str | None = Field(default=None, max_length=512,
                                   description="block record URI, report id…")
    comment: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    by: str = Field(max_length=32)
    at: datetime = Field(sa_type=UTCDateTime)
    undone_by: str | None = Field(default=None, max_length=32)
    undone_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    error: str | None = Field(default=None, max_length=ERROR_LENGTH)  # a stored Reason


class ModerationLog(SQLModel, table=True):
    """Who did what, beside the qualify audit log: reveals, marks, actions, forwards,
    saves, draws. `actor_id` None: Vigie itself."""

    __tablename__ = "moderation_log"
    __table_args__ = (Index("ix_moderation_log_action_at", "action", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime)
    actor_id: str | None = Field(default=None, max_length=32)
    action: str = Field(max_length=32)
    mention_id: int | None = Field(default=None, sa_column=_mention_fk(nullable=True))
    author_key: str | None = Field(default=None, max_length=256)
    detail: str | None = Field(default=None, max_length=512)


class DelegationState(StrEnum):
    FORWARDED = "forwarded"  # sent to the desk (or about to be)
    TAKEN = "taken"  # the desk said "we've got it"
    ANSWERED = "answered"


class ReminderState(StrEnum):
    PENDING = "pending"
    NUDGED = "nudged"
    ESCALATED = "escalated"
    DONE = "done"


class Delegation(SQLModel, table=True):
    """A mention forwarded to a desk, with the note of who forwarded it."""

    __tablename__ = "delegation"
    __table_args__ = (Index("ix_delegation_reminder", "reminder_state", "nudge_at"),)

    id: int | None = Field(default=None, primary_key=True)
    mention_id: int = Field(sa_column=_mention_fk())
    desk_id: str = Field(max_length=64)
    desk_channel: str = Field(max_length=32)
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    by: str = Field(max_length=32)
    at: datetime = Field(sa_type=UTCDateTime)
    state: DelegationState = Field(sa_type=String(16))
    desk_ts: str | None = Field(default=None, max_length=32, description="the desk message")
    post_attempts: int = 0
    taken_by: str | None = Field(default=None, max_length=32)
    taken_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    answered_by: str | None = Field(default=None, max_length=32)
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reminder_state: ReminderState = Field(default=ReminderState.PENDING, sa_type=String(16))
    nudge_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    escalate_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    nudged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    escalated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SavedMention(SQLModel, table=True):
    """A good mention kept for later (praise, testimony) with ⭐ on its card."""

    __tablename__ = "saved_mention"

    mention_id: int = Field(sa_column=_mention_fk(primary_key=True))
    by: str = Field(max_length=32)
    at: datetime = Field(sa_type=UTCDateTime, index=True)


class ContestDraw(SQLModel, table=True):
    """One `/vigie tirage`: its public inputs, participants, seed and winners (JSON)."""

    __tablename__ = "contest_draw"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime)
    by: str = Field(max_length=32)
    channel_id: str = Field(max_length=32)
    query: str = Field(max_length=256)
    since: datetime = Field(sa_type=UTCDateTime)
    until: datetime = Field(sa_type=UTCDateTime)
    wanted: int
    participants: str = Field(sa_column=Column(Text, nullable=False))
    excluded: str = Field(sa_column=Column(Text, nullable=False))
    seed: str = Field(max_length=64)
    method: str = Field(max_length=64)
    winners: str = Field(sa_column=Column(Text, nullable=False))
    message_ts: str | None = Field(default=None, max_length=32)
