"""Publishing approved posts to an X account (a post target of kind `x`): `POST
/2/tweets`, paid from the monthly budget (a post carrying a link costs far more: the
approval message says what it will cost). The text counts as X counts it (280
weighted: links 23, CJK and emoji 2).

X takes no idempotency key: after a lost answer the post is looked for in the account's
own posts since the attempt, and never sent again by itself (`DOUBT`)."""

from __future__ import annotations

from bot.config import PostTarget
from bot.connectors.publishers import (
    Outgoing,
    Published,
    PublishOutcomeUnknown,
    PublishRateLimited,
    PublishRejected,
    PublishUnavailable,
    outgoing_account,
)
from bot.platforms.x.api import XFailure
from bot.platforms.x.client import XClients, budget_failure, find_own_post
from bot.platforms.x.replies import DOUBT, create_price, post_url
from bot.platforms.x.spend import BudgetSpent, Purpose
from bot.platforms.x.text import MAX_WEIGHTED, weighted_length
from bot.reasons import Reason


class XPublisher:
    kind = "x"
    max_length = MAX_WEIGHTED
    doubt = DOUBT

    def __init__(self, clients: XClients) -> None:
        self._clients = clients

    def limit(self, target: PostTarget) -> int:
        return self.max_length

    def length(self, text: str) -> int:
        return weighted_length(text)

    def serves(self, target: PostTarget) -> bool:
        return bool(target.account and self._clients.for_account(target.account))

    def publish(self, outgoing: Outgoing) -> Published:
        source = self._clients.for_account(outgoing_account(outgoing))
        if source is None:
            raise PublishRejected(Reason("x.no_account", account=outgoing.target.account or ""),
                                  permanent=True)
        price = create_price(self._clients, outgoing.text)
        try:
            api = self._clients.api(source)
            with self._clients.budget.spend(account=source.id, purpose=Purpose.PUBLISH,
                                            most=price) as record:
                try:
                    answer = api.call("POST", "/2/tweets", endpoint="POST /2/tweets",
                                      body={"text": outgoing.text})
                except XFailure as failure:
                    if failure.outcome != "not_sent":
                        record(1, price)
                    raise
                record(1, price)
        except BudgetSpent as spent:
            raise PublishRejected(budget_failure(spent, purpose="publish"),
                                  permanent=False) from None
        except XFailure as failure:
            if failure.outcome != "not_sent":
                raise PublishOutcomeUnknown(failure.reason,
                                            answered=failure.outcome == "answered") from None
            if failure.kind == "rate_limited":
                raise PublishRateLimited(failure.reason, failure.retry_after or 900) from None
            if failure.kind in ("unavailable", "timeout", "unreachable"):
                raise PublishUnavailable(failure.reason) from None
            raise PublishRejected(failure.reason, permanent=True) from None
        post_id = str((answer.get("data") or {}).get("id") or "")
        if not post_id:
            raise PublishOutcomeUnknown(Reason("x.unreadable"), answered=True)
        return Published(external_id=post_id, url=post_url(post_id))

    def find(self, outgoing: Outgoing) -> Published | None:
        source = self._clients.for_account(outgoing_account(outgoing))
        if source is None:
            raise PublishUnavailable(Reason("x.no_account",
                                            account=outgoing.target.account or ""))
        try:
            post = find_own_post(self._clients, source, text=outgoing.text,
                                 since=outgoing.attempt_started)
        except BudgetSpent as spent:
            raise PublishUnavailable(budget_failure(spent, purpose="lookup")) from None
        except XFailure as failure:
            raise PublishUnavailable(failure.reason) from None
        return Published(external_id=str(post["id"]), url=post_url(str(post["id"]))) \
            if post else None
