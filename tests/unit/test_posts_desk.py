"""The editorial desk: checking drafts, editors' decisions, edits, cancellations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.clock import FrozenClock
from bot.config import Config
from bot.posts.models import DraftForm, Post, PostApproval, PostState, Recurrence
from bot.posts.service import job_id
from tests.support.posts import (
    AUTHOR,
    EDITOR,
    EDITOR2,
    STRANGER,
    Desk,
    Editors,
    a_draft,
    make_desk,
)

NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)  # Monday 9:00 in Paris


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def desk(engine: Engine, config: Config, clock: FrozenClock) -> Desk:
    return make_desk(engine, config, clock)


def state(engine: Engine, post_id: int) -> PostState:
    with Session(engine) as session:
        post = session.get(Post, post_id)
        assert post is not None
        return post.state


def form(**fields: object) -> DraftForm:
    values: dict[str, object] = {"text": "Ce soir à 20h, le grand débat.",
                                 "targets": ("annonces",), "when_text": "demain 9h"}
    values.update(fields)
    return DraftForm(**values)  # type: ignore[arg-type]


# -- checking ---------------------------------------------------------------------------
def test_a_good_draft_is_read_in_the_newsroom_time_zone(desk: Desk) -> None:
    """"demain 9h" on Monday in Paris is Tuesday 08:00 UTC."""
    checked = desk.desk.check(form())
    assert not isinstance(checked, dict)
    assert checked.publish_at == datetime(2026, 11, 3, 8, 0, tzinfo=UTC)
    assert checked.targets == ("annonces",)


@pytest.mark.parametrize(("fields", "field", "key"), [
    ({"targets": ()}, "targets", "posts.errors.no_target"),
    ({"when_text": "hier"}, "when_text", "posts.errors.past_time"),
    ({"when_text": None, "when_picked": NOW - timedelta(hours=1)}, "when_picker",
     "posts.errors.past_time"),
    ({"when_text": "quand ça vous chante"}, "when_text", "posts.errors.unreadable_time"),
    ({"targets": ("matinale-mastodon",)}, "targets", "posts.errors.no_publisher"),
    ({"text": "x" * 3001}, "text", "posts.errors.too_long"),
    ({"text": "   "}, "text", "posts.errors.empty_text"),
    ({"cron": "tous les jours"}, "cron", "posts.errors.bad_cron"),
    ({"recurrence": "daily", "cron": "0 9 * * *"}, "cron", "posts.errors.cron_and_recurrence"),
    ({"recurrence": "weekly", "when_text": None}, "when_text",
     "posts.errors.recurrence_needs_time"),
], ids=["no-target", "past-words", "past-picker", "unreadable", "no-publisher", "too-long",
        "empty", "bad-cron", "cron-and-daily", "weekly-without-time"])
def test_invalid_drafts_say_what_is_wrong_where(desk: Desk, engine: Engine,
                                                fields: dict[str, object], field: str,
                                                key: str) -> None:
    """Each mistake is reported on its own field, and nothing is stored."""
    errors = desk.desk.check(form(**fields))
    assert isinstance(errors, dict)
    assert errors[field][0] == key
    with Session(engine) as session:
        assert session.exec(select(Post)).all() == []


def test_text_limit_is_the_strictest_target_s(engine: Engine, config: Config,
                                              clock: FrozenClock) -> None:
    """A 400-character post fits Slack but not a 300-character network."""
    from tests.support.posts import ScriptedPublisher

    desk = make_desk(engine, config, clock)
    desk.desk._publishers.register(ScriptedPublisher(kind="mastodon", max_length=300))
    errors = desk.desk.check(form(text="é" * 400, targets=("annonces", "matinale-mastodon")))
    assert isinstance(errors, dict)
    assert errors["text"] == ("posts.errors.too_long",
                              {"target": "La Matinale", "limit": 300, "length": 400})


def test_typed_time_wins_over_the_picker_and_cron_gives_the_first_time(desk: Desk) -> None:
    """Words beat the picker; a cron alone starts at its next firing."""
    checked = desk.desk.check(form(when_picked=NOW + timedelta(days=5)))
    assert not isinstance(checked, dict)
    assert checked.publish_at == datetime(2026, 11, 3, 8, 0, tzinfo=UTC)
    cron = desk.desk.check(form(when_text=None, cron="30 8 * * 1-5"))
    assert not isinstance(cron, dict)
    assert cron.recurrence is Recurrence.CRON
    assert cron.publish_at == datetime(2026, 11, 3, 7, 30, tzinfo=UTC)  # 8:30 Paris, Tuesday


# -- drafting and approval --------------------------------------------------------------
def test_a_draft_waits_for_editors_and_its_expiry_is_planned(desk: Desk, engine: Engine) -> None:
    """Stored pending, a job at its time, the preview posted and the author told."""
    post = desk.desk.draft(AUTHOR, a_draft(NOW + timedelta(hours=2)))
    assert post.state == PostState.PENDING
    assert desk.timer.when(job_id(post.id or 0)) == NOW + timedelta(hours=2)
    assert ("refresh", post.id) in desk.notices.events
    assert desk.notices.told_author(post.id or 0) == ["drafted"]


def test_an_editor_approves_and_the_author_is_told(desk: Desk, engine: Engine) -> None:
    """One editor's approval makes it approved, at its planned time."""
    post = desk.desk.draft(AUTHOR, a_draft(NOW + timedelta(hours=2)))
    outcome = desk.desk.approve(post.id or 0, EDITOR, via="reaction")
    assert outcome.ok and outcome.code == "posts.outcome.approved"
    assert state(engine, post.id or 0) == PostState.APPROVED
    assert "approved" in desk.notices.told_author(post.id or 0)
    assert desk.timer.when(job_id(post.id or 0)) == NOW + timedelta(hours=2)


def test_non_editors_do_not_count(desk: Desk, engine: Engine) -> None:
    """A reaction or click by someone who is not an editor changes nothing."""
    post = desk.desk.draft(AUTHOR, a_draft(NOW + timedelta(hours=2)))
    outcome = desk.desk.approve(post.id or 0, STRANGER, via="reaction")
    assert not outcome.ok and outcome.code == "posts.outcome.not_editor"
    assert state(engine, post.id or 0) == PostState.PENDING
    with Session(engine) as session:
        assert session.exec(select(PostApproval)).all() == []


def test_an_editor_cannot_approve_their_own_draft_by_default(engine: Engine, config: Config,
                                                             clock: FrozenClock) -> None:
    """Four eyes: the author's own approval does not count unless self_approval is set."""
    desk = make_desk(engine, config, clock, editors=Editors(EDITOR))
    post = desk.desk.draft(EDITOR, a_draft(NOW + timedelta(hours=2)))
    assert desk.desk.approve(post.id or 0, EDITOR, via="button").code == "posts.outcome.own_post"
    assert state(engine, post.id or 0) == PostState.PENDING


def test_n_approvals_when_configured(engine: Engine, config: Config, clock: FrozenClock) -> None:
    """With two approvals required, the first is counted, the second approves."""
    two = config.model_copy(update={"posts": config.posts.model_copy(
        update={"approvals_required": 2})})
    desk = make_desk(engine, two, clock)
    post = desk.desk.draft(AUTHOR, a_draft(NOW + timedelta(hours=2)))
    assert desk.desk.approve(post.id or 0, EDITOR, via="reaction").code == \
        "posts.outcome.approval_counted"
    assert desk.desk.approve(post.id or 0, EDITOR, via="button").code == \
        "posts.outcome.already_approved"
    assert state(engine, post.id or 0) == PostState.PENDING
    assert desk.desk.approve(post.id or 0, EDITOR2, via="reaction").code == \
        "posts.outcome.approved"
    assert state(engine, post.id or 0) == PostState.APPROVED
    view = desk.desk.view(post.id or 0)
    assert view is not None and view.approvers == [EDITOR, EDITOR2]


def test_withdrawing_the_approval_sends_it_back(desk: Desk, engine: Engine) -> None:
    """Removing the only approval before publication makes the post pending again."""
    post = desk.desk.draft(AUTHOR, a_draft(NOW + timedelta(hours=2)))
    desk.desk.approve(post.id or 0, EDITOR, via="reaction")
    assert desk.desk.withdraw(post.id or 0, EDITOR).ok
    assert state(engine, post.id or 0) == PostState.PENDING
    assert "withdrawn" in desk.notices.told_author(post.id or 0)
    assert desk.desk.withdraw(post.id or 0, EDITOR).code == "posts.outcome.nothing_to_withdraw"


def test_reject_with_a_reason(desk: Desk, engine: Engine) -> None:
    """The post is rejected, its job cancelled, the author told the reason."""
    post = desk.desk.draft(AUTHOR, a_draft(NOW + timedelta(hours=2)))
    assert desk.desk.reject(post.id or 0, EDITOR, "Chiffre non vérifié").ok
    with Session(engine) as session:
        stored = session.get(Post, post.id)
        assert stored is not None
        assert (stored.state, stored.decided_by, stored.reason) == (
            PostState.REJECTED, EDITOR, "Chiffre non vérifié")
    assert job_id(post.id or 0) in desk.timer.cancelled
    assert "rejected" in desk.notices.told_author(post.id or 0)
    assert desk.desk.approve(post.id or 0, EDITOR2, via="button").code == \
        "posts.outcome.state.rejected"


def test_editing_an_approved_post_sends_it_back_to_approval(desk: Desk, engine: Engine) -> None:
    """New text, new version, approvals start over; the old approval no longer counts."""
    post = desk.desk.draft(AUTHOR, a_draft(NOW + timedelta(hours=2)))
    desk.desk.approve(post.id or 0, EDITOR, via="reaction")
    outcome = desk.desk.edit(post.id or 0, AUTHOR,
                             a_draft(NOW + timedelta(hours=3), text="Nouveau texte",
                                     targets=("annonces", "breves")),
                             seen_version=1)
    assert outcome.ok
    view = desk.desk.view(post.id or 0)
    assert view is not None
    assert (view.post.state, view.post.version, view.post.text) == (
        PostState.PENDING, 2, "Nouveau texte")
    assert view.approvers == []
    assert [d.target_id for d in view.deliveries] == ["annonces", "breves"]
    assert desk.timer.when(job_id(post.id or 0)) == NOW + timedelta(hours=3)
    assert "edited" in desk.notices.in_threads(post.id or 0)


def test_an_edit_based_on_an_old_version_is_refused(desk: Desk) -> None:
    """Two people editing at once: the second save is refused, not silently merged."""
    post = desk.desk.draft(AUTHOR, a_draft(NOW + timedelta(hours=2)))
    assert desk.desk.edit(post.id or 0, AUTHOR, a_draft(None, text="A"), seen_version=1).ok
    late = desk.desk.edit(post.id or 0, EDITOR, a_draft(None, text="B"), seen_version=1)
    assert late.code == "posts.outcome.changed_meanwhile"


def test_only_the_author_or_an_editor_edits_or_cancels(desk: Desk, engine: Engine) -> None:
    """A colleague who is neither cannot change someone else's post."""
    post = desk.desk.draft(AUTHOR, a_draft(NOW + timedelta(hours=2)))
    assert desk.desk.cancel(post.id or 0, STRANGER).code == "posts.outcome.not_author_or_editor"
    assert not desk.desk.edit(post.id or 0, STRANGER, a_draft(None), seen_version=1).ok
    assert desk.desk.cancel(post.id or 0, AUTHOR).ok
    assert state(engine, post.id or 0) == PostState.CANCELLED


def test_a_draft_without_time_goes_out_as_soon_as_approved(desk: Desk, engine: Engine) -> None:
    """No time given: approval plans it for now."""
    post = desk.desk.draft(AUTHOR, a_draft(None))
    assert desk.timer.when(job_id(post.id or 0)) is None
    desk.desk.approve(post.id or 0, EDITOR, via="button")
    assert desk.timer.when(job_id(post.id or 0)) == NOW
    desk.run_due_jobs()
    assert state(engine, post.id or 0) == PostState.PUBLISHED


def test_calendar_lists_posts_in_the_window(desk: Desk) -> None:
    """Upcoming posts in the window, and drafts with no time yet."""
    inside = desk.desk.draft(AUTHOR, a_draft(NOW + timedelta(days=2)))
    desk.desk.draft(AUTHOR, a_draft(NOW + timedelta(days=40)))
    loose = desk.desk.draft(AUTHOR, a_draft(None))
    entries = desk.desk.calendar(NOW - timedelta(days=1), NOW + timedelta(days=8))
    assert {e.id for e in entries} == {inside.id, loose.id}


def test_approvals_are_stored_per_version(desk: Desk, engine: Engine) -> None:
    """The audit keeps who approved which version, via what."""
    post = desk.desk.draft(AUTHOR, a_draft(NOW + timedelta(hours=2)))
    desk.desk.approve(post.id or 0, EDITOR, via="reaction")
    with Session(engine) as session:
        rows = session.exec(select(PostApproval).order_by(col(PostApproval.id))).all()
    assert [(r.editor_id, r.version, r.via) for r in rows] == [(EDITOR, 1, "reaction")]
