"""What `vigie check` says of a YouTube channel: whether Google takes its refresh token
and lets it read the comments held for review (one list, 1 unit); and, in its notes,
each channel's day: units spent and left, the reserve, when it resets."""

from __future__ import annotations

from collections.abc import Callable

from bot.config import Source
from bot.connectors import SourceFailure
from bot.platforms.youtube.client import ApiError, YouTubeClients
from bot.platforms.youtube.quota import Quota, reset_label
from bot.reasons import Reason


def checker(clients: YouTubeClients) -> Callable[[Source], str | None]:
    def check(source: Source) -> str | None:
        if clients.missing(source):
            return None  # `secret_problems` says which
        try:
            clients.call(source, "GET", "commentThreads", params={
                "part": "id", "maxResults": 1, "moderationStatus": "heldForReview",
                "allThreadsRelatedToChannelId": source.setting("channel_id")})
        except ApiError as exc:
            raise SourceFailure(exc.reason) from None
        return f"YouTube channel {source.setting('channel_id')}: token accepted, " \
            "comments held for review readable"
    return check


def notes(clients: YouTubeClients) -> Callable[[], list[str]]:
    def listed() -> list[str]:
        return [quota_line(s, clients.quota(s)) for s in clients.youtube_sources()
                if s.enabled]
    return listed


def usage(clients: YouTubeClients) -> Callable[[str], list[str]]:
    """The same lines for editors' App Home, in their language."""
    def lines(locale: str) -> list[str]:
        return [quota_reason(s, clients.quota(s)).text(locale)
                for s in clients.youtube_sources() if s.enabled]
    return lines


def quota_line(source: Source, quota: Quota) -> str:
    return str(quota_reason(source, quota))


def quota_reason(source: Source, quota: Quota) -> Reason:
    if quota.gone and quota.spent < quota.budget:
        return Reason("youtube.quota_note_gone", source=source.id, when=reset_label(quota))
    return Reason("youtube.quota_note", source=source.id, spent=quota.spent,
                  budget=quota.budget, left=quota.left, reserve=quota.reserve,
                  when=reset_label(quota))
