"""Publishers for the newsroom's social accounts: a post target of kind `mastodon` or
`bluesky` speaks as one of the `[[accounts]]`, through the client that listening already
built for that account (`MastodonClients`, `BlueskyClients`).

Both sort every failure into what the publishing job needs to stay exactly-once
(see `bot.connectors.publishers`): refused before anything happened (retry later, or
never), or *may have gone out* (`PublishOutcomeUnknown`: looked up with `find`, never
resent blindly).

How each one finds an earlier attempt after an unknown outcome:

- **Bluesky**: the record key is ours. Each attempt writes its post under a key derived
  from the delivery's key and the attempt's start, so `find` is one exact
  `com.atproto.repo.getRecord`, and even a resend with that key could not make a second
  post (the PDS refuses an existing key).
- **Mastodon**: `status_post` sends `Outgoing.key` as the `Idempotency-Key`, but that key
  cannot be *asked* about: the only way to use it is to post again, which, while the first
  request is still being processed, creates a second status (the instance records the key
  only after the status exists) — and after an hour the key is forgotten. So `find` reads
  the account's own recent statuses (not replies, not boosts) created since shortly before
  the attempt, and compares their *source* text (`GET /api/v1/statuses/:id/source`, the
  text exactly as sent; the rendered HTML shortens links) with ours. The key still
  protects a human's "retry" within the hour. A match on identical text by a person
  posting by hand in the same minutes would be taken for ours: the post is then marked
  published with a link to that status, never sent twice.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.clock import Clock
from bot.config import PostTarget
from bot.connectors import SourceFailure
from bot.connectors.bluesky import (
    MAX_GRAPHEMES,
    BlueskyClients,
    BlueskyFailure,
    BlueskyPublisher,
    PublishFailed,
    PublishUnconfirmed,
    grapheme_length,
    record_key,
)
from bot.connectors.html import html_to_text
from bot.connectors.mastodon import MastodonClients
from bot.connectors.publishers import (
    DEFAULT_LIMITS,
    Outgoing,
    Published,
    PublishError,
    PublishOutcomeUnknown,
    PublishRateLimited,
    PublishRejected,
    PublishUnavailable,
)
from bot.reasons import Reason

if TYPE_CHECKING:  # Mastodon.py is imported when an account is first used (start-up cost)
    from mastodon import Mastodon, MastodonError

log = logging.getLogger(__name__)

MASTODON_URL_LENGTH = 23  # every link counts as 23 characters, whatever its length
FIND_MARGIN = timedelta(minutes=5)  # the instance's clock may differ from ours
FIND_PAGE = 40
_URL = re.compile(r"https?://\S+")
_REMOTE_MENTION = re.compile(r"(?<![\w@])(@\w+)@[\w.-]+\w")


def _account(outgoing: Outgoing) -> str:
    account = outgoing.target.account
    if not account:
        raise PublishRejected(Reason("publish.no_account", target=outgoing.target.id),
                              permanent=True)
    return account


# -- Mastodon -----------------------------------------------------------------------------------
def mastodon_length(text: str) -> int:
    """What Mastodon counts against its limit (StatusLengthValidator): grapheme clusters,
    each link as 23, and `@user@domain` as `@user`."""
    countable = _URL.sub("x" * MASTODON_URL_LENGTH, text)
    countable = _REMOTE_MENTION.sub(r"\1", countable)
    return grapheme_length(countable)


class MastodonTargetPublisher:
    kind = "mastodon"
    max_length = DEFAULT_LIMITS["mastodon"]

    def __init__(self, clients: MastodonClients) -> None:
        self._clients = clients

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
        since = outgoing.attempt_started - FIND_MARGIN
        wanted = outgoing.text.strip()
        try:
            me = client.me()
            recent = client.account_statuses(me["id"], exclude_replies=True,
                                             exclude_reblogs=True, limit=FIND_PAGE)
            for status in recent:
                if _created(status) < since:
                    break  # newest first: the rest is older than the attempt
                if self._source_text(client, status) == wanted:
                    return _mastodon_published(status)
        except MastodonError as exc:
            # Only logged (the delivery keeps the error of its send): the failure's reason.
            raise PublishUnavailable(_mastodon_failure(exc, client).reason) from None
        return None

    @staticmethod
    def _source_text(client: Mastodon, status: Any) -> str:
        from mastodon import MastodonNotFoundError

        try:
            return str(client.status_source(status["id"])["text"] or "").strip()
        except MastodonNotFoundError:  # before Mastodon 3.5: the rendered text will do
            return html_to_text(str(status.get("content") or "")).strip()

    def _client(self, outgoing: Outgoing) -> Mastodon:
        account = _account(outgoing)
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


def _created(status: Any) -> datetime:
    created = status.get("created_at")
    if isinstance(created, datetime):
        return created
    return datetime.fromisoformat(str(created).replace("Z", "+00:00"))


def _mastodon_failure(exc: MastodonError, client: Mastodon) -> PublishError:
    """Mastodon.py's exception as the failure kind the publishing job acts on."""
    from mastodon import MastodonNetworkError, MastodonRatelimitError, MastodonServerError
    from mastodon.errors import MastodonAPIError

    if isinstance(exc, MastodonRatelimitError):
        reset = getattr(client, "ratelimit_reset", None)
        wait = reset - time.time() if isinstance(reset, int | float) else 0.0
        return PublishRateLimited(Reason("mastodon.rate_limited"), max(wait, 60.0))
    if isinstance(exc, MastodonNetworkError):
        if _never_connected(exc):
            return PublishUnavailable(Reason("publish.mastodon_unreachable"))
        return PublishOutcomeUnknown(Reason("publish.mastodon_no_answer"))
    if isinstance(exc, MastodonServerError):
        status = _status(exc)
        if status == 503:  # the instance (or its proxy) turned the request away
            return PublishUnavailable(Reason("publish.mastodon_unavailable"))
        return PublishOutcomeUnknown(Reason("publish.mastodon_server_error",
                                            status=str(status or "?")))
    if isinstance(exc, MastodonAPIError):
        status = _status(exc)
        detail, code = _detail(exc), str(status or "?")
        reason = (Reason("publish.mastodon_refused_detail", status=code, detail=detail)
                  if detail else Reason("publish.mastodon_refused", status=code))
        return PublishRejected(reason, permanent=status not in (408, 409))
    return PublishOutcomeUnknown(Reason("mastodon.other", error=type(exc).__name__))


def _never_connected(exc: BaseException) -> bool:
    """Mastodon.py wraps requests' exception without `from`; it is the context. A refused
    or timed-out *connection* means nothing was sent; anything later may have been."""
    import requests  # loaded with Mastodon.py, whose exceptions brought us here

    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(cause, requests.exceptions.ConnectionError):
        text = str(cause)
        return "NewConnectionError" in text or "Connection refused" in text \
            or "Name or service not known" in text
    return False


def _status(exc: BaseException) -> int | None:
    args = tuple(exc.args)
    return args[1] if len(args) > 1 and isinstance(args[1], int) else None


def _detail(exc: BaseException) -> str:
    args = tuple(exc.args)
    return str(args[3])[:200] if len(args) > 3 and args[3] else ""


# -- Bluesky ------------------------------------------------------------------------------------
class BlueskyTargetPublisher:
    kind = "bluesky"
    max_length = MAX_GRAPHEMES

    def __init__(self, clients: BlueskyClients, *, clock: Clock | None = None) -> None:
        self._clients = clients
        self._publisher = BlueskyPublisher(clients, clock=clock)

    def limit(self, target: PostTarget) -> int:
        return self.max_length

    def length(self, text: str) -> int:
        return grapheme_length(text)

    def serves(self, target: PostTarget) -> bool:
        return bool(target.account and self._clients.for_account(target.account))

    @staticmethod
    def rkey(outgoing: Outgoing) -> str:
        """The attempt's record key: the same for its `publish` and its `find` (the
        attempt's start is stored to the second on every backend)."""
        return record_key(outgoing.attempt_started.replace(microsecond=0), outgoing.key)

    def publish(self, outgoing: Outgoing) -> Published:
        try:
            made = self._publisher.post(_account(outgoing), outgoing.text,
                                        rkey=self.rkey(outgoing))
        except PublishUnconfirmed as exc:
            raise PublishOutcomeUnknown(exc.reason) from None
        except PublishFailed as exc:
            raise _bluesky_failure(exc) from None
        return Published(external_id=made.uri, url=made.url)

    def find(self, outgoing: Outgoing) -> Published | None:
        try:
            found = self._publisher.find(_account(outgoing), self.rkey(outgoing))
        except PublishFailed as exc:
            raise PublishUnavailable(exc.reason) from None  # only logged
        return Published(external_id=found.uri, url=found.url) if found else None


def _bluesky_failure(exc: PublishFailed) -> PublishError:
    # BlueskyPublisher raises `from None`, which keeps the client's failure as context.
    context = exc.__context__
    if isinstance(context, BlueskyFailure) and context.retry_after is not None:
        return PublishRateLimited(exc.reason, context.retry_after)
    if exc.retryable:
        return PublishUnavailable(exc.reason)
    return PublishRejected(exc.reason, permanent=True)
