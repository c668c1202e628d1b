"""Moderating a YouTube comment as the channel it was left on:
`comments.setModerationStatus` (50 units) with `heldForReview` (hold), `rejected`
(remove; with `banAuthor=true`, the author's later comments on the channel are removed
too) or `published` (release a comment YouTube held for review or as likely spam).
What is offered follows the comment's status when it was read (`Mention.visibility`).
Undoing a hold publishes the comment; undoing a release holds it again.
"""

from __future__ import annotations

from bot.config import Source
from bot.connectors import SourceFailure
from bot.mentions.models import Mention
from bot.moderation.models import ActionKind, ModerationAction
from bot.moderation.platforms import ActionFailed, Done, NotPossible
from bot.platforms.youtube.client import ApiError, YouTubeClients
from bot.platforms.youtube.quota import WRITE_COST, reset_label
from bot.reasons import Reason

HELD = ("heldForReview", "likelySpam")
STATUS = {ActionKind.HOLD: "heldForReview", ActionKind.REJECT: "rejected",
          ActionKind.REJECT_BAN: "rejected", ActionKind.RELEASE: "published"}
UNDO = {ActionKind.HOLD: "published", ActionKind.RELEASE: "heldForReview"}


class YouTubeModerator:
    def __init__(self, clients: YouTubeClients) -> None:
        self._clients = clients

    def actions_for(self, mention: Mention) -> list[str]:
        self._source(mention.account_id)
        if not mention.platform_ref:
            raise NotPossible("no_account")
        first = ActionKind.RELEASE if mention.visibility in HELD else ActionKind.HOLD
        return [first, ActionKind.REJECT, ActionKind.REJECT_BAN]

    def perform(self, mention: Mention, action: str, comment: str | None) -> Done:
        source = self._source(mention.account_id)
        if not mention.platform_ref:
            raise ActionFailed(Reason("moderation.no_post_id"))
        self._set(source, mention.platform_ref, STATUS[ActionKind(action)],
                  ban=action == ActionKind.REJECT_BAN)
        return Done(None, mention.platform_ref)

    def undo(self, row: ModerationAction) -> None:
        status = UNDO.get(ActionKind(row.action))
        if status is None or not row.remote_ref:
            raise NotPossible("no_platform")
        self._set(self._source(row.account_id), row.remote_ref, status, ban=False)

    def _set(self, source: Source, comment_id: str, status: str, *, ban: bool) -> None:
        quota = self._clients.quota(source)
        if not quota.may_write():
            raise ActionFailed(Reason("youtube.moderation_waits", left=quota.left,
                                      when=reset_label(quota)))
        params = {"id": comment_id, "moderationStatus": status}
        if ban:
            params["banAuthor"] = "true"
        try:
            self._clients.call(source, "POST", "comments/setModerationStatus", params=params,
                               cost=WRITE_COST)
        except (SourceFailure, ApiError) as exc:
            raise ActionFailed(exc.reason) from None

    def _source(self, account: str | None) -> Source:
        source = self._clients.for_account(account or "")
        if source is None:
            raise NotPossible("no_account")
        return source
