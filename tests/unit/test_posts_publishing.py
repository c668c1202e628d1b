"""The publishing job: exactly once, partial failures, unknown outcomes, expiry, staleness."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.clock import FrozenClock
from bot.config import Config
from bot.connectors.doubt import Doubt
from bot.connectors.publishers import (
    PublishOutcomeUnknown,
    PublishRateLimited,
    PublishRejected,
    PublishUnavailable,
)
from bot.posts.jobs import Publishing
from bot.posts.models import DeliveryState, Post, PostDelivery, PostState, Recurrence
from bot.posts.service import job_id
from bot.reasons import Reason
from tests.support.posts import (
    AUTHOR,
    EDITOR,
    Desk,
    ScriptedPublisher,
    a_draft,
    delivered,
    make_desk,
)

NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def unreachable(error: str) -> Reason:
    return Reason("publish.slack_unreachable", error=error)


def refused(error: str) -> Reason:
    return Reason("publish.slack_refused", error=error)


def no_answer(error: str) -> Reason:
    return Reason("publish.slack_no_answer", error=error)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def desk(engine: Engine, config: Config, clock: FrozenClock) -> Desk:
    return make_desk(engine, config, clock)


def approved(desk: Desk, *, minutes: float = 10, targets: tuple[str, ...] = ("annonces",),
             **extra: object) -> int:
    post = desk.desk.draft(AUTHOR, a_draft(NOW + timedelta(minutes=minutes), targets=targets,
                                           **extra))  # type: ignore[arg-type]
    assert desk.desk.approve(post.id or 0, EDITOR, via="reaction").ok
    return int(post.id or 0)


def deliveries(engine: Engine, post_id: int) -> dict[str, PostDelivery]:
    with Session(engine) as session:
        rows = session.exec(select(PostDelivery).where(col(PostDelivery.post_id) == post_id))
        return {row.target_id: row for row in rows}


def post_state(engine: Engine, post_id: int) -> PostState:
    with Session(engine) as session:
        post = session.get(Post, post_id)
        assert post is not None
        return PostState(post.state)


def test_an_approved_post_goes_out_at_its_time_not_before(desk: Desk, engine: Engine,
                                                          clock: FrozenClock) -> None:
    """Nothing at 9:05; published with its link at 9:10; the author is told."""
    post_id = approved(desk)
    clock.advance(minutes=5)
    desk.publishing.run_due(post_id)
    assert desk.publisher.sent == []
    clock.advance(minutes=5)
    desk.run_due_jobs()
    assert [s.target for s in desk.publisher.sent] == ["annonces"]
    result = deliveries(engine, post_id)["annonces"]
    assert (result.state, result.url) == (DeliveryState.PUBLISHED, "https://example.test/1")
    assert post_state(engine, post_id) == PostState.PUBLISHED
    assert desk.notices.told_author(post_id)[-1] == "published"


def test_running_the_job_again_publishes_nothing_more(desk: Desk, engine: Engine,
                                                      clock: FrozenClock) -> None:
    """A retried or duplicated job finds the post claimed and does nothing."""
    post_id = approved(desk)
    clock.advance(minutes=10)
    for _ in range(3):
        desk.publishing.run_due(post_id)
        desk.publishing.sweep()
    assert len(desk.publisher.sent) == 1


def test_two_runners_racing_publish_once(engine: Engine, config: Config,
                                         clock: FrozenClock) -> None:
    """Eight threads, two runners, forty posts due at once: each post goes out once."""
    desk = make_desk(engine, config, clock)
    other = Publishing(engine=engine, config=config, clock=clock,
                       publishers=desk.desk._publishers, timer=desk.timer,
                       notices=desk.notices)
    ids = [approved(desk, targets=("annonces", "breves")) for _ in range(40)]
    clock.advance(minutes=10)
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def run(runner: Publishing) -> None:
        try:
            barrier.wait()
            for post_id in ids:
                runner.run_due(post_id)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(desk.publishing if i % 2 else other,))
               for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    keys = [s.key for s in desk.publisher.sent]
    assert len(keys) == 80 and len(set(keys)) == 80
    assert {post_state(engine, i) for i in ids} == {PostState.PUBLISHED}


def test_unapproved_at_its_time_expires_and_approving_later_sends_it(
        desk: Desk, engine: Engine, clock: FrozenClock) -> None:
    """Pending at 9:10 → expired, author told; an editor's approval at 9:30 sends it now."""
    post = desk.desk.draft(AUTHOR, a_draft(NOW + timedelta(minutes=10)))
    post_id = int(post.id or 0)
    clock.advance(minutes=10)
    desk.run_due_jobs()
    assert post_state(engine, post_id) == PostState.EXPIRED
    assert desk.publisher.sent == []
    assert "expired" in desk.notices.told_author(post_id)
    clock.advance(minutes=20)
    assert desk.desk.approve(post_id, EDITOR, via="reaction").ok
    assert desk.timer.when(job_id(post_id)) == clock.now()
    desk.run_due_jobs()
    assert post_state(engine, post_id) == PostState.PUBLISHED


def test_a_short_downtime_still_publishes(desk: Desk, engine: Engine,
                                          clock: FrozenClock) -> None:
    """Ten minutes late (under stale_after_minutes = 15): it goes out."""
    post_id = approved(desk)
    clock.advance(minutes=20)
    desk.publishing.sweep()
    assert post_state(engine, post_id) == PostState.PUBLISHED


def test_hours_late_asks_a_human_instead(desk: Desk, engine: Engine,
                                         clock: FrozenClock) -> None:
    """Three hours late: not sent but stale, question in the thread; publish-now sends it."""
    post_id = approved(desk)
    clock.advance(hours=3)
    desk.publishing.sweep()
    assert post_state(engine, post_id) == PostState.STALE
    assert desk.publisher.sent == []
    assert "stale" in desk.notices.in_threads(post_id)
    assert desk.timer.jobs[job_id(post_id)][3] == timedelta(minutes=15)  # misfire grace
    assert desk.desk.publish_now(post_id, EDITOR).ok
    desk.run_due_jobs()
    assert post_state(engine, post_id) == PostState.PUBLISHED
    assert not desk.desk.publish_now(post_id, EDITOR).ok


def test_partial_failure_retries_only_the_failed_target(desk: Desk, engine: Engine,
                                                        clock: FrozenClock) -> None:
    """#annonces goes out; #breves fails, is retried with backoff, and goes out once."""
    desk.publisher.script["breves"] = [PublishUnavailable(unreachable("connection refused"))]
    post_id = approved(desk, targets=("annonces", "breves"))
    clock.advance(minutes=10)
    desk.run_due_jobs()
    results = deliveries(engine, post_id)
    assert results["annonces"].state == DeliveryState.PUBLISHED
    assert results["breves"].state == DeliveryState.FAILED
    assert results["breves"].next_attempt_at == clock.now() + timedelta(seconds=2)
    assert post_state(engine, post_id) == PostState.PUBLISHING
    assert desk.timer.when(job_id(post_id)) == clock.now() + timedelta(seconds=2)
    clock.advance(seconds=2)
    desk.run_due_jobs()
    assert desk.publisher.sends_to("annonces") == 1
    assert desk.publisher.sends_to("breves") == 1
    assert post_state(engine, post_id) == PostState.PUBLISHED
    reports = [e for e in desk.notices.events if e[0] == "report"]
    assert len(reports) == 2  # one per round, in the approval thread


def test_a_permanent_refusal_stops_and_waits_for_a_human(desk: Desk, engine: Engine,
                                                         clock: FrozenClock) -> None:
    """channel_not_found is not retried; the post is failed; a human retry sends it."""
    desk.publisher.script["annonces"] = [PublishRejected(refused("channel_not_found"),
                                                         permanent=True)]
    post_id = approved(desk)
    clock.advance(minutes=10)
    desk.run_due_jobs()
    result = deliveries(engine, post_id)["annonces"]
    assert (result.state, result.gave_up) == (DeliveryState.FAILED, True)
    assert post_state(engine, post_id) == PostState.FAILED
    assert desk.notices.told_author(post_id)[-1] == "failed"
    assert desk.desk.retry_delivery(int(result.id or 0), AUTHOR).ok
    desk.run_due_jobs()
    assert post_state(engine, post_id) == PostState.PUBLISHED


def test_transient_failures_give_up_after_max_attempts(desk: Desk, engine: Engine,
                                                       clock: FrozenClock) -> None:
    """Eight failed attempts, then it stops retrying and a human decides."""
    desk.publisher.script["annonces"] = [PublishUnavailable(unreachable("down"))] * 8
    post_id = approved(desk)
    clock.advance(minutes=10)
    for _ in range(8):
        desk.run_due_jobs()
        clock.advance(hours=1)
    result = deliveries(engine, post_id)["annonces"]
    assert (result.attempts, result.gave_up) == (8, True)
    assert post_state(engine, post_id) == PostState.FAILED
    assert desk.publisher.sent == []


def test_rate_limit_waits_retry_after_without_using_an_attempt(desk: Desk, engine: Engine,
                                                               clock: FrozenClock) -> None:
    """429: retried after Retry-After; attempts are not spent on it."""
    limited = PublishRateLimited(Reason("publish.slack_rate_limited"), 30)
    desk.publisher.script["annonces"] = [limited]
    post_id = approved(desk)
    clock.advance(minutes=10)
    desk.run_due_jobs()
    result = deliveries(engine, post_id)["annonces"]
    assert (result.attempts, result.next_attempt_at) == (0, clock.now() + timedelta(seconds=30))
    clock.advance(seconds=30)
    desk.run_due_jobs()
    assert post_state(engine, post_id) == PostState.PUBLISHED


def test_a_target_whose_channel_is_booked_waits_its_turn_quietly(
        desk: Desk, engine: Engine, clock: FrozenClock) -> None:
    """Held back by the channel's pacing: still queued for the slot it was given, no
    attempt spent, nothing said in the thread until it goes out at that slot."""
    paced = PublishRateLimited(Reason("publish.slack_rate_limited"), 4, paced=True)
    desk.publisher.script["breves"] = [paced]
    post_id = approved(desk, targets=("annonces", "breves"))
    clock.advance(minutes=10)
    desk.run_due_jobs()
    waiting = deliveries(engine, post_id)
    assert waiting["annonces"].state == DeliveryState.PUBLISHED
    assert (waiting["breves"].state, waiting["breves"].attempts, waiting["breves"].error) == \
        (DeliveryState.QUEUED, 0, None)
    assert desk.timer.when(job_id(post_id)) == clock.now() + timedelta(seconds=4)
    reports = [e for e in desk.notices.events if e[0] == "report"]
    assert reports == [("report", post_id, (waiting["annonces"].id,))]  # not the queued one
    desk.publishing.run_due(post_id)  # early (a sweep, another replica): not its turn
    assert desk.publisher.sends_to("breves") == 0
    clock.advance(seconds=4)
    desk.run_due_jobs()
    assert desk.publisher.sends_to("breves") == 1
    assert deliveries(engine, post_id)["breves"].attempts == 1
    assert post_state(engine, post_id) == PostState.PUBLISHED
    assert [e for e in desk.notices.events if e[0] == "report"][1:] == [
        ("report", post_id, (waiting["breves"].id,))]


def test_timeout_after_sending_is_found_and_not_resent(desk: Desk, engine: Engine,
                                                       clock: FrozenClock) -> None:
    """The post went out but the answer was lost: found by its key, marked published."""
    desk.publisher.script["annonces"] = [delivered(PublishOutcomeUnknown(no_answer("timeout")))]
    post_id = approved(desk)
    clock.advance(minutes=10)
    desk.run_due_jobs()
    assert len(desk.publisher.sent) == 1
    assert deliveries(engine, post_id)["annonces"].state == DeliveryState.PUBLISHED
    assert post_state(engine, post_id) == PostState.PUBLISHED


def test_unknown_outcome_not_found_is_unconfirmed_and_never_resent(
        desk: Desk, engine: Engine, clock: FrozenClock) -> None:
    """Lost answer, nothing found: unconfirmed; sweeps resend nothing; a human decides."""
    desk.publisher.script["annonces"] = [PublishOutcomeUnknown(no_answer("HTTP 503"))]
    post_id = approved(desk)
    clock.advance(minutes=10)
    desk.run_due_jobs()
    for _ in range(3):
        clock.advance(hours=1)
        desk.publishing.sweep()
        desk.run_due_jobs()
    result = deliveries(engine, post_id)["annonces"]
    assert (result.state, result.gave_up) == (DeliveryState.UNCONFIRMED, True)
    assert desk.publisher.sent == []
    assert post_state(engine, post_id) == PostState.FAILED
    assert desk.desk.confirm_delivery(int(result.id or 0), EDITOR).ok
    desk.run_due_jobs()
    assert post_state(engine, post_id) == PostState.PUBLISHED
    assert desk.publisher.sent == []


def test_unknown_outcome_when_the_lookup_fails_is_checked_again_later(
        desk: Desk, engine: Engine, clock: FrozenClock) -> None:
    """If the platform cannot even be asked, Vigie asks again later; it still never resends."""
    desk.publisher.script["annonces"] = [delivered(PublishOutcomeUnknown(no_answer("timeout")))]
    desk.publisher.find_fails = True
    post_id = approved(desk)
    clock.advance(minutes=10)
    desk.run_due_jobs()
    result = deliveries(engine, post_id)["annonces"]
    assert (result.state, result.gave_up) == (DeliveryState.UNCONFIRMED, False)
    desk.publisher.find_fails = False
    clock.advance(minutes=1)
    desk.publishing.sweep()
    assert deliveries(engine, post_id)["annonces"].state == DeliveryState.PUBLISHED
    assert len(desk.publisher.sent) == 1


def test_a_runner_that_died_mid_call_leaves_a_delivery_that_is_checked(
        desk: Desk, engine: Engine, clock: FrozenClock) -> None:
    """A delivery stuck in `sending` past its lease is looked up, not resent."""
    post_id = approved(desk)
    clock.advance(minutes=10)
    with Session(engine) as session:  # what a crash right after claiming leaves behind
        session.execute(update(Post).where(col(Post.id) == post_id)
                        .values(state=PostState.PUBLISHING, claimed_at=clock.now()))
        session.execute(update(PostDelivery).where(col(PostDelivery.post_id) == post_id)
                        .values(state=DeliveryState.SENDING, claimed_at=clock.now(),
                                calling_at=clock.now(), attempts=1))
        session.commit()
    clock.advance(minutes=10)
    desk.publishing.sweep()
    result = deliveries(engine, post_id)["annonces"]
    assert (result.state, result.gave_up) == (DeliveryState.UNCONFIRMED, True)
    assert desk.publisher.sent == []


def test_no_publisher_for_a_kind_is_reported_clearly(engine: Engine, config: Config,
                                                     clock: FrozenClock) -> None:
    """A Mastodon target without a connector fails with a plain reason; Slack still goes."""
    desk = make_desk(engine, config, clock)
    post = desk.desk.draft(AUTHOR, a_draft(NOW + timedelta(minutes=10),
                                           targets=("annonces", "matinale-mastodon")))
    desk.desk.approve(int(post.id or 0), EDITOR, via="button")
    clock.advance(minutes=10)
    desk.run_due_jobs()
    results = deliveries(engine, int(post.id or 0))
    assert results["annonces"].state == DeliveryState.PUBLISHED
    assert results["matinale-mastodon"].error == \
        Reason("publish.no_publisher", platform="Mastodon").stored(512)
    assert results["matinale-mastodon"].gave_up


def test_a_daily_post_creates_its_next_occurrence_once(desk: Desk, engine: Engine,
                                                       clock: FrozenClock) -> None:
    """Publishing Monday's creates Tuesday's, approved, same time; racing runs add no more."""
    post_id = approved(desk, recurrence=Recurrence.DAILY)
    clock.advance(minutes=10)
    desk.publishing.run_due(post_id)
    desk.publishing.run_due(post_id)
    with Session(engine) as session:
        posts = session.exec(select(Post).order_by(col(Post.id))).all()
    assert [(p.id, PostState(p.state)) for p in posts] == [
        (post_id, PostState.PUBLISHED), (post_id + 1, PostState.APPROVED)]
    assert posts[1].publish_at == NOW + timedelta(days=1, minutes=10)
    assert desk.timer.when(job_id(post_id + 1)) == NOW + timedelta(days=1, minutes=10)
    view = desk.desk.view(post_id + 1)
    assert view is not None and view.approvers == [EDITOR]


def test_sweep_publishes_a_post_whose_job_was_lost(desk: Desk, engine: Engine,
                                                   clock: FrozenClock) -> None:
    """The database is the truth: no job, still published by the sweep."""
    post_id = approved(desk)
    desk.timer.jobs.clear()
    clock.advance(minutes=11)
    desk.publishing.sweep()
    assert post_state(engine, post_id) == PostState.PUBLISHED


def test_withdrawing_after_publication_is_too_late(desk: Desk, engine: Engine,
                                                   clock: FrozenClock) -> None:
    """Once out, an approval cannot be withdrawn and its record stays."""
    post_id = approved(desk)
    clock.advance(minutes=10)
    desk.run_due_jobs()
    outcome = desk.desk.withdraw(post_id, EDITOR)
    assert outcome.code == "posts.outcome.state.published"
    view = desk.desk.view(post_id)
    assert view is not None and view.approvers == [EDITOR]


def test_a_slow_publisher_does_not_let_an_edit_slip_in(desk: Desk, engine: Engine,
                                                       clock: FrozenClock) -> None:
    """Once claimed, the post cannot be edited or cancelled any more."""
    post_id = approved(desk)
    clock.advance(minutes=10)
    release = threading.Event()
    started = threading.Event()
    original = desk.publisher.publish

    def slow(outgoing: object) -> object:
        started.set()
        release.wait(5)
        return original(outgoing)  # type: ignore[arg-type]

    desk.publisher.publish = slow  # type: ignore[method-assign,assignment]
    runner = threading.Thread(target=desk.publishing.run_due, args=(post_id,))
    runner.start()
    assert started.wait(5)
    assert desk.desk.edit(post_id, AUTHOR, a_draft(None, text="trop tard"),
                          seen_version=1).code == "posts.outcome.state.publishing"
    assert desk.desk.cancel(post_id, AUTHOR).code == "posts.outcome.state.publishing"
    release.set()
    runner.join(5)
    assert post_state(engine, post_id) == PostState.PUBLISHED
    assert desk.publisher.sent[0].text == "Ce soir, le grand débat."



RESENDING = Doubt("scripted", window=timedelta(minutes=2), resend_when_absent=True)


class Crash(BaseException):
    """The process dies mid-call: nothing below it catches this."""


def test_a_look_cut_short_by_a_crash_is_made_again_after_its_lease(
        desk: Desk, engine: Engine, config: Config, clock: FrozenClock) -> None:
    """Vigie dies while looking for a post in doubt: after the look's lease, a restarted
    Vigie's sweep looks again and settles it (here: found, published, never resent)."""
    desk.publisher.script["annonces"] = [delivered(PublishOutcomeUnknown(no_answer("timeout")))]
    desk.publisher.find_fails = True  # the look right after the send cannot be made
    post_id = approved(desk)
    clock.advance(minutes=10)
    desk.run_due_jobs()
    assert deliveries(engine, post_id)["annonces"].state == DeliveryState.UNCONFIRMED
    desk.publisher.find_fails = False
    desk.publisher.find_crash = Crash()
    clock.advance(seconds=10)
    with pytest.raises(Crash):
        desk.publishing.sweep()
    desk.publisher.find_crash = None
    restarted = make_desk(engine, config, clock, publisher=desk.publisher)
    restarted.publishing.sweep()
    assert deliveries(engine, post_id)["annonces"].state == DeliveryState.UNCONFIRMED
    clock.advance(minutes=5)
    restarted.publishing.sweep()
    result = deliveries(engine, post_id)["annonces"]
    assert (result.state, result.url) == (DeliveryState.PUBLISHED, "https://example.test/1")
    assert post_state(engine, post_id) == PostState.PUBLISHED
    assert desk.publisher.sends_to("annonces") == 1


def test_two_replicas_looking_at_once_look_once_and_send_again_once(
        engine: Engine, config: Config, clock: FrozenClock) -> None:
    """A post in doubt, due for a look on two replicas at the same moment: one looks, the
    other leaves it; once absence is proven it is sent again exactly once."""
    publisher = ScriptedPublisher(doubt=RESENDING)
    one = make_desk(engine, config, clock, publisher=publisher)
    other = make_desk(engine, config, clock, publisher=publisher)
    publisher.script["annonces"] = [PublishOutcomeUnknown(no_answer("timeout"))]
    post_id = approved(one)
    clock.advance(minutes=10)
    one.run_due_jobs()
    assert publisher.finds == 1
    clock.advance(minutes=2)  # the window has closed: the next look decides
    publisher.find_gate = threading.Event()
    publisher.find_entered.clear()
    looking = threading.Thread(target=one.publishing.run_due, args=(post_id,))
    looking.start()
    assert publisher.find_entered.wait(30)  # the first replica is inside its look
    other.publishing.run_due(post_id)  # the second one finds the look taken
    publisher.find_gate.set()
    looking.join(30)
    assert publisher.finds == 2
    result = deliveries(engine, post_id)["annonces"]
    assert (result.state, result.gave_up) == (DeliveryState.FAILED, False)
    clock.advance(seconds=2)
    runners = [threading.Thread(target=replica.publishing.run_due, args=(post_id,))
               for replica in (one, other)]
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join(30)
    assert publisher.sends_to("annonces") == 1
    assert deliveries(engine, post_id)["annonces"].state == DeliveryState.PUBLISHED
