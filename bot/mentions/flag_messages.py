"""Block Kit for flags: the flagger's acknowledgement and outcome, the shortcut's modal, the
lines a flag adds to a card. Pure functions, tested without Slack.

Untrusted text (notes, names, fetched posts, reasons) is always escaped; channel ids come
from Slack or the config and are only ever shown as `<#C…>` links, which ping nobody.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.config import Account
from bot.i18n import catalogue
from bot.reasons import shown_reason
from bot.slack_format import Message, escape, escaped_within, link, mrkdwn, plain

MODAL_CALLBACK = "send_to_vigie_modal"
ACCOUNT_BLOCK, ACCOUNT_ACTION = "account", "account"
NOTE_BLOCK, NOTE_ACTION = "note", "note"
NOTE_MAX = 1000
PREVIEW_LIMIT = 600
OUTCOMES = ("answered", "closed", "ignored", "escalated")


def _t(locale: str, key: str, **params: object) -> str:
    return catalogue().text(locale, key, **params)


def where(locale: str, *, way: str, channel: str) -> str:
    """"in #desk", "in a direct message" or "with /vigie add" (mrkdwn, safe)."""
    if way == "command":
        return _t(locale, "flags.where.command")
    if channel[:1] in ("C", "G") and channel.isalnum():
        return _t(locale, "flags.where.channel", channel=channel)
    return _t(locale, "flags.where.direct")


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": mrkdwn(text, verbatim=True)}


def acknowledgement(locale: str, *, channel: str, duplicate: bool,
                    fetched: tuple[str, str] | None, fetch_error: str | None) -> Message:
    """What the flagger reads right after flagging. `fetched` is (author, platform)."""
    lines = [_t(locale, "flags.ack.already" if duplicate else "flags.ack.sent", channel=channel)]
    if fetched:
        author, platform = fetched
        lines.append(_t(locale, "flags.ack.fetched", author=escaped_within(author, 200),
                        platform=escape(platform.capitalize())))
    if fetch_error:
        lines.append(_t(locale, "flags.ack.fetch_failed",
                        reason=shown_reason(fetch_error, locale, limit=300)))
    lines.append(_t(locale, "flags.ack.follow"))
    text = "\n".join(lines)
    return Message(text=text, blocks=[_section(text)])


def also_flagged(locale: str, *, name: str, where_text: str, note: str | None) -> Message:
    """A line in an existing card's thread when someone flags the same thing again."""
    if note:
        text = _t(locale, "flags.ack.card_thread_note", name=escaped_within(name, 100),
                  where=where_text, note=escaped_within(note, 500))
    else:
        text = _t(locale, "flags.ack.card_thread", name=escaped_within(name, 100),
                  where=where_text)
    return Message(text=text, blocks=[_section(text)])


def help_message(locale: str) -> Message:
    text = _t(locale, "flags.help.text")
    return Message(text=text, blocks=[{"type": "section", "text": mrkdwn(text, verbatim=False)}])


def outcome_message(locale: str, *, status: str, by_name: str | None,
                    card_url: str | None) -> Message:
    by = _t(locale, "flags.outcome.by", name=escaped_within(by_name, 100)) if by_name else ""
    text = _t(locale, f"flags.outcome.{status}", by=by)
    if card_url:
        text += "  " + link(card_url, _t(locale, "flags.outcome.card"))
    return Message(text=text, blocks=[_section(text)])


@dataclass(frozen=True)
class CardFlag:
    """What a card shows about one flag."""

    name: str
    way: str
    channel: str
    permalink: str | None
    note: str | None  # only when the card's text does not already say it
    fetch_error: str | None  # as stored: see bot.reasons


def card_context(flags: Sequence[CardFlag], locale: str) -> list[dict[str, Any]]:
    """Context blocks added under a card: who flagged it, where, their note, and whether
    the post could be fetched."""
    blocks: list[dict[str, Any]] = []
    for index, flag in enumerate(flags[:3]):
        parts = [_t(locale, "flags.card.flagged", name=escaped_within(flag.name, 100),
                    where=where(locale, way=flag.way, channel=flag.channel))]
        if flag.permalink:
            parts.append(link(flag.permalink, _t(locale, "flags.card.permalink")))
        elements = [mrkdwn("  ·  ".join(parts))]
        if flag.note:
            elements.append(mrkdwn(_t(locale, "flags.card.note",
                                      note=escaped_within(flag.note, 500))))
        if flag.fetch_error:
            elements.append(mrkdwn(_t(locale, "flags.card.fetch_failed",
                                      reason=shown_reason(flag.fetch_error, locale,
                                                          limit=300))))
        blocks.append({"type": "context", "block_id": f"flag-{index}", "elements": elements})
    return blocks


# -- the shortcut's modal ---------------------------------------------------------------
def shortcut_modal(locale: str, *, flag_id: int, author: str, preview: str, files: int,
                   accounts: Sequence[Account], initial_account: str | None) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [
        _section(_t(locale, "flags.modal.intro")),
        {"type": "context", "elements": [
            mrkdwn(_t(locale, "flags.modal.from", author=escaped_within(author, 150)))]},
        _section(escaped_within(preview or "…", PREVIEW_LIMIT)),
    ]
    if files:
        blocks.append({"type": "context", "elements": [
            mrkdwn(_t(locale, "flags.modal.files", count=files))]})
    if accounts:
        options = [_option(a) for a in accounts[:100]]
        select: dict[str, Any] = {
            "type": "static_select",
            "action_id": ACCOUNT_ACTION,
            "placeholder": plain(_t(locale, "flags.modal.account_placeholder")),
            "options": options,
        }
        initial = next((o for o in options if o["value"] == initial_account), None)
        if initial:
            select["initial_option"] = initial
        blocks.append({"type": "input", "block_id": ACCOUNT_BLOCK, "optional": True,
                       "label": plain(_t(locale, "flags.modal.account")), "element": select})
    blocks.append({
        "type": "input", "block_id": NOTE_BLOCK, "optional": True,
        "label": plain(_t(locale, "flags.modal.note")),
        "element": {"type": "plain_text_input", "action_id": NOTE_ACTION, "multiline": True,
                    "max_length": NOTE_MAX,
                    "placeholder": plain(_t(locale, "flags.modal.note_placeholder"))},
    })
    return {
        "type": "modal",
        "callback_id": MODAL_CALLBACK,
        "private_metadata": json.dumps({"flag_id": flag_id}),
        "title": plain(_t(locale, "flags.modal.title")),
        "submit": plain(_t(locale, "flags.modal.submit")),
        "close": plain(_t(locale, "flags.modal.close")),
        "blocks": blocks,
    }


def already_sent_modal(locale: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "title": plain(_t(locale, "flags.modal.already_title")),
        "close": plain(_t(locale, "flags.modal.close")),
        "blocks": [_section(_t(locale, "flags.modal.already"))],
    }


def _option(account: Account) -> dict[str, Any]:
    label = account.name if len(account.name) <= 75 else account.name[:74] + "…"
    return {"text": plain(label), "value": account.id}


@dataclass(frozen=True)
class ModalAnswer:
    flag_id: int | None
    account: str | None
    note: str | None


def read_modal(view: dict[str, Any]) -> ModalAnswer:
    """The flag id, account and note from a submitted shortcut modal."""
    try:
        flag_id = int(json.loads(view.get("private_metadata") or "{}").get("flag_id"))
    except (TypeError, ValueError, AttributeError):
        flag_id = None
    values = (view.get("state") or {}).get("values") or {}
    selected = (values.get(ACCOUNT_BLOCK, {}).get(ACCOUNT_ACTION) or {}).get("selected_option")
    note = (values.get(NOTE_BLOCK, {}).get(NOTE_ACTION) or {}).get("value")
    return ModalAnswer(
        flag_id=flag_id,
        account=str(selected["value"]) if isinstance(selected, dict) else None,
        note=str(note).strip() or None if note else None,
    )
