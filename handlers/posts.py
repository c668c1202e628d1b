"""Posts: `/draft`, `/calendar`, the draft modal and the approval preview's buttons (its
reactions go through `handlers.approvals`). Parse, call the desk, answer; the rules live
in `bot.posts`."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App

from bot.i18n import Locale, catalogue
from bot.posts import messages
from bot.posts.messages import ModalState
from bot.posts.service import Outcome
from bot.posts.templates import PostTemplateError
from bot.posts.when import warm_up_soon
from bot.slack import SlackError
from bot.slack_format import Message, unescape
from handlers.commands import Invocation, Subcommand
from handlers.errors import after_ack

if TYPE_CHECKING:
    from bot.app import Vigie

log = logging.getLogger(__name__)

WEEK_WORDS = {"", "week", "semaine"}
QUOTES = 50  # saved mentions offered in /draft, newest first
MONTH_WORDS = {"month", "mois"}


def register(app: App, vigie: Vigie) -> dict[str, Subcommand]:
    """Register the listeners; return the `/vigie` sub-commands of this subject."""
    desk = vigie.posts.desk
    config = vigie.config
    templates = vigie.posts.templates

    def locale_of(user_id: str | None) -> Locale:
        return vigie.people.locale_for(user_id)

    def text(locale: str, key: str, **params: Any) -> str:
        return catalogue().text(locale, key, **params)

    def tell(channel: str | None, user_id: str, outcome_or_key: Outcome | str) -> None:
        """An ephemeral answer to the person who clicked or reacted."""
        key = outcome_or_key.code if isinstance(outcome_or_key, Outcome) else outcome_or_key
        if not channel:
            return
        try:
            vigie.slack.post_ephemeral(channel, user_id,
                                       Message(text=text(locale_of(user_id), key), blocks=[]))
        except SlackError as exc:
            log.warning("could not answer %s: %s", user_id, exc)

    def setup_problem() -> str | None:
        if config.channels.approvals is None:
            return "posts.errors.no_approvals_channel"
        if not config.posts.targets:
            return "posts.errors.no_targets"
        return None

    def draft_view(locale: Locale, state: ModalState, text: str, **more: Any
                   ) -> dict[str, Any]:
        """The draft modal with what it offers: post templates and saved mentions."""
        warm_up_soon()  # the date the person will type is read with dateparser
        return messages.draft_modal(locale=locale, config=config,
                                    templates=templates.available(locale),
                                    quotes=vigie.moderate.curation.quotable(QUOTES),
                                    state=state, text=text, **more)

    def open_draft(trigger_id: str, user_id: str, channel: str | None, initial: str) -> None:
        view = draft_view(locale_of(user_id), ModalState(channel=channel), initial)
        vigie.slack.open_modal(trigger_id, view)

    def open_calendar(trigger_id: str, user_id: str, period: str) -> None:
        vigie.slack.open_modal(trigger_id, calendar_view(user_id, period))

    def calendar_view(user_id: str, period: str, notice: str | None = None) -> dict[str, Any]:
        start, end = messages.calendar_window(period, vigie.clock.now(), desk.timezone)
        return messages.calendar_modal(desk.calendar(start, end), config=config,
                                       locale=locale_of(user_id), period=period, start=start,
                                       end=end, notice=notice)

    # -- slash commands -----------------------------------------------------------------
    @app.command("/draft")
    def draft_command(ack: Ack, command: dict[str, Any]) -> None:
        problem = setup_problem()
        if problem:
            ack(response_type="ephemeral", text=text(locale_of(command.get("user_id")), problem))
            return
        ack()
        with after_ack(vigie, command):
            open_draft(command["trigger_id"], command["user_id"], command.get("channel_id"),
                       unescape(command.get("text", "")))

    @app.command("/calendar")
    def calendar_command(ack: Ack, command: dict[str, Any]) -> None:
        word = command.get("text", "").strip().lower()
        if word not in WEEK_WORDS | MONTH_WORDS:
            ack(response_type="ephemeral",
                text=text(locale_of(command.get("user_id")), "posts.calendar.usage"))
            return
        ack()
        with after_ack(vigie, command):
            open_calendar(command["trigger_id"], command["user_id"],
                          "month" if word in MONTH_WORDS else "week")

    def draft_subcommand(ack: Ack, invocation: Invocation) -> None:
        problem = setup_problem()
        if problem:
            ack(response_type="ephemeral", text=text(invocation.locale, problem))
            return
        ack()
        with after_ack(vigie, invocation.payload):
            open_draft(invocation.trigger_id, invocation.user_id, invocation.channel_id,
                       unescape(invocation.payload.get("text", "")).strip()
                       .partition(" ")[2].strip())

    def calendar_subcommand(ack: Ack, invocation: Invocation) -> None:
        word = (invocation.args[0] if invocation.args else "").lower()
        if word not in WEEK_WORDS | MONTH_WORDS:
            ack(response_type="ephemeral", text=text(invocation.locale, "posts.calendar.usage"))
            return
        ack()
        with after_ack(vigie, invocation.payload):
            open_calendar(invocation.trigger_id, invocation.user_id,
                          "month" if word in MONTH_WORDS else "week")

    # -- the draft modal ------------------------------------------------------------------
    def redraw_draft(body: dict[str, Any], addition: str | None, notice: str | None) -> None:
        """Append `addition` to the modal's text (a template, a quote) and show it again."""
        view = body["view"]
        state = ModalState.load(view.get("private_metadata"))
        current = messages.current_text(view)
        if addition is not None:
            current = f"{current.rstrip()}\n\n{addition}" if current.strip() else addition
            # A new block id is the only way to replace what Slack keeps in a text input.
            number = int(state.text_block.rsplit("-", 1)[-1]) + 1
            state = ModalState(state.post_id, state.version, f"text-{number}", state.channel)
        editing = desk.view(state.post_id) if state.post_id else None
        updated = draft_view(locale_of(body["user"]["id"]), state, current,
                             post=editing.post if editing else None, notice=notice)
        vigie.slack.update_modal(view["id"], updated)

    def chosen(body: dict[str, Any]) -> str:
        return str((body["actions"][0].get("selected_option") or {}).get("value", ""))

    @app.action(messages.TEMPLATE_ACTION)
    def insert_template(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        user_id = body["user"]["id"]
        locale = locale_of(user_id)
        try:
            rendered = templates.render(
                chosen(body), locale, newsroom=config.newsroom.name,
                author=vigie.people.person(user_id).name, now=vigie.clock.now(),
                timezone=desk.timezone)
        except PostTemplateError as exc:
            redraw_draft(body, None, text(locale, "posts.modal.template_error", error=str(exc)))
            return
        redraw_draft(body, rendered, None)

    @app.action(messages.QUOTE_ACTION)
    def insert_quote(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        value = chosen(body)
        quote = vigie.moderate.curation.quote(int(value)) if value.isdigit() else None
        if quote is None:
            redraw_draft(body, None, text(locale_of(body["user"]["id"]), "posts.modal.quote_gone"))
            return
        redraw_draft(body, quote.formatted, None)

    @app.view(messages.DRAFT_CALLBACK)
    def submit_draft(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        user_id = body["user"]["id"]
        form, state = messages.read_draft(view)
        checked = desk.check(form)
        if isinstance(checked, dict):
            ack(response_action="errors", errors=messages.modal_errors(
                checked, state=state, locale=locale_of(user_id), timezone=desk.timezone))
            return
        desk.draft(user_id, checked)  # stored before the modal closes: nothing typed is lost
        ack()

    @app.view(messages.EDIT_CALLBACK)
    def submit_edit(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        user_id = body["user"]["id"]
        locale = locale_of(user_id)
        form, state = messages.read_draft(view)
        checked = desk.check(form)
        if isinstance(checked, dict):
            ack(response_action="errors", errors=messages.modal_errors(
                checked, state=state, locale=locale, timezone=desk.timezone))
            return
        outcome = desk.edit(int(state.post_id or 0), user_id, checked,
                            seen_version=int(state.version or 0))
        if not outcome.ok:
            ack(response_action="errors", errors={state.text_block: text(locale, outcome.code)})
            return
        ack()

    # -- the preview's buttons --------------------------------------------------------------
    def clicked(body: dict[str, Any]) -> tuple[str, str | None, int]:
        action = body["actions"][0]
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
            "channel_id")
        return body["user"]["id"], channel, int(action.get("value") or 0)

    def resolve_question(body: dict[str, Any], user_id: str, choice: str) -> None:
        """A thread question (stale post) answered: replace its buttons by the answer."""
        container = body.get("container") or {}
        message = body.get("message") or {}
        if container.get("type") != "message" or not message.get("thread_ts") \
                or message.get("thread_ts") == message.get("ts"):
            return
        answered = text(vigie.locale, "posts.thread.answered", user=user_id,
                        choice=text(vigie.locale, f"posts.buttons.{choice}"))
        original = next((b["text"]["text"] for b in message.get("blocks", [])
                         if b.get("type") == "section"), "")
        vigie.posts.notices.resolve(container["channel_id"], container["message_ts"],
                                    f"{original}\n{answered}".strip())

    @app.action("posts.approve")
    def approve_button(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        user_id, channel, post_id = clicked(body)
        outcome = desk.approve(post_id, user_id, via="button")
        if not outcome.ok or outcome.code == "posts.outcome.already_approved":
            tell(channel, user_id, outcome)

    @app.action("posts.reject")
    def reject_button(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        user_id, channel, post_id = clicked(body)
        if not desk.is_editor(user_id):
            tell(channel, user_id, "posts.outcome.not_editor")
            return
        vigie.slack.open_modal(body["trigger_id"], messages.reject_modal(
            post_id, locale=locale_of(user_id), channel=channel))

    @app.view(messages.REJECT_CALLBACK)
    def submit_reject(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        user_id = body["user"]["id"]
        post_id, reason = messages.read_reject(view)
        outcome = desk.reject(post_id, user_id, reason)
        ack()
        if not outcome.ok:
            channel = json.loads(view.get("private_metadata") or "{}").get("channel")
            tell(channel, user_id, outcome)

    @app.action("posts.edit")
    def edit_button(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        user_id, channel, post_id = clicked(body)
        open_edit(body["trigger_id"], user_id, channel, post_id, push=False)

    def open_edit(trigger_id: str, user_id: str, channel: str | None, post_id: int, *,
                  push: bool) -> str | None:
        """Open the edit modal, or return the text key saying why not."""
        current = desk.editable(post_id, user_id)
        if isinstance(current, str):
            return current
        view = draft_view(
            locale_of(user_id),
            ModalState(post_id=post_id, version=current.post.version, channel=channel),
            current.post.text, post=current.post,
            chosen_targets=[d.target_id for d in current.deliveries])
        if push:
            vigie.slack.push_modal(trigger_id, view)
        else:
            vigie.slack.open_modal(trigger_id, view)
        return None

    @app.action("posts.cancel")
    def cancel_button(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        user_id, channel, post_id = clicked(body)
        outcome = desk.cancel(post_id, user_id)
        if outcome.ok:
            resolve_question(body, user_id, "cancel")
        else:
            tell(channel, user_id, outcome)

    @app.action("posts.publish_now")
    def publish_now_button(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        user_id, channel, post_id = clicked(body)
        outcome = desk.publish_now(post_id, user_id)
        if outcome.ok:
            resolve_question(body, user_id, "publish_now")
        else:
            tell(channel, user_id, outcome)

    @app.action("posts.retry")
    def retry_button(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        user_id, channel, delivery_id = clicked(body)
        outcome = desk.retry_delivery(delivery_id, user_id)
        if not outcome.ok:
            tell(channel, user_id, outcome)

    @app.action("posts.confirm")
    def confirm_button(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        user_id, channel, delivery_id = clicked(body)
        outcome = desk.confirm_delivery(delivery_id, user_id)
        if not outcome.ok:
            tell(channel, user_id, outcome)

    # -- the calendar ---------------------------------------------------------------------
    @app.action("posts.calendar_item")
    def calendar_item(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        user_id = body["user"]["id"]
        view = body["view"]
        period = json.loads(view.get("private_metadata") or "{}").get("period", "week")
        what, _, raw_id = (body["actions"][0].get("selected_option") or {}).get(
            "value", "").partition(":")
        post_id = int(raw_id or 0)
        locale = locale_of(user_id)
        if what == "edit":
            problem = open_edit(body["trigger_id"], user_id, None, post_id, push=True)
            if problem is None:
                return
            notice = text(locale, problem)
        else:
            notice = text(locale, desk.cancel(post_id, user_id).code)
        vigie.slack.update_modal(view["id"], calendar_view(user_id, period, notice))

    @app.action("posts.calendar_period")
    def calendar_period(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        period = body["actions"][0].get("value") or "week"
        vigie.slack.update_modal(body["view"]["id"], calendar_view(body["user"]["id"], period))

    # Reactions on the preview (✅, ❌) are routed by `handlers.approvals`, which serves every
    # subject that asks editors to approve (bot.approvals): the desk is registered there.

    return {"draft": draft_subcommand, "calendar": calendar_subcommand}
