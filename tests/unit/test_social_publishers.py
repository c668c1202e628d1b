"""Posts to Mastodon and Bluesky: the publishers with the real Mastodon.py and atproto
clients against the local servers, inside the real publishing job (exactly once)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.clock import FrozenClock, SystemClock
from bot.config import Config, PostTarget, Source
from bot.connectors.publishers import (
    Outgoing,
    Publishers,
    PublishOutcomeUnknown,
    PublishRateLimited,
    PublishRejected,
    PublishUnavailable,
)
from bot.platforms.bluesky.client import BlueskyClients
from bot.platforms.bluesky.publish import BlueskyTargetPublisher
from bot.platforms.mastodon.client import MastodonClients
from bot.platforms.mastodon.publish import MastodonTargetPublisher
from bot.platforms.mastodon.text import mastodon_length
from bot.posts.jobs import Publishing
from bot.posts.models import DeliveryState, DraftForm, PostDelivery
from bot.posts.service import PostDesk, job_id
from bot.sandbox.mastodon import OLD_VERSION, FakeMastodon
from tests.support.bluesky_server import FakeBluesky
from tests.support.posts import AUTHOR, EDITOR, Editors, RecordedNotices, RecordingTimer, a_draft

TOKEN_ENV = "VIGIE_TEST_MASTODON_TOKEN"
PASSWORD_ENV = "VIGIE_TEST_BSKY_PASSWORD"
ME = "matinale.bsky.social"
MASTODON_TARGET = PostTarget(id="matinale-mastodon", kind="mastodon", account="matinale")
BLUESKY_TARGET = PostTarget(id="matinale-bluesky", kind="bluesky", account="matinale")


@pytest.fixture
def mastodon() -> Iterator[FakeMastodon]:
    with FakeMastodon(tokens={"token-matinale": "matinale"}) as fake:
        yield fake


@pytest.fixture
def bluesky() -> Iterator[FakeBluesky]:
    with FakeBluesky(accounts={ME: "app-pass"}) as fake:
        yield fake


def mastodon_clients(fake: FakeMastodon, *, timeout: float = 5.0, url: str | None = None
                     ) -> MastodonClients:
    source = Source.model_validate({"id": "masto-matinale", "type": "mastodon",
                                    "account": "matinale", "instance": url or fake.url,
                                    "token_env": TOKEN_ENV})
    return MastodonClients({TOKEN_ENV: "token-matinale"}, timeout=timeout,
                           sources=lambda: (source,))


def bluesky_clients(fake: FakeBluesky, *, timeout: float = 5.0) -> BlueskyClients:
    source = Source.model_validate({"id": "bsky-matinale", "type": "bluesky", "handle": ME,
                                    "password_env": PASSWORD_ENV, "service": fake.url,
                                    "account": "matinale"})
    return BlueskyClients({PASSWORD_ENV: "app-pass"}, timeout=timeout, sources=lambda: (source,))


def outgoing(target: PostTarget, text: str = "Ce soir, le grand débat.", *,
             key: str = "post-1-t", started: datetime | None = None) -> Outgoing:
    return Outgoing(post_id=1, target=target, text=text, key=key,
                    attempt_started=started or datetime.now(UTC))


def wait(found: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not found() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert found(), "the condition did not come true in time"


# -- lengths as each platform counts them ---------------------------------------------------------
def test_each_platform_counts_length_its_own_way() -> None:
    """Mastodon: a link is 23, @user@domain is @user; Bluesky: graphemes, not code points."""
    link = "https://www.radio-exemple.fr/emissions/la-matinale/2026/11/02/invites-du-jour"
    assert mastodon_length(f"À écouter {link}") == len("À écouter ") + 23
    assert mastodon_length("Merci @kev59@mamot.example !") == len("Merci @kev59 !")
    assert MastodonTargetPublisher(MastodonClients({})).max_length == 500
    bluesky = BlueskyTargetPublisher(BlueskyClients({}))
    assert bluesky.max_length == 300 and bluesky.length("e\u0301" * 300) == 300



def test_an_instance_that_allows_longer_posts_gets_them(engine: Engine, config: Config) -> None:
    """The instance says 1,000: a 700-character draft is fine there, 1,001 is refused with
    the instance's figure. Asked once, then remembered; an instance that cannot be asked
    keeps Mastodon's 500."""
    with FakeMastodon(tokens={"token-matinale": "matinale"}, max_characters=1000) as fake:
        clients = mastodon_clients(fake)
        desk = PostDesk(engine=engine, config=config, clock=SystemClock(),
                        publishers=_registered(clients), timer=RecordingTimer(),
                        notices=RecordedNotices(), roles=Editors())

        def check(text: str) -> object:
            return desk.check(DraftForm(text=text, targets=("matinale-mastodon",),
                                        when_text="dans 2 heures"))

        assert not isinstance(check("x" * 700), dict)
        asked = [r for r in fake.requests if "/instance" in r.path]
        assert asked
        refused = check("x" * 1001)
        assert isinstance(refused, dict)
        assert refused["text"] == ("posts.errors.too_long", {
            "target": "La Matinale", "limit": 1000, "length": 1001})
        assert [r for r in fake.requests if "/instance" in r.path] == asked  # remembered
        status = MastodonTargetPublisher(clients).publish(outgoing(MASTODON_TARGET, "y" * 700))
        assert status.url and fake.calls("POST", "/api/v1/statuses")
    unreachable = mastodon_clients(fake, url="http://127.0.0.1:9")
    source = unreachable.for_account("matinale")
    assert source is not None and unreachable.max_characters(source[0]) == 500


def test_the_draft_check_uses_the_publishers_limits(engine: Engine, config: Config,
                                                    mastodon: FakeMastodon,
                                                    bluesky: FakeBluesky) -> None:
    """300 accented graphemes fit Bluesky, 301 do not; 501 characters do not fit Mastodon;
    a target whose account has no source, or no token, is refused before anything is
    stored (in the form, not with an error)."""
    targets = [*config.posts.targets, BLUESKY_TARGET]
    config = config.model_copy(update={"posts": config.posts.model_copy(
        update={"targets": targets})})
    publishers = Publishers()
    publishers.register(MastodonTargetPublisher(mastodon_clients(mastodon)))
    publishers.register(BlueskyTargetPublisher(bluesky_clients(bluesky)))
    desk = PostDesk(engine=engine, config=config, clock=SystemClock(), publishers=publishers,
                    timer=RecordingTimer(), notices=RecordedNotices(), roles=Editors())

    def check(text: str, target: str) -> object:
        return desk.check(DraftForm(text=text, targets=(target,), when_text="dans 2 heures"))

    assert not isinstance(check("e\u0301" * 300, "matinale-bluesky"), dict)
    refused = check("e\u0301" * 301, "matinale-bluesky")
    assert isinstance(refused, dict)
    assert refused["text"] == ("posts.errors.too_long", {"target": "matinale-bluesky",
                                                         "limit": 300, "length": 301})
    too_long = check("x" * 501, "matinale-mastodon")
    assert isinstance(too_long, dict) and too_long["text"][1]["limit"] == 500
    no_source = PostDesk(engine=engine, config=config, clock=SystemClock(),
                         publishers=_registered(MastodonClients({})), timer=RecordingTimer(),
                         notices=RecordedNotices(), roles=Editors())
    unplugged = no_source.check(DraftForm(text="Bonjour", targets=("matinale-mastodon",)))
    assert isinstance(unplugged, dict) and unplugged["targets"][0] == "posts.errors.no_publisher"
    source = Source.model_validate({"id": "masto-matinale", "type": "mastodon",
                                    "account": "matinale", "instance": mastodon.url,
                                    "token_env": TOKEN_ENV})
    no_token = MastodonClients({}, sources=lambda: (source,))  # its variable is not set
    desk_without_token = PostDesk(engine=engine, config=config, clock=SystemClock(),
                                  publishers=_registered(no_token), timer=RecordingTimer(),
                                  notices=RecordedNotices(), roles=Editors())
    refused = desk_without_token.check(DraftForm(text="Bonjour",
                                                 targets=("matinale-mastodon",)))
    assert isinstance(refused, dict) and refused["targets"][0] == "posts.errors.no_publisher"


def _registered(clients: MastodonClients) -> Publishers:
    publishers = Publishers()
    publishers.register(MastodonTargetPublisher(clients))
    return publishers


# -- Mastodon -------------------------------------------------------------------------------------
def test_mastodon_posts_once_per_key_with_its_link(mastodon: FakeMastodon) -> None:
    """The status goes out with its URL; the same key again (a human's retry) is the same
    status, thanks to the Idempotency-Key."""
    publisher = MastodonTargetPublisher(mastodon_clients(mastodon))
    first = publisher.publish(outgoing(MASTODON_TARGET))
    assert first.url == f"https://pouet.example/@matinale/{first.external_id}"
    assert publisher.publish(outgoing(MASTODON_TARGET)) == first
    assert [s["_text"] for s in mastodon.posted] == ["Ce soir, le grand débat."]
    assert publisher.find(outgoing(MASTODON_TARGET)) == first


def test_mastodon_find_matches_the_exact_text_since_the_attempt(mastodon: FakeMastodon
                                                               ) -> None:
    """find: only our account's status with exactly this text, not an older one, not a
    near-identical one; links compared as typed, not as Mastodon shortens them."""
    publisher = MastodonTargetPublisher(mastodon_clients(mastodon))
    text = "À écouter : https://www.radio-exemple.fr/emissions/la-matinale/2026/11/02"
    old = publisher.publish(outgoing(MASTODON_TARGET, text, key="old"))
    started = datetime.now(UTC) + timedelta(minutes=10)  # that one predates the attempt
    assert publisher.find(outgoing(MASTODON_TARGET, text, started=started)) is None
    publisher.publish(outgoing(MASTODON_TARGET, text + " !", key="other"))
    found = publisher.find(outgoing(MASTODON_TARGET, text))
    assert found is not None and found.external_id == old.external_id


@pytest.mark.parametrize(("fault", "kind", "words"), [
    (lambda m: m.fail_next("/api/v1/statuses", status=422), PublishRejected, "HTTP 422"),
    (lambda m: m.fail_next("/api/v1/statuses", status=401), PublishRejected, "HTTP 401"),
    (lambda m: m.fail_next("/api/v1/statuses", status=503), PublishUnavailable, "503"),
    (lambda m: m.fail_next("/api/v1/statuses", status=502), PublishOutcomeUnknown, "502"),
    (lambda m: m.fail_next("/api/v1/statuses", status=500), PublishOutcomeUnknown, "500"),
    (lambda m: m.fail_next("/api/v1/statuses", status=429, retry_after=30),
     PublishRateLimited, "rate limited"),
])
def test_mastodon_errors_map_to_what_the_job_does(mastodon: FakeMastodon,
                                                  fault: Callable[[FakeMastodon], None],
                                                  kind: type[Exception], words: str) -> None:
    """Refused (permanent), down (retry), maybe-sent (look before anything else: a 500 is
    the end of the request, a gateway's 502 may not be), rate limited."""
    publisher = MastodonTargetPublisher(mastodon_clients(mastodon))
    fault(mastodon)
    with pytest.raises(kind, match=words) as raised:
        publisher.publish(outgoing(MASTODON_TARGET))
    if isinstance(raised.value, PublishRejected):
        assert raised.value.permanent
    if isinstance(raised.value, PublishOutcomeUnknown):
        assert raised.value.answered == ("500" in words)
    assert mastodon.posted == []


def test_an_unreachable_instance_is_certainly_not_published(mastodon: FakeMastodon) -> None:
    """Connection refused: nothing was sent, so a plain retry is safe."""
    closed = FakeMastodon().start()
    url = closed.url
    closed.stop()
    publisher = MastodonTargetPublisher(mastodon_clients(mastodon, url=url))
    with pytest.raises(PublishUnavailable, match="cannot reach"):
        publisher.publish(outgoing(MASTODON_TARGET))


def test_an_account_without_a_source_is_refused_for_good() -> None:
    """A target whose account has no enabled Mastodon source: permanent, with the account."""
    publisher = MastodonTargetPublisher(MastodonClients({}, sources=lambda: ()))
    with pytest.raises(PublishRejected, match="account matinale") as refused:
        publisher.publish(outgoing(MASTODON_TARGET))
    assert refused.value.permanent and not publisher.serves(MASTODON_TARGET)


# -- through the publishing job -------------------------------------------------------------------


def job(engine: Engine, config: Config, clock: FrozenClock, *publishers_: object,
        timer: RecordingTimer | None = None) -> tuple[PostDesk, Publishing]:
    publishers = Publishers()
    for publisher in publishers_:
        publishers.register(publisher)  # type: ignore[arg-type]
    timer, notices = timer or RecordingTimer(), RecordedNotices()
    desk = PostDesk(engine=engine, config=config, clock=clock, publishers=publishers,
                    timer=timer, notices=notices, roles=Editors())
    return desk, Publishing(engine=engine, config=config, clock=clock,
                            publishers=publishers, timer=timer, notices=notices)


def approved_now(desk: PostDesk, clock: FrozenClock, target: str) -> int:
    post = desk.draft(AUTHOR, a_draft(clock.now() + timedelta(minutes=1), targets=(target,)))
    assert desk.approve(post.id or 0, EDITOR, via="reaction").ok
    clock.advance(minutes=1)
    return int(post.id or 0)


def delivery(engine: Engine, post_id: int) -> PostDelivery:
    with Session(engine) as session:
        return session.exec(select(PostDelivery)
                            .where(col(PostDelivery.post_id) == post_id)).one()


def next_round(publishing: Publishing, timer: RecordingTimer, clock: FrozenClock,
               post_id: int) -> datetime:
    """Move the clock to the post's next job, and run it as the scheduler would."""
    when = timer.when(job_id(post_id))
    assert when is not None, "nothing is scheduled for the post"
    clock.set(max(when, clock.now()))
    publishing.run_due(post_id)
    return when


def statuses_posted(mastodon: FakeMastodon) -> list[str | None]:
    """The Idempotency-Key of each POST /api/v1/statuses the instance received."""
    return [r.idempotency_key for r in mastodon.calls("POST", "/api/v1/statuses")]


def test_a_mastodon_500_that_created_nothing_is_sent_again_by_itself_once(
        engine: Engine, config: Config, mastodon: FakeMastodon) -> None:
    """The instance answers 500 and the look finds no such status: the request is over,
    so the post is sent again by itself, with the same Idempotency-Key, and is published
    once with its link — no human needed."""
    clock, timer = FrozenClock(datetime.now(UTC)), RecordingTimer()
    desk, publishing = job(engine, config, clock,
                           MastodonTargetPublisher(mastodon_clients(mastodon)), timer=timer)
    post_id = approved_now(desk, clock, "matinale-mastodon")
    mastodon.fail_next("/api/v1/statuses", status=500)
    publishing.run_due(post_id)
    result = delivery(engine, post_id)
    assert (result.state, result.gave_up) == (DeliveryState.FAILED, False)
    assert result.next_attempt_at == clock.now() + timedelta(seconds=2)
    next_round(publishing, timer, clock, post_id)
    result = delivery(engine, post_id)
    [status] = mastodon.posted
    assert (result.state, result.url) == (DeliveryState.PUBLISHED, status["url"])
    assert statuses_posted(mastodon) == [f"post-{post_id}-matinale-mastodon"] * 2


def test_a_mastodon_500_after_creating_is_found_and_not_sent_again(
        engine: Engine, config: Config, mastodon: FakeMastodon) -> None:
    """The instance saves the status, then fails with a 500: the look right after finds
    it; published with its link, one POST."""
    clock = FrozenClock(datetime.now(UTC))
    desk, publishing = job(engine, config, clock,
                           MastodonTargetPublisher(mastodon_clients(mastodon)))
    post_id = approved_now(desk, clock, "matinale-mastodon")
    mastodon.fail_next("/api/v1/statuses", status=500, created=True)
    publishing.run_due(post_id)
    [status] = mastodon.posted
    result = delivery(engine, post_id)
    assert (result.state, result.url) == (DeliveryState.PUBLISHED, status["url"])
    assert len(statuses_posted(mastodon)) == 1


def test_a_mastodon_status_created_after_the_first_look_is_found_by_a_later_one(
        engine: Engine, config: Config, mastodon: FakeMastodon) -> None:
    """On a Mastodon without the lock on the Idempotency-Key: no answer in time, and the
    instance only writes the status after Vigie's first look: the delivery keeps being
    looked for (10 s, 30 s… after sending), the next look finds it, published with its
    link; one status, one POST, whatever runs later."""
    mastodon.version = OLD_VERSION
    clock, timer = FrozenClock(datetime.now(UTC)), RecordingTimer()
    desk, publishing = job(engine, config, clock,
                           MastodonTargetPublisher(mastodon_clients(mastodon, timeout=0.3)),
                           timer=timer)
    post_id = approved_now(desk, clock, "matinale-mastodon")
    sent_at = clock.now()
    release = threading.Event()
    mastodon.hang_next("/api/v1/statuses", 30, release=release)
    publishing.run_due(post_id)
    result = delivery(engine, post_id)
    assert (result.state, result.gave_up, result.checks) == (DeliveryState.UNCONFIRMED,
                                                             False, 1)
    assert mastodon.posted == []
    assert timer.when(job_id(post_id)) == sent_at + timedelta(seconds=10)
    release.set()
    wait(lambda: mastodon.posted, timeout=30)
    next_round(publishing, timer, clock, post_id)
    result = delivery(engine, post_id)
    [status] = mastodon.posted
    assert (result.state, result.url) == (DeliveryState.PUBLISHED, status["url"])
    clock.advance(hours=1)
    publishing.sweep()
    publishing.run_due(post_id)
    assert len(mastodon.posted) == 1 and len(statuses_posted(mastodon)) == 1


def test_a_mastodon_status_never_created_is_sent_again_once_the_window_has_passed(
        engine: Engine, config: Config, mastodon: FakeMastodon) -> None:
    """On a Mastodon without the lock: no answer, and the instance never creates the
    status: looked for at 10 s, 30 s, 1, 2, 5, 10 min, nothing sent meanwhile; the look
    at 15 min (no request can still create it) finds nothing, so it is sent again with
    the same key: one status."""
    mastodon.version = OLD_VERSION
    clock, timer = FrozenClock(datetime.now(UTC)), RecordingTimer()
    desk, publishing = job(engine, config, clock,
                           MastodonTargetPublisher(mastodon_clients(mastodon, timeout=0.3)),
                           timer=timer)
    post_id = approved_now(desk, clock, "matinale-mastodon")
    sent_at = clock.now()
    release = threading.Event()
    mastodon.hang_next("/api/v1/statuses", 30, release=release, create=False)
    publishing.run_due(post_id)
    release.set()
    wait(lambda: mastodon.in_flight() == 0 and statuses_posted(mastodon), timeout=30)
    looks = []
    while delivery(engine, post_id).state == DeliveryState.UNCONFIRMED:
        looks.append(next_round(publishing, timer, clock, post_id) - sent_at)
        assert len(looks) < 20
    assert looks == [timedelta(seconds=s) for s in (10, 30, 60, 120, 300, 600, 900)]
    result = delivery(engine, post_id)
    assert (result.state, result.gave_up, result.checks) == (DeliveryState.FAILED, False, 8)
    assert len(statuses_posted(mastodon)) == 1  # nothing resent while it could still land
    next_round(publishing, timer, clock, post_id)
    [status] = mastodon.posted
    result = delivery(engine, post_id)
    assert (result.state, result.url, result.attempts) == (DeliveryState.PUBLISHED,
                                                           status["url"], 2)
    assert statuses_posted(mastodon) == [f"post-{post_id}-matinale-mastodon"] * 2


def test_a_lost_mastodon_status_is_sent_again_at_once_where_the_key_is_locked(
        engine: Engine, config: Config, mastodon: FakeMastodon) -> None:
    """On a Mastodon that locks the Idempotency-Key (4.6.0+): no answer, and the status
    never created: the first look finds nothing and settles it — to send again, at once,
    not after 15 minutes; the resend with the same key publishes it: one status."""
    clock, timer = FrozenClock(datetime.now(UTC)), RecordingTimer()
    desk, publishing = job(engine, config, clock,
                           MastodonTargetPublisher(mastodon_clients(mastodon, timeout=0.3)),
                           timer=timer)
    post_id = approved_now(desk, clock, "matinale-mastodon")
    sent_at = clock.now()
    release = threading.Event()
    mastodon.hang_next("/api/v1/statuses", 30, release=release, create=False)
    publishing.run_due(post_id)
    result = delivery(engine, post_id)
    assert (result.state, result.gave_up, result.checks) == (DeliveryState.FAILED, False, 1)
    release.set()
    wait(lambda: mastodon.in_flight() == 0 and statuses_posted(mastodon), timeout=30)
    assert next_round(publishing, timer, clock, post_id) - sent_at < timedelta(minutes=15)
    [status] = mastodon.posted
    result = delivery(engine, post_id)
    assert (result.state, result.url, result.attempts) == (DeliveryState.PUBLISHED,
                                                           status["url"], 2)
    assert statuses_posted(mastodon) == [f"post-{post_id}-matinale-mastodon"] * 2


def test_a_mastodon_status_created_late_is_not_doubled_by_the_early_resend(
        engine: Engine, config: Config, mastodon: FakeMastodon) -> None:
    """Where the key is locked: no answer in time, and the instance writes the status
    only after Vigie's first look, which settled it to send again. The resend while the
    first request runs is turned away (503, tried again later); the next one gets the
    status the first made: published with its link, one status."""
    clock, timer = FrozenClock(datetime.now(UTC)), RecordingTimer()
    desk, publishing = job(engine, config, clock,
                           MastodonTargetPublisher(mastodon_clients(mastodon, timeout=0.3)),
                           timer=timer)
    post_id = approved_now(desk, clock, "matinale-mastodon")
    release = threading.Event()
    mastodon.hang_next("/api/v1/statuses", 60, release=release)
    publishing.run_due(post_id)
    result = delivery(engine, post_id)
    assert (result.state, result.gave_up, result.checks) == (DeliveryState.FAILED, False, 1)
    next_round(publishing, timer, clock, post_id)  # the resend: the key is still held
    assert [r.status for r in mastodon.calls("POST", "/api/v1/statuses")] == [503]
    assert delivery(engine, post_id).state == DeliveryState.FAILED
    release.set()
    wait(lambda: mastodon.in_flight() == 0 and mastodon.posted, timeout=30)
    next_round(publishing, timer, clock, post_id)
    [status] = mastodon.posted
    result = delivery(engine, post_id)
    assert (result.state, result.url) == (DeliveryState.PUBLISHED, status["url"])
    assert statuses_posted(mastodon) == [f"post-{post_id}-matinale-mastodon"] * 3


def test_a_resend_while_the_instance_still_works_on_the_first_never_makes_two(
        engine: Engine, config: Config, mastodon: FakeMastodon) -> None:
    """Even if the instance were still processing the first request after the window, the
    resend carries the same Idempotency-Key: Mastodon turns it away (503) while the first
    holds the key, then answers with the status the first one made. One status."""
    clock, timer = FrozenClock(datetime.now(UTC)), RecordingTimer()
    desk, publishing = job(engine, config, clock,
                           MastodonTargetPublisher(mastodon_clients(mastodon, timeout=0.3)),
                           timer=timer)
    post_id = approved_now(desk, clock, "matinale-mastodon")
    release = threading.Event()
    mastodon.hang_next("/api/v1/statuses", 60, release=release)
    publishing.run_due(post_id)
    while delivery(engine, post_id).state == DeliveryState.UNCONFIRMED:
        next_round(publishing, timer, clock, post_id)
    next_round(publishing, timer, clock, post_id)  # the resend: the key is still held
    result = delivery(engine, post_id)
    assert (result.state, result.gave_up) == (DeliveryState.FAILED, False)
    assert [r.status for r in mastodon.calls("POST", "/api/v1/statuses")] == [503]
    release.set()
    wait(lambda: mastodon.in_flight() == 0 and mastodon.posted, timeout=30)
    next_round(publishing, timer, clock, post_id)
    [status] = mastodon.posted
    assert delivery(engine, post_id).url == status["url"]
    assert statuses_posted(mastodon) == [f"post-{post_id}-matinale-mastodon"] * 3


def test_a_mastodon_timeout_is_found_on_the_account_and_marked_published(
        engine: Engine, config: Config, mastodon: FakeMastodon) -> None:
    """The first lookup cannot be made; the next one (10 s after sending) finds the
    status that landed late: published with its link, one status, one POST."""
    clock, timer = FrozenClock(datetime.now(UTC)), RecordingTimer()
    desk, publishing = job(engine, config, clock,
                           MastodonTargetPublisher(mastodon_clients(mastodon, timeout=0.3)),
                           timer=timer)
    post_id = approved_now(desk, clock, "matinale-mastodon")
    mastodon.hang_next("/api/v1/statuses", 0.8)
    mastodon.fail_next("/api/v1/accounts", status=503)  # the lookup right after the timeout
    publishing.run_due(post_id)
    result = delivery(engine, post_id)
    assert (result.state, result.gave_up) == (DeliveryState.UNCONFIRMED, False)
    wait(lambda: mastodon.posted)
    next_round(publishing, timer, clock, post_id)
    result = delivery(engine, post_id)
    [status] = mastodon.posted
    assert (result.state, result.url) == (DeliveryState.PUBLISHED, status["url"])
    assert len(mastodon.calls("POST", "/api/v1/statuses")) == 1


def test_a_bluesky_timeout_is_settled_by_its_record_key(engine: Engine, config: Config,
                                                        bluesky: FakeBluesky) -> None:
    """createRecord answers too late: the lookup by the attempt's record key finds the
    post (now or at the next check); one post, never a second createRecord of it."""
    config = config.model_copy(update={"posts": config.posts.model_copy(
        update={"targets": [*config.posts.targets, BLUESKY_TARGET]})})
    clock, timer = FrozenClock(datetime.now(UTC)), RecordingTimer()
    clients = bluesky_clients(bluesky, timeout=0.3)
    desk, publishing = job(engine, config, clock, BlueskyTargetPublisher(clients, clock=clock),
                           timer=timer)
    clients.login(clients.for_account("matinale"))  # type: ignore[arg-type]
    post_id = approved_now(desk, clock, "matinale-bluesky")
    bluesky.hang_next("com.atproto.repo.createRecord", 0.8)
    bluesky.fail_next("com.atproto.repo.getRecord", status=503, times=2)
    publishing.run_due(post_id)
    assert delivery(engine, post_id).state == DeliveryState.UNCONFIRMED
    wait(lambda: bluesky.created)
    next_round(publishing, timer, clock, post_id)
    result = delivery(engine, post_id)
    [post] = bluesky.created
    assert (result.state, result.external_id) == (DeliveryState.PUBLISHED, post["uri"])
    assert result.url and result.url.startswith(f"https://bsky.app/profile/{ME}/post/")
    assert len(bluesky.calls("com.atproto.repo.createRecord")) == 1


def bluesky_job(engine: Engine, config: Config, bluesky: FakeBluesky
                ) -> tuple[PostDesk, Publishing, FrozenClock, RecordingTimer]:
    config = config.model_copy(update={"posts": config.posts.model_copy(
        update={"targets": [*config.posts.targets, BLUESKY_TARGET]})})
    clock, timer = FrozenClock(datetime.now(UTC)), RecordingTimer()
    clients = bluesky_clients(bluesky, timeout=0.3)
    desk, publishing = job(engine, config, clock, BlueskyTargetPublisher(clients, clock=clock),
                           timer=timer)
    clients.login(clients.for_account("matinale"))  # type: ignore[arg-type]
    return desk, publishing, clock, timer


def record_keys(bluesky: FakeBluesky) -> list[str]:
    """The record key each createRecord asked for."""
    return [str(r.body.get("rkey")) for r in bluesky.calls("com.atproto.repo.createRecord")]


def test_a_bluesky_500_after_writing_is_found_not_posted_twice(
        engine: Engine, config: Config, bluesky: FakeBluesky) -> None:
    """The PDS writes the record, then answers 500: the post is found under its record
    key and published with its link; later rounds and sweeps write nothing more."""
    desk, publishing, clock, _ = bluesky_job(engine, config, bluesky)
    post_id = approved_now(desk, clock, "matinale-bluesky")
    bluesky.fail_next("com.atproto.repo.createRecord", status=500, created=True)
    publishing.run_due(post_id)
    [post] = bluesky.created
    result = delivery(engine, post_id)
    assert (result.state, result.external_id) == (DeliveryState.PUBLISHED, post["uri"])
    clock.advance(minutes=10)
    publishing.sweep()
    publishing.run_due(post_id)
    assert len(bluesky.created) == 1 and len(record_keys(bluesky)) == 1


def test_a_bluesky_post_never_written_is_sent_again_under_the_same_record_key(
        engine: Engine, config: Config, bluesky: FakeBluesky) -> None:
    """No answer, nothing written: looked for at 10 s, 30 s, 1 min and 2 min, then sent
    again under the first attempt's record key (which the PDS holds only once): one post."""
    desk, publishing, clock, timer = bluesky_job(engine, config, bluesky)
    post_id = approved_now(desk, clock, "matinale-bluesky")
    sent_at = clock.now()
    release = threading.Event()
    bluesky.hang_next("com.atproto.repo.createRecord", 30, release=release, create=False)
    publishing.run_due(post_id)
    release.set()
    wait(lambda: record_keys(bluesky), timeout=30)
    looks = []
    while delivery(engine, post_id).state == DeliveryState.UNCONFIRMED:
        looks.append(next_round(publishing, timer, clock, post_id) - sent_at)
        assert len(looks) < 20
    assert looks == [timedelta(seconds=s) for s in (10, 30, 60, 120)]
    assert delivery(engine, post_id).state == DeliveryState.FAILED
    next_round(publishing, timer, clock, post_id)
    [post] = bluesky.created
    result = delivery(engine, post_id)
    assert (result.state, result.external_id) == (DeliveryState.PUBLISHED, post["uri"])
    first, second = record_keys(bluesky)
    assert first == second == post["uri"].rsplit("/", 1)[1]
