"""`/vigie export mentions`: a CSV a spreadsheet opens right — BOM, the locale's
separator, ISO dates, one row per mention with its qualification, assignee, first-response
time, reply and card links — and no formula from a stranger runs."""

from __future__ import annotations

import csv
import io

from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.clock import FrozenClock
from bot.config import Config
from bot.reports.export import COLUMNS
from bot.reports.queries import Scope
from tests.support.report_data import (
    NOW,
    WEEK_END,
    WEEK_START,
    add,
    make_reports,
    seed_week,
    utc,
)


def read(content: bytes, delimiter: str) -> list[dict[str, str]]:
    assert content.startswith(b"\xef\xbb\xbf"), "no UTF-8 byte-order mark"
    return list(csv.DictReader(io.StringIO(content[3:].decode("utf-8")), delimiter=delimiter))


def test_one_row_per_mention_with_its_qualification_and_first_response(
        engine: Engine, config: Config) -> None:
    """French export: semicolons, ISO dates in UTC, seconds to first response, names."""
    seed_week(engine)
    with Session(engine) as session:
        add(session, 11, utc(10, 7), slack_channel="C0MENTIONS", slack_ts="1762758000.000200",
            text='=HYPERLINK("http://evil.example","clic"); ligne 2\nfin', author_name="@admin",
            priority="urgent")
        session.commit()
    reports = make_reports(engine, config, FrozenClock(NOW))
    reports.reply_links = lambda ids: {3: "https://mastodon.example/@radio/99"} if 3 in ids \
        else {}
    upload = reports.export(Scope(WEEK_START, WEEK_END), locale="fr")
    assert upload.filename == "vigie-mentions-2026-11-09_2026-11-15.csv"
    rows = read(upload.content, ";")
    assert list(rows[0]) == list(COLUMNS)
    assert [r["id"] for r in rows] == ["2", "3", "4", "5", "6", "8", "9", "11"]
    third = rows[1]
    assert (third["received_at"], third["first_response_at"]) == (
        "2026-11-09T10:00:00Z", "2026-11-09T10:20:00Z")
    assert (third["first_response_seconds"], third["answered_by"], third["answered_by_name"],
            third["sentiment"], third["category"], third["status"]) == (
        "1200", "U0BOB", "Bob", "negative", "complaint", "answered")
    assert third["reply_link"] == "https://mastodon.example/@radio/99"
    assert rows[0]["assignee_name"] == "Alice" and rows[5]["first_response_seconds"] == ""
    hostile = rows[-1]
    assert hostile["text"].startswith("'=HYPERLINK(") and hostile["text"].endswith("ligne 2\nfin")
    assert hostile["author_name"] == "'@admin" and hostile["priority"] == "urgent"
    assert hostile["card_link"] == \
        "https://newsroom.slack.com/archives/C0MENTIONS/p1762758000000200"


def test_english_export_uses_commas(engine: Engine, config: Config) -> None:
    """In English the separator is the comma; the same rows come out."""
    seed_week(engine)
    reports = make_reports(engine, config, FrozenClock(NOW))
    rows = read(reports.export(Scope(WEEK_START, WEEK_END, account="grand-debat"),
                               locale="en").content, ",")
    assert [r["id"] for r in rows] == ["4", "5", "9"]
    assert {r["account"] for r in rows} == {"grand-debat"}


# Formulas a spreadsheet would run that the ASCII-only check let through (issue 17):
# full-width and small forms, whitespace before the sign, a control character first.
DISGUISED_FORMULAS = (
    "＝HYPERLINK(\"http://evil.example\",\"clic\")", "＋1+1", "－2+3", "＠SUM(A1:A9)",
    "﹦1+1", "﹢cmd", " =1+1", "  +1", "\u00a0@SUM(A1)", "\u3000＝1+1", "\t=1+1",
    "\r=1+1", "\n=1+1", "\r\n@cmd", "\tbonjour", "\rbonjour", "\nbonjour",
)
PLAIN = ("Bonjour =1+1", "5 étoiles", "  bonjour", "a+b", "mail@example.org", "")


def test_disguised_formulas_are_made_inert_and_plain_text_is_left_as_is(
        engine: Engine, config: Config) -> None:
    """Every text whose first visible character is a formula sign (in any width, after
    any whitespace), or that starts with a tab / CR / LF, reaches the spreadsheet
    behind an apostrophe, unchanged otherwise; plain text is exported as typed."""
    texts = (*DISGUISED_FORMULAS, *PLAIN)
    with Session(engine) as session:
        for number, text in enumerate(texts, 100):
            add(session, number, utc(10, 7), text=text or "…", author_name=text or None)
        session.commit()
    reports = make_reports(engine, config, FrozenClock(NOW))
    rows = read(reports.export(Scope(WEEK_START, WEEK_END), locale="fr").content, ";")
    exported = {row["url"]: row for row in rows}
    for number, text in enumerate(texts, 100):
        row = exported[f"https://example.social/@reader/{number}"]
        wanted = "'" + text if text in DISGUISED_FORMULAS else text
        assert row["author_name"] == wanted, (text, row["author_name"])
        if text:
            assert row["text"] == wanted, (text, row["text"])
