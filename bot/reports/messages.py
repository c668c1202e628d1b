"""Block Kit of the report message and of the answers to `/vigie report` and
`/vigie export`. Pure functions, tested without Slack.

People are named, never `<@mentioned>`: a report posted in a channel must not ping the
whole desk every Monday. Names, source ids and account names are escaped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from bot.i18n import catalogue
from bot.reports import formats
from bot.reports.queries import (
    SENTIMENTS,
    UNQUALIFIED,
    ChannelQueue,
    FirstResponse,
    Load,
    Volume,
)
from bot.slack_format import Message, escape, mrkdwn, plain

Block = dict[str, Any]
PEOPLE_LINES = 12
SERIES_SHOWN = 8
SENTIMENT_EMOJI = {"positive": ":large_green_circle:", "neutral": ":white_circle:",
                   "negative": ":red_circle:", UNQUALIFIED: ":heavy_minus_sign:"}


def _t(locale: str, key: str, **params: object) -> str:
    return catalogue().text(locale, key, **params)


def label(locale: str, kind: str, value: str) -> str:
    """A sentiment or category as the card names it; "not qualified" for none."""
    if value == UNQUALIFIED:
        return _t(locale, "report.unqualified")
    return _t(locale, f"qualify.{kind}.{value}")


@dataclass(frozen=True)
class ReportFigures:
    volume: Volume
    previous_total: int
    response: FirstResponse
    loads: list[Load]
    queue: list[ChannelQueue]


def _change(current: int, previous: int, locale: str) -> str:
    if previous == 0:
        return ""
    share = (current - previous) / previous
    sign = "+" if share >= 0 else "−"
    return " " + _t(locale, "report.vs_previous",
                    change=f"{sign}{formats.percent(abs(share), locale)}")


def _field(title: str, body: str) -> Block:
    return mrkdwn(f"*{title}*\n{body}")


def _section(text: str) -> Block:
    return {"type": "section", "text": mrkdwn(text[:2990])}


def _series_line(totals: Mapping[str, int], name: Callable[[str], str], locale: str) -> str:
    items = [(k, v) for k, v in sorted(totals.items(), key=lambda kv: -kv[1]) if v]
    shown = [f"{escape(name(k))} {formats.number(v, locale)}" for k, v in items[:SERIES_SHOWN]]
    rest = sum(v for _, v in items[SERIES_SHOWN:])
    if rest:
        shown.append(f"{_t(locale, 'report.chart.others')} {formats.number(rest, locale)}")
    return " · ".join(shown) or "—"


def report_message(figures: ReportFigures, *, title: str, scope_label: str, first: date,
                   last: date, names: Callable[[str], str], accounts: Mapping[str, str],
                   locale: str, extra: Sequence[Block] = ()) -> Message:
    """The report's figures; the charts follow as images."""
    volume, response = figures.volume, figures.response
    total = volume.total
    sentiments = volume.totals(volume.by_sentiment)
    split = " · ".join(
        f"{SENTIMENT_EMOJI[s]} {label(locale, 'sentiment', s)} "
        f"{formats.percent(sentiments[s] / total, locale)}"
        for s in SENTIMENTS if total and sentiments.get(s)) or "—"
    answered = response.overall.count
    waiting = sum(q.open for q in figures.queue)
    late = sum(q.breached for q in figures.queue)
    fields = [
        _field(_t(locale, "report.mentions"), formats.number(total, locale)
               + _change(total, figures.previous_total, locale)),
        _field(_t(locale, "report.sentiment"), split),
        _field(_t(locale, "report.first_response"), _t(
            locale, "report.spread", median=formats.duration(response.overall.median, locale),
            p90=formats.duration(response.overall.p90, locale))
            + "\n" + _t(locale, "report.answered", count=formats.number(answered, locale),
                        share=formats.percent(answered / total if total else 0, locale))),
        _field(_t(locale, "report.waiting_now"), _t(
            locale, "report.waiting_line", count=formats.number(waiting, locale),
            late=formats.number(late, locale))),
    ]
    blocks: list[Block] = [
        {"type": "header", "text": plain(title[:150])},
        {"type": "context", "elements": [mrkdwn(
            f"{scope_label} · {formats.date_range(first, last, locale)}")]},
        {"type": "section", "block_id": "report_figures", "fields": fields},
    ]
    by_account = {k: v for k, v in volume.by_account.items() if k}
    lines = [
        f"*{_t(locale, 'report.by_source')}* "
        + _series_line(volume.totals(volume.by_source), lambda s: s, locale),
        f"*{_t(locale, 'report.by_category')}* "
        + _series_line(volume.totals(volume.by_category),
                       lambda c: label(locale, "category", c), locale),
    ]
    if len(by_account) > 1:
        lines.append(f"*{_t(locale, 'report.by_account')}* "
                     + _series_line(by_account, lambda a: accounts.get(a, a), locale))
    blocks.append(_section("\n".join(lines)))
    if response.people:
        people = [f"*{_t(locale, 'report.response_per_person')}*"]
        for user, spread in response.people[:PEOPLE_LINES]:
            people.append(_t(locale, "report.person_response", name=escape(names(user)),
                             count=formats.number(spread.count, locale),
                             median=formats.duration(spread.median, locale),
                             p90=formats.duration(spread.p90, locale)))
        blocks.append(_section("\n".join(people)))
    if figures.loads:
        people = [f"*{_t(locale, 'report.workload')}*"]
        for load in figures.loads[:PEOPLE_LINES]:
            people.append(_t(locale, "report.person_load", name=escape(names(load.user)),
                             assigned=formats.number(load.assigned, locale),
                             answered=formats.number(load.answered, locale),
                             open=formats.number(load.still_open, locale)))
        blocks.append(_section("\n".join(people)))
    blocks.extend(extra)
    blocks.append({"type": "context", "elements": [mrkdwn(_t(locale, "report.footer"))]})
    fallback = _t(locale, "report.fallback", title=title, count=formats.number(total, locale),
                  median=formats.duration(response.overall.median, locale))
    return Message(text=fallback, blocks=blocks[:50])


def charts_comment(title: str, locale: str) -> str:
    return _t(locale, "report.charts_comment", title=escape(title))


def reply(locale: str, key: str, **params: object) -> str:
    """A one-line ephemeral answer to `/vigie report` or `/vigie export`."""
    return _t(locale, f"report.reply.{key}", **params)
