"""Answering a Bluesky mention: a reply with the root/parent refs kept on the mention,
and a record key fixed from the reply, so sending it again finds the post already made
instead of a double."""

from __future__ import annotations

from bot.mentions.models import Mention
from bot.platforms.bluesky.client import (
    DOUBT,
    BlueskyClients,
    BlueskyPublisher,
    PublishFailed,
    PublishUnconfirmed,
    record_key,
)
from bot.platforms.bluesky.text import MAX_GRAPHEMES
from bot.replies.models import Reply, ReplyKind
from bot.replies.platforms import SendFailed, SendUnconfirmed, Sent, Target, by_hand


class BlueskyReplier:
    doubt = DOUBT

    def __init__(self, clients: BlueskyClients, publisher: BlueskyPublisher) -> None:
        self._clients = clients
        self._publisher = publisher

    def target(self, mention: Mention) -> Target:
        if not (mention.platform_ref and mention.platform_cid):
            return by_hand(mention, "no_ref")
        account = mention.account_id
        if not account or self._clients.for_account(account) is None:
            return by_hand(mention, "no_account")
        return Target(ReplyKind.BLUESKY, "Bluesky", MAX_GRAPHEMES)

    def send(self, reply: Reply, mention: Mention) -> Sent:
        language = reply.template.split("/")[0] if reply.template else None
        parent_uri, parent_cid = mention.platform_ref or "", mention.platform_cid or ""
        try:
            published = self._publisher.reply(
                reply.account_id or "", reply.text, parent_uri, parent_cid,
                mention.root_ref or parent_uri, mention.root_cid or parent_cid,
                langs=[language] if language else None, rkey=_rkey(reply))
        except PublishUnconfirmed as exc:
            raise SendUnconfirmed(exc.reason, answered=exc.answered) from None
        except PublishFailed as exc:
            raise SendFailed(exc.reason, retryable=exc.retryable) from None
        return Sent(published.uri, published.url)

    def find(self, reply: Reply, mention: Mention) -> Sent | None:
        try:
            found = self._publisher.find(reply.account_id or "", _rkey(reply))
        except PublishFailed as exc:
            raise SendFailed(exc.reason) from None
        return Sent(found.uri, found.url) if found is not None else None


def _rkey(reply: Reply) -> str:
    """The reply's record key on Bluesky: the same for every attempt."""
    return record_key(reply.created_at, reply.key)
