"""The qualify controls on mention cards, and `/vigie history | away | back`.

Listeners ack first (Bolt answers Slack as soon as `ack()` is called and the listener goes
on in its worker thread), then read the subject from the control's `block_id`, call the
qualify service, which stores the change, redraws the card and sends any DM.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App

from bot.mentions import qualify_messages as texts
from bot.mentions.messages import ACTION_PREFIX, mention_id_of_block
from bot.mentions.models import Status
from bot.mentions.qualify import Change
from bot.slack_format import escaped_within
from handlers.commands import Invocation, Subcommand

if TYPE_CHECKING:
    from bot.app import Vigie

log = logging.getLogger(__name__)

SELECTS = {"sentiment", "category", "priority", "status"}


def changes_for(action: dict[str, Any], user_id: str) -> list[Change]:
    """The change a card control asks for, from Slack's `block_actions` action."""
    name = str(action.get("action_id", "")).removeprefix(ACTION_PREFIX)
    if name in SELECTS:
        option = action.get("selected_option") or {}
        return [Change(name, option.get("value"))] if option.get("value") else []
    if name == "assignee":
        selected = action.get("selected_user")
        return [Change("assignee", selected)] if selected else []
    if name == "take":
        return [Change("assignee", user_id)]
    if name == "reopen":
        return [Change("status", Status.OPEN)]
    return []


def register(app: App, vigie: Vigie, subcommands: dict[str, Subcommand]) -> None:
    @app.action(re.compile(rf"^{re.escape(ACTION_PREFIX)}"))
    def on_card_control(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        user_id = body["user"]["id"]
        container = body.get("container") or {}
        channel_id = container.get("channel_id") or (body.get("channel") or {}).get("id")
        mention_id = mention_id_of_block(str(action.get("block_id", "")))
        if mention_id is None:
            log.warning("card control %s without a mention id", action.get("action_id"))
            return
        if action.get("action_id") == f"{ACTION_PREFIX}history":
            vigie.qualifier.show_history(actor=user_id, mention_id=mention_id,
                                         channel_id=channel_id or "")
            return
        try:
            changes = changes_for(action, user_id)
        except ValueError:
            log.warning("unexpected value in %s", action.get("action_id"))
            return
        if changes:
            vigie.qualifier.from_card(actor=user_id, mention_id=mention_id, changes=changes,
                                      channel_id=channel_id)

    def history(ack: Ack, call: Invocation) -> None:
        if not call.args:
            ack(response_type="ephemeral", text=texts.reply(call.locale, "history_usage").text)
            return
        reference = " ".join(call.args)
        mention = vigie.qualifier.find(reference)
        if mention is None:
            reply = texts.reply(call.locale, "history_not_found",
                                reference=escaped_within(reference, 200))
            ack(response_type="ephemeral", text=reply.text)
            return
        if not vigie.qualifier.staff.may_qualify(call.user_id, mention.channel_id):
            ack(response_type="ephemeral", text=texts.reply(call.locale, "refused").text)
            return
        message = texts.history(mention, vigie.qualifier.history(mention.id or 0),
                                locale=call.locale)
        ack(response_type="ephemeral", text=message.text, blocks=message.blocks)

    def away(ack: Ack, call: Invocation) -> None:
        vigie.presence.set_away(call.user_id, True)
        ack(response_type="ephemeral", text=texts.reply(call.locale, "away").text)

    def back(ack: Ack, call: Invocation) -> None:
        changed = vigie.presence.set_away(call.user_id, False)
        key = "back" if changed else "already_back"
        ack(response_type="ephemeral", text=texts.reply(call.locale, key).text)

    subcommands.update({"history": history, "away": away, "back": back})
