"""Replies: the card's Reply, Retry and "It did go out" buttons, the reply modal (template
picker, live count and preview, submission), and the approval preview's buttons.

Slow work comes after the ack: the Reply button opens a "Preparing…" modal at once (the
trigger id lives 3 seconds) and `views.update`s it when the form is ready; picking a
template re-renders after the ack too. A submission is checked and stored before its ack
(errors go back into the modal, nothing stored), and sent after it.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App

from bot.i18n import Locale, catalogue
from bot.replies import messages
from bot.replies.messages import ModalState
from bot.replies.service import Outcome
from bot.replies.templates import TemplateProblem
from bot.slack import SlackError, SlackRejected
from bot.slack_format import Message
from handlers.errors import after_ack

if TYPE_CHECKING:
    from bot.app import Vigie

log = logging.getLogger(__name__)


def register(app: App, vigie: Vigie) -> None:
    desk = vigie.replies.desk

    def locale_of(user_id: str | None) -> Locale:
        return vigie.people.locale_for(user_id)

    def text(locale: str, name: str, /, **params: Any) -> str:
        return catalogue().text(locale, name, **params)

    def tell(body: dict[str, Any], user_id: str, outcome: Outcome | str) -> None:
        """An ephemeral answer where the person clicked."""
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
            "channel_id")
        key = outcome.code if isinstance(outcome, Outcome) else outcome
        if not channel:
            return
        try:
            vigie.slack.post_ephemeral(channel, user_id,
                                       Message(text=text(locale_of(user_id), key), blocks=[]))
        except SlackError as exc:
            log.warning("could not answer %s: %s", user_id, exc)

    # -- the card -------------------------------------------------------------------------------
    @app.action(messages.OPEN)
    def open_reply(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        user_id = body["user"]["id"]
        locale = locale_of(user_id)
        view_id = vigie.slack.open_modal(body["trigger_id"], messages.loading_modal(locale))
        opened = desk.opening(int(action.get("value") or 0), user_id, locale)
        view = messages.notice_modal(locale, opened) if isinstance(opened, str) else \
            messages.reply_modal(opened, locale)
        vigie.slack.update_modal(view_id, view)

    @app.action(messages.RETRY)
    def retry(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        user_id = body["user"]["id"]
        outcome = desk.retry(int(action.get("value") or 0), user_id)
        if not outcome.ok:
            tell(body, user_id, outcome)

    @app.action(messages.CONFIRM)
    def confirm(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        user_id = body["user"]["id"]
        outcome = desk.confirm(int(action.get("value") or 0), user_id)
        if not outcome.ok:
            tell(body, user_id, outcome)

    # -- the modal ------------------------------------------------------------------------------
    @app.action(messages.PICK)
    def pick_template(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        view, user_id = body["view"], body["user"]["id"]
        locale = locale_of(user_id)
        state = ModalState.load(view.get("private_metadata"))
        mention = desk.get(state.mention_id)
        if mention is None:
            vigie.slack.update_modal(view["id"], messages.notice_modal(
                locale, text(locale, "replies.outcome.gone")))
            return
        key = str((action.get("selected_option") or {}).get("value") or "")
        notices = []
        try:
            typed = desk.render(key, mention, user_id)
            state = replace(state, template=key, block=state.block + 1)
        except TemplateProblem as exc:
            typed = messages.typed_text(view, state)
            template = desk.library.get(key)
            notices.append(text(locale, "replies.modal.template_failed",
                                title=template.title if template else key,
                                reason=exc.problem.text(locale)))
        form = desk.form(mention, user_id, state, text=typed, locale=locale, notices=notices)
        vigie.slack.update_modal(view["id"], messages.reply_modal(form, locale))

    @app.action(messages.TEXT)
    def typing(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        """A character typed: redraw the count and the preview, unless the modal moved on
        meanwhile (the hash), in which case a later keystroke redraws it."""
        ack()
        view, user_id = body["view"], body["user"]["id"]
        state = ModalState.load(view.get("private_metadata"))
        mention = desk.get(state.mention_id)
        if mention is None:
            return
        target = desk.platforms.target(mention)
        updated = messages.updated_live(view, target, str(action.get("value") or ""),
                                        locale_of(user_id))
        try:
            vigie.slack.update_modal(view["id"], updated, hash=view.get("hash"))
        except SlackRejected as exc:
            if exc.error != "hash_conflict":
                raise

    @app.view(messages.REPLY_MODAL)
    def submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        user_id = body["user"]["id"]
        locale = locale_of(user_id)
        state = ModalState.load(view.get("private_metadata"))
        typed = messages.typed_text(view, state)
        meanwhile = desk.answered_meanwhile(state, user_id, text=typed, locale=locale)
        if meanwhile is not None:  # someone answered while this was written: say it once
            ack(response_action="update", view=messages.reply_modal(meanwhile, locale))
            return
        result = desk.submit(user_id=user_id, state=state, text=typed,
                             approval=messages.wants_approval(view), locale=locale)
        if isinstance(result, dict):
            ack(response_action="errors", errors={
                state.text_block if field == "text" else field: text(locale, key, **params)
                for field, (key, params) in result.items()})
            return
        ack()  # the reply is stored: closing the modal loses nothing
        if result.reply_id is not None:
            with after_ack(vigie, body):  # sending it: a failure is told, not a 500 to Slack
                desk.after_submit(result.reply_id)

    # -- the approval preview -----------------------------------------------------------------
    @app.action(messages.APPROVE)
    def approve(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        user_id = body["user"]["id"]
        outcome = desk.approve(int(action.get("value") or 0), user_id, via="button")
        if not outcome.ok or outcome.code.endswith("already_approved"):
            tell(body, user_id, outcome)

    @app.action(messages.REJECT)
    def reject(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        user_id = body["user"]["id"]
        if not desk.is_editor(user_id):
            tell(body, user_id, "replies.outcome.not_editor")
            return
        channel = (body.get("channel") or {}).get("id")
        vigie.slack.open_modal(body["trigger_id"], messages.reject_modal(
            int(action.get("value") or 0), locale=locale_of(user_id), channel=channel))

    @app.view(messages.REJECT_MODAL)
    def rejected(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        ack()
        user_id = body["user"]["id"]
        reply_id, reason, channel = messages.read_reject(view)
        outcome = desk.reject(reply_id, user_id, reason)
        if not outcome.ok and channel:
            tell({"channel": {"id": channel}}, user_id, outcome)
