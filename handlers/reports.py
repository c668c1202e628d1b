"""`/vigie report [7d|30d|account|channel]` and `/vigie export mentions [30d|…]`.

Both answer at once (ephemeral), then build and upload after the ack; follow-up notes go
through the command's `response_url`, which works even where the bot is not a member.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from slack_bolt import Ack, App
from slack_bolt.context.respond import Respond

from bot.reports import messages as texts
from bot.reports.scope import Request, ScopeError
from bot.slack_format import escape
from handlers.commands import Invocation, Subcommand

if TYPE_CHECKING:
    from bot.app import Vigie

EXPORTABLE = ("mentions",)
EXPORT_DAYS = 30


def _teller(call: Invocation) -> Callable[[str], None]:
    url = call.payload.get("response_url")
    respond = Respond(response_url=url) if url else None

    def tell(text: str) -> None:
        if respond is not None:
            respond(text=text, response_type="ephemeral", replace_original=False)

    return tell


def register(app: App, vigie: Vigie, subcommands: dict[str, Subcommand]) -> None:
    reports = vigie.reports

    def parsed(ack: Ack, call: Invocation, args: list[str], default_days: int
               ) -> Request | None:
        try:
            return reports.request(args, here=call.channel_id or None,
                                   default_days=default_days)
        except ScopeError as exc:
            params = {k: escape(str(v)) for k, v in exc.params.items()}
            ack(response_type="ephemeral",
                text=texts.reply(call.locale, f"bad_{exc.key}", **params))
            return None

    def report(ack: Ack, call: Invocation) -> None:
        request = parsed(ack, call, call.args, 7)
        if request is None:
            return
        scope = reports.scope(request)
        if not reports.may_see(call.user_id, scope):
            ack(response_type="ephemeral", text=texts.reply(call.locale, "refused"))
            return
        ack(response_type="ephemeral", text=texts.reply(call.locale, "building"))
        reports.on_demand(user_id=call.user_id, channel_id=call.channel_id, scope=scope,
                          days=request.days, tell=_teller(call), user_locale=call.locale)

    def export(ack: Ack, call: Invocation) -> None:
        what = call.args[0].lower() if call.args else ""
        if what not in EXPORTABLE:
            ack(response_type="ephemeral", text=texts.reply(
                call.locale, "export_usage", what=", ".join(f"`{w}`" for w in EXPORTABLE)))
            return
        request = parsed(ack, call, call.args[1:], EXPORT_DAYS)
        if request is None:
            return
        scope = reports.scope(request)
        if not reports.may_see(call.user_id, scope):
            ack(response_type="ephemeral", text=texts.reply(call.locale, "refused"))
            return
        ack(response_type="ephemeral", text=texts.reply(call.locale, "exporting"))
        reports.send_export(user_id=call.user_id, scope=scope, locale=call.locale,
                            tell=_teller(call))

    subcommands.update({"report": report, "export": export})
