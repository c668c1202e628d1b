"""Publishing approved posts to a Bluesky account (a post target of kind `bluesky`),
through the client listening already built for that account (`BlueskyClients`).

The record key is ours, derived from the delivery's key and its first attempt's start,
the same for every attempt. `find` is one exact `com.atproto.repo.getRecord`, and a
resend under that key cannot make a second post (`bot.connectors.doubt`): a repo holds
one record per key (the PDS refuses the second; `BlueskyPublisher` then hands back the
one already there).
"""

from __future__ import annotations

from bot.clock import Clock
from bot.config import PostTarget
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
from bot.platforms.bluesky.client import (
    DOUBT,
    BlueskyClients,
    BlueskyFailure,
    BlueskyPublisher,
    PublishFailed,
    PublishUnconfirmed,
    record_key,
)
from bot.platforms.bluesky.text import MAX_GRAPHEMES, grapheme_length


class BlueskyTargetPublisher:
    kind = "bluesky"
    max_length = MAX_GRAPHEMES
    doubt = DOUBT

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
            made = self._publisher.post(outgoing_account(outgoing), outgoing.text,
                                        rkey=self.rkey(outgoing))
        except PublishUnconfirmed as exc:
            raise PublishOutcomeUnknown(exc.reason, answered=exc.answered) from None
        except PublishFailed as exc:
            raise _bluesky_failure(exc) from None
        return Published(external_id=made.uri, url=made.url)

    def find(self, outgoing: Outgoing) -> Published | None:
        try:
            found = self._publisher.find(outgoing_account(outgoing), self.rkey(outgoing))
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
