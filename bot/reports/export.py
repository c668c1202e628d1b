"""`/vigie export mentions 30d`: one CSV row per mention, for spreadsheets.

UTF-8 with a byte-order mark (Excel needs it to read accents), ISO 8601 dates in UTC,
and the separator a spreadsheet of the newsroom's language expects: `;` in French (where
the comma is the decimal mark), `,` in English. Durations are whole seconds, so no
decimal mark is needed at all. Cells that a spreadsheet would run as a formula are
prefixed with an apostrophe (OWASP's CSV injection advice): a text from a stranger whose
first visible character is `=`, `+`, `-`, `@` or one of their full-width or small forms
(`＝ ＋ － ＠`, which spreadsheets may read as the ASCII ones), whatever whitespace comes
before it, and a text starting with a tab, a carriage return or a line feed.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select as sql_select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.mentions.models import Mention
from bot.moderation.masking import kinds_of, placeholder
from bot.moderation.models import MentionModeration
from bot.reports.queries import Scope
from bot.reports.sections import ReplyLinks

COLUMNS = (
    "id", "received_at", "created_at", "platform", "source", "account", "channel",
    "author_handle", "author_name", "lang", "text", "url", "sentiment", "category",
    "abusive", "priority", "status", "assignee_id", "assignee_name", "first_response_at",
    "first_response_seconds", "answered_by", "answered_by_name", "reply_link", "card_link",
)
BATCH = 2000
_FORMULA = frozenset("=+-@")  # after NFKC: also ＝ ＋ － ＠ and ﹦ ﹢ ﹣ ﹫
_CONTROL_START = ("\t", "\r", "\n")


def separator(locale: str) -> str:
    return ";" if locale == "fr" else ","


def iso(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else ""


def inert(value: str | None) -> str:
    """A stranger's text that no spreadsheet will run as a formula."""
    text = value or ""
    return "'" + text if _runs(text) else text


def _runs(text: str) -> bool:
    """Would a spreadsheet read `text` as a formula (or a cell split by a control)?"""
    if text.startswith(_CONTROL_START):
        return True
    visible = text.lstrip()[:1]
    return bool(visible) and unicodedata.normalize("NFKC", visible)[:1] in _FORMULA


def card_link(workspace_url: str | None, channel: str | None, ts: str | None) -> str:
    if not (workspace_url and channel and ts):
        return ""
    return f"{workspace_url.rstrip('/')}/archives/{channel}/p{ts.replace('.', '')}"


_FIELDS = ("id", "received_at", "created_at", "platform", "source_id", "account_id",
           "channel_id", "author_handle", "author_name", "lang", "text", "url", "sentiment",
           "category", "priority", "status", "assignee_id", "first_response_at", "answered_by",
           "slack_channel", "slack_ts")


def rows(engine: Engine, scope: Scope) -> Iterator[tuple[Sequence[Any],
                                                         dict[int, tuple[str, ...]]]]:
    """The scope's mentions, oldest first, in batches (a month can be 100,000 rows), with
    the kinds of abuse of the abusive ones. Plain rows of the columns exported, not ORM
    objects: building those was most of an export's time."""
    columns = [col(getattr(Mention, name)) for name in _FIELDS]
    last_id = 0
    while True:
        with Session(engine) as session:
            batch = session.connection().execute(scope.filter(
                sql_select(*columns).where(col(Mention.id) > last_id)
            ).order_by(col(Mention.id)).limit(BATCH)).all()
            if not batch:
                return
            abusive = _abusive_between(session, int(batch[0].id), int(batch[-1].id))
        last_id = int(batch[-1].id)
        yield batch, abusive


def mentions_csv(engine: Engine, scope: Scope, *, locale: str, names: Callable[[str], str],
                 workspace_url: str | None, reply_links: ReplyLinks | None = None) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=separator(locale), lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for batch, abusive in rows(engine, scope):
        links = reply_links([m.id for m in batch]) if reply_links else {}
        for m in batch:
            waited = (max(0, round((m.first_response_at - m.received_at).total_seconds()))
                      if m.first_response_at else None)
            kinds = abusive.get(m.id)
            text = m.text if kinds is None else placeholder(kinds, locale)
            writer.writerow([
                m.id, iso(m.received_at), iso(m.created_at), m.platform, m.source_id,
                m.account_id or "", m.channel_id, inert(m.author_handle), inert(m.author_name),
                inert(m.lang), inert(text), inert(m.url), m.sentiment or "",
                m.category or "", _abuse(kinds), m.priority, m.status, m.assignee_id or "",
                inert(names(m.assignee_id)) if m.assignee_id else "",
                iso(m.first_response_at), "" if waited is None else waited,
                m.answered_by or "", inert(names(m.answered_by)) if m.answered_by else "",
                links.get(m.id, ""), card_link(workspace_url, m.slack_channel, m.slack_ts),
            ])
    return buffer.getvalue().encode("utf-8-sig")


def _abusive_between(session: Session, first: int, last: int) -> dict[int, tuple[str, ...]]:
    """Abusive mentions among ids first..last (a range: thousands of bound ids cost more to
    send than the few marks to read)."""
    marks = session.exec(select(MentionModeration)
                         .where(col(MentionModeration.mention_id) >= first)
                         .where(col(MentionModeration.mention_id) <= last)
                         .where(col(MentionModeration.abusive).is_(True))).all()
    return {mark.mention_id: kinds_of(mark) or () for mark in marks}


def _abuse(kinds: tuple[str, ...] | None) -> str:
    if kinds is None:
        return ""
    return ",".join(kinds) or "abusive"
