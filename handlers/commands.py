"""`/vigie …`: one slash command whose first word picks a sub-command."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App

from bot.commands import HELP_NAMES, help_message, split_command, unknown_message
from bot.i18n import Locale

if TYPE_CHECKING:
    from bot.app import Vigie


@dataclass(frozen=True)
class Invocation:
    """What a sub-command needs from the slash command payload."""

    name: str
    args: list[str]
    user_id: str
    channel_id: str
    trigger_id: str
    locale: Locale
    payload: dict[str, Any]


Subcommand = Callable[[Ack, Invocation], None]


def register(app: App, vigie: Vigie, subcommands: Mapping[str, Subcommand]) -> None:
    @app.command("/vigie")
    def vigie_command(ack: Ack, command: dict[str, Any]) -> None:
        name, args = split_command(command.get("text", ""))
        locale = vigie.people.locale_for(command.get("user_id"))
        if name in ("", *HELP_NAMES):
            reply = help_message(subcommands, locale=locale)
            ack(response_type="ephemeral", text=reply.text, blocks=reply.blocks)
            return
        handler = subcommands.get(name)
        if handler is None:
            reply = unknown_message(name, subcommands, locale=locale)
            ack(response_type="ephemeral", text=reply.text)
            return
        handler(ack, Invocation(
            name=name, args=args, user_id=command["user_id"],
            channel_id=command.get("channel_id", ""), trigger_id=command.get("trigger_id", ""),
            locale=locale, payload=command,
        ))
