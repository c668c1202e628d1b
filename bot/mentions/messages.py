"""Block Kit for mention cards. Pure functions of a stored mention and its triage state:
tested without Slack.

A card has the mention (author, text, meta), the state lines (what each field is, who
set it and when, or which rule suggested it) and the qualify controls. Closed and
ignored cards collapse to one line with a Reopen button, so the channel stays readable.
Every control's `block_id` carries the mention id and its version: the handler reads the
subject from it, and a new version makes Slack clients redraw the menus from the stored
state instead of keeping a stale local choice.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.config import Config
from bot.i18n import catalogue
from bot.listen.messages import alert_banner
from bot.mentions.models import Category, Mention, Priority, Sentiment, Status
from bot.platforms import PLATFORMS
from bot.platforms import label as platform_label
from bot.platforms.base import Platform
from bot.slack_format import Message, date, escape, escaped_within, link, mrkdwn, plain

PLATFORM_EMOJI = {"web": ":globe_with_meridians:",
                  **{p.name: p.emoji for p in PLATFORMS if p.emoji != Platform.emoji}}
BODY_LIMIT = 2900  # Slack refuses section text over 3000 characters.
CARD_EVENT_TYPE = "vigie_mention"
REMOTE_STATES = ("edited", "removed", "hidden")  # `Mention.remote_state` the card tells
ACTION_PREFIX = "qualify."
CONTROL_BLOCK = re.compile(r"^(?:qualify|assign|collapsed):(\d+):\d+$")
COLLAPSED = (Status.CLOSED, Status.IGNORED)
STATUS_EMOJI = {
    Status.OPEN: ":large_blue_circle:", Status.ASSIGNED: ":bust_in_silhouette:",
    Status.ANSWERED: ":speech_balloon:", Status.CLOSED: ":white_check_mark:",
    Status.IGNORED: ":no_entry_sign:", Status.ESCALATED: ":rotating_light:",
}
PRIORITY_EMOJI = {Priority.LOW: "", Priority.NORMAL: "", Priority.HIGH: ":small_red_triangle: ",
                  Priority.URGENT: ":red_circle: "}
CHOICES: dict[str, tuple[str, ...]] = {
    "sentiment": tuple(Sentiment), "category": tuple(Category),
    "priority": tuple(Priority), "status": tuple(Status),
}


@dataclass(frozen=True)
class FieldMark:
    """Who or what last set a field, and when (from the audit log)."""

    at: datetime
    actor_id: str | None
    source: str
    rule: str | None = None


@dataclass(frozen=True)
class CardState:
    marks: dict[str, FieldMark] = field(default_factory=dict)
    suggested_sentiment: str | None = None  # the rule-based hint (bot.mentions.sentiment)
    respond_by: datetime | None = None
    # The model's hints (bot.suggestions): field → (value, confidence 0…1).
    hints: dict[str, tuple[str, float]] = field(default_factory=dict)


def mention_id_of_block(block_id: str) -> int | None:
    """The mention a card control belongs to, from its `block_id`."""
    match = CONTROL_BLOCK.match(block_id or "")
    return int(match.group(1)) if match else None


def mention_card(mention: Mention, *, account_name: str | None, locale: str,
                 state: CardState | None = None) -> Message:
    state = state or CardState()
    if mention.status in COLLAPSED:
        return _collapsed_card(mention, account_name=account_name, locale=locale, state=state)
    t = catalogue().text
    account = account_name or t(locale, "card.account_unknown")
    author = mention.author_name or mention.author_handle
    emoji = PLATFORM_EMOJI.get(mention.platform, ":speech_balloon:")

    title = f"{emoji} *{escaped_within(author, 200)}*"
    if mention.author_name and mention.author_handle != mention.author_name:
        title += f"  {escaped_within(mention.author_handle, 200)}"
    title += f"  ·  {escape(account)}"

    context = [
        escape(mention.platform),
        escape(t(locale, "card.source", source=mention.source_id)),
        date(mention.created_at, mention.created_at.strftime("%Y-%m-%d %H:%M UTC")),
    ]
    if mention.url:
        context.append(link(mention.url, t(locale, "card.open_link")))

    blocks: list[dict[str, Any]] = [
        {"type": "section", "block_id": "author", "text": mrkdwn(title)},
        {
            "type": "section",
            "block_id": "body",
            "text": mrkdwn(escaped_within(mention.text, BODY_LIMIT)),
        },
        {"type": "context", "block_id": "meta", "elements": [mrkdwn("  ·  ".join(context))]},
    ]
    banner = alert_banner(mention, locale)  # alert words (bot.listen.alerts)
    if banner:
        blocks.insert(1, banner)
    if mention.remote_state in REMOTE_STATES:
        when = mention.remote_state_at or mention.created_at
        note = t(locale, f"card.remote_{mention.remote_state}", platform=escape(
            platform_label(mention.platform)), when=date(when, when.strftime("%Y-%m-%d %H:%M UTC")))
        blocks.append({"type": "context", "block_id": "remote", "elements": [mrkdwn(note)]})
    if len(escape(mention.text)) > BODY_LIMIT:
        note = t(locale, "card.truncated", shown=BODY_LIMIT, total=len(mention.text))
        blocks.append({"type": "context", "elements": [mrkdwn(escape(note))]})
    blocks.append({"type": "context", "block_id": "state",
                   "elements": [mrkdwn(_state_lines(mention, state, locale))]})
    blocks.extend(_controls(mention, locale))

    fallback = t(
        locale,
        "card.fallback",
        author=escaped_within(author, 100),
        account=escape(account),
        excerpt=escaped_within(mention.text, 200),
    )
    return Message(text=fallback, blocks=blocks, metadata=_metadata(mention))


def _metadata(mention: Mention) -> dict[str, Any]:
    return {"event_type": CARD_EVENT_TYPE, "event_payload": {"mention_id": mention.id}}


def _label(locale: str, field_name: str, value: str) -> str:
    return catalogue().text(locale, f"qualify.{field_name}.{value}")


def _who(mark: FieldMark | None, locale: str) -> str:
    """"— <@U1>, 09:14" / "— suggested by rule crisis" / "" when nobody set it."""
    if mark is None:
        return ""
    t = catalogue().text
    when = date(mark.at, mark.at.strftime("%Y-%m-%d %H:%M UTC"), "{date_short_pretty} {time}")
    if mark.source == "rule":
        return " — " + t(locale, "qualify.card.by_rule", rule=escape(mark.rule or "?"))
    if mark.source == "sla":
        return " — " + t(locale, "qualify.card.by_sla", when=when)
    if mark.actor_id:
        return " — " + t(locale, "qualify.card.by_person", user=f"<@{mark.actor_id}>", when=when)
    return ""


def _state_lines(mention: Mention, state: CardState, locale: str) -> str:
    """One line per field: its value, who set it and when (or which rule suggested it)."""
    t = catalogue().text
    marks = state.marks
    status = Status(mention.status)

    def field(name: str, value: str) -> str:
        return t(locale, "qualify.card.field_line", label=t(locale, f"qualify.card.{name}"),
                 value=value)

    line = f"{STATUS_EMOJI[status]} " + field("status", _label(locale, "status", status))
    if mention.assignee_id:
        line += " · " + t(locale, "qualify.card.assignee", user=f"<@{mention.assignee_id}>")
        line += _who(marks.get("assignee"), locale)
    elif marks.get("status"):
        line += _who(marks.get("status"), locale)
    lines = [line]
    priority = Priority(mention.priority)
    priority_line = _label(locale, "priority", priority) + _who(marks.get("priority"), locale)
    hint = state.hints.get("priority")
    if hint and hint[0] != priority and "priority" not in marks and not mention.alert_terms:
        # Nobody chose it yet: no person, no rule, no alert word (they set it unaudited).
        priority_line += " — " + _hint(locale, "priority", hint)
    lines.append(PRIORITY_EMOJI[priority] + field("priority", priority_line))
    for name in ("category", "sentiment"):
        value = getattr(mention, name)
        if value:
            text = _label(locale, name, value) + _who(marks.get(name), locale)
        else:
            text = t(locale, "qualify.card.unset")
        if not value and name in state.hints:
            text += " — " + _hint(locale, name, state.hints[name])
        elif name == "sentiment" and state.suggested_sentiment and not value:
            text += " — " + t(locale, "qualify.card.suggested_sentiment",
                              value=_label(locale, "sentiment", state.suggested_sentiment))
        lines.append(field(name, text))
    if state.respond_by and status in (Status.OPEN, Status.ASSIGNED) \
            and mention.first_response_at is None:
        due = date(state.respond_by, state.respond_by.strftime("%Y-%m-%d %H:%M UTC"),
                   "{date_short_pretty} {time}")
        lines.append(":stopwatch: " + t(locale, "qualify.card.respond_by", when=due))
    return "\n".join(lines)


def _hint(locale: str, name: str, hint: tuple[str, float]) -> str:
    """"hint: negative (82% sure, check it)": a model's guess, never a value."""
    value, confidence = hint
    return catalogue().text(locale, "qualify.card.hint", value=_label(locale, name, value),
                            confidence=round(confidence * 100))


def _select(mention: Mention, locale: str, name: str) -> dict[str, Any]:
    options = [{"text": plain(_label(locale, name, value)), "value": value}
               for value in CHOICES[name]]
    element: dict[str, Any] = {
        "type": "static_select",
        "action_id": f"{ACTION_PREFIX}{name}",
        "placeholder": plain(catalogue().text(locale, f"qualify.card.{name}")),
        "options": options,
    }
    current = getattr(mention, name)
    if current:
        element["initial_option"] = next(o for o in options if o["value"] == current)
    return element


def _controls(mention: Mention, locale: str) -> list[dict[str, Any]]:
    t = catalogue().text
    subject = f"{mention.id}:{mention.version}"
    assignee: dict[str, Any] = {
        "type": "users_select",
        "action_id": f"{ACTION_PREFIX}assignee",
        "placeholder": plain(t(locale, "qualify.card.assign")),
    }
    if mention.assignee_id:
        assignee["initial_user"] = mention.assignee_id
    return [
        {"type": "actions", "block_id": f"qualify:{subject}", "elements": [
            _select(mention, locale, name) for name in ("sentiment", "category", "priority")
        ]},
        {"type": "actions", "block_id": f"assign:{subject}", "elements": [
            assignee,
            {"type": "button", "action_id": f"{ACTION_PREFIX}take", "style": "primary",
             "text": plain(t(locale, "qualify.card.take")), "value": str(mention.id)},
            _select(mention, locale, "status"),
            {"type": "button", "action_id": f"{ACTION_PREFIX}history",
             "text": plain(t(locale, "qualify.card.history")), "value": str(mention.id)},
        ]},
    ]


def _collapsed_card(mention: Mention, *, account_name: str | None, locale: str,
                    state: CardState) -> Message:
    """One line: status, who closed it, the author and an excerpt; a Reopen button."""
    t = catalogue().text
    status = Status(mention.status)
    author = mention.author_name or mention.author_handle
    mark = state.marks.get("status")
    excerpt = escaped_within(" ".join(mention.text.split()), 160)
    line = f"{STATUS_EMOJI[status]} *{_label(locale, 'status', status)}*{_who(mark, locale)}" \
        f"  ·  *{escaped_within(author, 80)}*: {excerpt}"
    if mention.url:
        line += "  " + link(mention.url, t(locale, "card.open_link"))
    block = {
        "type": "section",
        "block_id": f"collapsed:{mention.id}:{mention.version}",
        "text": mrkdwn(line),
        "accessory": {"type": "button", "action_id": f"{ACTION_PREFIX}reopen",
                      "text": plain(t(locale, "qualify.card.reopen")), "value": str(mention.id)},
    }
    fallback = t(locale, "qualify.card.collapsed_fallback", status=_label(locale, "status", status),
                 author=escaped_within(author, 100),
                 account=escape(account_name or t(locale, "card.account_unknown")))
    return Message(text=fallback, blocks=[block], metadata=_metadata(mention))



def card_renderer(config: Config, locale: str,
                  state: Callable[[Mention], CardState] | None = None
                  ) -> Callable[[Mention], Message]:
    """The card of a mention as the relay posts it, with its account's display name and,
    given `state`, its triage state read from the database."""

    def render(mention: Mention) -> Message:
        account = config.account(mention.account_id)
        return mention_card(mention, account_name=account.name if account else None,
                            locale=locale, state=state(mention) if state else None)

    return render
