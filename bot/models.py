"""Every table, imported in one place so Alembic and tests see the whole schema."""

from __future__ import annotations

from sqlmodel import SQLModel

from bot.events import ProcessedEvent
from bot.listen.models import (
    ChannelPace,
    ConfigChange,
    OutboxMessage,
    RouteRow,
    SourceRow,
    SourceState,
    Spike,
    Trend,
)
from bot.mentions.flag_models import MentionFlag
from bot.mentions.models import Mention
from bot.mentions.qualify_models import (
    AuditEntry,
    MentionTriage,
    RoundRobinCursor,
    StaffPresence,
)
from bot.moderation.models import (
    ContestDraw,
    Delegation,
    MentionModeration,
    ModerationAction,
    ModerationLog,
    Offender,
    SavedMention,
)
from bot.platforms.threads.models import ThreadsContainer
from bot.platforms.x.spend import XSpend
from bot.posts.models import Post, PostApproval, PostDelivery
from bot.replicas import ReplicaRow
from bot.replies.models import Reply, ReplyTemplateRevision, ReplyTemplateRow
from bot.reports.models import HomeState, ReportRun
from bot.suggestions.models import MentionEmbedding, MentionSuggestion, SuggestionModel

metadata = SQLModel.metadata

__all__ = [
    "AuditEntry",
    "ChannelPace",
    "ConfigChange",
    "Mention",
    "MentionFlag",
    "MentionTriage",
    "OutboxMessage",
    "Post",
    "PostApproval",
    "PostDelivery",
    "ProcessedEvent",
    "ReplicaRow",
    "Reply",
    "ReplyTemplateRevision",
    "ReplyTemplateRow",
    "RoundRobinCursor",
    "RouteRow",
    "SourceRow",
    "SourceState",
    "Spike",
    "ThreadsContainer",
    "StaffPresence",
    "ContestDraw",
    "Delegation",
    "MentionModeration",
    "ModerationAction",
    "ModerationLog",
    "Offender",
    "SavedMention",
    "Trend",
    "HomeState",
    "MentionEmbedding",
    "MentionSuggestion",
    "SuggestionModel",
    "ReportRun",
    "XSpend",
    "metadata",
]
