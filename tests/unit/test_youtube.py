"""YouTube against the local Data API v3 server, with the real client code (google-auth
for the refresh token, HTTP calls as Google documents them): what a poll reads and
spends, how its pace follows the comments, the daily quota and its reserve, Google's
day, and what a refused token or an unset variable looks like."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.clock import FrozenClock
from bot.config import Config, Source
from bot.connectors import Fetched, PollState, SourceFailure
from bot.mentions.models import Mention
from bot.platforms.base import Connected, Context
from bot.platforms.youtube import YOUTUBE
from bot.platforms.youtube.client import YouTubeClients
from bot.platforms.youtube.listen import YouTubeConnector
from bot.platforms.youtube.quota import Quota, next_reset
from bot.platforms.youtube.replies import YouTubeReplier
from bot.replies.models import Reply, ReplyState
from bot.replies.platforms import SendFailed, SendUnconfirmed
from bot.reports.sections import Viewer
from tests.support.youtube_server import FakeYouTube

CHANNEL = "UCdebat" + "x" * 17
VIDEO = "dQw4w9WgXcQ"
ENV = {"YT_CLIENT_ID": "client-1.apps.googleusercontent.com", "YT_CLIENT_SECRET": "client-secret",
       "YT_REFRESH": "1//refresh"}


@pytest.fixture
def fake(clock: FrozenClock) -> Iterator[FakeYouTube]:
    with FakeYouTube(now=clock.now) as server:
        server.add_channel(CHANNEL, title="Le Grand Débat")
        server.add_video(VIDEO, CHANNEL)
        yield server


def a_source(fake: FakeYouTube, **extra: object) -> Source:
    return Source.model_validate({
        "id": "yt-debat", "type": "youtube", "account": "grand-debat", "channel_id": CHANNEL,
        "client_id_env": "YT_CLIENT_ID", "client_secret_env": "YT_CLIENT_SECRET",
        "refresh_token_env": "YT_REFRESH", "api_url": fake.url, "oauth_url": fake.url,
        **extra})


class Channel:
    """One YouTube source, polled the way the poller does (its cursor kept)."""

    def __init__(self, fake: FakeYouTube, clock: FrozenClock, **extra: object) -> None:
        self.source = a_source(fake, **extra)
        self.clock = clock
        self.clients = YouTubeClients(ENV, clock=clock, timeout=5,
                                      sources=lambda: (self.source,))
        self.connector = YouTubeConnector(self.clients)
        self.cursor: str | None = None

    def poll(self) -> Fetched:
        fetched = self.connector(self.source, PollState(now=self.clock.now(),
                                                        first=self.cursor is None,
                                                        cursor=self.cursor))
        self.cursor = fetched.cursor
        return fetched

    def poll_when_due(self, fetched: Fetched) -> Fetched:
        self.clock.advance(seconds=fetched.next_poll_in or 0)
        return self.poll()

    @property
    def quota(self) -> Quota:
        return self.clients.quota(self.source)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2030, 1, 7, 16, 0, tzinfo=UTC))  # 08:00 in California


def published_reads(fake: FakeYouTube) -> list[dict[str, list[str]]]:
    return [r.query for r in fake.calls("commentThreads.list")
            if "moderationStatus" not in r.query]


def test_a_first_read_takes_one_page_and_later_ones_stop_at_what_was_read(
        fake: FakeYouTube, clock: FrozenClock) -> None:
    """250 old comments: the first poll reads one page of 100, not all; 5 new ones later
    cost one page; a burst of 230 is read to its end, page after page, and no further."""
    for i in range(250):
        fake.comment(VIDEO, f"ancien {i}")
    channel = Channel(fake, clock)
    first = channel.poll()
    assert len({m.external_id for m in first.mentions}) == 100
    assert len(published_reads(fake)) == 1
    query = published_reads(fake)[0]
    assert query["allThreadsRelatedToChannelId"] == [CHANNEL]
    assert (query["order"], query["maxResults"], query["part"]) == (["time"], ["100"],
                                                                    ["snippet,replies"])

    for i in range(5):
        fake.comment(VIDEO, f"nouveau {i}")
    second = channel.poll_when_due(first)
    assert {f"nouveau {i}" for i in range(5)} <= {m.text for m in second.mentions}
    assert len(published_reads(fake)) == 2  # one page: it reached what was read

    for i in range(230):
        fake.comment(VIDEO, f"rafale {i}")
    third = channel.poll_when_due(second)
    assert {f"rafale {i}" for i in range(230)} <= {m.text for m in third.mentions}
    assert len(published_reads(fake)) == 5  # three pages, the third reaching known ones


def test_comments_after_an_empty_first_read_are_all_read(fake: FakeYouTube,
                                                        clock: FrozenClock) -> None:
    """Nothing on the channel at first: the 150 comments that follow are all new."""
    channel = Channel(fake, clock)
    first = channel.poll()
    assert first.mentions == []
    for i in range(150):
        fake.comment(VIDEO, f"premier {i}")
    assert len({m.external_id for m in channel.poll_when_due(first).mentions}) == 150


def test_a_comment_keeps_its_thread_its_link_and_its_status(fake: FakeYouTube,
                                                            clock: FrozenClock) -> None:
    """A reply carries its thread's top-level comment (where Vigie answers); a comment
    held for review comes from its own stream, with its status."""
    top = fake.comment(VIDEO, "Quelle est la source de ce chiffre ?", by="Kev59")
    reply = fake.comment(VIDEO, "Pareil, je me demande", by="Lea", parent=top["id"])
    held = fake.comment(VIDEO, "Achetez mes cryptos", by="Spammeur", status="heldForReview")
    spam = fake.comment(VIDEO, "gagnez 1000 €", by="Bot", status="likelySpam")
    fetched = Channel(fake, clock).poll()
    found = {m.external_id: m for m in fetched.mentions}
    assert set(found) == {top["id"], reply["id"], held["id"], spam["id"]}
    answer = found[reply["id"]]
    assert answer.ref is not None and answer.ref.root_id == top["id"]
    assert answer.url == f"https://www.youtube.com/watch?v={VIDEO}&lc={reply['id']}"
    assert (answer.author.handle, answer.platform, answer.account) == (
        "@Lea", "youtube", "grand-debat")
    statuses = {m.external_id: m.ref.visibility for m in fetched.mentions if m.ref}
    assert statuses[held["id"]] == "heldForReview" and statuses[spam["id"]] == "likelySpam"


def test_polling_slows_down_when_quiet_and_speeds_up_when_busy(
        fake: FakeYouTube, clock: FrozenClock) -> None:
    channel = Channel(fake, clock)
    quiet = channel.poll()
    for _ in range(3):
        quiet = channel.poll_when_due(quiet)
    assert quiet.next_poll_in == 15 * 60  # nothing said: every 15 minutes
    busy, due, reads = quiet, clock.now() + timedelta(seconds=quiet.next_poll_in or 0), 0
    for _ in range(60):  # a live show: 20 comments a minute for an hour
        clock.advance(minutes=1)
        for i in range(20):
            fake.comment(VIDEO, f"en direct {i}")
        if clock.now() >= due:
            busy, reads = channel.poll(), reads + 1
            due = clock.now() + timedelta(seconds=busy.next_poll_in or 0)
    assert busy.next_poll_in is not None and busy.next_poll_in <= 4 * 60
    assert reads >= 8  # not 4, as at the quiet pace


def test_polling_leaves_the_reserve_for_replies_and_waits_for_the_reset(
        fake: FakeYouTube, clock: FrozenClock) -> None:
    """A budget of 103 with 100 kept: one poll (3 streams, 3 units), then no more reads
    until midnight Pacific time; a reply can still be paid for."""
    channel = Channel(fake, clock, daily_units=103, reserve_units=100)
    first = channel.poll()
    assert (channel.quota.spent, fake.units_spent) == (3, 3)
    clock.advance(hours=2)
    second = channel.poll()
    assert fake.units_spent == 3
    reset = next_reset(clock.now())
    assert second.next_poll_in == pytest.approx((reset - clock.now()).total_seconds(), abs=2)
    assert first.cursor and channel.quota.may_write()


def test_google_saying_the_quota_is_gone_stops_polling_until_midnight_pacific(
        fake: FakeYouTube, clock: FrozenClock) -> None:
    fake.use_up_quota()
    channel = Channel(fake, clock)
    with pytest.raises(SourceFailure) as failed:
        channel.poll()
    assert failed.value.reason.key == "youtube.quota_gone"
    assert "2030-01-08 08:00 UTC" in str(failed.value)  # midnight in California (PST)
    assert failed.value.retry_after == pytest.approx(16 * 3600)
    assert channel.quota.gone and not channel.quota.may_write()


@pytest.mark.parametrize(("before", "after"), [
    (datetime(2030, 1, 8, 7, 59, tzinfo=UTC), datetime(2030, 1, 8, 8, 0, tzinfo=UTC)),  # PST
    (datetime(2030, 7, 2, 6, 59, tzinfo=UTC), datetime(2030, 7, 2, 7, 0, tzinfo=UTC)),  # PDT
])
def test_the_quota_day_ends_at_midnight_pacific_time(before: datetime, after: datetime) -> None:
    clock = FrozenClock(before)
    quota = Quota(budget=10_000, reserve=1_000, clock=clock)
    quota.spend(9_000)
    assert not quota.may_read() and quota.may_write() and quota.left == 1_000
    assert next_reset(before) == after
    clock.set(after)
    assert (quota.spent, quota.left) == (0, 10_000) and quota.may_read()


def test_a_refused_refresh_token_and_unset_variables_say_what_to_do(
        fake: FakeYouTube, clock: FrozenClock, config: Config) -> None:
    fake.revoke_refresh_token(CHANNEL)
    channel = Channel(fake, clock)
    with pytest.raises(SourceFailure) as failed:
        channel.poll()
    assert failed.value.reason.key == "youtube.token_refused"
    assert "invalid_grant" in str(failed.value) and "README" in str(failed.value)
    problems = YOUTUBE.secret_problems(channel.source, 3, {"YT_CLIENT_ID": "x"})
    assert [p.where for p in problems] == ["YT_CLIENT_SECRET", "YT_REFRESH"]
    assert all("refresh token" in p.fix for p in problems)


def test_vigie_check_reads_held_comments_and_shows_the_quota(
        fake: FakeYouTube, clock: FrozenClock, config: Config) -> None:
    source = a_source(fake)
    connection = YOUTUBE.connect(Context(config=config, environ=ENV, sources=lambda: (source,),
                                         clock=clock))
    assert connection.check is not None
    said = connection.check(source)
    assert said == f"YouTube channel {CHANNEL}: token accepted, comments held for review " \
        "readable"
    assert connection.notes() == [
        "YouTube yt-debat: 1 units spent today of 10000, 9999 left (1000 kept for replies "
        "and moderation); resets at 2030-01-08 08:00 UTC"]
    assert [c.query.get("moderationStatus") for c in fake.calls("commentThreads.list")] == [
        ["heldForReview"]]


def test_editors_see_the_days_quota_in_their_language_on_the_app_home(
        fake: FakeYouTube, clock: FrozenClock, config: Config) -> None:
    source = a_source(fake)
    connected = Connected([YOUTUBE], Context(config=config, environ=ENV,
                                             sources=lambda: (source,), clock=clock))
    connection = connected.connection("youtube")
    assert connection is not None and connection.check is not None
    connection.check(source)

    def home(is_editor: bool) -> str:
        viewer = Viewer(user_id="U0EDITOR", locale="fr", is_editor=is_editor, now=clock.now(),
                        zone="Europe/Paris")
        return str(connected.home_usage(viewer, budget=3))

    assert "1 unités dépensées aujourd'hui sur 10000, 9999 restantes" in home(True)
    assert home(False) == "[]"


def a_reply(text: str) -> tuple[Reply, Mention]:
    now = datetime(2030, 1, 7, 16, 0, tzinfo=UTC)
    reply = Reply(id=1, mention_id=1, author_id="U0STAFF1", kind="youtube",
                  account_id="grand-debat", text=text, key="k1", state=ReplyState.SENDING,
                  created_at=now, updated_at=now, attempted_at=now)
    return reply, Mention(id=1, source_id="yt-debat", external_id="c", platform="youtube",
                          account_id="grand-debat", author_handle="@Kev59", text="?",
                          fingerprint="", created_at=now, received_at=now, channel_id="C0DEBAT")


def test_a_reply_lost_on_the_way_is_found_in_the_thread_and_not_sent_again(
        fake: FakeYouTube, clock: FrozenClock) -> None:
    top = fake.comment(VIDEO, "Quelle est la source ?")
    channel = Channel(fake, clock)
    replier = YouTubeReplier(channel.clients)
    reply, mention = a_reply("La source : l'Insee, enquête 2029.")
    mention.platform_ref = mention.root_ref = top["id"]
    assert replier.find(reply, mention) is None  # not there yet: proven absent
    fake.fail_next("comments.insert", status=502, reason="backendError", created=True)
    with pytest.raises(SendUnconfirmed):
        replier.send(reply, mention)
    found = replier.find(reply, mention)
    [posted] = fake.replies_to(top["id"])
    assert found is not None and found.remote_id == posted["id"]
    assert posted["snippet"]["authorChannelId"]["value"] == CHANNEL
    assert not replier.doubt.resend_when_absent  # no idempotency key: a person decides


def test_a_reply_without_quota_waits_for_the_reset_without_calling_google(
        fake: FakeYouTube, clock: FrozenClock) -> None:
    top = fake.comment(VIDEO, "Quelle est la source ?")
    channel = Channel(fake, clock, daily_units=1_000, reserve_units=100)
    channel.quota.spend(960)
    replier = YouTubeReplier(channel.clients)
    reply, mention = a_reply("Bonjour")
    mention.platform_ref = mention.root_ref = top["id"]
    with pytest.raises(SendFailed) as waits:
        replier.send(reply, mention)
    assert waits.value.retry_at == next_reset(clock.now())
    assert waits.value.reason.key == "youtube.reply_waits"
    assert fake.calls("comments.insert") == []
    clock.set(next_reset(clock.now()) + timedelta(seconds=1))
    assert replier.send(reply, mention).remote_id == fake.replies_to(top["id"])[0]["id"]
