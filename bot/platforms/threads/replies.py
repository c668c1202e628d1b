"""Answering on Threads: a reply is a TEXT container with `reply_to_id` (the reply or
mention being answered), then its publication, made once (`containers.publish_once`).

After a lost answer the doubt rule (`bot.connectors.doubt`) applies with
`resend_when_absent=True`: sending again publishes the same stored container, which
Meta cannot publish twice, so a wrong "absent" can never make a second reply. A look
asks the container first (not published: certainly absent), then finds the reply by
its exact text among the profile's replies since the attempt."""

from __future__ import annotations

from datetime import timedelta

from bot.connectors import SourceFailure
from bot.connectors.doubt import Doubt, Unproven
from bot.mentions.models import Mention
from bot.platforms.meta.actions import THREADS_MAX_CHARACTERS, find_threads_reply
from bot.platforms.meta.graph import GraphClient, GraphFailure
from bot.platforms.threads.accounts import ThreadsAccounts
from bot.platforms.threads.containers import (
    Containers,
    ContainerStep,
    permalink,
    publish_once,
    published,
)
from bot.reasons import Reason
from bot.replies.models import Reply
from bot.replies.platforms import SendFailed, SendUnconfirmed, Sent, Target, by_hand

# Meta may finish a publication whose answer was lost for a while; resending cannot
# duplicate (same container), so the window only spaces the looks.
DOUBT = Doubt("threads", window=timedelta(minutes=15), resend_when_absent=True)
RETRYABLE = ("rate_limited", "unavailable", "timeout", "unreachable")


class ThreadsReplier:
    doubt = DOUBT

    def __init__(self, accounts: ThreadsAccounts, containers: Containers) -> None:
        self._accounts = accounts
        self._containers = containers

    def target(self, mention: Mention) -> Target:
        if not mention.platform_ref:
            return by_hand(mention, "no_ref")
        if self._accounts.for_account(mention.account_id) is None:
            return by_hand(mention, "no_account")
        return Target("threads", "Threads", THREADS_MAX_CHARACTERS)

    def send(self, reply: Reply, mention: Mention) -> Sent:
        client, user_id = self._client(reply)
        try:
            media = publish_once(client, user_id, self._containers, key=reply.key,
                                 text=reply.text, reply_to=mention.platform_ref)
        except ContainerStep as step:
            raise SendFailed(step.failure.reason, retryable=step.failure.kind in RETRYABLE
                             or step.failure.reason.key == "meta.container_failed") from None
        except GraphFailure as failure:
            raise _publish_failure(failure) from None
        return Sent(media, permalink(client, media))

    def find(self, reply: Reply, mention: Mention) -> Sent | None:
        if reply.attempted_at is None:
            raise SendFailed(Reason("reply.by_hand", kind=str(reply.kind)), retryable=False)
        client, user_id = self._client(reply)
        try:
            done = published(client, self._containers, reply.key, reply.text)
            if done is False:
                return None  # the container is there, unpublished: certainly absent
            found = find_threads_reply(client, user_id, reply_to=mention.platform_ref or "",
                                       text=reply.text, since=reply.attempted_at)
        except GraphFailure as failure:
            raise SendFailed(failure.reason) from None
        if found is None:
            if done:
                raise Unproven("the container is published, its reply is not found")
            return None
        return Sent(found, permalink(client, found))

    def _client(self, reply: Reply) -> tuple[GraphClient, str]:
        source = self._accounts.for_account(reply.account_id)
        if source is None:
            raise SendFailed(Reason("threads.no_source", account=reply.account_id or ""),
                             retryable=False)
        try:
            return self._accounts.client(source), self._accounts.user_id(source)
        except SourceFailure as failure:
            raise SendFailed(failure.reason, retryable=False) from None


def _publish_failure(failure: GraphFailure) -> SendFailed | SendUnconfirmed:
    """A failed publication, sorted: may the reply be on Threads?"""
    if failure.kind == "already_published" or failure.outcome == "answered":
        return SendUnconfirmed(failure.reason, answered=True)
    if failure.outcome == "lost":
        return SendUnconfirmed(failure.reason)
    return SendFailed(failure.reason, retryable=failure.kind in RETRYABLE
                      or failure.reason.key == "meta.container_failed")
