"""What the Facebook and Instagram adapters share: one `GraphClient` per token (so the
usage headers pace every call made with it, whichever service makes it), the sources
of a platform by Page / account id or by Vigie account, `MetaItem` → `MentionIn`, and
Graph failures sorted into what replies, publishing, moderation and polling act on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

from bot.connectors import SourceFailure
from bot.connectors.doubt import Doubt
from bot.connectors.publishers import (
    PublishError,
    PublishOutcomeUnknown,
    PublishRateLimited,
    PublishRejected,
    PublishUnavailable,
    outgoing_account,
)
from bot.mentions.models import Author, MentionIn, PlatformRef
from bot.moderation.platforms import ActionFailed, NotPossible
from bot.platforms.meta.graph import GRAPH_URL, GraphClient, GraphFailure
from bot.platforms.meta.models import MetaItem
from bot.reasons import Reason
from bot.replies.platforms import SendFailed, SendUnconfirmed

if TYPE_CHECKING:
    from bot.config import Source
    from bot.connectors.publishers import Outgoing
    from bot.platforms.base import Context
    from bot.replies.models import Reply

log = logging.getLogger(__name__)
T = TypeVar("T")

# Meta takes no idempotency key: after a lost answer Vigie looks (`find_*`) while Meta may
# still create the message, and never sends it again by itself (a person decides).
META_DOUBT_WINDOW = timedelta(minutes=2)
RETRYABLE = ("rate_limited", "unavailable", "timeout", "unreachable")
NO_TEXT = "…"  # a comment with only a picture or a sticker: MentionIn needs a text


def meta_doubt(platform: str) -> Doubt:
    return Doubt(platform, window=META_DOUBT_WINDOW, resend_when_absent=False)


class MetaAccounts:
    """The enabled sources of one Meta platform and a client for each token."""

    def __init__(self, context: Context, platform: str, label: str) -> None:
        self._context = context
        self.platform = platform
        self.label = label
        self._clients: dict[tuple[str, str], GraphClient] = {}
        self._lock = threading.Lock()

    def sources(self) -> list[Source]:
        return [s for s in self._context.sources() if s.type == self.platform and s.enabled]

    def by_account_id(self, account_id: str) -> Source | None:
        """The source of the Page / Instagram account `account_id`."""
        return next((s for s in self.sources() if s.setting("account_id") == account_id), None)

    def by_vigie_account(self, account: str | None) -> Source | None:
        """The source speaking for Vigie's account `account` (a `[[accounts]]` id)."""
        if not account:
            return None
        return next((s for s in self.sources() if s.account == account), None)

    def secret(self, source: Source, key: str) -> str:
        return self._context.environ.get(source.setting(key) or "", "")

    def client(self, source: Source, *, max_wait: float | None = None) -> GraphClient:
        """The client of the source's token; `SourceFailure` when its variable is unset."""
        token = self.secret(source, "token_env")
        if not token:
            raise SourceFailure(Reason("meta.token_unset", platform=self.label,
                                       variable=source.setting("token_env") or "?"))
        base = source.setting("api_url") or GRAPH_URL
        with self._lock:
            client = self._clients.get((base, token))
            if client is None:
                client = GraphClient(token, platform=self.label, base_url=base,
                                     timeout=self._context.timeout)
                self._clients[(base, token)] = client
        if max_wait is not None and max_wait != client.max_wait:
            # The same token and its pacing, waiting less (a webhook must answer fast).
            quick = GraphClient(token, platform=self.label, base_url=base,
                                timeout=self._context.timeout, max_wait=max_wait)
            quick._usage = client.usage
            return quick
        return client

    # The client speaking for one of Vigie's accounts, each failure in the words of the
    # service asking: a reply (`SendFailed`), a moderation action, a publication.
    def for_reply(self, reply: Reply) -> tuple[GraphClient, Source]:
        source = self.by_vigie_account(reply.account_id)
        if source is None:
            raise SendFailed(Reason("meta.no_source", platform=self.label,
                                    account=reply.account_id or "?"), retryable=False)
        try:
            return self.client(source), source
        except SourceFailure as failure:
            raise SendFailed(failure.reason, retryable=False) from None

    def for_action(self, account: str | None) -> GraphClient:
        source = self.by_vigie_account(account)
        if source is None:
            raise NotPossible("no_account")
        try:
            return self.client(source)
        except SourceFailure as failure:
            raise ActionFailed(failure.reason) from None

    def for_post(self, outgoing: Outgoing) -> tuple[GraphClient, str]:
        """The client and the Page / Instagram account id to publish `outgoing` to."""
        account = outgoing_account(outgoing)
        source = self.by_vigie_account(account)
        if source is None:
            raise PublishRejected(Reason("meta.no_source", platform=self.label,
                                         account=account), permanent=True)
        try:
            return self.client(source), source.setting("account_id") or ""
        except SourceFailure as failure:
            raise PublishRejected(failure.reason, permanent=True) from None

    def clients(self) -> list[tuple[Source, GraphClient]]:
        found: list[tuple[Source, GraphClient]] = []
        for source in self.sources():
            try:
                found.append((source, self.client(source)))
            except SourceFailure:
                continue
        return found

    def usage_notes(self) -> list[str]:
        """For `vigie check` and the logs: each token's latest usage figures."""
        notes = []
        for source, client in self.clients():
            note = f"{source.id}: {client.usage.reason(self.label)}"
            notes.append(note)
            if client.usage.seen_at is not None:
                log.info("%s", note)
        return notes


# -- mentions ------------------------------------------------------------------------------------
def mention_of(item: MetaItem, source: Source, *, root_url: str | None = None) -> MentionIn:
    """A comment (or mention) as Vigie stores it. `platform_ref` is the item to reply to,
    hide or delete; `root_id` the post (media) it is under; `cid` the comment it answers
    (Instagram takes no reply to a reply; Facebook threads one level deep);
    `visibility` the item's kind on the platform ("comment", "mention", "post")."""
    handle = item.author_id or item.author_name or f"{item.platform}-user"
    return MentionIn(
        external_id=item.external_id, text=(item.text or "").strip() or NO_TEXT,
        author=Author(handle=handle[:256], name=(item.author_name or None)),
        created_at=item.created_at or datetime.now(UTC), url=item.permalink or root_url,
        account=source.account, platform=item.platform,
        ref=PlatformRef(id=item.item_id, cid=item.parent_id, visibility=item.item,
                        root_id=item.post_id))


# -- failures ------------------------------------------------------------------------------------
def poll_failure(failure: GraphFailure) -> SourceFailure:
    return SourceFailure(failure.reason, retry_after=failure.retry_after)


def reply_failure(failure: GraphFailure) -> SendFailed | SendUnconfirmed:
    """Did the reply possibly get created? (`GraphFailure.outcome`)"""
    if failure.outcome == "answered":
        return SendUnconfirmed(failure.reason, answered=True)
    if failure.outcome == "lost":
        return SendUnconfirmed(failure.reason)
    return SendFailed(failure.reason, retryable=failure.kind in RETRYABLE)


def publish_failure(failure: GraphFailure) -> PublishError:
    if failure.kind == "rate_limited":
        return PublishRateLimited(failure.reason, max(failure.retry_after or 60.0, 60.0))
    if failure.outcome == "answered":
        return PublishOutcomeUnknown(failure.reason, answered=True)
    if failure.outcome == "lost":
        return PublishOutcomeUnknown(failure.reason)
    if failure.kind in RETRYABLE:
        return PublishUnavailable(failure.reason)
    if failure.kind == "publish_limit":
        return PublishRateLimited(failure.reason, 3600.0)
    return PublishRejected(failure.reason, permanent=True)


def action_failure(failure: GraphFailure) -> ActionFailed:
    return ActionFailed(failure.reason)


def graph_call(call: Callable[[], T], convert: Callable[[GraphFailure], Exception]) -> T:
    """`call()`, a Graph failure raised as what the caller's service speaks."""
    try:
        return call()
    except GraphFailure as failure:
        raise convert(failure) from None
