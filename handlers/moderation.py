"""The moderate controls: Reveal, Abusive / Not abusive, Mute-block-report (modal), Forward
(modal), ⭐ Save on cards; the desk's buttons; the watchlist modal; and `/vigie
watchlist | exposure | tirage | saved`. Parse, call `vigie.moderate`, answer; the slow
part runs after the ack."""

from __future__ import annotations

import json
import logging
import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App

from bot.i18n import catalogue
from bot.moderation import messages
from bot.moderation.contests import BadDraw
from bot.moderation.messages import (
    ACT_CALLBACK,
    ACTION_BLOCK,
    ACTION_ID,
    COMMENT_BLOCK,
    COMMENT_ID,
    DESK_BLOCK,
    DESK_ID,
    DESK_PREFIX,
    FORWARD_CALLBACK,
    NOTE_BLOCK,
    NOTE_ID,
    PLATFORM_NAMES,
    PREFIX,
    WATCH_PREFIX,
    ExposureLine,
    WatchRow,
)
from bot.moderation.platforms import NotPossible
from bot.reasons import shown_reason
from handlers.commands import Invocation, Subcommand
from handlers.errors import after_ack

if TYPE_CHECKING:
    from bot.app import Vigie

log = logging.getLogger(__name__)


def _t(locale: str, key: str, **params: object) -> str:
    return catalogue().text(locale, f"moderate.{key}", **params)


def _channel(body: dict[str, Any]) -> str:
    container = body.get("container") or {}
    return str(container.get("channel_id") or (body.get("channel") or {}).get("id") or "")


def _subject(action: dict[str, Any]) -> int | None:
    value = str(action.get("value") or "")
    return int(value) if value.isdigit() else None


def _values(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict((view.get("state") or {}).get("values") or {})


def register(app: App, vigie: Vigie, subcommands: dict[str, Subcommand]) -> None:
    moderate = vigie.moderate

    @app.action(re.compile(rf"^{re.escape(PREFIX)}(reveal|mark|unmark|save|unsave)$"))
    def on_card_button(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        user, channel, mention_id = body["user"]["id"], _channel(body), _subject(action)
        if mention_id is None:
            return
        name = str(action["action_id"]).removeprefix(PREFIX)
        if name == "reveal":
            moderate.moderation.reveal(mention_id, actor=user, channel_id=channel)
        elif name in ("mark", "unmark"):
            moderate.moderation.mark(mention_id, abusive=name == "mark", actor=user,
                                     channel_id=channel)
        else:
            outcome = moderate.curation.save(mention_id, actor=user, channel_id=channel,
                                             keep=name == "save")
            if outcome == "saved":
                moderate.moderation.tell(channel, user, "saved")

    @app.action(f"{PREFIX}unhide")
    def on_unhide(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        """Show a hidden comment again (the hide's undo); the card is redrawn."""
        ack()
        user, channel, action_id = body["user"]["id"], _channel(body), _subject(action)
        outcome = moderate.actions.undo(action_id or 0, actor=user)
        if outcome.kind == "failed":
            moderate.moderation.tell(channel, user, "failed", platform=outcome.platform or "",
                                     reason=shown_reason(outcome.reason,
                                                         vigie.people.locale_for(user)))
        elif outcome.kind == "done":
            moderate.moderation.tell(channel, user, "done_unhide", platform=outcome.platform)
        elif outcome.kind in ("refused", "already"):
            moderate.moderation.tell(channel, user, outcome.kind)

    @app.action(f"{PREFIX}act")
    def on_act(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        user, channel, mention_id = body["user"]["id"], _channel(body), _subject(action)
        mention = moderate.moderation.get(mention_id) if mention_id else None
        if mention is None:
            return
        locale = vigie.people.locale_for(user)
        if not moderate.moderation.staff.may_qualify(user, mention.channel_id):
            moderate.moderation.tell(channel, user, "refused")
            return
        platform = PLATFORM_NAMES.get(mention.platform, mention.platform)
        try:
            options = moderate.actions.options(mention)
        except NotPossible as impossible:
            reason = _t(locale, f"act.{impossible.key}", platform=platform)
            vigie.slack.open_modal(body["trigger_id"], messages.no_action_modal(
                locale, _t(locale, "act.unavailable", reason=reason)))
            return
        account = vigie.config.account(mention.account_id)
        marks = moderate.cards.marks(mention)
        vigie.slack.open_modal(body["trigger_id"], messages.act_modal(
            mention, actions=options, account=account.name if account else "—",
            channel_id=channel, locale=locale, masked=marks.kinds is not None))

    @app.view(ACT_CALLBACK)
    def on_act_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = _values(view)
        chosen = ((values.get(ACTION_BLOCK) or {}).get(ACTION_ID) or {}).get("selected_option")
        comment = ((values.get(COMMENT_BLOCK) or {}).get(COMMENT_ID) or {}).get("value")
        user = body["user"]["id"]
        if not chosen:
            ack(response_action="errors",
                errors={ACTION_BLOCK: _t(vigie.people.locale_for(user), "act.label")})
            return
        ack()
        meta = json.loads(view.get("private_metadata") or "{}")
        with after_ack(vigie, body):
            moderate.actions.perform(int(meta.get("mention_id") or 0), str(chosen["value"]),
                                     comment=str(comment).strip() or None if comment else None,
                                     actor=user, channel_id=str(meta.get("channel") or ""))

    @app.action(f"{PREFIX}forward")
    def on_forward(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        user, channel, mention_id = body["user"]["id"], _channel(body), _subject(action)
        mention = moderate.moderation.get(mention_id) if mention_id else None
        if mention is None or not vigie.config.desks:
            return
        if not moderate.moderation.staff.may_qualify(user, mention.channel_id):
            moderate.moderation.tell(channel, user, "refused")
            return
        marks = moderate.cards.marks(mention)
        vigie.slack.open_modal(body["trigger_id"], messages.forward_modal(
            mention, vigie.config.desks, channel_id=channel,
            locale=vigie.people.locale_for(user), masked=marks.kinds is not None))

    @app.view(FORWARD_CALLBACK)
    def on_forward_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = _values(view)
        chosen = ((values.get(DESK_BLOCK) or {}).get(DESK_ID) or {}).get("selected_option")
        note = ((values.get(NOTE_BLOCK) or {}).get(NOTE_ID) or {}).get("value")
        user = body["user"]["id"]
        if not chosen or vigie.config.desk(str(chosen.get("value"))) is None:
            ack(response_action="errors", errors={DESK_BLOCK: _t(
                vigie.people.locale_for(user), "reply.unknown_desk")})
            return
        ack()
        meta = json.loads(view.get("private_metadata") or "{}")
        with after_ack(vigie, body):
            moderate.desks.forward(int(meta.get("mention_id") or 0), str(chosen["value"]),
                                   note=str(note) if note else None, actor=user,
                                   channel_id=str(meta.get("channel") or ""))

    @app.action(re.compile(rf"^{re.escape(DESK_PREFIX)}(taken|answered)$"))
    def on_desk(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        delegation_id = _subject(action)
        if delegation_id is None:
            return
        user = body["user"]["id"]
        if str(action["action_id"]).endswith("taken"):
            moderate.desks.taken(delegation_id, actor=user)
        else:
            moderate.desks.answered(delegation_id, actor=user)

    def watchlist_view(locale: str, notice: str | None = None) -> dict[str, Any]:
        rows = [WatchRow(e.offender, e.actions) for e in moderate.moderation.watchlist()]
        return messages.watchlist_modal(rows, threshold=vigie.config.moderation.repeat_offender,
                                        locale=locale, notice=notice)

    @app.action(re.compile(rf"^{re.escape(WATCH_PREFIX)}(undo_mute|undo_block|clear)$"))
    def on_watch(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        user = body["user"]["id"]
        locale = vigie.people.locale_for(user)
        name = str(action["action_id"]).removeprefix(WATCH_PREFIX)
        value = str(action.get("value") or "")
        if name == "clear":
            offender = moderate.moderation.offender(value)
            done = moderate.moderation.staff.may_qualify(user, None) and \
                moderate.moderation.clear(value, actor=user)
            notice = _t(locale, "watch.cleared", author=offender.handle if offender else value) \
                if done else _t(locale, "reply.already")
        else:
            outcome = moderate.actions.undo(int(value) if value.isdigit() else 0, actor=user)
            what = _t(locale, f"watch.{name}")
            notice = {"done": _t(locale, "watch.undone", what=what),
                      "refused": _t(locale, "reply.refused"),
                      "already": _t(locale, "reply.already")}.get(
                outcome.kind, _t(locale, "watch.failed",
                                 reason=shown_reason(outcome.reason, locale)))
        view_id = (body.get("view") or {}).get("id")
        if view_id:
            vigie.slack.update_modal(str(view_id), watchlist_view(locale, notice))

    # -- /vigie watchlist | exposure | tirage | saved ----------------------------------------
    def watchlist(ack: Ack, call: Invocation) -> None:
        if not moderate.moderation.staff.may_qualify(call.user_id, call.channel_id):
            ack(response_type="ephemeral", text=_t(call.locale, "reply.refused"))
            return
        ack()
        vigie.slack.open_modal(call.trigger_id, watchlist_view(call.locale))

    def exposure(ack: Ack, call: Invocation) -> None:
        if call.args and not (call.args[0].isdigit() and 0 < int(call.args[0]) <= 365):
            ack(response_type="ephemeral", text=_t(call.locale, "reply.usage_exposure"))
            return
        if not moderate.moderation.staff.may_qualify(call.user_id, call.channel_id):
            ack(response_type="ephemeral", text=_t(call.locale, "reply.refused"))
            return
        days = int(call.args[0]) if call.args else vigie.config.moderation.share_days
        figures = moderate.exposure.handled(since=vigie.clock.now() - timedelta(days=days))
        message = messages.exposure_message(
            [ExposureLine(f.user_id, f.assigned, f.qualified, f.revealed, f.handled, f.share)
             for f in figures], days=days, locale=call.locale)
        ack(response_type="ephemeral", text=message.text, blocks=message.blocks)

    def tirage(ack: Ack, call: Invocation) -> None:
        if not moderate.moderation.staff.may_qualify(call.user_id, call.channel_id):
            ack(response_type="ephemeral", text=_t(call.locale, "reply.refused"))
            return
        try:
            request = moderate.contests.parse(call.args)
        except BadDraw as bad:
            ack(response_type="ephemeral", text=_t(call.locale, f"reply.{bad.key}",
                                                   **bad.params))
            return
        ack()
        result = moderate.contests.draw(request, actor=call.user_id, channel_id=call.channel_id)
        moderate.contests.publish(result)

    def saved(ack: Ack, call: Invocation) -> None:
        limit = int(call.args[0]) if call.args and call.args[0].isdigit() else 20
        message = messages.saved_message(moderate.curation.saved(max(1, min(limit, 40))),
                                         locale=call.locale)
        ack(response_type="ephemeral", text=message.text, blocks=message.blocks)

    subcommands.update({"watchlist": watchlist, "exposure": exposure, "tirage": tirage,
                        "saved": saved})
