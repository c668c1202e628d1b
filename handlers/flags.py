"""Flagging from Slack: `@vigie <link>`, the "Send to Vigie" message shortcut and its modal,
and `/vigie add`. Parse, call `vigie.flags`, answer; the slow part runs after the ack."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App, BoltContext

from bot.i18n import catalogue
from bot.mentions.flag_messages import (
    ACCOUNT_BLOCK,
    MODAL_CALLBACK,
    NOTE_BLOCK,
    already_sent_modal,
    read_modal,
    shortcut_modal,
)
from bot.mentions.flags import AlreadySent, AppMention
from bot.slack_format import escape
from handlers.commands import Invocation, Subcommand
from handlers.errors import after_ack

if TYPE_CHECKING:
    from bot.app import Vigie

SHORTCUT_CALLBACK = "send_to_vigie"


def register(app: App, vigie: Vigie) -> None:
    @app.event("app_mention")
    def on_app_mention(event: dict[str, Any], body: dict[str, Any], context: BoltContext
                       ) -> None:
        user = event.get("user")
        if not user or event.get("bot_id"):
            return  # another app mentioning Vigie: nobody to answer
        authorizations = body.get("authorizations") or [{}]
        vigie.flags.flag_app_mention(AppMention(
            user=str(user), channel=str(event["channel"]), ts=str(event["ts"]),
            thread_ts=event.get("thread_ts"), text=str(event.get("text") or ""),
            bot_user_id=context.bot_user_id or authorizations[0].get("user_id"),
        ))

    @app.message_shortcut(SHORTCUT_CALLBACK)
    def on_shortcut(ack: Ack, shortcut: dict[str, Any]) -> None:
        ack()
        user = str(shortcut["user"]["id"])
        locale = vigie.people.locale_for(user)
        draft = vigie.flags.start_shortcut(user=user, channel=str(shortcut["channel"]["id"]),
                                           message=shortcut["message"])
        if isinstance(draft, AlreadySent):
            view = already_sent_modal(locale)
        else:
            view = shortcut_modal(locale, flag_id=draft.flag_id, author=draft.author,
                                  preview=draft.preview, files=draft.files,
                                  accounts=vigie.config.accounts,
                                  initial_account=draft.initial_account)
        vigie.slack.open_modal(str(shortcut["trigger_id"]), view)

    @app.view(MODAL_CALLBACK)
    def on_modal(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        user = str(body["user"]["id"])
        answer = read_modal(view)
        problem = "expired" if answer.flag_id is None else vigie.flags.submit_shortcut(
            answer.flag_id, user=user, account=answer.account, note=answer.note)
        if problem is not None:
            block = ACCOUNT_BLOCK if problem == "unknown_account" else NOTE_BLOCK
            text = catalogue().text(vigie.people.locale_for(user), f"flags.modal.{problem}")
            ack(response_action="errors", errors={block: text})
            return
        ack()
        assert answer.flag_id is not None
        with after_ack(vigie, body):
            vigie.flags.process(answer.flag_id)


def add_subcommand(vigie: Vigie) -> Subcommand:
    """`/vigie add <link> [account] [note]`."""

    def add(ack: Ack, invocation: Invocation) -> None:
        t = catalogue().text
        words = str(invocation.payload.get("text") or "").strip().split(maxsplit=1)
        receipt = vigie.flags.receive_command(
            user=invocation.user_id, channel=invocation.channel_id,
            text=words[1] if len(words) > 1 else "")
        if receipt.problem is not None:
            ack(response_type="ephemeral",
                text=t(invocation.locale, f"flags.command.{receipt.problem}"))
            return
        ack(response_type="ephemeral",
            text=t(invocation.locale, "flags.command.working", url=escape(receipt.url or "")))
        vigie.flags.process(receipt.flag_id or 0)

    return add
