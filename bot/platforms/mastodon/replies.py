"""Answering a Mastodon mention: a reply to the status (`in_reply_to_id`), with the
mention's visibility and an `Idempotency-Key` that is the reply's own, so sending it
again after a lost answer cannot make a second post (Mastodon keeps the key for an
hour). The author's handle is put in front when the text does not name them, as
Mastodon's own compose box does: without it a reply to a direct message reaches nobody.
Length is counted the way Mastodon counts (links as 23 characters, remote handles
without their domain)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.connectors import SourceFailure
from bot.mentions.models import Mention
from bot.platforms.mastodon.client import DOUBT, MastodonClients, find_status, write_outcome
from bot.platforms.mastodon.text import DEFAULT_MAX_CHARACTERS
from bot.reasons import Reason
from bot.replies.models import Reply, ReplyKind
from bot.replies.platforms import SendFailed, SendUnconfirmed, Sent, Target, by_hand
from bot.replies.service import MAX_ATTEMPTS

if TYPE_CHECKING:  # Mastodon.py is imported when an account is first used (start-up cost)
    from mastodon import Mastodon, MastodonError


HELD_KEY_WAIT = timedelta(seconds=30)  # then the last attempt; a 503 again → a person


class MastodonReplier:
    doubt = DOUBT

    def __init__(self, clients: MastodonClients) -> None:
        self._clients = clients
        self.doubt = clients.doubt  # the window depends on each account's instance

    def target(self, mention: Mention) -> Target:
        account = mention.account_id
        if not mention.platform_ref:
            return by_hand(mention, "no_ref")
        if not account or not self._has_account(account):
            return by_hand(mention, "no_account")
        handle = mastodon_handle(mention.author_handle)
        return Target(ReplyKind.MASTODON, "Mastodon", self._limit(account),
                      prefix=f"{handle} " if handle else "", visibility=mention.visibility)

    def _has_account(self, account: str) -> bool:
        try:
            return self._clients.for_account(account) is not None
        except SourceFailure:
            return True  # configured, but its token is missing: sending will say so

    def _limit(self, account: str) -> int:
        try:
            found = self._clients.for_account(account)
        except SourceFailure:
            found = None
        return self._clients.max_characters(found[0]) if found else DEFAULT_MAX_CHARACTERS

    def send(self, reply: Reply, mention: Mention) -> Sent:
        language = reply.template.split("/")[0] if reply.template else None
        client = self._client(reply)
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
            failure = _failure(exc)
            if isinstance(failure, SendFailed) and _status(exc) == "503" \
                    and 1 < reply.attempts < MAX_ATTEMPTS:
                # A resend after a lost answer meets Mastodon's lock on the key while
                # the first request still runs (sent again at once where the instance
                # has it, `MastodonClients.doubt`): it waits a little and goes again by
                # itself, then gets the status the first request made, if it made one.
                failure.retry_at = datetime.now(UTC) + HELD_KEY_WAIT
            raise failure from None
        url = status.get("url") or status.get("uri")
        return Sent(str(status["id"]), str(url) if url else None)

    def find(self, reply: Reply, mention: Mention) -> Sent | None:
        if reply.attempted_at is None:
            raise SendFailed(Reason("reply.by_hand", kind=str(reply.kind)), retryable=False)
        from mastodon import MastodonError

        client = self._client(reply)
        try:
            status = find_status(client, text=reply.text, since=reply.attempted_at,
                                 in_reply_to=mention.platform_ref or "")
        except MastodonError as exc:
            raise SendFailed(_failure(exc).reason) from None
        if status is None:
            return None
        url = status.get("url") or status.get("uri")
        return Sent(str(status["id"]), str(url) if url else None)

    def _client(self, reply: Reply) -> Mastodon:
        try:
            found = self._clients.for_account(reply.account_id or "")
        except SourceFailure as failure:
            raise SendFailed(failure.reason, retryable=False) from None
        if found is None:
            raise SendFailed(Reason("reply.no_mastodon_account", account=reply.account_id or ""),
                             retryable=False)
        return found[1]


_ACCT = re.compile(r"^@?([A-Za-z0-9_]+)@([A-Za-z0-9.-]+\.[A-Za-z]{2,})$")
_PROFILE = re.compile(r"^https?://([A-Za-z0-9.-]+)/@([A-Za-z0-9_]+)/?$")


def mastodon_handle(author: str) -> str | None:
    """`@user@instance` from what a source gave (`@user@instance`, `user@instance`, or a
    profile URL); None when it is none of those, so nothing wrong is put in front."""
    author = author.strip()
    if match := _ACCT.match(author):
        return f"@{match.group(1)}@{match.group(2)}"
    if match := _PROFILE.match(author):
        return f"@{match.group(2)}@{match.group(1)}"
    return None


def _failure(exc: MastodonError) -> SendFailed | SendUnconfirmed:
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
