"""Block Kit of the App Home tab: each person's dashboard. Pure functions.

Slack refuses a Home view of more than 100 blocks, so the person's queue is shown a page
at a time (with Previous / Next buttons), the channel list is folded into a few
sections, and every plugged-in section gets a fixed budget of blocks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.i18n import catalogue
from bot.mentions.models import Mention, Priority, Status
from bot.reports import formats
from bot.reports.messages import SENTIMENT_EMOJI, label
from bot.reports.queries import SENTIMENTS, ChannelQueue, Glance, QueueItem
from bot.reports.sections import Viewer
from bot.slack_format import date, escaped_within, link, mrkdwn, plain

Block = dict[str, Any]
MAX_BLOCKS = 100
PER_PAGE = 20
CHANNELS_SHOWN = 30
SECTION_TEXT = 2900
EXCERPT = 140
PAGE_ACTIONS = ("home_page_prev", "home_page_next")
PRIORITY_MARK = {Priority.URGENT: ":rotating_light: ", Priority.HIGH: ":small_red_triangle: "}


def _t(locale: str, key: str, **params: object) -> str:
    return catalogue().text(locale, f"dashboard.{key}", **params)


def _when(moment: datetime) -> str:
    return date(moment, moment.strftime("%Y-%m-%d %H:%M UTC"))


@dataclass(frozen=True)
class Queue:
    total: int
    items: Sequence[QueueItem]
    page: int
    pages: int


def _item(item: QueueItem, locale: str, card_link: Callable[[Mention], str | None]) -> Block:
    m = item.mention
    mark = ":red_circle: " if item.breached else ""
    mark += PRIORITY_MARK.get(m.priority, "")
    author = escaped_within(m.author_name or m.author_handle, 80)
    head = f"{mark}*{author}* · <#{m.channel_id}> · {_when(m.received_at)}"
    if item.breached:
        head += f" · *{_t(locale, 'past_sla')}*"
    if m.status == Status.ESCALATED:
        head += f" · :warning: {_t(locale, 'escalated')}"
    links = []
    card = card_link(m)
    if card:
        links.append(link(card, _t(locale, "open_card")))
    if m.url:
        links.append(link(m.url, _t(locale, "open_post")))
    excerpt = escaped_within(" ".join(m.text.split()), EXCERPT)
    body = f"{head}\n>{excerpt}"
    if links:
        body += "\n" + " · ".join(links)
    return {"type": "section", "block_id": f"home_mention_{m.id}", "text": mrkdwn(body)}


def _queue_blocks(queue: Queue, locale: str, card_link: Callable[[Mention], str | None]
                  ) -> list[Block]:
    title = _t(locale, "queue_title", count=formats.number(queue.total, locale))
    if queue.pages > 1:
        title += " · " + _t(locale, "page", page=queue.page + 1, pages=queue.pages)
    blocks: list[Block] = [{"type": "section", "block_id": "home_queue",
                            "text": mrkdwn(f"*{title}*")}]
    if not queue.items:
        blocks.append({"type": "context", "elements": [mrkdwn(_t(locale, "queue_empty"))]})
        return blocks
    blocks.extend(_item(item, locale, card_link) for item in queue.items)
    if queue.pages > 1:
        buttons = []
        if queue.page > 0:
            buttons.append({"type": "button", "action_id": PAGE_ACTIONS[0],
                            "text": plain(_t(locale, "previous")), "value": str(queue.page - 1)})
        if queue.page + 1 < queue.pages:
            buttons.append({"type": "button", "action_id": PAGE_ACTIONS[1],
                            "text": plain(_t(locale, "next")), "value": str(queue.page + 1)})
        blocks.append({"type": "actions", "block_id": "home_pages", "elements": buttons})
    return blocks


def _channel_line(queue: ChannelQueue, locale: str) -> str:
    parts = [_t(locale, "channel_open", channel=f"<#{queue.channel}>",
                count=formats.number(queue.open, locale))]
    if queue.unassigned:
        parts.append(_t(locale, "channel_unassigned",
                        count=formats.number(queue.unassigned, locale)))
    if queue.breached:
        parts.append(":red_circle: *" + _t(locale, "channel_breached",
                                           count=formats.number(queue.breached, locale)) + "*")
    if queue.oldest:
        parts.append(_t(locale, "channel_oldest", when=_when(queue.oldest)))
    return "• " + " · ".join(parts)


def _channel_blocks(channels: Sequence[ChannelQueue], locale: str) -> list[Block]:
    waiting = sum(q.open for q in channels)
    late = sum(q.breached for q in channels)
    title = _t(locale, "channels_title", count=formats.number(waiting, locale))
    if late:
        title += " · :red_circle: " + _t(locale, "channel_breached",
                                         count=formats.number(late, locale))
    blocks: list[Block] = [{"type": "section", "block_id": "home_channels",
                            "text": mrkdwn(f"*{title}*")}]
    if not channels:
        blocks.append({"type": "context", "elements": [mrkdwn(_t(locale, "channels_empty"))]})
        return blocks
    lines = [_channel_line(q, locale) for q in channels[:CHANNELS_SHOWN]]
    if len(channels) > CHANNELS_SHOWN:
        lines.append(_t(locale, "channels_more", count=len(channels) - CHANNELS_SHOWN))
    chunk: list[str] = []
    for line in lines:
        if chunk and len("\n".join([*chunk, line])) > SECTION_TEXT:
            blocks.append({"type": "section", "text": mrkdwn("\n".join(chunk))})
            chunk = []
        chunk.append(line)
    if chunk:
        blocks.append({"type": "section", "text": mrkdwn("\n".join(chunk))})
    return blocks[:4]


def _glance_blocks(figures: Glance, locale: str) -> list[Block]:
    total = figures.total
    split = " · ".join(
        f"{SENTIMENT_EMOJI[s]} {label(locale, 'sentiment', s)} "
        f"{formats.percent(figures.sentiments[s] / total, locale)}"
        for s in SENTIMENTS if total and figures.sentiments.get(s)) or "—"
    fields = [
        mrkdwn(f"*{_t(locale, 'glance_volume')}*\n{formats.number(total, locale)}"),
        mrkdwn(f"*{_t(locale, 'glance_response')}*\n" + _t(
            locale, "glance_spread", median=formats.duration(figures.response.median, locale),
            p90=formats.duration(figures.response.p90, locale),
            count=formats.number(figures.response.count, locale))),
        mrkdwn(f"*{_t(locale, 'glance_sentiment')}*\n{split}"),
        mrkdwn(f"*{_t(locale, 'glance_yours')}*\n" + _t(
            locale, "glance_yours_line", count=formats.number(figures.yours.count, locale),
            median=formats.duration(figures.yours.median, locale))),
    ]
    return [{"type": "section", "block_id": "home_glance_title",
             "text": mrkdwn(f"*{_t(locale, 'glance_title')}*")},
            {"type": "section", "block_id": "home_glance", "fields": fields}]


def home_view(*, viewer: Viewer, queue: Queue, channels: Sequence[ChannelQueue],
              glance: Glance, extra: Sequence[Sequence[Block]],
              card_link: Callable[[Mention], str | None]) -> dict[str, Any]:
    """The whole Home tab; never more than `MAX_BLOCKS` blocks."""
    locale = viewer.locale
    blocks: list[Block] = [
        {"type": "header", "text": plain(_t(locale, "title"))},
        {"type": "context", "elements": [mrkdwn(_t(locale, "updated", when=_when(viewer.now)))]},
        {"type": "divider"},
        *_queue_blocks(queue, locale, card_link),
        {"type": "divider"},
        *_channel_blocks(channels, locale),
    ]
    for section in extra:
        if section:
            blocks.append({"type": "divider"})
            blocks.extend(section)
    blocks.append({"type": "divider"})
    blocks.extend(_glance_blocks(glance, locale))
    blocks.append({"type": "context", "elements": [mrkdwn(_t(locale, "footer"))]})
    if len(blocks) > MAX_BLOCKS:  # the budgets make this unreachable; never let Slack refuse
        blocks = blocks[:MAX_BLOCKS - 1] + [blocks[-1]]
    return {"type": "home", "callback_id": "vigie_home", "blocks": blocks}


# header, context, divider, queue title, page buttons, divider, channels (≤ 4),
# divider, glance (2), footer: everything but the queue items and plugged-in sections.
FIXED_BLOCKS = 14
SECTION_MAX = 15


def section_budget(sections: int) -> int:
    """Blocks each plugged-in section may use (one more goes to its divider)."""
    if sections <= 0:
        return 0
    return max(0, min(SECTION_MAX, (MAX_BLOCKS - FIXED_BLOCKS - PER_PAGE) // sections - 1))
