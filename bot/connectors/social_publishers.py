"""Publishers for the newsroom's social accounts: a post target of kind `mastodon` or
`bluesky` speaks as one of the `[[accounts]]`, through the client that listening already
built for that account (`MastodonClients`, `BlueskyClients`).

Both sort every failure into what the publishing job needs to stay exactly-once
(see `bot.connectors.publishers`): refused before anything happened (retry later, or
never), or *may have gone out* (`PublishOutcomeUnknown`: looked up with `find`, never
resent blindly).

How each one finds an earlier attempt after an unknown outcome, and why sending again
(`bot.connectors.doubt`) cannot make a second post:

- **Bluesky**: the record key is ours, derived from the delivery's key and its first
  attempt's start, the same for every attempt. `find` is one exact
  `com.atproto.repo.getRecord`, and a resend under that key cannot make a second post:
  a repo holds one record per key (the PDS refuses the second; `BlueskyPublisher` then
  hands back the one already there).
- **Mastodon**: `status_post` sends `Outgoing.key` as the `Idempotency-Key`, the same for
  every attempt; the instance keeps it an hour after creating the status and answers a
  resend with that status. The key cannot be *asked* about, so `find` reads the account's
  own recent statuses (not replies, not boosts) since shortly before the attempt and
  compares their source text with ours (`bot.connectors.mastodon.find_status`).
"""

from __future__ import annotations

import logging
import re
import time
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
from bot.connectors.doubt import BLUESKY, MASTODON
from bot.connectors.mastodon import MastodonClients, find_status, write_outcome
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
    doubt = MASTODON

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
        try:
            status = find_status(client, text=outgoing.text, since=outgoing.attempt_started)
        except MastodonError as exc:
            # Only logged (the delivery keeps the error of its send): the failure's reason.
            raise PublishUnavailable(_mastodon_failure(exc, client).reason) from None
        return _mastodon_published(status) if status is not None else None

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


# -- Bluesky ------------------------------------------------------------------------------------
class BlueskyTargetPublisher:
    kind = "bluesky"
    max_length = MAX_GRAPHEMES
    doubt = BLUESKY

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
        """The delivery's record key: the same for every attempt, its `publish` and its
        `find` (the first attempt's start is stored to the second on every backend)."""
        started = outgoing.first_started or outgoing.attempt_started
        return record_key(started.replace(microsecond=0), outgoing.key)

    def publish(self, outgoing: Outgoing) -> Published:
        try:
            made = self._publisher.post(_account(outgoing), outgoing.text,
                                        rkey=self.rkey(outgoing))
        except PublishUnconfirmed as exc:
            raise PublishOutcomeUnknown(exc.reason, answered=exc.answered) from None
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
