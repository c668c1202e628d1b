"""Publishing approved posts to a Threads profile (a post target of kind `threads`).

Threads takes 250 posts per profile in 24 hours through the API: the profile's usage is
asked (`threads_publishing_limit`) before each publication, and a post that would go
over waits (`PublishRateLimited`) instead of being refused. The post is published once
as replies are (`containers.publish_once`, the same doubt rule): the container is
stored before publishing, a retry publishes that same container, and Meta refuses to
publish it twice."""

from __future__ import annotations

from bot.config import PostTarget
from bot.connectors import SourceFailure
from bot.connectors.doubt import Unproven
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
from bot.platforms.meta.actions import (
    THREADS_MAX_CHARACTERS,
    find_threads_post,
    threads_length,
    threads_quota,
)
from bot.platforms.meta.graph import GraphClient, GraphFailure
from bot.platforms.threads.accounts import ThreadsAccounts
from bot.platforms.threads.containers import (
    Containers,
    ContainerStep,
    permalink,
    publish_once,
    published,
)
from bot.platforms.threads.replies import DOUBT, RETRYABLE
from bot.reasons import Reason

QUOTA_WAIT = 3600.0  # seconds before trying again once the 24-hour quota is used


class ThreadsPublisher:
    kind = "threads"
    max_length = THREADS_MAX_CHARACTERS
    doubt = DOUBT

    def __init__(self, accounts: ThreadsAccounts, containers: Containers) -> None:
        self._accounts = accounts
        self._containers = containers

    def limit(self, target: PostTarget) -> int:
        return THREADS_MAX_CHARACTERS

    def length(self, text: str) -> int:
        return threads_length(text)

    def serves(self, target: PostTarget) -> bool:
        source = self._accounts.for_account(target.account)
        return source is not None and bool(self._accounts.secret(source, "token_env"))

    def publish(self, outgoing: Outgoing) -> Published:
        client, user_id = self._client(outgoing)
        try:
            quota = threads_quota(client, user_id)
        except GraphFailure as failure:
            raise _not_sent(failure) from None
        if quota.left <= 0:
            raise PublishRateLimited(Reason("threads.quota_reached", used=quota.used,
                                            total=quota.total), QUOTA_WAIT)
        try:
            media = publish_once(client, user_id, self._containers, key=outgoing.key,
                                 text=outgoing.text)
        except ContainerStep as step:
            raise _not_sent(step.failure) from None
        except GraphFailure as failure:
            if failure.kind == "already_published" or failure.outcome == "answered":
                raise PublishOutcomeUnknown(failure.reason, answered=True) from None
            if failure.outcome == "lost":
                raise PublishOutcomeUnknown(failure.reason) from None
            raise _not_sent(failure) from None
        return Published(media, permalink(client, media))

    def find(self, outgoing: Outgoing) -> Published | None:
        client, user_id = self._client(outgoing)
        try:
            done = published(client, self._containers, outgoing.key,
                             outgoing.text)
            if done is False:
                return None  # the container is there, unpublished: certainly absent
            found = find_threads_post(client, user_id, text=outgoing.text,
                                      since=outgoing.attempt_started)
        except GraphFailure as failure:
            raise PublishUnavailable(failure.reason) from None
        if found is None:
            if done:
                raise Unproven("the container is published, its post is not found")
            return None
        return Published(found, permalink(client, found))

    def _client(self, outgoing: Outgoing) -> tuple[GraphClient, str]:
        account = outgoing_account(outgoing)
        source = self._accounts.for_account(account)
        if source is None:
            raise PublishRejected(Reason("threads.no_source", account=account),
                                  permanent=True)
        try:
            return self._accounts.client(source), self._accounts.user_id(source)
        except SourceFailure as failure:
            raise PublishRejected(failure.reason, permanent=True) from None


def _not_sent(failure: GraphFailure) -> PublishError:
    """A failure that certainly published nothing."""
    if failure.kind == "rate_limited":
        return PublishRateLimited(failure.reason, failure.retry_after or QUOTA_WAIT)
    if failure.kind == "publish_limit":
        return PublishRateLimited(failure.reason, QUOTA_WAIT)
    if failure.kind in RETRYABLE or failure.reason.key == "meta.container_failed":
        return PublishUnavailable(failure.reason)
    return PublishRejected(failure.reason, permanent=True)
