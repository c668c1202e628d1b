"""RSS/Atom sources against feeds served on localhost: parsing, conditional GET, faults,
and the poller's backoff and one-time health notices."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.clock import FrozenClock
from bot.config import Config, Source
from bot.connectors import PollState
from bot.listen.catalog import Catalog
from bot.listen.models import OutboxKind, OutboxMessage, SourceState
from bot.listen.notices import outbox_renderer
from bot.listen.outbox import payload_of
from bot.listen.polling import Poller
from bot.listen.views import source_state_text
from bot.mentions.models import Mention
from bot.mentions.routing import Router
from bot.mentions.service import Intake
from bot.platforms.rss.feed import RssConnector
from bot.reasons import Reason
from bot.sandbox.feed import FeedServer, atom, rss

ITEMS = [
    {"title": "Grève à la &lt;b&gt;Matinale&lt;/b&gt; ?", "link": "https://alerts.example/1",
     "guid": "urn:alert:1", "pubDate": "Mon, 02 Nov 2026 07:30:00 GMT",
     "description": "<![CDATA[<p>Le <b>présentateur</b> &amp; l'équipe"
                    "<script>alert('x')</script> en grève.</p>]]>"},
    {"title": "Une autre alerte", "link": "https://alerts.example/2",
     "pubDate": "Mon, 02 Nov 2026 07:45:00 GMT", "author": "redaction@alerts.example (Rédac)"},
]


@pytest.fixture
def feeds() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server


def source(url: str, **extra: object) -> Source:
    return Source.model_validate({"id": "alertes", "type": "rss", "url": url,
                                  "account": "matinale", **extra})


def state(clock: FrozenClock, **values: object) -> PollState:
    return PollState(now=clock.now(), first=bool(values.pop("first", False)),
                     **values)  # type: ignore[arg-type]


def test_entries_become_mentions_with_text_stripped_of_html(feeds: FeedServer,
                                                            clock: FrozenClock) -> None:
    """Each item: id = guid (else link), HTML (escaped or not) and scripts gone, lang kept."""
    feeds.serve("/alerts.rss", rss(ITEMS))
    fetched = RssConnector()(source(feeds.url("/alerts.rss")), state(clock))
    first, second = fetched.mentions
    assert first.external_id == "urn:alert:1" and second.external_id == "https://alerts.example/2"
    assert first.text == "Grève à la Matinale ?\nLe présentateur & l'équipe en grève."
    assert "alert(" not in first.text
    assert first.lang == "fr" and first.platform == "rss"
    assert first.url == "https://alerts.example/1"
    assert first.author.name == "Alerte Radio Exemple"
    assert fetched.etag and fetched.last_modified


def test_second_poll_is_conditional_and_a_304_brings_nothing(feeds: FeedServer,
                                                             clock: FrozenClock) -> None:
    """The ETag from the first answer is sent back; the server's 304 yields no mention."""
    feeds.serve("/alerts.rss", rss(ITEMS))
    connector = RssConnector()
    first = connector(source(feeds.url("/alerts.rss")), state(clock))
    again = connector(source(feeds.url("/alerts.rss")),
                      state(clock, etag=first.etag, last_modified=first.last_modified))
    assert again.not_modified and again.mentions == []
    assert feeds.hits_of("/alerts.rss")[-1].headers["if-none-match"] == first.etag
    assert feeds.hits_of("/alerts.rss")[-1].status == 304


def test_atom_feed_and_a_malformed_feed_still_give_their_entries(feeds: FeedServer,
                                                                 clock: FrozenClock) -> None:
    """Atom entries are read; an RSS cut short (bad XML) still yields what it holds."""
    feeds.serve("/tag.atom", atom([{"id": "tag:1", "title": "#matinale top",
                                    "link": "https://m.example/1",
                                    "updated": "2026-11-02T07:50:00Z"}]),
                content_type="application/atom+xml")
    feeds.serve("/broken.rss", rss(ITEMS)[:-40] + "<item><title>oops & </ti")
    connector = RssConnector()
    [entry] = connector(source(feeds.url("/tag.atom")), state(clock)).mentions
    assert (entry.external_id, entry.text) == ("tag:1", "#matinale top")
    broken = connector(source(feeds.url("/broken.rss")), state(clock)).mentions
    assert [m.external_id for m in broken][:2] == ["urn:alert:1", "https://alerts.example/2"]


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda f: f.serve("/x", "<html><body>Welcome</body></html>",
                           content_type="text/html"), "not a readable feed"),
        (lambda f: f.serve("/x", rss(ITEMS), status=503, retry_after=120), "HTTP 503"),
        (lambda f: f.serve("/x", rss(ITEMS), status=404), "HTTP 404"),
        (lambda f: f.serve("/x", rss(ITEMS), delay=1.5), "no answer within 0.5 s"),
    ],
    ids=["html-page", "5xx", "404", "timeout"],
)
def test_feed_faults_are_failures_with_a_readable_reason(feeds: FeedServer, clock: FrozenClock,
                                                         setup: object, message: str) -> None:
    """An HTML page, an error status or a hang is a failure saying what happened."""
    from bot.connectors import SourceFailure

    setup(feeds)  # type: ignore[operator]
    with pytest.raises(SourceFailure) as caught:
        RssConnector(timeout=0.5)(source(feeds.url("/x")), state(clock))
    assert message in str(caught.value)
    if "503" in message:
        assert caught.value.retry_after == 120


def test_first_poll_leaves_out_entries_older_than_the_backfill(feeds: FeedServer,
                                                               clock: FrozenClock) -> None:
    """A new feed does not flood the channel with last month's entries."""
    old = {"title": "Vieux", "guid": "old", "pubDate": "Mon, 05 Oct 2026 07:00:00 GMT"}
    feeds.serve("/alerts.rss", rss([*ITEMS, old]))
    fetched = RssConnector()(source(feeds.url("/alerts.rss"), backfill_hours=6),
                             state(clock, first=True))
    assert "old" not in [m.external_id for m in fetched.mentions]
    assert len(fetched.mentions) == 2


# -- the poller -------------------------------------------------------------------------------

@pytest.fixture
def feed_config(config: Config, feeds: FeedServer) -> Config:
    return config.model_copy(update={"sources": [
        *config.sources, source(feeds.url("/alerts.rss"), interval=60)]})


@pytest.fixture
def poller(engine: Engine, feed_config: Config, clock: FrozenClock) -> Poller:
    catalog = Catalog(engine=engine, config=feed_config, clock=clock)
    intake = Intake(engine=engine, config=feed_config, clock=clock, sources=catalog.source,
                    router=Router(feed_config, catalog.routes))
    return Poller(engine=engine, config=feed_config, catalog=catalog, intake=intake,
                  clock=clock, connectors={"rss": RssConnector(timeout=0.5)})


def notices(engine: Engine) -> list[OutboxMessage]:
    with Session(engine) as session:
        return list(session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))))


def test_polled_entries_are_stored_once_and_the_feed_waits_its_interval(
        poller: Poller, feeds: FeedServer, engine: Engine, clock: FrozenClock) -> None:
    """Entries are stored and routed; a poll before the interval does not hit the feed."""
    feeds.serve("/alerts.rss", rss(ITEMS))
    report = poller.poll_due()
    assert report.of("alertes").stored == 2
    assert poller.poll_due().results == []  # not due yet
    clock.advance(seconds=61)
    assert poller.poll_due().of("alertes").stored == 0  # 304
    with Session(engine) as session:
        rows = list(session.exec(select(Mention).order_by(col(Mention.id))))
    assert [(m.account_id, m.channel_id) for m in rows] == [("matinale", "C0MENTIONS")] * 2
    assert len(feeds.hits_of("/alerts.rss")) == 2


def test_a_failing_feed_backs_off_and_is_reported_once_then_its_recovery_once(
        poller: Poller, feeds: FeedServer, engine: Engine, clock: FrozenClock) -> None:
    """Failures space out (60, 120, 240 s…); one notice at the third, one when it heals."""
    feeds.serve("/alerts.rss", rss(ITEMS), status=500)
    waits = []
    for _ in range(5):
        poller.poll_due()
        with Session(engine) as session:
            row = session.get(SourceState, "alertes")
            assert row is not None and row.next_poll_at is not None
            waits.append((row.next_poll_at - clock.now()).total_seconds())
            clock.set(row.next_poll_at)
    assert waits == [60, 120, 240, 480, 960]
    assert [n.kind for n in notices(engine)] == [OutboxKind.SOURCE_DOWN]
    error = payload_of(notices(engine)[0])["error"]
    assert Reason.parse(error) == Reason("feed.http_status", status=500)
    feeds.heal("/alerts.rss")
    poller.poll_due()
    clock.advance(seconds=61)
    poller.poll_due()
    assert [n.kind for n in notices(engine)] == [OutboxKind.SOURCE_DOWN, OutboxKind.SOURCE_UP]
    assert notices(engine)[0].channel == "C0MENTIONS"


def test_a_failing_feed_is_told_in_the_language_of_whoever_reads_it(
        poller: Poller, feeds: FeedServer, engine: Engine, clock: FrozenClock,
        feed_config: Config) -> None:
    """The channel notice is in the newsroom's French; the sources view in each editor's
    language; the log keeps the English text."""
    feeds.serve("/alerts.rss", rss(ITEMS), status=500)
    for _ in range(3):
        report = poller.poll_due()
        clock.advance(seconds=3600)
    assert report.of("alertes").error == "the feed answered HTTP 500"
    [notice_row] = notices(engine)
    notice = outbox_renderer(engine, feed_config, "fr")(notice_row)
    assert notice is not None
    assert "La source *alertes* a échoué 3 fois de suite" in notice.text
    assert ": le flux a répondu HTTP 500. Vigie réessaie, moins souvent" in notice.text
    state = poller.states()["alertes"]
    feed = next(s for s in feed_config.sources if s.id == "alertes")
    assert "en échec depuis" in source_state_text(feed, state, "fr")
    assert source_state_text(feed, state, "fr").endswith("(le flux a répondu HTTP 500)")
    assert source_state_text(feed, state, "en").endswith("(the feed answered HTTP 500)")


def test_retry_after_is_honoured_when_longer_than_the_backoff(
        poller: Poller, feeds: FeedServer, engine: Engine, clock: FrozenClock) -> None:
    """A 429 asking for ten minutes is not polled again before."""
    feeds.serve("/alerts.rss", rss(ITEMS), status=429, retry_after=600)
    poller.poll_due()
    with Session(engine) as session:
        row = session.get(SourceState, "alertes")
    assert row is not None and row.next_poll_at == clock.now() + timedelta(seconds=600)
