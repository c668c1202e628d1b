"""Block Kit and texts of the qualify flow beside the card: ephemeral answers, the
assignee's DM, SLA nudges and escalations, and the history. Pure functions, tested
without Slack; untrusted text (author, mention excerpt, rule names) is escaped."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from bot.i18n import catalogue
from bot.mentions.models import Mention
from bot.mentions.qualify_models import AuditEntry
from bot.slack_format import Message, date, escape, escaped_within, link, mrkdwn

HISTORY_LIMIT = 40  # lines; one section holds at most 3000 characters
EXCERPT = 140


def _t(locale: str, key: str, **params: object) -> str:
    return catalogue().text(locale, key, **params)


def text_message(text: str) -> Message:
    """A one-section message whose text is already safe mrkdwn."""
    return Message(text=text, blocks=[{"type": "section", "text": mrkdwn(text)}])


def reply(locale: str, key: str, **params: object) -> Message:
    return text_message(_t(locale, f"qualify.reply.{key}", **params))


def _author(mention: Mention) -> str:
    return escaped_within(mention.author_name or mention.author_handle, 80)


def _excerpt(mention: Mention, limit: int = EXCERPT) -> str:
    return escaped_within(" ".join(mention.text.split()), limit)


def format_delay(delay: timedelta, locale: str) -> str:
    minutes = int(delay.total_seconds() // 60)
    hours, rest = divmod(minutes, 60)
    if hours and rest:
        return _t(locale, "qualify.sla.hours_minutes", hours=hours, minutes=rest)
    if hours:
        return _t(locale, "qualify.sla.hours", hours=hours)
    return _t(locale, "qualify.sla.minutes", minutes=minutes)


def assigned_dm(mention: Mention, *, actor_id: str | None, rule: str | None, permalink: str,
                locale: str) -> Message:
    card = link(permalink, _t(locale, "qualify.dm.open_card"))
    common = {"author": _author(mention), "channel": f"<#{mention.channel_id}>",
              "excerpt": _excerpt(mention), "card": card}
    if actor_id:
        text = _t(locale, "qualify.dm.assigned", actor=f"<@{actor_id}>", **common)
    else:
        text = _t(locale, "qualify.dm.assigned_by_rule", rule=escape(rule or "?"), **common)
    return text_message(text)


def escalated_by_dm(mention: Mention, *, actor_id: str, permalink: str, locale: str
                    ) -> Message:
    return text_message(_t(
        locale, "qualify.dm.escalated_by", actor=f"<@{actor_id}>", author=_author(mention),
        channel=f"<#{mention.channel_id}>", excerpt=_excerpt(mention),
        card=link(permalink, _t(locale, "qualify.dm.open_card")),
    ))


def nudge(mention: Mention, *, delay: timedelta, locale: str) -> Message:
    params = {"delay": format_delay(delay, locale),
              "priority": _t(locale, f"qualify.priority.{mention.priority}").lower()}
    if mention.assignee_id:
        return text_message(_t(locale, "qualify.sla.nudge_assignee",
                               user=f"<@{mention.assignee_id}>", **params))
    return text_message(_t(locale, "qualify.sla.nudge_channel", **params))


def escalation_note(*, on_call: Sequence[str], delay: timedelta, locale: str) -> Message:
    when = format_delay(2 * delay, locale)
    if not on_call:
        return text_message(_t(locale, "qualify.sla.escalated_nobody", delay=when))
    people = ", ".join(f"<@{user}>" for user in on_call)
    return text_message(_t(locale, "qualify.sla.escalated_thread", delay=when, people=people))


def escalation_dm(mention: Mention, *, delay: timedelta, permalink: str, locale: str) -> Message:
    return text_message(_t(
        locale, "qualify.sla.escalation_dm", author=_author(mention),
        channel=f"<#{mention.channel_id}>", delay=format_delay(2 * delay, locale),
        priority=_t(locale, f"qualify.priority.{mention.priority}").lower(),
        excerpt=_excerpt(mention), card=link(permalink, _t(locale, "qualify.dm.open_card")),
    ))


def _value(entry_field: str, value: str | None, locale: str) -> str:
    if value is None:
        return _t(locale, "qualify.reply.nobody")
    if entry_field == "assignee":
        return f"<@{value}>"
    return _t(locale, f"qualify.{entry_field}.{value}")


def history(mention: Mention, entries: Sequence[AuditEntry], *, locale: str) -> Message:
    """The audit log of one mention, oldest first, within one section's limits."""
    title = _t(locale, "qualify.reply.history_title", id=mention.id, author=_author(mention),
               excerpt=_excerpt(mention, 80))
    lines = [title]
    if not entries:
        lines.append(_t(locale, "qualify.reply.history_empty"))
    shown = list(entries)[-HISTORY_LIMIT:]
    if len(entries) > len(shown):
        lines.append(_t(locale, "qualify.reply.history_more", count=len(entries) - len(shown)))
    for entry in shown:
        who = f"<@{entry.actor_id}>" if entry.actor_id else _t(locale, "qualify.source.system")
        source = _t(locale, f"qualify.source.{entry.source}", rule=escape(entry.rule or "?"))
        lines.append(_t(
            locale, "qualify.reply.history_line",
            when=date(entry.at, entry.at.strftime("%Y-%m-%d %H:%M UTC"),
                      "{date_short} {time}"),
            who=who, field=_t(locale, f"qualify.field.{entry.field}"),
            old=_value(entry.field, entry.old_value, locale),
            new=_value(entry.field, entry.new_value, locale), source=source,
        ))
    text = "\n".join(lines)
    while len(text) > 2900 and len(lines) > 3:
        del lines[2]
        text = "\n".join(lines)
    return text_message(text)
