"""Answering a YouTube comment: `comments.insert` with `snippet.parentId`, the thread's
top-level comment (YouTube threads are one level deep), as the channel the comment was
left on. 50 units: when the day's quota is gone, the reply waits, and the card says
why and until when; it goes out by itself after the reset (`SendFailed.retry_at`).

`comments.insert` takes no idempotency key, so after a lost answer Vigie looks for the
reply (the thread's replies by the channel with the same text, `comments.list`) while
Google may still create it, and never sends it again by itself: not found after
`DOUBT.window`, a person decides.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.config import Source
from bot.connectors import SourceFailure
from bot.connectors.doubt import LOOKS, Doubt, Unproven
from bot.mentions.models import Mention
from bot.platforms.youtube.client import ApiError, YouTubeClients
from bot.platforms.youtube.quota import WRITE_COST, reset_label
from bot.reasons import Reason
from bot.replies.models import Reply
from bot.replies.platforms import SendFailed, SendUnconfirmed, Sent, Target, by_hand

MAX_CHARACTERS = 10_000
DOUBT = Doubt("youtube", window=timedelta(minutes=5), resend_when_absent=False,
              looks=LOOKS[:7])
LOOK_PAGES = 5  # replies read per look: 500, the most a thread can carry in practice


class YouTubeReplier:
    doubt = DOUBT

    def __init__(self, clients: YouTubeClients) -> None:
        self._clients = clients

    def target(self, mention: Mention) -> Target:
        if not mention.platform_ref:
            return by_hand(mention, "no_ref")
        if not mention.account_id or self._clients.for_account(mention.account_id) is None:
            return by_hand(mention, "no_account")
        return Target("youtube", "YouTube", MAX_CHARACTERS)

    def send(self, reply: Reply, mention: Mention) -> Sent:
        source = self._source(reply)
        quota = self._clients.quota(source)
        if not quota.may_write():
            raise _waits(quota.resets_at(), reset_label(quota), quota.left)
        body = {"snippet": {"parentId": mention.root_ref or mention.platform_ref,
                            "textOriginal": reply.text}}
        try:
            comment = self._clients.call(source, "POST", "comments", params={"part": "snippet"},
                                         body=body, cost=WRITE_COST)
        except SourceFailure as failure:
            raise SendFailed(failure.reason, retryable=False) from None
        except ApiError as exc:
            raise _failure(exc, quota.resets_at(), reset_label(quota)) from None
        return _sent(comment, mention)

    def find(self, reply: Reply, mention: Mention) -> Sent | None:
        source = self._source(reply)
        params = {"part": "snippet", "parentId": mention.root_ref or mention.platform_ref or "",
                  "maxResults": 100, "textFormat": "plainText"}
        for _ in range(LOOK_PAGES):
            try:
                page = self._clients.call(source, "GET", "comments", params=params)
            except SourceFailure as failure:
                raise SendFailed(failure.reason) from None
            except ApiError as exc:
                raise SendFailed(exc.reason) from None
            for comment in page.get("items") or []:
                snippet = comment.get("snippet") or {}
                author = (snippet.get("authorChannelId") or {}).get("value")
                if author == source.setting("channel_id") and \
                        str(snippet.get("textOriginal") or "").strip() == reply.text.strip():
                    return _sent(comment, mention)
            token = page.get("nextPageToken")
            if not token:
                return None
            params["pageToken"] = token
        raise Unproven(f"more than {LOOK_PAGES * 100} replies in the thread")

    def _source(self, reply: Reply) -> Source:
        source = self._clients.for_account(reply.account_id or "")
        if source is None:
            raise SendFailed(Reason("youtube.no_channel", account=reply.account_id or ""),
                             retryable=False)
        return source


def _sent(comment: dict[str, object], mention: Mention) -> Sent:
    remote = str(comment.get("id") or "")
    video = ""
    snippet = comment.get("snippet")
    if isinstance(snippet, dict):
        video = str(snippet.get("videoId") or "")
    url = f"https://www.youtube.com/watch?v={video}&lc={remote}" if video and remote else \
        mention.url
    return Sent(remote, url)


def _waits(resets_at: datetime, label: str, left: int) -> SendFailed:
    return SendFailed(Reason("youtube.reply_waits", when=label, left=left),
                      retry_at=resets_at)


def _failure(exc: ApiError, resets_at: datetime, label: str) -> SendFailed | SendUnconfirmed:
    """Google's answer, sorted: did the comment possibly get created?"""
    if exc.quota_gone:
        return _waits(resets_at, label, 0)
    if exc.status == 0:
        if exc.sent:
            return SendUnconfirmed(exc.reason)
        return SendFailed(exc.reason)
    if exc.status == 503:
        return SendFailed(exc.reason)
    if exc.status in (502, 504):
        return SendUnconfirmed(exc.reason)
    if exc.status >= 500:
        return SendUnconfirmed(exc.reason, answered=True)
    return SendFailed(exc.reason, retryable=False)
