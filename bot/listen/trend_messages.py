"""Block Kit of a trend alert: which account, how far above its usual level, the words
most mentions share, and a few samples with their links. Pure; strangers' text escaped."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from bot.i18n import catalogue
from bot.listen.models import Trend
from bot.mentions.models import Mention
from bot.reports import formats
from bot.slack_format import Message, escape, escaped_within, link, mrkdwn

EXCERPT = 160


def _t(locale: str, key: str, **params: object) -> str:
    return catalogue().text(locale, f"trend.{key}", **params)


def trend_alert(trend: Trend, samples: Sequence[Mention], *, account: str, zone: str,
                locale: str) -> Message:
    tz = ZoneInfo(zone)
    start = trend.window_start.astimezone(tz)
    end = trend.window_end.astimezone(tz)
    ratio = trend.count / max(trend.usual, 1.0)
    headline = _t(locale, "headline", account=escape(account),
                  count=formats.number(trend.count, locale))
    usual = _t(locale, "usual", usual=formats.number(trend.usual, locale, 1),
               weekday=formats.weekday(end.date(), locale, long=True),
               start=start.strftime("%H:%M"), end=end.strftime("%H:%M"),
               ratio=formats.number(ratio, locale, 1),
               weeks=trend.weeks)
    lines = [f":chart_with_upwards_trend: *{headline}*", usual]
    if trend.top_terms:
        lines.append(_t(locale, "terms", terms=escape(trend.top_terms)))
    lines.append(_t(locale, "negative", share=formats.percent(trend.negative_share, locale)))
    blocks: list[dict[str, Any]] = [
        {"type": "section", "block_id": "trend", "text": mrkdwn("\n".join(lines))}]
    if samples:
        items = []
        for mention in samples:
            author = escaped_within(mention.author_name or mention.author_handle, 60)
            line = f"• *{author}*: {escaped_within(' '.join(mention.text.split()), EXCERPT)}"
            if mention.url:
                line += " " + link(mention.url, _t(locale, "open"))
            items.append(line)
        blocks.append({"type": "section", "block_id": "trend_samples",
                       "text": mrkdwn(_t(locale, "samples") + "\n" + "\n".join(items))})
    blocks.append({"type": "context", "elements": [mrkdwn(_t(locale, "how", weeks=trend.weeks))]})
    return Message(text=headline, blocks=blocks)
