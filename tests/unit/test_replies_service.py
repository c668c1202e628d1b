"""The reply desk without HTTP: exactly-once sending under concurrent clicks, what the
sweep finishes after a crash or an outage (never resending a maybe-sent reply), the
approval preview posted once even when Slack's answer is lost, and approval routing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select

from bot.app import Vigie, build
from bot.approvals import Approvals
from bot.clock import FrozenClock
from bot.config import Config, Source
from bot.connectors.doubt import Doubt
from bot.mentions.models import Author, Mention, MentionIn
from bot.reasons import Reason
from bot.replicas import ABANDONED_AFTER, Heartbeat
from bot.replies.messages import ModalState
from bot.replies.models import Reply, ReplyState
from bot.replies.platforms import Platforms, SendFailed, SendUnconfirmed, Sent, Target
from bot.sandbox.slack import FakeSlack
from tests.conftest import make_settings

STAFF, EDITOR = "U0STAFF1", "U0EDITOR"
# Now, to the second: the fake Slack stamps messages with the real time, and looking for a
# lost preview compares both.
START = datetime.now(UTC).replace(microsecond=0)


class ScriptedPlatforms:
    """The real targets, and sends that do what the test says (counted)."""

    def __init__(self, real: Platforms) -> None:
        self.real = real
        self.sends: list[int] = []
        self.outcome: Exception | None = None
        self.gate: threading.Event | None = None
        self.finds: list[int] = []
        self.find_outcome: Exception | None = None
        self.landed: dict[int, Sent] = {}  # replies that are on the platform

    def target(self, mention: Mention) -> Target:
        return self.real.target(mention)

    def doubt(self, reply: Reply) -> Doubt:
        return self.real.doubt(reply)

    def find(self, reply: Reply, mention: Mention) -> Sent | None:
        """A look: the reply is there if a send of it went through (`landed`)."""
        self.finds.append(reply.id or 0)
        if self.find_outcome is not None:
            raise self.find_outcome
        return self.landed.get(reply.id or 0)

    def send(self, reply: Reply, mention: Mention) -> Sent:
        self.target(mention)  # as a real replier, it builds its client first
        self.sends.append(reply.id or 0)
        if self.gate is not None:
            self.gate.wait(5)
        if self.outcome is not None:
            raise self.outcome
        sent = Sent(f"remote-{reply.id}", f"https://pouet.example/@matinale/{reply.id}")
        self.landed[reply.id or 0] = sent
        return sent


@dataclass
class Bench:
    vigie: Vigie
    slack: FakeSlack
    clock: FrozenClock
    platforms: ScriptedPlatforms

    def mention(self, text: str = "Bonjour", **fields: object) -> int:
        data = MentionIn(external_id=f"e{text}", text=text, author=Author(handle="@kev@x.y"),
                         created_at=self.clock.now(), platform="mastodon",
                         account="matinale", ref={"id": "123"}, **fields)  # type: ignore[arg-type]
        return self.vigie.intake.ingest("monitoring", data).mention_id

    def submit(self, mention_id: int, text: str = "Merci !", approval: bool = False) -> int:
        outcome = self.vigie.replies.desk.submit(
            user_id=STAFF, state=ModalState(mention_id), text=text, approval=approval,
            locale="fr")
        assert not isinstance(outcome, dict) and outcome.reply_id
        return outcome.reply_id

    def reply(self, reply_id: int) -> Reply:
        found = self.vigie.replies.desk.reply(reply_id)
        assert found is not None
        return found


@pytest.fixture
def bench(database_url: str, config: Config, environ: dict[str, str], slack: FakeSlack
          ) -> Iterator[Bench]:
    clock = FrozenClock(START)
    environ = {**environ, "MASTO_TOKEN": "token"}
    masto = config.model_copy(update={"sources": [*config.sources, Source.model_validate({
        "id": "masto", "type": "mastodon", "account": "matinale",
        "instance": "https://pouet.example", "token_env": "MASTO_TOKEN"})]})
    vigie = build(make_settings(database_url, slack.base_url), masto, clock=clock,
                  environ=environ, slack_timeout=1)
    platforms = ScriptedPlatforms(vigie.replies.desk.platforms)
    vigie.replies.desk.platforms = platforms  # type: ignore[assignment]
    yield Bench(vigie, slack, clock, platforms)
    vigie.engine.dispose()


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


def test_two_clicks_at_once_send_a_reply_once(bench: Bench) -> None:
    """Retry clicked twice, or the sweep and a click together: one call to the platform."""
    reply_id = bench.submit(bench.mention())
    bench.platforms.gate = threading.Event()
    threads = [threading.Thread(target=bench.vigie.replies.desk.deliver, args=(reply_id,))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    bench.slack.wait_for(lambda: bench.platforms.sends, timeout=5)
    bench.platforms.gate.set()
    for thread in threads:
        thread.join()
    assert bench.platforms.sends == [reply_id]
    assert bench.reply(reply_id).state == ReplyState.SENT


def test_the_sweep_never_resends_a_send_that_never_came_back(bench: Bench) -> None:
    """A process died mid-send: after the lease the reply is unconfirmed, with a reason,
    and the platform is not called again."""
    reply_id = bench.submit(bench.mention())
    with Session(bench.vigie.engine) as session:
        session.execute(update(Reply).where(col(Reply.id) == reply_id).values(
            state=ReplyState.SENDING, attempted_at=START))
        session.commit()
    bench.vigie.replies.desk.sweep()
    assert bench.reply(reply_id).state == ReplyState.SENDING  # still within the lease
    bench.clock.advance(minutes=6)
    bench.vigie.replies.desk.sweep()
    stuck = bench.reply(reply_id)
    assert stuck.state == ReplyState.UNCONFIRMED
    assert Reason.parse(stuck.error) == Reason("reply.interrupted")
    bench.vigie.replies.desk.sweep()
    assert bench.platforms.sends == []


def test_the_sweep_sends_a_reply_decided_but_never_claimed(bench: Bench) -> None:
    """Stored as queued, then the process died before sending: the sweep sends it once
    the grace minute has passed, and the mention is answered."""
    mention_id = bench.mention()
    reply_id = bench.submit(mention_id)
    bench.vigie.replies.desk.sweep()
    assert bench.platforms.sends == []
    bench.clock.advance(minutes=2)
    bench.vigie.replies.desk.sweep()
    assert bench.platforms.sends == [reply_id]
    assert bench.reply(reply_id).state == ReplyState.SENT
    with Session(bench.vigie.engine) as session:
        mention = session.get(Mention, mention_id)
        assert mention is not None and mention.status == "answered"
        assert mention.first_response_at == START + timedelta(minutes=2)


def test_failures_and_unknown_outcomes_are_kept_apart(bench: Bench) -> None:
    """A refused send is failed (retry offered); a maybe-sent one unconfirmed; neither
    answers the mention."""
    bench.platforms.outcome = SendFailed(Reason("mastodon.http_status", status="503"))
    failed = bench.submit(bench.mention("un"))
    bench.vigie.replies.desk.deliver(failed)
    assert (bench.reply(failed).state, bench.reply(failed).error) == (
        ReplyState.FAILED, Reason("mastodon.http_status", status="503").stored(512))
    bench.platforms.outcome = SendUnconfirmed(Reason("reply.mastodon_no_answer", error="timeout"))
    maybe = bench.submit(bench.mention("deux"))
    bench.vigie.replies.desk.deliver(maybe)
    assert bench.reply(maybe).state == ReplyState.UNCONFIRMED
    bench.platforms.outcome = RuntimeError("library surprise")
    odd = bench.submit(bench.mention("trois"))
    bench.vigie.replies.desk.deliver(odd)
    assert (bench.reply(odd).state, bench.reply(odd).error) == (
        ReplyState.UNCONFIRMED, Reason("publish.crashed", error="RuntimeError").stored(512))
    with Session(bench.vigie.engine) as session:
        assert {m.status for m in session.exec(select(Mention))} == {"open"}


def test_a_lost_preview_post_is_found_not_posted_twice(bench: Bench) -> None:
    """Slack took the approval preview but its answer was lost: later, the sweep finds
    the message by its metadata instead of posting a second preview."""
    reply_id = bench.submit(bench.mention(), approval=True)
    bench.slack.hang_next("chat.postMessage", 1.5)
    bench.vigie.replies.desk.after_submit(reply_id)
    assert bench.reply(reply_id).preview_ts is None
    bench.slack.wait_for(lambda: bench.slack.messages("C0APPROVALS"), timeout=5)
    bench.vigie.replies.desk.sweep()  # within the lease: nobody touches it
    bench.clock.advance(minutes=3)
    bench.vigie.replies.desk.sweep()
    [preview] = bench.slack.messages("C0APPROVALS")
    assert bench.reply(reply_id).preview_ts == preview["ts"]
    assert len(bench.slack.calls_to("chat.postMessage")) == 1


def test_approval_only_counts_editors_and_their_decision_once(bench: Bench) -> None:
    """Reactions: a non-editor's is ignored, another emoji too; the editor's ✅ sends it;
    a second ✅ is 'already approved'; taking ✅ back afterwards is too late."""
    reply_id = bench.submit(bench.mention(), approval=True)
    bench.vigie.replies.desk.after_submit(reply_id)
    ts = bench.reply(reply_id).preview_ts
    assert ts
    approvals: Approvals = bench.vigie.approvals

    def react(user: str, name: str, added: bool = True) -> str | None:
        decided = approvals.on_reaction(channel="C0APPROVALS", ts=ts, user=user,
                                        reaction=name, added=added)
        return decided.code if decided else None

    assert react(STAFF, "white_check_mark") is None
    assert react(EDITOR, "tada") is None
    assert approvals.on_reaction(channel="C0OTHER", ts=ts, user=EDITOR,
                                 reaction="white_check_mark", added=True) is None
    assert bench.platforms.sends == []
    assert react(EDITOR, "white_check_mark::skin-tone-2") == "replies.outcome.approved"
    assert bench.platforms.sends == [reply_id]
    assert react(EDITOR, "white_check_mark") == "replies.outcome.already_approved"
    assert react(EDITOR, "white_check_mark", added=False) == "replies.outcome.too_late"
    assert react(EDITOR, "x") == "replies.outcome.decided.sent"
    assert bench.platforms.sends == [reply_id]


def interrupted(bench: Bench, reply_id: int) -> None:
    """What a process dying mid-send leaves: the reply `sending` since START."""
    with Session(bench.vigie.engine) as session:
        session.execute(update(Reply).where(col(Reply.id) == reply_id).values(
            state=ReplyState.SENDING, attempted_at=START, attempts=1))
        session.commit()


def test_an_interrupted_send_that_landed_is_found_by_the_sweep(bench: Bench) -> None:
    """A process died mid-send, but the platform has the reply: once the lease is over,
    the sweep looks, finds it, and the reply is sent (the mention answered) without a
    second send."""
    mention_id = bench.mention()
    reply_id = bench.submit(mention_id)
    interrupted(bench, reply_id)
    bench.platforms.landed[reply_id] = Sent("remote-9", "https://pouet.example/@matinale/9")
    bench.clock.advance(minutes=6)
    bench.vigie.replies.desk.sweep()
    sent = bench.reply(reply_id)
    assert (sent.state, sent.remote_id) == (ReplyState.SENT, "remote-9")
    assert bench.platforms.sends == []
    with Session(bench.vigie.engine) as session:
        mention = session.get(Mention, mention_id)
        assert mention is not None and mention.status == "answered"


def test_an_interrupted_send_that_never_landed_is_sent_again_once_after_the_window(
        bench: Bench) -> None:
    """A process died mid-send and the platform never got the reply: looked for until
    the platform could no longer create it (Mastodon: 15 minutes after sending), then
    queued and sent again — once, whatever sweeps follow."""
    reply_id = bench.submit(bench.mention())
    interrupted(bench, reply_id)
    bench.clock.advance(minutes=6)
    bench.vigie.replies.desk.sweep()
    checking = bench.reply(reply_id)
    assert (checking.state, checking.next_check_at) == (ReplyState.UNCONFIRMED,
                                                        START + timedelta(minutes=10))
    bench.clock.set(START + timedelta(minutes=10))
    bench.vigie.replies.desk.sweep()
    assert bench.reply(reply_id).state == ReplyState.UNCONFIRMED
    bench.clock.set(START + timedelta(minutes=15))
    bench.vigie.replies.desk.sweep()
    assert bench.reply(reply_id).state == ReplyState.QUEUED and bench.platforms.sends == []
    for minutes in (17, 19, 60):
        bench.clock.set(START + timedelta(minutes=minutes))
        bench.vigie.replies.desk.sweep()
    assert bench.platforms.sends == [reply_id]
    assert bench.reply(reply_id).state == ReplyState.SENT


def claimed_by_another(bench: Bench, reply_id: int, owner: Heartbeat) -> None:
    """What `owner`'s process leaves when it stops mid-send: the reply `sending`, its."""
    with Session(bench.vigie.engine) as session:
        session.execute(update(Reply).where(col(Reply.id) == reply_id).values(
            state=ReplyState.SENDING, attempted_at=bench.clock.now(), attempts=1,
            claimed_by=owner.id))
        session.commit()


def beating(bench: Bench, seconds: float, *others: Heartbeat) -> None:
    """This replica (and `others`) beat every 5 s while time passes."""
    heartbeat = bench.vigie.heartbeat
    assert heartbeat is not None
    for _ in range(int(seconds // 5)):
        bench.clock.advance(seconds=5)
        for beat in (heartbeat, *others):
            beat.beat()


def test_a_reply_left_in_flight_by_a_killed_replica_is_looked_for_within_seconds(
        bench: Bench) -> None:
    """kill -9 mid-send on another replica: once its heartbeat is ABANDONED_AFTER old,
    the sweep looks for the reply on the platform (not at the 5-minute lease), finds it,
    and the mention is answered without a second send."""
    reply_id = bench.submit(bench.mention())
    dead = Heartbeat(engine=bench.vigie.engine, clock=bench.clock)
    dead.beat()
    assert bench.vigie.heartbeat is not None
    bench.vigie.heartbeat.beat()
    claimed_by_another(bench, reply_id, dead)
    bench.platforms.landed[reply_id] = Sent("remote-7", "https://pouet.example/@matinale/7")
    beating(bench, ABANDONED_AFTER.total_seconds() - 5)
    bench.vigie.replies.desk.sweep()
    assert bench.reply(reply_id).state == ReplyState.SENDING  # not yet: it may be slow
    beating(bench, 10)
    bench.vigie.replies.desk.sweep()
    found = bench.reply(reply_id)
    assert (found.state, found.remote_id) == (ReplyState.SENT, "remote-7")
    assert bench.platforms.sends == []


def test_a_reply_being_sent_by_a_live_replica_is_left_to_it(bench: Bench) -> None:
    """A slow send on a replica that keeps beating is not taken, however many sweeps."""
    reply_id = bench.submit(bench.mention())
    alive = Heartbeat(engine=bench.vigie.engine, clock=bench.clock)
    claimed_by_another(bench, reply_id, alive)
    for _ in range(6):
        beating(bench, 15, alive)
        bench.vigie.replies.desk.sweep()
    assert bench.reply(reply_id).state == ReplyState.SENDING
    assert bench.platforms.sends == []


def test_a_reply_whose_replica_died_building_its_client_is_sent_not_doubted(
        bench: Bench) -> None:
    """The platform's client is built (Mastodon.py imported: seconds on a cold start)
    before the reply is claimed: a replica killed then leaves it queued, and the sweep
    sends it once, with no look and no wait for the platform's window."""
    reply_id = bench.submit(bench.mention())
    real_target = bench.platforms.target

    def dies_building_its_client(mention: Mention) -> Target:
        bench.platforms.target = real_target  # type: ignore[method-assign]
        raise KilledMidCall()

    bench.platforms.target = dies_building_its_client  # type: ignore[method-assign]
    with pytest.raises(KilledMidCall):
        bench.vigie.replies.desk.deliver(reply_id)
    assert bench.reply(reply_id).state == ReplyState.QUEUED
    bench.clock.advance(minutes=2)
    bench.vigie.replies.desk.sweep()
    assert bench.platforms.sends == [reply_id] and bench.platforms.finds == []
    assert bench.reply(reply_id).state == ReplyState.SENT


class KilledMidCall(BaseException):
    """kill -9: nothing after it runs in that process."""
