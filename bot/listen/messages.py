"""Block Kit for what listening posts besides cards: spike alerts, digests, source
notices and alert DMs, plus the alert banner on a card. Pure functions: tested without
Slack. Everything a stranger wrote is escaped (see `bot.slack_format`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.i18n import catalogue
from bot.listen.models import Spike
from bot.mentions.models import Mention
from bot.reasons import shown_reason
from bot.slack_format import Message, date, escape, escaped_within, link, mrkdwn

DIGEST_EXCERPT = 140
DM_LISTED = 10


def _t(locale: str, key: str, **params: object) -> str:
    return catalogue().text(locale, f"listen.{key}", **params)


def _when(moment: datetime) -> str:
    return date(moment, moment.strftime("%H:%M UTC"), "{time}")


def alert_banner(mention: Mention, locale: str) -> dict[str, Any] | None:
    """The small block that marks a card whose text carries alert words."""
    if not mention.alert_terms:
        return None
    text = _t(locale, "alert.banner", terms=escape(mention.alert_terms))
    return {"type": "context", "block_id": "alert", "elements": [mrkdwn(text)]}


def spike_alert(spike: Spike, *, account: str, total: int, in_digests: int, window: int,
                locale: str) -> Message:
    minutes = max(1, round(window / 60))
    headline = _t(locale, "spike.headline", count=spike.rate_at_start, account=escape(account),
                  minutes=minutes, negative=round(spike.negative_share * 100))
    lines = [f":rotating_light: *{headline}*"]
    if spike.top_terms:
        lines.append(_t(locale, "spike.terms", terms=escape(spike.top_terms)))
    if spike.ended_at is None:
        lines.append(_t(locale, "spike.ongoing", total=total, digested=in_digests))
    else:
        lines.append(_t(locale, "spike.ended", total=total, start=_when(spike.started_at),
                        end=_when(spike.ended_at)))
    body = "\n".join(lines)
    return Message(text=headline, blocks=[
        {"type": "section", "block_id": "spike", "text": mrkdwn(body)},
        {"type": "context", "elements": [mrkdwn(_t(locale, "spike.how"))]},
    ])


def digest(mentions: Sequence[Mention], *, part: int, locale: str) -> Message:
    """One thread reply listing held mentions: who, an excerpt, the link, the id."""
    title = _t(locale, "digest.title", part=part, count=len(mentions))
    blocks: list[dict[str, Any]] = [
        {"type": "section", "block_id": "digest", "text": mrkdwn(f"*{escape(title)}*")}
    ]
    lines: list[str] = []
    for mention in mentions:
        author = escaped_within(mention.author_name or mention.author_handle, 60)
        line = f"• `#{mention.id}` *{author}*: {escaped_within(mention.text, DIGEST_EXCERPT)}"
        if mention.alert_terms:
            line = f":warning: {line}"
        if mention.url:
            line += " " + link(mention.url, _t(locale, "digest.open"))
        lines.append(" ".join(line.split()))
    for start in range(0, len(lines), 8):  # sections stay far below 3,000 characters
        blocks.append({"type": "section", "text": mrkdwn("\n".join(lines[start:start + 8]))})
    return Message(text=title, blocks=blocks[:50])


def spike_over(spike: Spike, *, total: int, locale: str) -> Message:
    end = spike.ended_at or spike.started_at
    text = _t(locale, "spike.over", total=total, start=_when(spike.started_at),
              end=_when(end))
    return Message(text=text, blocks=[{"type": "section", "text": mrkdwn(f":white_check_mark: "
                                                                         f"{text}")}])


def source_down(source_id: str, *, error: str, failures: int, since: datetime, locale: str
                ) -> Message:
    """`error` is the source's stored `last_error`, said here in the channel's language."""
    text = _t(locale, "source.down", source=escape(source_id), failures=failures,
              since=_when(since), error=shown_reason(error, locale, limit=300))
    return Message(text=text, blocks=[{"type": "section", "text": mrkdwn(f":warning: {text}")}])


def source_up(source_id: str, *, since: datetime, locale: str) -> Message:
    text = _t(locale, "source.up", source=escape(source_id), since=_when(since))
    return Message(text=text, blocks=[{"type": "section",
                                       "text": mrkdwn(f":white_check_mark: {text}")}])


def alert_dm(mentions: Sequence[Mention], *, accounts: dict[str, str], locale: str) -> Message:
    """The on-call DM: which alert words, where, by whom, and a link."""
    count = len(mentions)
    title = _t(locale, "alert.dm_title", count=count)
    lines = []
    for mention in mentions[:DM_LISTED]:
        account = accounts.get(mention.account_id or "", mention.account_id or "—")
        line = _t(locale, "alert.dm_line", terms=escape(mention.alert_terms or ""),
                  author=escaped_within(mention.author_name or mention.author_handle, 60),
                  account=escape(account), channel=f"<#{mention.channel_id}>",
                  excerpt=escaped_within(mention.text, 200))
        if mention.url:
            line += " " + link(mention.url, _t(locale, "digest.open"))
        lines.append(f"• {line}")
    if count > DM_LISTED:
        lines.append(_t(locale, "alert.dm_more", count=count - DM_LISTED))
    return Message(text=title, blocks=[
        {"type": "section", "text": mrkdwn(f":rotating_light: *{escape(title)}*")},
        {"type": "section", "text": mrkdwn("\n".join(lines))},
    ])
