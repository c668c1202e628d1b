"""A reply whose outcome is unknown, end to end: the real app, the real Mastodon.py and
atproto clients against the local servers, and a frozen clock the test moves while it
runs the reply sweep itself. The reply is looked for while the platform may still create
it, found (sent, the mention answered), or sent again by itself once it certainly is not
there — never twice (bot.connectors.doubt)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.clock import FrozenClock
from bot.config import Config
from bot.mentions.models import Mention
from bot.reasons import Reason
from bot.replies.models import Reply
from bot.sandbox.mastodon import FakeMastodon
from bot.sandbox.slack import FakeSlack
from tests.e2e.replies.conftest import OLDER_MASTODON, SPORT, STAFF, Desk, start
from tests.support.bluesky_server import FakeBluesky


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def frozen(database_url: str, newsroom: Config, environ: dict[str, str], slack: FakeSlack,
           mastodon: FakeMastodon, bluesky: FakeBluesky, clock: FrozenClock
           ) -> Iterator[Desk]:
    vigie, driver, desk = start(database_url, newsroom, environ, slack, mastodon, bluesky,
                                clock)
    yield desk
    driver.close()
    vigie.stop()


def wait(slack: FakeSlack, condition: Callable[[], object]) -> None:
    assert slack.wait_for(condition, timeout=30)


def sweep_at(desk: Desk, clock: FrozenClock, when: datetime) -> None:
    """The reply sweep, run at `when` (the scheduler's job, driven by the test)."""
    clock.set(max(when, clock.now()))
    desk.vigie.vigie.replies.desk.sweep()


def latest(desk: Desk, mention: Mention) -> Reply:
    return desk.replies(mention.id or 0)[-1]


def queued_again(desk: Desk, mention: Mention) -> Reply:
    """The reply once a send of it was settled as 'to send again' (a reply is also
    queued before its first send)."""
    def settled() -> Reply | None:
        reply = latest(desk, mention)
        return reply if reply.state == "queued" and reply.attempts >= 1 else None

    found = desk.slack.wait_for(settled, timeout=30)
    assert found is not None
    return found


def answer_on_mastodon(desk: Desk) -> Mention:
    desk.mastodon.mention("matinale", by="kev59", text="Vous pouvez corriger le titre ?")
    mention = desk.poll()
    desk.submit(STAFF, desk.pick(STAFF, desk.open_reply(STAFF, mention),
                                 "fr/correction_noted"))
    return mention


def keys_posted(mastodon: FakeMastodon) -> list[str | None]:
    return [r.idempotency_key for r in mastodon.calls("POST", "/api/v1/statuses")]


@OLDER_MASTODON
def test_a_mastodon_reply_that_lands_after_the_first_look_is_found_later(
        frozen: Desk, clock: FrozenClock) -> None:
    """On a Mastodon without the lock on the Idempotency-Key: no answer in time, and the
    instance writes the reply only after Vigie's first look: the card says Vigie is
    looking (no 'Send again' meanwhile); the look 10 s after sending finds it: sent, with
    its link, the mention answered; one POST."""
    desk = frozen
    release = threading.Event()
    desk.mastodon.hang_next("/api/v1/statuses", 30, release=release)
    mention = answer_on_mastodon(desk)
    reply = desk.reply_in(mention.id or 0, "unconfirmed")
    assert reply.attempted_at is not None
    assert reply.next_check_at == reply.attempted_at + timedelta(seconds=10)
    card = desk.card_shows(mention, "Vigie la cherche sur Mastodon", "Elle est bien partie")
    assert "Renvoyer" not in card
    release.set()
    wait(desk.slack, lambda: desk.mastodon.posted)
    sweep_at(desk, clock, reply.attempted_at + timedelta(seconds=10))
    sent = desk.reply_in(mention.id or 0, "sent")
    [status] = desk.mastodon.posted
    assert (sent.remote_id, sent.remote_url) == (status["id"], status["url"])
    desk.card_shows(mention, "Répondu sur Mastodon", status["url"])
    assert desk.answered(mention.id or 0).answered_by == STAFF
    sweep_at(desk, clock, clock.now() + timedelta(hours=1))
    assert len(keys_posted(desk.mastodon)) == 1


def test_a_mastodon_500_that_saved_nothing_is_sent_again_by_itself(
        frozen: Desk, clock: FrozenClock) -> None:
    """The instance answers 500 and the reply is not on the account: it is queued again
    and the sweep sends it with the same Idempotency-Key; one reply, mention answered."""
    desk = frozen
    desk.mastodon.fail_next("/api/v1/statuses", status=500)
    mention = answer_on_mastodon(desk)
    queued_again(desk, mention)
    assert desk.mastodon.posted == []
    sweep_at(desk, clock, clock.now() + timedelta(minutes=2))
    sent = desk.reply_in(mention.id or 0, "sent")
    [status] = desk.mastodon.posted
    assert sent.remote_id == status["id"] and sent.attempts == 2
    assert keys_posted(desk.mastodon) == [sent.key, sent.key]
    assert desk.answered(mention.id or 0).answered_by == STAFF


@OLDER_MASTODON
def test_a_mastodon_reply_never_saved_is_sent_again_after_the_window(
        frozen: Desk, clock: FrozenClock) -> None:
    """On a Mastodon without the lock: no answer and nothing saved: looked for until the
    instance can no longer create it (15 minutes), never resent before; then sent again
    with the same key: one reply."""
    desk = frozen
    release = threading.Event()
    desk.mastodon.hang_next("/api/v1/statuses", 30, release=release, create=False)
    mention = answer_on_mastodon(desk)
    first = desk.reply_in(mention.id or 0, "unconfirmed")
    assert first.attempted_at is not None
    release.set()
    wait(desk.slack, lambda: desk.mastodon.in_flight() == 0 and keys_posted(desk.mastodon))
    for offset in (10, 30, 60, 120, 300, 600):
        sweep_at(desk, clock, first.attempted_at + timedelta(seconds=offset))
        assert latest(desk, mention).state == "unconfirmed"
    assert len(keys_posted(desk.mastodon)) == 1
    sweep_at(desk, clock, first.attempted_at + timedelta(minutes=15))
    assert latest(desk, mention).state == "queued"
    sweep_at(desk, clock, clock.now() + timedelta(minutes=2))
    sent = desk.reply_in(mention.id or 0, "sent")
    [status] = desk.mastodon.posted
    assert sent.remote_id == status["id"]
    assert keys_posted(desk.mastodon) == [sent.key, sent.key]


def test_a_lost_mastodon_reply_is_sent_again_at_once_where_the_key_is_locked(
        frozen: Desk, clock: FrozenClock) -> None:
    """On a Mastodon that locks the Idempotency-Key (4.6.0+): no answer and nothing
    saved: the first look finds nothing and the reply is queued again at once (no
    15-minute wait); the resend with the same key posts it: one reply, one look."""
    desk = frozen
    release = threading.Event()
    desk.mastodon.hang_next("/api/v1/statuses", 30, release=release, create=False)
    mention = answer_on_mastodon(desk)
    first = queued_again(desk, mention)
    assert first.checks == 1 and first.attempted_at is not None
    release.set()
    wait(desk.slack, lambda: desk.mastodon.in_flight() == 0 and keys_posted(desk.mastodon))
    sweep_at(desk, clock, first.attempted_at + timedelta(minutes=2))
    sent = desk.reply_in(mention.id or 0, "sent")
    [status] = desk.mastodon.posted
    assert sent.remote_id == status["id"] and sent.attempts == 2
    assert keys_posted(desk.mastodon) == [sent.key, sent.key]
    assert desk.answered(mention.id or 0).answered_by == STAFF


def test_a_mastodon_reply_written_late_is_not_doubled_by_the_early_resend(
        frozen: Desk, clock: FrozenClock) -> None:
    """Where the key is locked: no answer in time, and the instance writes the reply only
    after Vigie's first look, which queued it again at once. The resend while the first
    request still runs is turned away (503, not sent) and waits, queued; the next gets
    the status the first one made: sent with its link, one reply on Mastodon."""
    desk = frozen
    release = threading.Event()
    desk.mastodon.hang_next("/api/v1/statuses", 30, release=release)
    mention = answer_on_mastodon(desk)
    first = queued_again(desk, mention)
    assert first.checks == 1 and first.attempted_at is not None
    sweep_at(desk, clock, first.attempted_at + timedelta(minutes=2))  # the key is held
    wait(desk.slack, lambda: [r.status for r in desk.mastodon.calls("POST", "/api/v1/statuses")]
         == [503])  # the first request still holds the key
    assert desk.mastodon.posted == []
    release.set()
    wait(desk.slack, lambda: desk.mastodon.in_flight() == 0 and desk.mastodon.posted)
    sweep_at(desk, clock, clock.now() + timedelta(minutes=5))
    sent = desk.reply_in(mention.id or 0, "sent")
    [status] = desk.mastodon.posted
    assert (sent.remote_id, sent.remote_url) == (status["id"], status["url"])
    assert set(keys_posted(desk.mastodon)) == {sent.key}
    sweep_at(desk, clock, clock.now() + timedelta(hours=1))
    assert len(desk.mastodon.posted) == 1


def answer_on_bluesky(desk: Desk) -> Mention:
    desk.bluesky.mention(SPORT, by="fan.bsky.social", text="vous le commentez ?")
    mention = desk.poll()
    desk.submit(STAFF, desk.open_reply(STAFF, mention), "Oui, dès 20 h sur l'antenne !")
    return mention


def record_keys(bluesky: FakeBluesky) -> list[str]:
    return [str(r.body.get("rkey")) for r in bluesky.calls("com.atproto.repo.createRecord")]


def test_a_bluesky_500_after_writing_the_reply_is_found_at_once(
        frozen: Desk, clock: FrozenClock) -> None:
    """The PDS writes the reply, then answers 500: found under its record key at once,
    sent with its link, the mention answered; nothing written again later."""
    desk = frozen
    desk.bluesky.fail_next("com.atproto.repo.createRecord", status=500, created=True)
    mention = answer_on_bluesky(desk)
    sent = desk.reply_in(mention.id or 0, "sent")
    [record] = desk.bluesky.created
    assert sent.remote_id == record["uri"]
    assert desk.answered(mention.id or 0).answered_by == STAFF
    sweep_at(desk, clock, clock.now() + timedelta(hours=1))
    assert len(desk.bluesky.created) == 1 and len(record_keys(desk.bluesky)) == 1


def test_a_bluesky_reply_never_written_is_sent_again_under_its_record_key(
        frozen: Desk, clock: FrozenClock) -> None:
    """No answer, nothing written: looked for during Bluesky's 2 minutes, then sent again
    under the same record key (which the PDS holds once): one reply."""
    desk = frozen
    release = threading.Event()
    desk.bluesky.hang_next("com.atproto.repo.createRecord", 30, release=release,
                           create=False)
    mention = answer_on_bluesky(desk)
    first = desk.reply_in(mention.id or 0, "unconfirmed")
    assert first.attempted_at is not None
    assert Reason.parse(first.error) is not None
    release.set()
    wait(desk.slack, lambda: record_keys(desk.bluesky))
    sweep_at(desk, clock, first.attempted_at + timedelta(seconds=30))
    assert latest(desk, mention).state == "unconfirmed"
    sweep_at(desk, clock, first.attempted_at + timedelta(minutes=2))
    assert latest(desk, mention).state == "queued"
    sweep_at(desk, clock, clock.now() + timedelta(minutes=2))
    sent = desk.reply_in(mention.id or 0, "sent")
    [record] = desk.bluesky.created
    assert sent.remote_id == record["uri"]
    once, again = record_keys(desk.bluesky)
    assert once == again == record["uri"].rsplit("/", 1)[1]
