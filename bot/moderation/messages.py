"""Block Kit of the moderate flow: the masked card's parts and its controls, Reveal, the
moderation and forward modals, the desk's message, the watchlist, exposure, saved
mentions and draws. Pure functions, tested without Slack; untrusted text is escaped.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.config import Desk
from bot.i18n import catalogue
from bot.mentions.models import Mention
from bot.moderation.masking import kinds_label
from bot.moderation.models import (
    ActionKind,
    ContestDraw,
    Delegation,
    DelegationState,
    ModerationAction,
    Offender,
)
from bot.platforms import PLATFORMS
from bot.slack_format import Message, date, escape, escaped_within, link, mrkdwn, plain

PREFIX = "moderate."
DESK_PREFIX = "desk."
WATCH_PREFIX = "watch."
ACT_CALLBACK, FORWARD_CALLBACK, WATCH_CALLBACK = "moderate_act", "moderate_forward", "watchlist"
ACTION_BLOCK, ACTION_ID = "action", "action"
COMMENT_BLOCK, COMMENT_ID = "comment", "comment"
DESK_BLOCK, DESK_ID = "desk", "desk"
NOTE_BLOCK, NOTE_ID = "note", "note"
TEXT_LIMIT = 2900
PLATFORM_NAMES = {p.name: p.label for p in PLATFORMS if p.moderation}


def _t(locale: str, key: str, **params: object) -> str:
    return catalogue().text(locale, f"moderate.{key}", **params)


def _when(at: datetime) -> str:
    return date(at, at.strftime("%Y-%m-%d %H:%M UTC"), "{date_short_pretty} {time}")


def text_message(text: str) -> Message:
    return Message(text=text, blocks=[{"type": "section", "text": mrkdwn(text)}])


def reply(locale: str, key: str, **params: object) -> Message:
    return text_message(_t(locale, f"reply.{key}", **params))


def _author(mention: Mention, limit: int = 80) -> str:
    name = escaped_within(mention.author_name or mention.author_handle, limit)
    if mention.author_name and mention.author_name != mention.author_handle:
        name += f" ({escaped_within(mention.author_handle, limit)})"
    return name


# -- the card ---------------------------------------------------------------------------
@dataclass(frozen=True)
class CardMarks:
    """What the moderate flow adds to one card."""

    kinds: tuple[str, ...] | None = None  # abusive: masked
    offender: Offender | None = None  # set when the author is on the watchlist
    actions: list[ModerationAction] = field(default_factory=list)  # in force
    delegations: list[Delegation] = field(default_factory=list)
    saved_by: str | None = None
    desks: bool = False  # offer "Forward"
    platform_actions: bool = False  # offer "Moderate…"
    desk_names: dict[str, str] = field(default_factory=dict)


def masked_body(mention: Mention, kinds: Sequence[str], *, account: str, locale: str
                ) -> dict[str, Any]:
    """Instead of the text: what it is, who sent it and where; Reveal shows it to the
    clicker only."""
    text = ":no_entry: " + _t(locale, "card.masked", kinds=kinds_label(kinds, locale),
                              author=_author(mention),
                              platform=escape(mention.platform.capitalize()),
                              account=escape(account))
    return {"type": "section", "block_id": "body", "text": mrkdwn(text),
            "accessory": {"type": "button", "action_id": f"{PREFIX}reveal",
                          "text": plain(_t(locale, "card.reveal")), "value": str(mention.id)}}


def card_context(marks: CardMarks, locale: str) -> list[dict[str, Any]]:
    """Lines under the mention: the repeat offender flag, moderation in force, forwards."""
    lines: list[str] = []
    if marks.offender is not None:
        lines.append(":triangular_flag_on_post: " + _t(
            locale, "card.repeat_offender", count=marks.offender.abusive_count))
    for action in marks.actions:
        lines.append(_t(locale, f"card.action_{action.action}", user=f"<@{action.by}>",
                        when=_when(action.at),
                        platform=PLATFORM_NAMES.get(action.platform, action.platform)))
    for delegation in marks.delegations:
        desk = escape(marks.desk_names.get(delegation.desk_id, delegation.desk_id))
        line = ":arrow_right_hook: " + _t(locale, "card.forwarded", desk=desk,
                                          user=f"<@{delegation.by}>", when=_when(delegation.at))
        if delegation.state == DelegationState.TAKEN and delegation.taken_by:
            line += " — " + _t(locale, "card.desk_taken", user=f"<@{delegation.taken_by}>")
        elif delegation.state == DelegationState.ANSWERED and delegation.answered_by:
            line += " — :white_check_mark: " + _t(
                locale, "card.desk_answered", user=f"<@{delegation.answered_by}>",
                when=_when(delegation.answered_at or delegation.at))
        else:
            line += " — " + _t(locale, "card.desk_waiting")
        lines.append(line)
    if marks.saved_by:
        lines.append(":star: " + _t(locale, "card.saved", user=f"<@{marks.saved_by}>"))
    if not lines:
        return []
    return [{"type": "context", "block_id": "moderation",
             "elements": [mrkdwn("\n".join(lines))]}]


def card_controls(mention: Mention, marks: CardMarks, locale: str) -> dict[str, Any]:
    subject = str(mention.id)
    elements: list[dict[str, Any]] = []
    if marks.kinds is None:
        elements.append(_button("mark", _t(locale, "card.mark"), subject))
    else:
        elements.append(_button("unmark", _t(locale, "card.unmark"), subject))
    if marks.platform_actions:
        platform = PLATFORM_NAMES.get(mention.platform, mention.platform)
        elements.append(_button("act", _t(locale, "card.act", platform=platform), subject))
    for action in marks.actions:  # a hidden comment, where it can be shown again
        if action.action == "hide" and action.mention_id == mention.id and _unhides(action):
            elements.append(_button("unhide", _t(locale, "card.unhide"), str(action.id)))
    if marks.desks:
        elements.append(_button("forward", _t(locale, "card.forward"), subject))
    if marks.kinds is None:
        if marks.saved_by:
            elements.append(_button("unsave", _t(locale, "card.unsave"), subject))
        else:
            elements.append(_button("save", _t(locale, "card.save"), subject))
    return {"type": "actions", "block_id": f"moderate:{mention.id}:{mention.version}",
            "elements": elements}


def _unhides(action: ModerationAction) -> bool:
    from bot.moderation.actions import undoable

    return undoable(action)


def _button(name: str, label: str, value: str, *, prefix: str = PREFIX,
            style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {"type": "button", "action_id": f"{prefix}{name}",
                              "text": plain(label), "value": value}
    if style:
        button["style"] = style
    return button


def revealed(mention: Mention, kinds: Sequence[str], *, locale: str) -> Message:
    """The text of an abusive mention, for the eyes of the one person who asked."""
    head = _t(locale, "reveal.head", kinds=kinds_label(kinds, locale), author=_author(mention))
    body = escaped_within(mention.text, TEXT_LIMIT)
    blocks: list[dict[str, Any]] = [
        {"type": "context", "elements": [mrkdwn(":eye: " + head)]},
        {"type": "section", "text": mrkdwn(body)},
        {"type": "context", "elements": [mrkdwn(_t(locale, "reveal.logged"))]},
    ]
    return Message(text=head, blocks=blocks)


# -- moderation actions -------------------------------------------------------------------
def act_modal(mention: Mention, *, actions: Sequence[str], account: str, channel_id: str,
              locale: str, masked: bool) -> dict[str, Any]:
    """Confirm a moderation action: which one, as which account, with a report comment."""
    platform = PLATFORM_NAMES.get(mention.platform, mention.platform)
    options = [{"text": plain(_t(locale, f"act.{name}")),
                "description": plain(_t(locale, f"act.{name}_help", platform=platform)),
                "value": name} for name in actions]
    about = mention.author_handle if masked else mention.text
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": mrkdwn(_t(
            locale, "act.intro", author=_author(mention), platform=escape(platform),
            account=escape(account)))},
        {"type": "context", "elements": [mrkdwn(escaped_within(about, 300))]},
        {"type": "input", "block_id": ACTION_BLOCK, "label": plain(_t(locale, "act.label")),
         "element": {"type": "radio_buttons", "action_id": ACTION_ID, "options": options}},
        {"type": "input", "block_id": COMMENT_BLOCK, "optional": True,
         "label": plain(_t(locale, "act.comment")),
         "element": {"type": "plain_text_input", "action_id": COMMENT_ID, "multiline": True,
                     "max_length": 1000}},
    ]
    return {"type": "modal", "callback_id": ACT_CALLBACK,
            "private_metadata": json.dumps({"mention_id": mention.id, "channel": channel_id}),
            "title": plain(_t(locale, "act.title")), "submit": plain(_t(locale, "act.submit")),
            "close": plain(_t(locale, "act.close")), "blocks": blocks}


def no_action_modal(locale: str, reason: str) -> dict[str, Any]:
    return {"type": "modal", "title": plain(_t(locale, "act.title")),
            "close": plain(_t(locale, "act.close")),
            "blocks": [{"type": "section", "text": mrkdwn(reason)}]}


# -- forward to a desk ----------------------------------------------------------------------
def forward_modal(mention: Mention, desks: Sequence[Desk], *, channel_id: str, locale: str,
                  masked: bool) -> dict[str, Any]:
    options = [{"text": plain(d.name), "value": d.id} for d in desks[:100]]
    about = mention.author_handle if masked else mention.text
    return {
        "type": "modal", "callback_id": FORWARD_CALLBACK,
        "private_metadata": json.dumps({"mention_id": mention.id, "channel": channel_id}),
        "title": plain(_t(locale, "forward.title")),
        "submit": plain(_t(locale, "forward.submit")),
        "close": plain(_t(locale, "act.close")),
        "blocks": [
            {"type": "section", "text": mrkdwn(_t(locale, "forward.intro",
                                                  author=_author(mention)))},
            {"type": "context", "elements": [mrkdwn(escaped_within(about, 300))]},
            {"type": "input", "block_id": DESK_BLOCK, "label": plain(_t(locale, "forward.desk")),
             "element": {"type": "static_select", "action_id": DESK_ID, "options": options,
                         "placeholder": plain(_t(locale, "forward.desk"))}},
            {"type": "input", "block_id": NOTE_BLOCK, "optional": True,
             "label": plain(_t(locale, "forward.note")),
             "element": {"type": "plain_text_input", "action_id": NOTE_ID, "multiline": True,
                         "max_length": 1000}},
        ],
    }


def desk_message(mention: Mention, delegation: Delegation, *, desk: str, account: str,
                 kinds: Sequence[str] | None, card_url: str | None, locale: str) -> Message:
    """What the desk reads: the mention (masked if abusive), the note, the controls."""
    head = _t(locale, "desk.head", user=f"<@{delegation.by}>", author=_author(mention),
              account=escape(account), platform=escape(mention.platform.capitalize()))
    blocks: list[dict[str, Any]] = [{"type": "section", "block_id": "desk-head",
                                     "text": mrkdwn(":arrow_right_hook: " + head)}]
    if kinds is not None:
        blocks.append({"type": "section", "block_id": "body", "text": mrkdwn(
            ":no_entry: " + _t(locale, "desk.masked", kinds=kinds_label(kinds, locale))),
            "accessory": {"type": "button", "action_id": f"{PREFIX}reveal",
                          "text": plain(_t(locale, "card.reveal")),
                          "value": str(mention.id)}})
    else:
        blocks.append({"type": "section", "block_id": "body",
                       "text": mrkdwn(escaped_within(mention.text, TEXT_LIMIT))})
    if delegation.note:
        blocks.append({"type": "section", "block_id": "note", "text": mrkdwn(
            _t(locale, "desk.note", note=escaped_within(delegation.note, 1500)))})
    meta = []
    if mention.url:
        meta.append(link(mention.url, _t(locale, "desk.open_post")))
    if card_url:
        meta.append(link(card_url, _t(locale, "desk.open_card")))
    if meta:
        blocks.append({"type": "context", "elements": [mrkdwn("  ·  ".join(meta))]})
    subject = str(delegation.id)
    if delegation.state == DelegationState.ANSWERED:
        blocks.append({"type": "context", "block_id": "desk-state", "elements": [mrkdwn(
            ":white_check_mark: " + _t(locale, "card.desk_answered",
                                       user=f"<@{delegation.answered_by}>",
                                       when=_when(delegation.answered_at or delegation.at)))]})
    else:
        if delegation.state == DelegationState.TAKEN:
            blocks.append({"type": "context", "block_id": "desk-state", "elements": [mrkdwn(
                _t(locale, "card.desk_taken", user=f"<@{delegation.taken_by}>"))]})
        elements = []
        if delegation.state == DelegationState.FORWARDED:
            elements.append(_button("taken", _t(locale, "desk.taken"), subject,
                                    prefix=DESK_PREFIX))
        elements.append(_button("answered", _t(locale, "desk.answered"), subject,
                                prefix=DESK_PREFIX, style="primary"))
        blocks.append({"type": "actions", "block_id": f"desk:{delegation.id}",
                       "elements": elements})
    return Message(text=_t(locale, "desk.fallback", desk=escape(desk)), blocks=blocks)


def desk_nudge(delegation: Delegation, *, delay: str, locale: str) -> Message:
    return text_message(":hourglass: " + _t(locale, "desk.nudge", delay=delay))


def desk_escalation(delegation: Delegation, *, desk: str, delay: str, card_url: str | None,
                    locale: str) -> Message:
    text = ":rotating_light: " + _t(locale, "desk.escalation", desk=escape(desk), delay=delay,
                                    user=f"<@{delegation.by}>")
    if card_url:
        text += "  " + link(card_url, _t(locale, "desk.open_card"))
    return text_message(text)


# -- watchlist, exposure, saved ---------------------------------------------------------------
@dataclass(frozen=True)
class WatchRow:
    offender: Offender
    actions: list[ModerationAction]


def watchlist_modal(rows: Sequence[WatchRow], *, threshold: int, locale: str,
                    notice: str | None = None) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [{"type": "section", "text": mrkdwn(
        _t(locale, "watch.intro", count=threshold))}]
    if notice:
        blocks.append({"type": "context", "elements": [mrkdwn(notice)]})
    if not rows:
        blocks.append({"type": "section", "text": mrkdwn(_t(locale, "watch.empty"))})
    for row in rows[:20]:
        offender = row.offender
        name = escaped_within(offender.name or offender.handle, 80)
        line = f"*{name}*  {escaped_within(offender.handle, 120)} · " \
            f"{PLATFORM_NAMES.get(offender.platform, escape(offender.platform))}"
        facts = [_t(locale, "watch.count", count=offender.abusive_count)]
        if offender.watch_since:
            facts.append(_t(locale, "watch.since", when=_when(offender.watch_since)))
        for action in row.actions:
            facts.append(_t(locale, f"watch.in_force_{action.action}", user=f"<@{action.by}>"))
        blocks.append({"type": "section", "text": mrkdwn(line + "\n" + " · ".join(facts))})
        elements = [_button(f"undo_{a.action}", _t(locale, f"watch.undo_{a.action}"), str(a.id),
                            prefix=WATCH_PREFIX)
                    for a in row.actions if a.action in (ActionKind.MUTE, ActionKind.BLOCK)]
        if offender.watch_since:
            elements.append(_button("clear", _t(locale, "watch.clear"), offender.author_key,
                                    prefix=WATCH_PREFIX))
        if elements:
            blocks.append({"type": "actions", "block_id": f"watch:{len(blocks)}",
                           "elements": elements[:5]})
    return {"type": "modal", "callback_id": WATCH_CALLBACK,
            "title": plain(_t(locale, "watch.title")), "close": plain(_t(locale, "act.close")),
            "blocks": blocks[:100]}


@dataclass(frozen=True)
class ExposureLine:
    user_id: str
    assigned: int
    qualified: int
    revealed: int
    handled: int
    share: float


def exposure_message(lines: Sequence[ExposureLine], *, days: int, locale: str) -> Message:
    title = _t(locale, "exposure.title", days=days)
    rows = [f"*{escape(title)}*"]
    if not lines:
        rows.append(_t(locale, "exposure.empty"))
    for line in lines[:40]:
        rows.append(_t(locale, "exposure.line", user=f"<@{line.user_id}>", handled=line.handled,
                       share=round(line.share * 100), assigned=line.assigned,
                       qualified=line.qualified, revealed=line.revealed))
    text = "\n".join(rows)
    return Message(text=title, blocks=[{"type": "section", "text": mrkdwn(text)}])


@dataclass(frozen=True)
class SavedLine:
    mention: Mention
    by: str
    at: datetime


def saved_message(lines: Sequence[SavedLine], *, locale: str) -> Message:
    title = _t(locale, "saved.title", count=len(lines))
    rows = [f"*{escape(title)}*"]
    if not lines:
        rows.append(_t(locale, "saved.empty"))
    for line in lines:
        mention = line.mention
        entry = f"• `#{mention.id}` *{_author(mention, 60)}*: " \
            f"{escaped_within(' '.join(mention.text.split()), 160)}"
        if mention.url:
            entry += " " + link(mention.url, _t(locale, "desk.open_post"))
        entry += " — " + _t(locale, "saved.by", user=f"<@{line.by}>")
        rows.append(entry)
    text = "\n".join(rows)
    while len(text) > TEXT_LIMIT and len(rows) > 2:
        rows.pop()
        text = "\n".join(rows)
    return Message(text=title, blocks=[{"type": "section", "text": mrkdwn(text)}])


# -- contests ---------------------------------------------------------------------------
def draw_message(draw: ContestDraw, *, winners: Sequence[str], participants: int,
                 excluded: dict[str, int], locale: str) -> Message:
    """The public result: winners, how many took part and were left out, the seed and the
    method, so anyone can draw again and get the same names."""
    title = _t(locale, "draw.title", query=escape(draw.query))
    lines = [f":tada: *{escape(title)}*"]
    if winners:
        lines.append(_t(locale, "draw.winners", names=", ".join(
            f"*{escaped_within(w, 120)}*" for w in winners)))
    else:
        lines.append(_t(locale, "draw.nobody"))
    lines.append(_t(locale, "draw.facts", participants=participants, wanted=draw.wanted,
                    since=_when(draw.since), until=_when(draw.until)))
    if excluded:
        lines.append(_t(locale, "draw.excluded", details=", ".join(
            _t(locale, f"draw.excluded_{reason}", count=count)
            for reason, count in sorted(excluded.items()))))
    proof = _t(locale, "draw.method", seed=draw.seed, method=escape(draw.method))
    return Message(text=title, blocks=[
        {"type": "section", "text": mrkdwn("\n".join(lines))},
        {"type": "context", "elements": [mrkdwn(proof)]},
    ])


def participants_message(participants: Sequence[tuple[int, str]], *, part: int, locale: str
                         ) -> Message:
    """One thread reply of the numbered, sorted participant list."""
    title = _t(locale, "draw.participants", part=part)
    body = "\n".join(f"{i}. {escaped_within(p, 120)}" for i, p in participants)
    return Message(text=title, blocks=[{"type": "section",
                                        "text": mrkdwn(f"*{escape(title)}*\n{body}")}])
