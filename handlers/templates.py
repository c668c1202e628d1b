"""`/vigie templates`: editors list, preview, add, edit, archive and restore reply
templates, in modals. Parse, call the template library, answer; a template refused at
save time gets its line and reason under the field."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App

from bot.i18n import Locale, catalogue
from bot.replies import messages
from bot.replies.templates import TemplateRefused
from bot.slack_format import escape

if TYPE_CHECKING:
    from bot.app import Vigie
    from handlers.commands import Invocation, Subcommand


def register(app: App, vigie: Vigie, subcommands: dict[str, Subcommand]) -> None:
    library = vigie.replies.library
    desk = vigie.replies.desk

    def who(body: dict[str, Any]) -> tuple[str, Locale]:
        user = body["user"]["id"]
        return user, vigie.people.locale_for(user)

    def text(locale: str, name: str, /, **params: Any) -> str:
        return catalogue().text(locale, name, **params)

    def listing(locale: str, notice: str | None = None) -> dict[str, Any]:
        return messages.templates_list(library.all(), locale=locale, notice=notice)

    def refused(view_id: str, locale: str) -> None:
        vigie.slack.update_modal(view_id, listing(locale, text(
            locale, "replies.admin.editors_only")))

    def templates_command(ack: Ack, invocation: Invocation) -> None:
        if not vigie.people.is_editor(invocation.user_id):
            ack(response_type="ephemeral",
                text=text(invocation.locale, "replies.admin.editors_only"))
            return
        ack()
        vigie.slack.open_modal(invocation.trigger_id, listing(invocation.locale))

    subcommands["templates"] = templates_command

    @app.action(messages.TEMPLATE_ADD)
    def add(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        user, locale = who(body)
        if not vigie.people.is_editor(user):
            refused(body["view"]["id"], locale)
            return
        vigie.slack.push_modal(body["trigger_id"], messages.template_form(
            locale=locale, root=body["view"]["id"]))

    @app.action(messages.TEMPLATE_MENU)
    def menu(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        user, locale = who(body)
        root = body["view"]["id"]
        if not vigie.people.is_editor(user):
            refused(root, locale)
            return
        verb, _, key = str((action.get("selected_option") or {}).get("value") or "").partition(
            ":")
        template = library.get(key)
        if template is None:
            vigie.slack.update_modal(root, listing(locale))
            return
        if verb == "preview":
            vigie.slack.push_modal(body["trigger_id"], messages.template_preview(
                template, desk.template_samples(key, locale), locale=locale))
        elif verb == "history":
            vigie.slack.push_modal(body["trigger_id"], messages.template_history(
                template, library.history(key), locale=locale))
        elif verb == "edit":
            vigie.slack.push_modal(body["trigger_id"], messages.template_form(
                locale=locale, root=root, template=template))
        elif verb in ("archive", "restore"):
            library.archive(user, key, archived=verb == "archive")
            done = "archived_done" if verb == "archive" else "restored_done"
            vigie.slack.update_modal(root, listing(locale, text(
                locale, f"replies.admin.{done}", template=escape(key))))

    @app.view(messages.TEMPLATE_FORM)
    def save(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        user, locale = who(body)
        metadata = json.loads(view.get("private_metadata") or "{}")
        if not vigie.people.is_editor(user):
            ack(response_action="errors",
                errors={"body": text(locale, "replies.admin.editors_only")})
            return
        form = messages.read_template_form(view)
        try:
            saved = library.save(user, locale=form.get("locale", ""), name=form.get("name", ""),
                                 title=form.get("title", ""), body=form.get("body", ""),
                                 existing=metadata.get("key"),
                                 seen_version=metadata.get("version"))
        except TemplateRefused as exc:
            ack(response_action="errors", errors={
                field if field in form else "body": problem.text(locale)
                for field, problem in exc.errors.items()})
            return
        ack()
        if metadata.get("root"):
            vigie.slack.update_modal(metadata["root"], listing(locale, text(
                locale, "replies.admin.saved", template=escape(saved.key))))
