"""Where an answer goes: back to the mention's own platform when Vigie can speak there,
otherwise "by hand" with the text ready to copy.

Mastodon: a reply to the status (`in_reply_to_id`), with the mention's visibility and an
`Idempotency-Key` that is the reply's own, so sending it again after a lost answer
cannot make a second post (Mastodon keeps the key for an hour). The author's handle is
put in front when the text does not name them, as Mastodon's own compose box does:
without it a reply to a direct message reaches nobody. Length is counted the way
Mastodon counts (links as 23 characters, remote handles without their domain).

Bluesky: a reply with the root/parent refs kept on the mention, and a record key fixed
from the reply, so sending it again finds the post already made instead of a double.

Errors are sorted by what happens next: `SendFailed` (certainly not sent; the reason
says why, retrying may work) or `SendUnconfirmed` (it may be on the platform: a server
error, or no answer after sending). `find` then tells whether it is there, and `doubt`
how long the platform may still create it (`bot.connectors.doubt`, the rule shared with
scheduled posts).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from bot.config import Config
from bot.connectors import SourceFailure
from bot.connectors.bluesky import (
    MAX_GRAPHEMES,
    BlueskyClients,
    BlueskyPublisher,
    PublishFailed,
    PublishUnconfirmed,
    grapheme_length,
    record_key,
)
from bot.connectors.doubt import BLUESKY, MASTODON, Doubt
from bot.connectors.mastodon import (
    DEFAULT_MAX_CHARACTERS,
    MastodonClients,
    find_status,
    write_outcome,
)
from bot.mentions.models import Mention
from bot.reasons import Reason
from bot.replies.models import Reply, ReplyKind

if TYPE_CHECKING:  # Mastodon.py is imported when an account is first used (start-up cost)
    from mastodon import Mastodon, MastodonError

log = logging.getLogger(__name__)

# Platforms Vigie cannot answer on, but whose limit is worth showing to whoever copies.
BY_HAND_LIMITS = {"x": 280, "twitter": 280, "threads": 500, "instagram": 2200,
                  "linkedin": 1250, "youtube": 10_000}
PLATFORM_NAMES = {"mastodon": "Mastodon", "bluesky": "Bluesky", "rss": "RSS", "web": "Web",
                  "x": "X", "twitter": "X", "threads": "Threads", "instagram": "Instagram",
                  "facebook": "Facebook", "linkedin": "LinkedIn", "youtube": "YouTube",
                  "slack": "Slack"}


class Sent(NamedTuple):
    remote_id: str
    url: str | None


class SendFailed(Exception):
    """Nothing was posted. `reason` is for staff (no secret in it), in their language
    (`bot.reasons`); `str()` is its English text, for logs."""

    def __init__(self, reason: Reason, *, retryable: bool = True) -> None:
        super().__init__(str(reason))
        self.reason = reason
        self.retryable = retryable


class SendUnconfirmed(Exception):
    """The reply may be on the platform: look for it before anything else. `answered`:
    the platform answered (a server error), so the request is over."""

    def __init__(self, reason: Reason, *, answered: bool = False) -> None:
        super().__init__(str(reason))
        self.reason = reason
        self.answered = answered


@dataclass(frozen=True)
class Target:
    """How a mention can be answered, and what counts against which limit."""

    kind: ReplyKind
    platform: str  # display name
    limit: int | None
    prefix: str = ""  # what Vigie puts in front of the text (Mastodon: "@author ")
    by_hand_reason: str | None = None  # text key: why Vigie cannot send it itself
    visibility: str | None = None

    def final_text(self, text: str) -> str:
        """The text exactly as it goes out."""
        text = text.strip()
        if self.prefix and self.prefix.strip().lower() not in text.lower():
            return f"{self.prefix}{text}"
        return text

    def length(self, text: str) -> int:
        """The final text's length as the platform counts it."""
        return self._count(self.final_text(text))

    def remaining(self) -> int | None:
        """Characters left for the text once Vigie's prefix is counted."""
        if self.limit is None:
            return None
        if not self.prefix:
            return self.limit
        if self.kind == ReplyKind.MASTODON and (own := _OWN_PREFIX.fullmatch(self.prefix)):
            # Vigie's own "@user@instance " counts as "@user " on Mastodon: no need to load
            # Mastodon.py (a newsroom without Mastodon checks its templates at start).
            return self.limit - len(own.group(1)) - 2
        return self.limit - self._count(self.prefix)

    def _count(self, text: str) -> int:
        if self.kind == ReplyKind.MASTODON:
            from mastodon import Mastodon

            return int(Mastodon.get_status_length(text))
        return grapheme_length(text)

    def too_long(self, text: str) -> bool:
        if self.limit is None:
            return False
        if self.kind == ReplyKind.BLUESKY and len(self.final_text(text).encode()) > 3000:
            return True
        return self.length(text) > self.limit


class Platforms:
    """Resolves each mention's `Target` and sends replies through the connectors."""

    def __init__(self, *, config: Config, mastodon: MastodonClients, bluesky: BlueskyClients,
                 bluesky_publisher: BlueskyPublisher) -> None:
        self._config = config
        self._mastodon = mastodon
        self._bluesky = bluesky
        self._bluesky_publisher = bluesky_publisher

    def target(self, mention: Mention) -> Target:
        platform = mention.platform
        name = PLATFORM_NAMES.get(platform, platform.capitalize())
        account = mention.account_id
        if platform == "mastodon":
            if not mention.platform_ref:
                return self._by_hand(mention, "no_ref")
            if not account or not self._has_mastodon(account):
                return self._by_hand(mention, "no_account")
            handle = mastodon_handle(mention.author_handle)
            return Target(ReplyKind.MASTODON, name, self._mastodon_limit(account),
                          prefix=f"{handle} " if handle else "", visibility=mention.visibility)
        if platform == "bluesky":
            if not (mention.platform_ref and mention.platform_cid):
                return self._by_hand(mention, "no_ref")
            if not account or self._bluesky.for_account(account) is None:
                return self._by_hand(mention, "no_account")
            return Target(ReplyKind.BLUESKY, name, MAX_GRAPHEMES)
        return self._by_hand(mention, "platform")

    def _has_mastodon(self, account: str) -> bool:
        try:
            return self._mastodon.for_account(account) is not None
        except SourceFailure:
            return True  # configured, but its token is missing: sending will say so

    def _mastodon_limit(self, account: str) -> int:
        try:
            found = self._mastodon.for_account(account)
        except SourceFailure:
            found = None
        return self._mastodon.max_characters(found[0]) if found else DEFAULT_MAX_CHARACTERS

    @staticmethod
    def _by_hand(mention: Mention, reason: str) -> Target:
        platform = mention.platform
        return Target(ReplyKind.BY_HAND, PLATFORM_NAMES.get(platform, platform.capitalize()),
                      BY_HAND_LIMITS.get(platform), by_hand_reason=reason)

    # -- sending ------------------------------------------------------------------------------
    def send(self, reply: Reply, mention: Mention) -> Sent:
        """Send `reply.text` as an answer to `mention`. Raises `SendFailed` or
        `SendUnconfirmed`."""
        language = reply.template.split("/")[0] if reply.template else None
        if reply.kind == ReplyKind.MASTODON:
            return self._send_mastodon(reply, mention, language)
        if reply.kind == ReplyKind.BLUESKY:
            return self._send_bluesky(reply, mention, language)
        raise SendFailed(Reason("reply.by_hand", kind=str(reply.kind)), retryable=False)

    def doubt(self, reply: Reply) -> Doubt:
        """How an unknown outcome of this reply's platform is settled."""
        return BLUESKY if reply.kind == ReplyKind.BLUESKY else MASTODON

    def find(self, reply: Reply, mention: Mention) -> Sent | None:
        """The reply on its platform if it is there; None if it certainly is not. Raises
        `SendFailed` when the platform cannot be asked, and `Unproven` when the answer
        cannot prove absence."""
        if reply.kind == ReplyKind.BLUESKY:
            try:
                found = self._bluesky_publisher.find(reply.account_id or "", _rkey(reply))
            except PublishFailed as exc:
                raise SendFailed(exc.reason) from None
            return Sent(found.uri, found.url) if found is not None else None
        if reply.kind != ReplyKind.MASTODON or reply.attempted_at is None:
            raise SendFailed(Reason("reply.by_hand", kind=str(reply.kind)), retryable=False)
        from mastodon import MastodonError

        client = self._mastodon_client(reply)
        try:
            status = find_status(client, text=reply.text, since=reply.attempted_at,
                                 in_reply_to=mention.platform_ref or "")
        except MastodonError as exc:
            failure = _mastodon_failure(exc)
            raise SendFailed(failure.reason) from None
        if status is None:
            return None
        url = status.get("url") or status.get("uri")
        return Sent(str(status["id"]), str(url) if url else None)

    def _mastodon_client(self, reply: Reply) -> Mastodon:
        try:
            found = self._mastodon.for_account(reply.account_id or "")
        except SourceFailure as failure:
            raise SendFailed(failure.reason, retryable=False) from None
        if found is None:
            raise SendFailed(Reason("reply.no_mastodon_account", account=reply.account_id or ""),
                             retryable=False)
        return found[1]

    def _send_mastodon(self, reply: Reply, mention: Mention, language: str | None) -> Sent:
        client = self._mastodon_client(reply)
        kwargs: dict[str, Any] = {"in_reply_to_id": mention.platform_ref,
                                  "idempotency_key": reply.key}
        if mention.visibility:
            kwargs["visibility"] = mention.visibility
        if language:
            kwargs["language"] = language
        from mastodon import MastodonError

        try:
            status = client.status_post(reply.text, **kwargs)
        except MastodonError as exc:
            raise _mastodon_failure(exc) from None
        url = status.get("url") or status.get("uri")
        return Sent(str(status["id"]), str(url) if url else None)

    def _send_bluesky(self, reply: Reply, mention: Mention, language: str | None) -> Sent:
        parent_uri, parent_cid = mention.platform_ref or "", mention.platform_cid or ""
        try:
            published = self._bluesky_publisher.reply(
                reply.account_id or "", reply.text, parent_uri, parent_cid,
                mention.root_ref or parent_uri, mention.root_cid or parent_cid,
                langs=[language] if language else None, rkey=_rkey(reply))
        except PublishUnconfirmed as exc:
            raise SendUnconfirmed(exc.reason, answered=exc.answered) from None
        except PublishFailed as exc:
            raise SendFailed(exc.reason, retryable=exc.retryable) from None
        return Sent(published.uri, published.url)


_ACCT = re.compile(r"^@?([A-Za-z0-9_]+)@([A-Za-z0-9.-]+\.[A-Za-z]{2,})$")
_PROFILE = re.compile(r"^https?://([A-Za-z0-9.-]+)/@([A-Za-z0-9_]+)/?$")
_OWN_PREFIX = re.compile(r"@([A-Za-z0-9_]+)(?:@[A-Za-z0-9.-]+[A-Za-z0-9])? ")  # as built above


def mastodon_handle(author: str) -> str | None:
    """`@user@instance` from what a source gave (`@user@instance`, `user@instance`, or a
    profile URL); None when it is none of those, so nothing wrong is put in front."""
    author = author.strip()
    if match := _ACCT.match(author):
        return f"@{match.group(1)}@{match.group(2)}"
    if match := _PROFILE.match(author):
        return f"@{match.group(2)}@{match.group(1)}"
    return None


def _rkey(reply: Reply) -> str:
    """The reply's record key on Bluesky: the same for every attempt."""
    return record_key(reply.created_at, reply.key)


def _mastodon_failure(exc: MastodonError) -> SendFailed | SendUnconfirmed:
    """Mastodon.py's exception, sorted: did the status possibly get created?"""
    from mastodon import (
        MastodonAPIError,
        MastodonNetworkError,
        MastodonNotFoundError,
        MastodonRatelimitError,
        MastodonUnauthorizedError,
    )

    if isinstance(exc, MastodonRatelimitError):
        return SendFailed(Reason("reply.mastodon_rate_limited"))
    outcome = write_outcome(exc)
    if outcome == "answered":
        return SendUnconfirmed(Reason("mastodon.http_status", status=_status(exc)),
                               answered=True)
    if outcome == "lost":
        if isinstance(exc, MastodonNetworkError):
            return SendUnconfirmed(Reason("reply.mastodon_no_answer",
                                          error=_name(exc.__context__)))
        if isinstance(exc, MastodonAPIError):  # a gateway's 502 or 504
            return SendUnconfirmed(Reason("reply.mastodon_gateway", status=_status(exc)))
        return SendUnconfirmed(Reason("mastodon.other", error=type(exc).__name__))
    if isinstance(exc, MastodonNetworkError):  # the connection was never made
        return SendFailed(Reason("mastodon.unreachable", error=_name(exc.__context__)))
    if isinstance(exc, MastodonUnauthorizedError):
        return SendFailed(Reason("reply.mastodon_token_refused"), retryable=False)
    if isinstance(exc, MastodonNotFoundError):
        return SendFailed(Reason("reply.post_gone"), retryable=False)
    if _status(exc) == "503":
        return SendFailed(Reason("mastodon.http_status", status="503"))
    if isinstance(exc, MastodonAPIError):
        detail = _detail(exc)
        reason = (Reason("reply.mastodon_refused_detail", status=_status(exc), detail=detail)
                  if detail else Reason("reply.mastodon_refused", status=_status(exc)))
        return SendFailed(reason, retryable=False)
    return SendFailed(Reason("mastodon.other", error=type(exc).__name__))


def _name(cause: BaseException | None) -> str:
    import requests

    if isinstance(cause, requests.exceptions.Timeout):
        return "timeout"
    return type(cause).__name__ if cause else "network"


def _status(exc: BaseException) -> str:
    args = tuple(exc.args)
    return str(args[1]) if len(args) > 1 else "?"


def _detail(exc: BaseException) -> str:
    args = tuple(exc.args)
    detail = str(args[3]) if len(args) > 3 and args[3] else ""
    return detail[:200]
