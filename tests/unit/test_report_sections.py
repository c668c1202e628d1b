"""Posts and exposure in the App Home and the report: next scheduled posts, drafts to
approve (editors) or awaiting approval (their authors), posts published and failed per
day, who handled how much abusive content; abusive mentions stay masked everywhere."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.clock import FrozenClock
from bot.config import Config
from bot.moderation.models import MarkSource, MentionModeration
from bot.posts.models import DeliveryState, Post, PostDelivery, PostState
from bot.reports.exposure_sections import ExposureSections
from bot.reports.posts_sections import PostsSections
from bot.reports.queries import Scope
from bot.reports.sections import ReportContext, Viewer
from tests.support.report_data import (
    ALICE,
    BOB,
    NOW,
    WEEK_END,
    WEEK_START,
    add,
    make_reports,
    utc,
)
from tests.unit.test_home import dashboard

EDITOR, AUTHOR = "U0EDITOR", "U0AUTHOR"


def post(session: Session, text: str, state: PostState, *, author: str = AUTHOR,
         publish_at: datetime | None = None, finished_at: datetime | None = None,
         targets: dict[str, DeliveryState] | None = None, preview: str | None = None) -> Post:
    row = Post(author_id=author, text=text, state=state, publish_at=publish_at,
               finished_at=finished_at, created_at=NOW - timedelta(days=3),
               updated_at=NOW - timedelta(days=3), preview_channel="C0APPROVALS" if preview
               else None, preview_ts=preview)
    session.add(row)
    session.flush()
    for target, delivery in (targets or {"annonces": DeliveryState.QUEUED}).items():
        session.add(PostDelivery(post_id=row.id or 0, target_id=target, kind="slack",
                                 state=delivery, error="channel_not_found"
                                 if delivery == DeliveryState.FAILED else None))
    return row


def seed_posts(engine: Engine) -> None:
    with Session(engine) as s:
        post(s, "Ce soir à 20h : le grand débat", PostState.APPROVED,
             publish_at=NOW + timedelta(hours=10),
             targets={"annonces": DeliveryState.QUEUED, "matinale-mastodon": DeliveryState.QUEUED})
        post(s, "Demain : la matinale <!channel> en public", PostState.APPROVED,
             publish_at=NOW + timedelta(days=1))
        post(s, "Brouillon de l'auteur", PostState.PENDING, publish_at=NOW + timedelta(days=2),
             preview="1762758000.000300")
        post(s, "Brouillon d'un autre", PostState.PENDING, author="U0OTHER")
        post(s, "Publié lundi", PostState.PUBLISHED, finished_at=utc(9, 9),
             targets={"annonces": DeliveryState.PUBLISHED, "breves": DeliveryState.PUBLISHED})
        post(s, "Publié mercredi", PostState.PUBLISHED, finished_at=utc(11, 9),
             targets={"matinale-mastodon": DeliveryState.PUBLISHED})
        post(s, "Raté jeudi", PostState.FAILED, finished_at=utc(12, 9),
             targets={"breves": DeliveryState.FAILED})
        post(s, "Publié la semaine d'avant", PostState.PUBLISHED, finished_at=utc(2, 9))
        s.commit()


def viewer(user: str, *, editor: bool) -> Viewer:
    return Viewer(user_id=user, locale="fr", is_editor=editor, now=NOW, zone="Europe/Paris")


def sections(engine: Engine, config: Config) -> PostsSections:
    return PostsSections(engine=engine, config=config,
                         workspace_url=lambda: "https://newsroom.slack.com/",
                         editors=lambda: frozenset({EDITOR}))


def test_editors_see_drafts_to_approve_and_authors_their_own(engine: Engine,
                                                             config: Config) -> None:
    """Both see the next scheduled posts with their targets; the editor sees "À approuver
    : 2" with a link to the approval message, the author only their own draft."""
    seed_posts(engine)
    posts = sections(engine, config)
    editor = json.dumps(posts.home(viewer(EDITOR, editor=True), 5), ensure_ascii=False)
    author = json.dumps(posts.home(viewer(AUTHOR, editor=False), 5), ensure_ascii=False)
    for text in (editor, author):
        assert "Prochaines publications programmées" in text
        assert "#annonces, La Matinale: Ce soir à 20h" in text
        assert "&lt;!channel&gt;" in text and "<!channel>" not in text
        assert "Publié lundi" not in text
    assert "À approuver : 2" in editor and "Brouillon d'un autre" in editor
    assert "<https://newsroom.slack.com/archives/C0APPROVALS/p1762758000000300|voir>" in editor
    assert "Vos brouillons en attente d’approbation : 1" in author
    assert "Brouillon d'un autre" not in author
    assert posts.home(viewer(AUTHOR, editor=False), 1) == \
        posts.home(viewer(AUTHOR, editor=False), 5)[:1]


def test_a_post_change_refreshes_its_author_and_the_editors(engine: Engine,
                                                            config: Config) -> None:
    """Approving or publishing a post changes the author's and the editors' Homes."""
    seed_posts(engine)
    assert sections(engine, config).people_to_refresh(3) == {AUTHOR, EDITOR}
    assert sections(engine, config).people_to_refresh(999) == set()


def test_report_counts_posts_published_and_failed_per_day(engine: Engine,
                                                          config: Config) -> None:
    """Two published (three deliveries) and one failed with its reason; the chart has
    them on their days; a channel scope keeps the posts that went there."""
    seed_posts(engine)
    context = ReportContext(scope=Scope(WEEK_START, WEEK_END), locale="fr",
                            zone="Europe/Paris", names=str)
    output = sections(engine, config).report(context)
    text = json.dumps(output.blocks, ensure_ascii=False)
    assert "2 publiées (3 envois), 1 en échec" in text
    assert "Raté jeudi — breves: channel_not_found" in text
    [chart] = output.charts
    assert chart.filename == "vigie-posts-2026-11-15.png" and chart.png[:4] == b"\x89PNG"
    assert "publiées: 2, en échec: 1" in chart.alt_text
    scoped = sections(engine, config).report(ReportContext(
        scope=Scope(WEEK_START, WEEK_END, channel="C0BREVES"), locale="fr",
        zone="Europe/Paris", names=str))
    assert "1 publiées (2 envois), 1 en échec" in json.dumps(scoped.blocks, ensure_ascii=False)


@dataclass(frozen=True)
class Figure:
    user_id: str
    handled: int
    share: float


class FakeExposure:
    def __init__(self) -> None:
        self.asked: list[tuple[datetime, datetime | None]] = []

    def handled(self, *, since: datetime, until: datetime | None = None) -> list[Figure]:
        self.asked.append((since, until))
        return [Figure(ALICE, 6, 0.75), Figure(BOB, 2, 0.25)]


def test_exposure_lists_people_in_the_report_and_yours_on_the_home() -> None:
    """The report names each person with what they handled over its period; the Home
    shows the viewer's own last seven days."""
    source = FakeExposure()
    exposure = ExposureSections(source)
    output = exposure.report(ReportContext(scope=Scope(WEEK_START, WEEK_END), locale="fr",
                                           zone="Europe/Paris",
                                           names={ALICE: "Alice", BOB: "Bob"}.__getitem__))
    assert output is not None
    text = json.dumps(output.blocks, ensure_ascii=False)
    assert "Alice : 6 traités (75\u202f% de l’équipe)" in text and "Bob : 2 traités" in text
    home = json.dumps(exposure.home(viewer(BOB, editor=False), 3), ensure_ascii=False)
    assert "ces 7 derniers jours : 2 (25\u202f% de l’équipe)" in home
    assert source.asked == [(WEEK_START, WEEK_END), (NOW - timedelta(days=7), NOW)]


def test_abusive_mentions_stay_masked_on_the_home_and_in_exports(engine: Engine,
                                                                 config: Config) -> None:
    """An insult assigned to Alice shows as masked on her Home and in the CSV, with its
    kind in the export's `abusive` column."""
    with Session(engine) as session:
        mention = add(session, 1, utc(12, 8), text="Espèce de nul", assignee_id=ALICE,
                      status="assigned", nudge_at=utc(16, 12))
        session.add(MentionModeration(mention_id=mention.id or 0, author_key="reader1",
                                      abusive=True, kinds="insult", source=MarkSource.STAFF,
                                      marked_at=NOW))
        session.commit()
    home: dict[str, Any] = dashboard(engine, config).view(ALICE)
    text = json.dumps(home["blocks"], ensure_ascii=False)
    assert "Espèce de nul" not in text and "masqué" in text
    content = make_reports(engine, config, FrozenClock(NOW)).export(
        Scope(WEEK_START, WEEK_END), locale="fr").content.decode("utf-8-sig")
    assert "Espèce de nul" not in content and ";insult;" in content
