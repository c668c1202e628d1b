"""Answering an X mention: `POST /2/tweets` with `reply.in_reply_to_tweet_id`, as the
newsroom account the mention was for, paid from the monthly budget (the modal shows
what it will cost: a reply carrying a link costs far more).

X takes no idempotency key, so a lost answer is never simply sent again (`DOUBT`:
`resend_when_absent=False`): Vigie looks in the account's own recent posts (owned reads)
for a reply to that post with that text while X may still create it, and leaves it to
a person when it is not there."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.config import Source
from bot.connectors.doubt import Doubt
from bot.mentions.models import Mention
from bot.platforms.x.api import XFailure
from bot.platforms.x.client import XClients, budget_failure, find_own_post
from bot.platforms.x.spend import BudgetSpent, Purpose, dollars, micros
from bot.platforms.x.text import MAX_WEIGHTED, has_link
from bot.reasons import Reason
from bot.replies.models import Reply
from bot.replies.platforms import SendFailed, SendUnconfirmed, Sent, Target, by_hand

DOUBT = Doubt("x", window=timedelta(minutes=2), resend_when_absent=False)


def post_url(post_id: str) -> str:
    return f"https://x.com/i/web/status/{post_id}"


def create_price(clients: XClients, text: str) -> int:
    prices = clients.prices
    return micros(prices.post_create_with_link if has_link(text) else prices.post_create)


def write_failure(failure: XFailure) -> SendFailed | SendUnconfirmed:
    """X's answer to a write, sorted: may the post exist?"""
    if failure.outcome == "answered":
        return SendUnconfirmed(failure.reason, answered=True)
    if failure.outcome == "lost":
        return SendUnconfirmed(failure.reason)
    retryable = failure.kind in ("rate_limited", "unavailable", "timeout", "unreachable")
    return SendFailed(failure.reason, retryable=retryable)


class XReplier:
    doubt = DOUBT

    def __init__(self, clients: XClients) -> None:
        self._clients = clients

    def target(self, mention: Mention) -> Target:
        if not mention.platform_ref:
            return by_hand(mention, "no_ref")
        if not mention.account_id or self._clients.for_account(mention.account_id) is None:
            return by_hand(mention, "no_account")
        prices = self._clients.prices
        return Target("x", "X", MAX_WEIGHTED,
                      cost=dollars(micros(prices.post_create)),
                      cost_with_link=dollars(micros(prices.post_create_with_link)))

    def send(self, reply: Reply, mention: Mention) -> Sent:
        source = self._source(reply)
        price = create_price(self._clients, reply.text)
        body: dict[str, Any] = {"text": reply.text,
                                "reply": {"in_reply_to_tweet_id": mention.platform_ref}}
        try:
            api = self._clients.api(source)
            with self._clients.budget.spend(account=source.id, purpose=Purpose.REPLY,
                                            most=price) as record:
                try:
                    answer = api.call("POST", "/2/tweets", endpoint="POST /2/tweets",
                                      body=body)
                except XFailure as failure:
                    if failure.outcome != "not_sent":
                        record(1, price)  # it may have been made, and billed
                    raise
                record(1, price)
        except BudgetSpent as spent:
            raise SendFailed(budget_failure(spent, purpose="reply"), retryable=False) from None
        except XFailure as failure:
            raise write_failure(failure) from None
        post_id = str((answer.get("data") or {}).get("id") or "")
        if not post_id:
            raise SendUnconfirmed(Reason("x.unreadable"), answered=True)
        return Sent(post_id, post_url(post_id))

    def find(self, reply: Reply, mention: Mention) -> Sent | None:
        if reply.attempted_at is None:
            raise SendFailed(Reason("reply.by_hand", kind=str(reply.kind)), retryable=False)
        source = self._source(reply)
        try:
            post = find_own_post(self._clients, source, text=reply.text,
                                 since=reply.attempted_at,
                                 in_reply_to=mention.platform_ref or "")
        except BudgetSpent as spent:
            raise SendFailed(budget_failure(spent, purpose="lookup")) from None
        except XFailure as failure:
            raise SendFailed(failure.reason) from None
        if post is None:
            return None
        return Sent(str(post["id"]), post_url(str(post["id"])))

    def _source(self, reply: Reply) -> Source:
        source = self._clients.for_account(reply.account_id or "")
        if source is None:
            raise SendFailed(Reason("x.no_account", account=reply.account_id or ""),
                             retryable=False)
        return source
