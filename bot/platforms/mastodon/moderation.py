"""Moderation on Mastodon, as the newsroom account the mention was for (Mastodon.py,
through `MastodonClients.for_account`): the author's account id is read from the status
as our instance sees it (`GET /api/v1/statuses/:id`), then `account_mute` /
`account_block` / `report` (with the status, forwarded to the author's instance), and
`account_unmute` / `account_unblock` to undo. Mastodon cannot hide a reply."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from bot.config import Source
from bot.connectors import SourceFailure
from bot.mentions.models import Mention
from bot.moderation.models import ActionKind, ModerationAction
from bot.moderation.platforms import ActionFailed, Done, NotPossible
from bot.platforms.mastodon.client import MastodonClients, translated_errors
from bot.reasons import Reason

if TYPE_CHECKING:  # Mastodon.py is imported when an account is first used (start-up cost)
    from mastodon import Mastodon

ACTIONS = (ActionKind.MUTE, ActionKind.BLOCK, ActionKind.REPORT)


class MastodonModerator:
    def __init__(self, clients: MastodonClients) -> None:
        self._clients = clients

    def actions_for(self, mention: Mention) -> list[str]:
        self._source(mention)
        return list(ACTIONS)

    def perform(self, mention: Mention, action: str, comment: str | None) -> Done:
        _, client = self._source(mention)
        if not mention.platform_ref:
            raise ActionFailed(Reason("moderation.no_post_id"))
        with _failures():
            status = client.status(mention.platform_ref)
            target = str(status["account"]["id"])
            if action == ActionKind.MUTE:
                client.account_mute(target)
                return Done(target, None)
            if action == ActionKind.BLOCK:
                client.account_block(target)
                return Done(target, None)
            report = client.report(target, status_ids=[mention.platform_ref],
                                   comment=(comment or "")[:1000] or None, forward=True,
                                   category="other")
            return Done(target, str(report["id"]))

    def undo(self, row: ModerationAction) -> None:
        try:
            found = self._clients.for_account(row.account_id)
        except SourceFailure as failure:
            raise ActionFailed(failure.reason) from None
        if found is None:
            raise NotPossible("no_account")
        client = found[1]
        with _failures():
            if row.action == ActionKind.MUTE:
                client.account_unmute(row.target)
            elif row.action == ActionKind.BLOCK:
                client.account_unblock(row.target)

    def _source(self, mention: Mention) -> tuple[Source, Mastodon]:
        try:
            found = self._clients.for_account(mention.account_id or "")
        except SourceFailure:
            found = None
        if found is None or not mention.account_id:
            raise NotPossible("no_account")
        return found


@contextmanager
def _failures() -> Iterator[None]:
    """Mastodon.py's exceptions as `ActionFailed`, with what the instance said."""
    try:
        with translated_errors():
            yield
    except SourceFailure as failure:
        raise ActionFailed(failure.reason) from None
