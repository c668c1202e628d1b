"""Moderation on Threads: hiding a reply (`POST /{reply-id}/manage_reply`, `hide=true`),
and showing it again to undo. Threads lets a profile hide replies under its own posts
only, at any depth of the conversation: anything else (a mention in someone else's
thread, a post that is not a reply) is said on the card instead of being tried. Threads'
API offers no mute, block or report."""

from __future__ import annotations

from bot.config import Source
from bot.connectors import SourceFailure
from bot.mentions.models import Mention
from bot.moderation.models import ActionKind, ModerationAction
from bot.moderation.platforms import ActionFailed, Done, NotPossible
from bot.platforms.meta.actions import hide_threads
from bot.platforms.meta.graph import GraphClient, GraphFailure
from bot.platforms.threads.accounts import ThreadsAccounts
from bot.reasons import Reason


class ThreadsModerator:
    def __init__(self, accounts: ThreadsAccounts) -> None:
        self._accounts = accounts

    def actions_for(self, mention: Mention) -> list[str]:
        self._source(mention.account_id)
        if not mention.platform_ref or not mention.root_ref \
                or mention.root_ref == mention.platform_ref:
            raise NotPossible("threads_not_a_reply")
        return [ActionKind.HIDE]

    def perform(self, mention: Mention, action: str, comment: str | None) -> Done:
        source = self._source(mention.account_id)
        client = self._client(source)
        reply_id = mention.platform_ref or ""
        try:
            root = client.get(mention.root_ref or "", {"fields": "id,username"})
            me = client.get("me", {"fields": "id,username"})
            if not root.get("username") or root.get("username") != me.get("username"):
                raise ActionFailed(Reason("threads.not_own_post"))
            hide_threads(client, reply_id, hidden=True)
        except GraphFailure as failure:
            raise ActionFailed(failure.reason) from None
        return Done(mention.author_handle, reply_id)

    def undo(self, row: ModerationAction) -> None:
        """Show a hidden reply again."""
        if row.action != ActionKind.HIDE or not row.remote_ref:
            return
        client = self._client(self._source(row.account_id))
        try:
            hide_threads(client, row.remote_ref, hidden=False)
        except GraphFailure as failure:
            raise ActionFailed(failure.reason) from None

    def _source(self, account: str | None) -> Source:
        source = self._accounts.for_account(account)
        if source is None:
            raise NotPossible("no_account")
        return source

    def _client(self, source: Source) -> GraphClient:
        try:
            return self._accounts.client(source)
        except SourceFailure as failure:
            raise ActionFailed(failure.reason) from None
