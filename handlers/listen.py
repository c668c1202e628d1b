"""`/vigie sources` and `/vigie routes`: editors see and change where mentions come from
and where they go, in modals. Parse, call `ListenAdmin`, answer."""

from __future__ import annotations

import contextlib
import json
import re
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App

from bot.i18n import catalogue
from bot.listen import views
from bot.listen.admin import FormErrors, ListenAdmin, NotAnEditor
from bot.listen.catalog import CatalogError
from bot.slack_format import Message
from handlers.errors import after_ack

if TYPE_CHECKING:
    from bot.app import Vigie
    from handlers.commands import Invocation, Subcommand


def register(app: App, vigie: Vigie, subcommands: dict[str, Subcommand]) -> None:
    listen = vigie.listen
    assert listen is not None and listen.poller is not None
    admin = ListenAdmin(catalog=listen.catalog, people=vigie.people,
                        environ=listen.environ)
    catalog, poller, config = listen.catalog, listen.poller, vigie.config

    def last_change(subject: str) -> Any:
        return next((c for c in catalog.history(20) if c.subject == subject), None)

    def routes_view(locale: str) -> dict[str, Any]:
        return views.routes_view(catalog.stored_routes(), config, locale=locale,
                                 last=last_change("route"))

    def sources_view(locale: str) -> dict[str, Any]:
        return views.sources_view(catalog.sources(), poller.states(), config, locale=locale,
                                  last=last_change("source"))

    def refuse(ack: Ack, invocation: Invocation) -> bool:
        if vigie.people.is_editor(invocation.user_id):
            return False
        ack(response_type="ephemeral",
            text=catalogue().text(invocation.locale, "listen.ui.editors_only"))
        return True

    def routes_command(ack: Ack, invocation: Invocation) -> None:
        if refuse(ack, invocation):
            return
        ack()
        vigie.slack.open_modal(invocation.trigger_id, routes_view(invocation.locale))

    def sources_command(ack: Ack, invocation: Invocation) -> None:
        if refuse(ack, invocation):
            return
        ack()
        vigie.slack.open_modal(invocation.trigger_id, sources_view(invocation.locale))

    subcommands["routes"] = routes_command
    subcommands["sources"] = sources_command

    def who(body: dict[str, Any]) -> tuple[str, str]:
        user = body["user"]["id"]
        return user, vigie.people.locale_for(user)

    # -- routes -------------------------------------------------------------------------------
    @app.action(views.ROUTE_ADD)
    def add_route(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        user, locale = who(body)
        admin.require_editor(user)
        vigie.slack.push_modal(body["trigger_id"], views.route_form(
            config, catalog.sources(), locale=locale, root_view=body["view"]["id"]))

    @app.action(views.ROUTE_MENU)
    def route_menu(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        user, locale = who(body)
        verb, _, raw_id = action["selected_option"]["value"].partition(":")
        route_id = int(raw_id)
        if verb == "edit":
            admin.require_editor(user)
            stored = next((r for r in catalog.stored_routes() if r.id == route_id), None)
            if stored is not None:
                vigie.slack.push_modal(body["trigger_id"], views.route_form(
                    config, catalog.sources(), locale=locale, root_view=body["view"]["id"],
                    stored=stored))
                return
        else:
            with contextlib.suppress(CatalogError):  # already gone: the list will show it
                admin.route_action(user, verb, route_id)
        vigie.slack.update_modal(body["view"]["id"], routes_view(locale))

    @app.view(views.ROUTE_FORM)
    def route_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        user, locale = who(body)
        metadata = json.loads(view.get("private_metadata") or "{}")
        try:
            admin.save_route(user, views.form_values(view["state"]), metadata.get("route_id"),
                             locale)
        except FormErrors as exc:
            ack(response_action="errors", errors=exc.errors)
            return
        except NotAnEditor:
            ack(response_action="errors",
                errors={"channel": catalogue().text(locale, "listen.ui.editors_only")})
            return
        ack()  # back to the list, which is refreshed below
        if metadata.get("root"):
            with after_ack(vigie, body):  # the list behind: a failure is told, not a 500
                vigie.slack.update_modal(metadata["root"], routes_view(locale))

    # -- sources ------------------------------------------------------------------------------
    @app.action(re.compile(rf"^{views.SOURCE_ADD}_({'|'.join(views.SOURCE_KINDS)})$"))
    def add_source(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        user, locale = who(body)
        admin.require_editor(user)
        vigie.slack.push_modal(body["trigger_id"], views.source_form(
            action["value"], config, locale=locale, root_view=body["view"]["id"]))

    @app.action(views.SOURCE_MENU)
    def source_menu(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        user, locale = who(body)
        verb, _, source_id = action["selected_option"]["value"].partition(":")
        source = catalog.source(source_id)
        if verb == "edit" and source is not None:
            admin.require_editor(user)
            vigie.slack.push_modal(body["trigger_id"], views.source_form(
                source.type, config, locale=locale, root_view=body["view"]["id"],
                source=source))
            return
        try:
            admin.source_action(user, verb, source_id)
        except CatalogError as exc:
            channel = (body.get("channel") or {}).get("id")
            if channel:
                text = catalogue().text(locale, f"listen.ui.error_{exc}")
                vigie.slack.post_ephemeral(channel, user, Message(text=text, blocks=[]))
        vigie.slack.update_modal(body["view"]["id"], sources_view(locale))

    @app.view(views.SOURCE_FORM)
    def source_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        user, locale = who(body)
        metadata = json.loads(view.get("private_metadata") or "{}")
        try:
            admin.save_source(user, str(metadata.get("kind") or ""),
                              views.form_values(view["state"]),
                              metadata.get("source_id"), locale)
        except FormErrors as exc:
            ack(response_action="errors", errors=exc.errors)
            return
        except NotAnEditor:
            ack(response_action="errors",
                errors={"account": catalogue().text(locale, "listen.ui.editors_only")})
            return
        ack()
        if metadata.get("root"):
            with after_ack(vigie, body):  # the list behind: a failure is told, not a 500
                vigie.slack.update_modal(metadata["root"], sources_view(locale))
