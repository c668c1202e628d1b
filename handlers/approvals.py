"""Reactions in the approvals channel: ✅ approves, ❌ rejects, taking ✅ back withdraws —
for whichever subject the preview belongs to (`bot.approvals`). Slack runs one listener
per event, hence one module for every subject that asks editors to approve."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from slack_bolt import App, BoltContext

from bot.i18n import catalogue
from bot.slack import SlackError
from bot.slack_format import Message

if TYPE_CHECKING:
    from bot.app import Vigie

log = logging.getLogger(__name__)


def register(app: App, vigie: Vigie) -> None:
    approvals = vigie.approvals

    def on_approvals_channel(event: dict[str, Any]) -> bool:
        item = event.get("item") or {}
        return item.get("type") == "message" and approvals.watches(item.get("channel"))

    def decide(event: dict[str, Any], body: dict[str, Any], context: BoltContext, *,
               added: bool) -> None:
        item = event["item"]
        user_id = str(event.get("user") or "")
        me = context.bot_user_id or (body.get("authorizations") or [{}])[0].get("user_id")
        author = event.get("item_user")
        outcome = approvals.on_reaction(channel=item["channel"], ts=item["ts"], user=user_id,
                                        reaction=str(event.get("reaction") or ""), added=added,
                                        ours=not (author and me and author != me))
        if outcome is None or outcome.ok:
            return
        text = catalogue().text(vigie.people.locale_for(user_id), outcome.code)
        try:
            vigie.slack.post_ephemeral(item["channel"], user_id, Message(text=text, blocks=[]))
        except SlackError as exc:
            log.warning("could not answer %s's reaction: %s", user_id, exc)

    @app.event("reaction_added", matchers=[on_approvals_channel])
    def reaction_added(event: dict[str, Any], body: dict[str, Any], context: BoltContext
                       ) -> None:
        decide(event, body, context, added=True)

    @app.event("reaction_removed", matchers=[on_approvals_channel])
    def reaction_removed(event: dict[str, Any], body: dict[str, Any], context: BoltContext
                         ) -> None:
        decide(event, body, context, added=False)
