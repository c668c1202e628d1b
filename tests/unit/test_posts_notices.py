"""The approval preview catches up: an update lost to Slack being down (or to a crash
of the in-memory notice queue) is redrawn by the publishing sweep, once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.clock import FrozenClock
from bot.config import Config
from bot.connectors.publishers import Publishers, PublishOutcomeUnknown
from bot.mentions.pacing import ChannelPacer
from bot.posts.jobs import Publishing
from bot.posts.models import NoticeState, PostNotice
from bot.posts.notify import SlackNotices
from bot.posts.service import PostDesk
from bot.reasons import Reason
from bot.sandbox.slack import FakeSlack
from bot.slack import PacedSlack, SlackGateway, make_client
from tests.support.posts import (
    AUTHOR,
    EDITOR,
    Editors,
    RecordingTimer,
    ScriptedPublisher,
    a_draft,
    delivered,
)

NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


class Newsroom:
    def __init__(self, engine: Engine, config: Config, clock: FrozenClock,
                 slack: FakeSlack, gateway: SlackGateway | None = None) -> None:
        gateway = gateway or SlackGateway(make_client("xoxb-test", slack.base_url, timeout=2))
        publishers = Publishers()
        self.publisher = ScriptedPublisher()
        publishers.register(self.publisher)
        timer = RecordingTimer()
        self.notices = SlackNotices(engine=engine, config=config, clock=clock, slack=gateway,
                                    locale="fr", locale_for=lambda user: "fr",
                                    background=False)
        self.desk = PostDesk(engine=engine, config=config, clock=clock, publishers=publishers,
                             timer=timer, notices=self.notices, roles=Editors())
        self.publishing = Publishing(engine=engine, config=config, clock=clock,
                                     publishers=publishers, timer=timer, notices=self.notices)
        self.slack, self.clock = slack, clock
        self.channel = str(config.channels.approvals)

    def preview(self) -> dict[str, Any]:
        [shown] = [m for m in self.slack.messages(self.channel, include_replies=False)
                   if (m.get("metadata") or {}).get("event_type") == "vigie_post_preview"]
        return shown

    def shows(self, text: str) -> bool:
        return text in json.dumps(self.preview()["blocks"], ensure_ascii=False)

    def thread(self) -> list[str]:
        """The texts Vigie posted in the preview's thread, oldest first."""
        ts = self.preview()["ts"]
        return [m["text"] for m in self.slack.messages(self.channel)
                if m.get("thread_ts") == ts and m["ts"] != ts]


def test_a_preview_update_lost_while_slack_was_down_is_redrawn_by_the_sweep(
        engine: Engine, config: Config, clock: FrozenClock, slack: FakeSlack) -> None:
    room = Newsroom(engine, config, clock, slack)
    post = room.desk.draft(AUTHOR, a_draft(NOW + timedelta(minutes=10)))
    assert room.shows("En attente")
    assert room.desk.approve(post.id or 0, EDITOR, via="reaction").ok
    assert room.shows("Approuvée")

    clock.advance(minutes=10)
    slack.set_down(True)  # the "published" update is lost, as in a crash
    room.publishing.run_due(post.id or 0)
    slack.set_down(False)
    assert [s.target for s in room.publisher.sent] == ["annonces"]
    assert room.shows("Approuvée")

    room.publishing.sweep()  # within a minute: the notice queue may still be at it
    assert room.shows("Approuvée")
    clock.advance(minutes=2)
    room.publishing.sweep()
    assert room.shows("Publiée")

    updates = len(slack.calls_to("chat.update"))
    clock.advance(minutes=2)
    room.publishing.sweep()  # drawn: nothing more to do
    assert len(slack.calls_to("chat.update")) == updates


def test_a_preview_someone_deleted_is_not_retried_forever(
        engine: Engine, config: Config, clock: FrozenClock, slack: FakeSlack) -> None:
    room = Newsroom(engine, config, clock, slack)
    post = room.desk.draft(AUTHOR, a_draft(NOW + timedelta(minutes=10)))
    slack.fail_next("chat.update", status=200, error="message_not_found", times=5)
    assert room.desk.approve(post.id or 0, EDITOR, via="reaction").ok
    clock.advance(minutes=2)
    room.publishing.sweep()
    assert len(slack.calls_to("chat.update")) == 1  # the refused update; no retries


def dms_to(slack: FakeSlack, user: str) -> list[str]:
    return [m["text"] for m in slack.messages(slack.dm_channel(user))]


def test_the_authors_note_is_kept_until_slack_takes_it(
        engine: Engine, config: Config, clock: FrozenClock, slack: FakeSlack) -> None:
    """Slack is down when the post goes out: the author's "it went out" note waits in the
    database and is sent once Slack is back, by the sweep, once."""
    room = Newsroom(engine, config, clock, slack)
    post = room.desk.draft(AUTHOR, a_draft(NOW + timedelta(minutes=10)))
    assert room.desk.approve(post.id or 0, EDITOR, via="reaction").ok
    before = len(dms_to(slack, AUTHOR))
    clock.advance(minutes=10)
    slack.set_down(True)
    room.publishing.run_due(post.id or 0)
    slack.set_down(False)
    assert len(dms_to(slack, AUTHOR)) == before
    clock.advance(seconds=30)
    room.publishing.sweep()  # the retry is not due yet, and the note is fresh
    assert len(dms_to(slack, AUTHOR)) == before
    clock.advance(minutes=2)
    room.publishing.sweep()
    [went_out] = dms_to(slack, AUTHOR)[before:]
    assert "est partie" in went_out
    clock.advance(minutes=10)
    room.publishing.sweep()
    assert len(dms_to(slack, AUTHOR)) == before + 1


def test_a_note_whose_answer_was_lost_is_not_sent_twice(
        engine: Engine, config: Config, clock: FrozenClock, slack: FakeSlack) -> None:
    """chat.postMessage goes through but its answer is lost (timeout): the note is left
    as it is rather than risk a second identical DM."""
    room = Newsroom(engine, config, clock, slack)
    post = room.desk.draft(AUTHOR, a_draft(NOW + timedelta(minutes=10)))
    assert room.desk.approve(post.id or 0, EDITOR, via="reaction").ok
    before = len(dms_to(slack, AUTHOR))
    clock.advance(minutes=10)
    slack.hang_next("chat.postMessage", 3.0, then_apply=True, times=3)
    room.publishing.run_due(post.id or 0)
    after = len(dms_to(slack, AUTHOR))
    assert after == before + 1  # it did reach the author
    clock.advance(minutes=30)
    room.publishing.sweep()
    assert len(dms_to(slack, AUTHOR)) == after


def test_a_note_held_back_by_its_channels_pace_uses_no_attempt(
        engine: Engine, config: Config, clock: FrozenClock, slack: FakeSlack) -> None:
    """The author's DM channel is booked 30 s ahead: the "approved" note waits in the
    database without spending an attempt, then goes out once, when the channel is free."""
    pacer = ChannelPacer(engine, 1.0)
    paced = PacedSlack(make_client("xoxb-test", slack.base_url, timeout=2), pacer=pacer,
                       clock=clock, max_wait=5)
    room = Newsroom(engine, config, clock, slack, gateway=paced)
    post = room.desk.draft(AUTHOR, a_draft(NOW + timedelta(minutes=10)))
    dm = slack.dm_channel(AUTHOR)
    before = len(dms_to(slack, AUTHOR))
    for _ in range(30):
        pacer.reserve(dm, clock.now(), within=timedelta(minutes=1))
    assert room.desk.approve(post.id or 0, EDITOR, via="reaction").ok
    assert len(dms_to(slack, AUTHOR)) == before
    with Session(engine) as session:
        [held] = session.exec(select(PostNotice).where(col(PostNotice.event) == "approved"))
    assert (held.state, held.attempts) == (NoticeState.PENDING, 0)
    assert held.next_attempt_at is not None and held.next_attempt_at > clock.now()
    clock.advance(minutes=2)
    room.publishing.sweep()
    [approved] = dms_to(slack, AUTHOR)[before:]
    assert "a approuvé" in approved
    room.publishing.sweep()
    assert len(dms_to(slack, AUTHOR)) == before + 1


def test_a_preview_lost_before_its_post_expired_is_still_shown(
        engine: Engine, config: Config, clock: FrozenClock, slack: FakeSlack) -> None:
    """Slack drops the preview's connection before posting it and the look finds
    nothing; the post's time comes unapproved (expired). Once Slack's window is over, the
    sweep posts the preview (expired, which an editor can still approve to send it now)
    instead of leaving a draft no editor ever saw (found by campaign.chaos)."""
    room = Newsroom(engine, config, clock, slack)
    slack.reset_next("chat.postMessage", channel=room.channel)
    post = room.desk.draft(AUTHOR, a_draft(NOW + timedelta(minutes=1)))
    assert [m for m in slack.messages(room.channel)] == []
    clock.advance(minutes=1)
    room.publishing.run_due(post.id or 0)
    clock.advance(minutes=3)
    room.publishing.sweep()
    assert room.shows("Expirée")


def reports(room: Newsroom) -> list[str]:
    return [text for text in room.thread() if text.startswith("Publication prévue")]


def test_a_report_held_back_does_not_repeat_the_line_of_a_later_one(
        engine: Engine, config: Config, clock: FrozenClock, slack: FakeSlack) -> None:
    """The send's answer is lost and the look cannot be made: the round's report ("Vigie
    is looking for it") meets a 503 and waits. The next look finds the post: its report
    says so. When the first report is finally sent, it must not say it again, word for
    word, in the thread (found by campaign.chaos, seed 17)."""
    room = Newsroom(engine, config, clock, slack)
    post = room.desk.draft(AUTHOR, a_draft(NOW + timedelta(minutes=10)))
    assert room.desk.approve(post.id or 0, EDITOR, via="reaction").ok
    room.publisher.script["annonces"] = [
        delivered(PublishOutcomeUnknown(Reason("publish.slack_no_answer", error="timeout")))]
    room.publisher.find_fails = True
    clock.advance(minutes=10)
    slack.fail_next("chat.postMessage", status=503, channel=room.channel)
    room.publishing.run_due(post.id or 0)  # sent, answer lost, look failed: report held
    assert reports(room) == []

    room.publisher.find_fails = False
    clock.advance(seconds=30)
    room.publishing.run_due(post.id or 0)  # the look finds it
    [found] = reports(room)
    assert "#annonces" in found and "voir la publication" in found

    clock.advance(minutes=2)
    room.publishing.sweep()  # the held report's turn comes
    clock.advance(minutes=10)
    room.publishing.sweep()
    assert reports(room) == [found]
    assert len(room.publisher.sent) == 1
    with Session(engine) as session:
        states = set(session.exec(select(PostNotice.state)
                                  .where(col(PostNotice.kind) == "report")))
    assert NoticeState.PENDING not in states and NoticeState.SENDING not in states


def test_a_report_held_back_still_tells_the_targets_no_later_report_covers(
        engine: Engine, config: Config, clock: FrozenClock, slack: FakeSlack) -> None:
    """Two targets: #brèves goes out, #annonces' answer is lost. The round's report waits
    (a 503); the look's report tells #annonces. The held report, sent later, still tells
    #brèves, and only #brèves: each target's line once in the thread."""
    room = Newsroom(engine, config, clock, slack)
    post = room.desk.draft(AUTHOR, a_draft(NOW + timedelta(minutes=10),
                                           targets=("annonces", "breves")))
    assert room.desk.approve(post.id or 0, EDITOR, via="reaction").ok
    room.publisher.script["annonces"] = [
        delivered(PublishOutcomeUnknown(Reason("publish.slack_no_answer", error="timeout")))]
    room.publisher.find_fails = True
    clock.advance(minutes=10)
    slack.fail_next("chat.postMessage", status=503, channel=room.channel)
    room.publishing.run_due(post.id or 0)
    room.publisher.find_fails = False
    clock.advance(seconds=30)
    room.publishing.run_due(post.id or 0)
    clock.advance(minutes=2)
    room.publishing.sweep()

    lines = [line for text in reports(room) for line in text.splitlines()[1:]]
    assert sorted(line.split(" : ")[0] for line in lines) == [
        ":white_check_mark: #annonces (Slack)", ":white_check_mark: #breves (Slack)"]
    assert all("voir la publication" in line for line in lines)
