"""Publishing approved posts to a Mastodon account (a post target of kind `mastodon`),
through the client listening already built for that account (`MastodonClients`).

Every failure is sorted into what the publishing job needs to stay exactly-once (see
`bot.connectors.publishers`). After an unknown outcome: `status_post` sends
`Outgoing.key` as the `Idempotency-Key`, the same for every attempt; the instance keeps
it an hour after creating the status and answers a resend with that status. The key
cannot be *asked* about, so `find` reads the account's own recent statuses (not replies,
not boosts) since shortly before the attempt and compares their source text with ours
(`find_status`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from bot.config import PostTarget
from bot.connectors import SourceFailure
from bot.connectors.publishers import (
    Outgoing,
    Published,
    PublishError,
    PublishOutcomeUnknown,
    PublishRateLimited,
    PublishRejected,
    PublishUnavailable,
    outgoing_account,
)
from bot.platforms.mastodon.client import DOUBT, MastodonClients, find_status, write_outcome
from bot.platforms.mastodon.text import DEFAULT_MAX_CHARACTERS, mastodon_length
from bot.reasons import Reason

if TYPE_CHECKING:  # Mastodon.py is imported when an account is first used (start-up cost)
    from mastodon import Mastodon, MastodonError


class MastodonTargetPublisher:
    kind = "mastodon"
    max_length = DEFAULT_MAX_CHARACTERS
    doubt = DOUBT

    def __init__(self, clients: MastodonClients) -> None:
        self._clients = clients
        self.doubt = clients.doubt  # the window depends on each account's instance

    def limit(self, target: PostTarget) -> int:
        try:
            found = self._clients.for_account(target.account) if target.account else None
        except SourceFailure:  # its token variable is not set: `serves` says so
            found = None
        return self._clients.max_characters(found[0]) if found else self.max_length

    def length(self, text: str) -> int:
        return mastodon_length(text)

    def serves(self, target: PostTarget) -> bool:
        try:
            return bool(target.account and self._clients.for_account(target.account))
        except SourceFailure:  # its token variable is not set
            return False

    def publish(self, outgoing: Outgoing) -> Published:
        from mastodon import MastodonError

        client = self._client(outgoing)
        try:
            status = client.status_post(outgoing.text, visibility="public",
                                        idempotency_key=outgoing.key)
        except MastodonError as exc:
            raise _mastodon_failure(exc, client) from None
        return _mastodon_published(status)

    def find(self, outgoing: Outgoing) -> Published | None:
        from mastodon import MastodonError

        client = self._client(outgoing)
        try:
            status = find_status(client, text=outgoing.text, since=outgoing.attempt_started)
        except MastodonError as exc:
            # Only logged (the delivery keeps the error of its send): the failure's reason.
            raise PublishUnavailable(_mastodon_failure(exc, client).reason) from None
        return _mastodon_published(status) if status is not None else None

    def _client(self, outgoing: Outgoing) -> Mastodon:
        account = outgoing_account(outgoing)
        try:
            found = self._clients.for_account(account)
        except SourceFailure as exc:  # e.g. its token variable is not set
            raise PublishRejected(exc.reason, permanent=True) from None
        if found is None:
            raise PublishRejected(Reason("publish.mastodon_no_source", account=account),
                                  permanent=True)
        return found[1]


def _mastodon_published(status: Any) -> Published:
    url = status.get("url") or status.get("uri")
    return Published(external_id=str(status["id"]), url=str(url) if url else None)


def _mastodon_failure(exc: MastodonError, client: Mastodon) -> PublishError:
    """Mastodon.py's exception as the failure kind the publishing job acts on."""
    from mastodon import MastodonNetworkError, MastodonRatelimitError
    from mastodon.errors import MastodonAPIError

    if isinstance(exc, MastodonRatelimitError):
        reset = getattr(client, "ratelimit_reset", None)
        wait = reset - time.time() if isinstance(reset, int | float) else 0.0
        return PublishRateLimited(Reason("mastodon.rate_limited"), max(wait, 60.0))
    outcome = write_outcome(exc)
    status = _status(exc)
    if outcome == "answered":
        return PublishOutcomeUnknown(Reason("publish.mastodon_server_error",
                                            status=str(status or "?")), answered=True)
    if outcome == "lost":
        if status is not None:  # a gateway's 502 or 504
            return PublishOutcomeUnknown(Reason("publish.mastodon_server_error",
                                                status=str(status)))
        if isinstance(exc, MastodonNetworkError):
            return PublishOutcomeUnknown(Reason("publish.mastodon_no_answer"))
        return PublishOutcomeUnknown(Reason("mastodon.other", error=type(exc).__name__))
    if isinstance(exc, MastodonNetworkError):  # the connection was never made
        return PublishUnavailable(Reason("publish.mastodon_unreachable"))
    if status == 503:  # the instance (or its proxy) turned the request away
        return PublishUnavailable(Reason("publish.mastodon_unavailable"))
    if isinstance(exc, MastodonAPIError):
        detail, code = _detail(exc), str(status or "?")
        reason = (Reason("publish.mastodon_refused_detail", status=code, detail=detail)
                  if detail else Reason("publish.mastodon_refused", status=code))
        return PublishRejected(reason, permanent=status not in (408, 409))
    return PublishRejected(Reason("mastodon.other", error=type(exc).__name__), permanent=True)


def _status(exc: BaseException) -> int | None:
    args = tuple(exc.args)
    return args[1] if len(args) > 1 and isinstance(args[1], int) else None


def _detail(exc: BaseException) -> str:
    args = tuple(exc.args)
    return str(args[3])[:200] if len(args) > 3 and args[3] else ""


