"""`/vigie report`, `/vigie export` and the App Home, end to end: the real app over HTTP,
signed requests as Slack sends them, files through the files_upload_v2 flow of a local
Slack-compatible server."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session

from bot.posts.models import Post, PostState
from bot.sandbox.driver import SlackDriver
from bot.sandbox.slack import FakeSlack
from tests.conftest import WEBHOOK_SECRET
from tests.support.harness import RunningVigie
from tests.support.report_data import add

STAFF, OTHER_STAFF, OUTSIDER = "U0STAFF1", "U0STAFF2", "U0OUTSIDER"


def seed(vigie: RunningVigie, *, assigned_to: str | None = None, count: int = 6) -> None:
    """A few qualified mentions of the last days, some answered."""
    now = datetime.now(UTC)
    with Session(vigie.vigie.engine) as session:
        for n in range(count):
            received = now - timedelta(days=n % 5, hours=n)
            extra: dict[str, Any] = {"answered_after": 15 + 10 * n, "by": STAFF} if n % 2 \
                else {"assignee_id": assigned_to, "status": "assigned" if assigned_to else "open",
                      "nudge_at": received + timedelta(hours=1)}
            add(session, n + 1, received, sentiment=("positive", "negative", None)[n % 3],
                category="question", **extra)
        session.commit()


def files_in(slack: FakeSlack, channel: str) -> list[Any]:
    return [f for f in slack.uploaded_files() if f.completed and f.channel == channel]


def test_report_command_posts_figures_and_uploads_charts(vigie: RunningVigie,
                                                         driver: SlackDriver,
                                                         slack: FakeSlack) -> None:
    """Staff type /vigie report 7d: an ephemeral "building" at once, then the figures in
    the channel and six PNG charts (five on mentions, one on posts) shared there in one
    files_upload_v2 call."""
    seed(vigie)
    answer = driver.command("/vigie", "report 7d", user_id=STAFF, channel_id="C0MENTIONS")
    assert answer.status_code == 200
    assert answer.json()["response_type"] == "ephemeral"
    assert "Je prépare le rapport" in answer.json()["text"]
    slack.wait_for(lambda: len(files_in(slack, "C0MENTIONS")) == 6, timeout=20)
    charts = files_in(slack, "C0MENTIONS")
    # The seeded mentions' own cards may reach the same channel first: skip them.
    [summary] = [m for m in slack.messages("C0MENTIONS") if m.get("blocks")
                 and (m.get("metadata") or {}).get("event_type") != "vigie_mention"]
    assert summary["blocks"][0]["text"]["text"] == "Rapport — 7 derniers jours"
    [figures] = [b for b in summary["blocks"] if b.get("block_id") == "report_figures"]
    assert figures["fields"][0]["text"] == "*Mentions*\n6"
    assert all(f.content[:8] == b"\x89PNG\r\n\x1a\n" and f.length == len(f.content)
               for f in charts)
    assert [c.method for c in slack.calls if c.method.startswith("files.")].count(
        "files.completeUploadExternal") == 1
    share = [m for m in slack.messages("C0MENTIONS") if m.get("files")]
    assert len(share) == 1 and len(share[0]["files"]) == 6


def test_report_where_the_bot_is_not_a_member_goes_to_a_dm(vigie: RunningVigie,
                                                           driver: SlackDriver,
                                                           slack: FakeSlack) -> None:
    """In a channel Vigie was not invited to, the report arrives in the person's DM with
    Vigie, and they are told so through the command's response_url."""
    slack.add_channel("C0ELSEWHERE", "ailleurs", is_member=False)
    seed(vigie)
    driver.command("/vigie", "report", user_id=STAFF, channel_id="C0ELSEWHERE")
    dm = slack.dm_channel(STAFF)
    slack.wait_for(lambda: len(files_in(slack, dm)) == 6, timeout=20)
    assert slack.messages("C0ELSEWHERE") == []
    [note] = slack.wait_for(lambda: slack.ephemerals("C0ELSEWHERE", STAFF))
    assert "dans vos messages avec Vigie" in note["text"]


def test_bad_arguments_and_outsiders_are_refused_and_nothing_is_posted(
        vigie: RunningVigie, driver: SlackDriver, slack: FakeSlack) -> None:
    """A word that is no period, account or channel, and someone outside the desk, get an
    ephemeral answer; no message, no file."""
    answer = driver.command("/vigie", "report lundi", user_id=STAFF, channel_id="C0MENTIONS")
    assert "Je ne comprends pas `lundi`" in answer.json()["text"]
    assert "matinale" in answer.json()["text"]
    answer = driver.command("/vigie", "report 7d", user_id=OUTSIDER, channel_id="C0MENTIONS")
    assert "réservés à l’équipe communauté" in answer.json()["text"]
    answer = driver.command("/vigie", "export tweets", user_id=STAFF, channel_id="C0MENTIONS")
    assert "`mentions`" in answer.json()["text"]
    assert slack.messages("C0MENTIONS") == [] and slack.uploaded_files() == []


def test_export_sends_a_csv_to_the_persons_dm(vigie: RunningVigie, driver: SlackDriver,
                                               slack: FakeSlack) -> None:
    """/vigie export mentions 30d: a UTF-8 CSV with BOM, one row per mention, in the DM."""
    seed(vigie)
    answer = driver.command("/vigie", "export mentions 30d", user_id=STAFF,
                            channel_id="C0MENTIONS")
    assert "Je prépare l’export" in answer.json()["text"]
    dm = slack.dm_channel(STAFF)
    [export] = slack.wait_for(lambda: files_in(slack, dm), timeout=20)
    assert export.filename.startswith("vigie-mentions-") and export.filename.endswith(".csv")
    assert export.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(export.content[3:].decode()), delimiter=";"))
    assert len(rows) == 6 and {r["category"] for r in rows} == {"question"}
    [note] = slack.wait_for(lambda: slack.ephemerals("C0MENTIONS", STAFF))
    assert "L’export est dans vos messages" in note["text"]


def home_of(slack: FakeSlack, user: str) -> str:
    view = slack.home_view(user)
    return json.dumps(view["blocks"], ensure_ascii=False) if view else ""


def test_home_is_published_on_open_and_pages_with_buttons(vigie: RunningVigie,
                                                          driver: SlackDriver,
                                                          slack: FakeSlack) -> None:
    """Opening the Home shows the person's queue; Next shows the following page."""
    seed(vigie, assigned_to=STAFF, count=50)  # 25 waiting for STAFF
    driver.app_home_opened(STAFF)
    slack.wait_for(lambda: "page 1 sur 2" in home_of(slack, STAFF))
    view = slack.home_view(STAFF)
    assert view is not None
    driver.click(STAFF, "home_page_next", "1", view=view)
    slack.wait_for(lambda: "page 2 sur 2" in home_of(slack, STAFF))


def test_an_assignment_from_the_card_refreshes_the_assignees_home(vigie: RunningVigie,
                                                                  driver: SlackDriver,
                                                                  slack: FakeSlack) -> None:
    """Assigning a mention on its card republishes the new assignee's Home with it."""
    mention = {"external_id": "h1", "text": "Le son coupe pendant le direct",
               "author": {"handle": "@lea@pouet.example"}, "created_at": "2026-11-02T07:04:39Z",
               "account": "matinale", "platform": "mastodon"}
    response = vigie.post_mention("monitoring", mention, secret=WEBHOOK_SECRET)
    channel = response.json()["channel"]
    cards = slack.wait_for(
        lambda: [m for m in slack.messages(channel) if m.get("blocks")], timeout=10)
    card = cards[0]
    assert slack.home_view(OTHER_STAFF) is None
    driver.select(STAFF, "qualify.assignee", OTHER_STAFF, message={"ts": card["ts"]},
                  channel_id=channel)
    slack.wait_for(lambda: "Le son coupe pendant le direct" in home_of(slack, OTHER_STAFF),
                   timeout=10)
    assert "En attente de vous : 1" in home_of(slack, OTHER_STAFF)
    slack.wait_for(lambda: slack.home_view(STAFF) is not None)  # the actor's too


def test_a_post_change_refreshes_its_authors_and_the_editors_homes(vigie: RunningVigie,
                                                                   slack: FakeSlack) -> None:
    """When a draft's preview is redrawn (it changed), the author's Home lists it as
    awaiting approval and the editor's as "to approve"."""
    now = datetime.now(UTC)
    with Session(vigie.vigie.engine) as session:
        draft = Post(author_id=STAFF, text="Ce soir : le grand débat en public",
                     state=PostState.PENDING, publish_at=now + timedelta(days=1),
                     created_at=now, updated_at=now)
        session.add(draft)
        session.commit()
        post_id = draft.id or 0
    vigie.vigie.posts.notices.refresh(post_id)
    slack.wait_for(lambda: "Vos brouillons en attente d’approbation : 1" in home_of(slack, STAFF))
    slack.wait_for(lambda: "À approuver : 1" in home_of(slack, "U0EDITOR"))
    assert "le grand débat en public" in home_of(slack, "U0EDITOR")
