"""Listening to a YouTube channel by polling (YouTube has no comment webhooks):
`commentThreads.list` with `allThreadsRelatedToChannelId`, `order=time` (newest thread
first), `part=snippet,replies`, `maxResults=100`, in three streams: the published
comments, those held for review (`heldForReview`) and those YouTube thinks are spam
(`likelySpam`), so staff can release or reject them from Slack.

Each stream keeps, in the poller's cursor, the newest thread it has read, its recent
pace and when it is due. A read pages down only until a page reaches threads older than
the newest already read (never everything again); every comment on the pages read (the
top-level comment and the replies the thread carries) is handed to intake, whose dedupe
makes a comment read twice one card. The first read takes one page.

Each stream is read again at its own pace (`quota.next_read_in`): sooner when busy,
later when quiet, within the channel's daily budget; the poller is told when the next
stream is due (`Fetched.next_poll_in`).

What YouTube does not let a poller see cheaply: a new reply to a thread older than the
pages read, or beyond the 5 replies a thread carries (only `comments.list` per thread
would find those, at 1 unit each).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.config import Source
from bot.connectors import Fetched, PollState
from bot.mentions.models import Author, MentionIn, PlatformRef
from bot.platforms.youtube.client import ApiError, YouTubeClients, failure
from bot.platforms.youtube.quota import next_read_in

PAGE = 100  # the most Google gives per page
MAX_PAGES = 50  # per read (5,000 threads): a burst larger than that between two reads
# leaves its oldest threads unread
# (cursor key, moderationStatus, slowest pace when calm, when quiet: seconds)
STREAMS = (("p", "published", 15 * 60, 45 * 60), ("h", "heldForReview", 60 * 60, 2 * 3600),
           ("s", "likelySpam", 60 * 60, 2 * 3600))
SMOOTHING = 0.5  # weight of the latest read in a stream's pace


@dataclass
class Stream:
    newest: int = 0  # epoch seconds of the newest thread read (its top-level comment)
    rate: float = 0.0  # comments per hour, smoothed
    due: int = 0  # epoch seconds; 0: now
    last: int = 0  # when it was last read


def read_cursor(cursor: str | None) -> dict[str, Stream]:
    try:
        raw = json.loads(cursor) if cursor else {}
    except ValueError:
        raw = {}
    streams: dict[str, Stream] = {}
    for key, *_ in STREAMS:
        values = raw.get(key) if isinstance(raw, dict) else None
        try:
            streams[key] = Stream(int(values[0]), float(values[1]), int(values[2]),
                                  int(values[3])) if values else Stream()
        except (TypeError, ValueError, IndexError):
            streams[key] = Stream()
    return streams


def write_cursor(streams: dict[str, Stream]) -> str:
    return json.dumps({k: [s.newest, round(s.rate, 2), s.due, s.last]
                       for k, s in streams.items()}, separators=(",", ":"))


class YouTubeConnector:
    def __init__(self, clients: YouTubeClients) -> None:
        self._clients = clients

    def __call__(self, source: Source, state: PollState) -> Fetched:
        quota = self._clients.quota(source)
        streams = read_cursor(state.cursor)
        now = int(state.now.timestamp())
        mentions: list[MentionIn] = []
        for key, status, slowest, quiet in STREAMS:
            stream = streams[key]
            if stream.due > now:
                continue
            if not quota.may_read():
                stream.due = now + int(quota.seconds_to_reset())
                continue
            try:
                found, newest = self._read(source, status, stream.newest,
                                           first=not stream.last)
            except ApiError as exc:
                raise failure(exc, quota) from None
            fresh = [m for m in found if int(m.created_at.timestamp()) > stream.newest] \
                if stream.last else found
            if stream.last:
                hours = max(now - stream.last, 1) / 3600
                stream.rate = SMOOTHING * len(fresh) / hours + (1 - SMOOTHING) * stream.rate
            stream.newest, stream.last = max(stream.newest, newest), now
            stream.due = now + int(next_read_in(
                stream.rate, fastest=source.poll_every, slowest=slowest, quiet=quiet, quota=quota,
                streams=len(STREAMS)))
            mentions.extend(found)
        next_due = min(s.due for s in streams.values())
        return Fetched(mentions=mentions, cursor=write_cursor(streams),
                       next_poll_in=max(next_due - now, source.poll_every))

    def _read(self, source: Source, status: str, newest: int, *, first: bool
              ) -> tuple[list[MentionIn], int]:
        """The comments of one stream down to the newest thread already read (the first
        read: one page)."""
        params: dict[str, Any] = {"part": "snippet,replies", "order": "time",
                                  "maxResults": PAGE, "textFormat": "plainText",
                                  "allThreadsRelatedToChannelId": source.setting("channel_id")}
        if status != "published":
            params["moderationStatus"] = status
        found: list[MentionIn] = []
        seen = newest
        for _ in range(MAX_PAGES):
            page = self._clients.call(source, "GET", "commentThreads", params=params)
            items = page.get("items") or []
            oldest = None
            for thread in items:
                top = ((thread.get("snippet") or {}).get("topLevelComment")) or {}
                stamp = _epoch((top.get("snippet") or {}).get("publishedAt"))
                oldest = stamp if oldest is None else min(oldest, stamp)
                seen = max(seen, stamp)
                for comment in [top, *((thread.get("replies") or {}).get("comments") or [])]:
                    mention = as_mention(source, comment, status)
                    if mention is not None:
                        found.append(mention)
            token = page.get("nextPageToken")
            if not token or first or (oldest is not None and oldest < newest):
                break
            params["pageToken"] = token
        return found, seen


def as_mention(source: Source, comment: dict[str, Any], stream: str) -> MentionIn | None:
    """A comment as a mention; None for one not in this stream (a published comment in
    a thread listed because one of its replies is held), or one without text."""
    snippet = comment.get("snippet") or {}
    status = str(snippet.get("moderationStatus") or "published")
    text = str(snippet.get("textOriginal") or snippet.get("textDisplay") or "").strip()
    comment_id = str(comment.get("id") or "")
    if not text or not comment_id or (stream != "published" and status != stream):
        return None
    author = str(snippet.get("authorDisplayName") or "").strip() or \
        str((snippet.get("authorChannelId") or {}).get("value") or "?")
    video = str(snippet.get("videoId") or "")
    url = f"https://www.youtube.com/watch?v={video}&lc={comment_id}" if video else None
    return MentionIn(
        external_id=comment_id, text=text[:40_000], created_at=_parse(snippet.get("publishedAt")),
        author=Author(handle=author[:256], name=author[:256]), url=url, account=source.account,
        platform="youtube",
        ref=PlatformRef(id=comment_id, root_id=str(snippet.get("parentId") or comment_id),
                        visibility=status[:16]))


def _parse(value: Any) -> datetime:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return datetime.now(UTC)


def _epoch(value: Any) -> int:
    return int(_parse(value).timestamp()) if value else 0
