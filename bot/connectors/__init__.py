"""What every platform (`bot.platforms`) plugs into: polling, post fetchers, publishers,
and the rule for an unknown outcome (`doubt`).

A polled source is a callable `(Source, PollState) -> Fetched` that raises
`SourceFailure` with a reason fit for staff (`bot.reasons.Reason`: shown in the reader's
language, English in logs); the poller (`bot.listen.polling`) does the
rest: intake, cursors, backoff and health notices.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.mentions.models import MentionIn
from bot.reasons import Reason


class SourceFailure(Exception):
    """A poll that did not work. The reason is shown to staff: no secret in it."""

    def __init__(self, reason: Reason, *, retry_after: float | None = None) -> None:
        super().__init__(str(reason))
        self.reason = reason
        self.retry_after = retry_after


@dataclass(frozen=True)
class PollState:
    """What the previous polls left for the next one."""

    now: datetime
    first: bool  # never read successfully yet
    etag: str | None = None
    last_modified: str | None = None
    cursor: str | None = None


@dataclass(frozen=True)
class Fetched:
    mentions: list[MentionIn] = field(default_factory=list)
    etag: str | None = None
    last_modified: str | None = None
    cursor: str | None = None
    not_modified: bool = False
    next_poll_in: float | None = None  # seconds; None: the source's `poll_every`
