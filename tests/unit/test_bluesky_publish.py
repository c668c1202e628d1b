"""Reading a Bluesky post from its link, and writing replies and posts as an account:
the real atproto Client against the local XRPC server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from bot.clock import FrozenClock
from bot.config import Source
from bot.connectors.fetchers import Fetchers, FetchFailed, PostFetcher
from bot.platforms.bluesky.client import (
    BlueskyClients,
    BlueskyFetcher,
    BlueskyPublisher,
    PublishFailed,
    PublishUnconfirmed,
    TextTooLong,
    record_key,
)
from bot.platforms.bluesky.text import MAX_GRAPHEMES, grapheme_length
from tests.support.bluesky_server import FakeBluesky

PASSWORD_ENV = "VIGIE_TEST_BSKY_PASSWORD"
PASSWORD = "app-pass-matinale"
ME = "matinale.bsky.social"


@pytest.fixture
def bluesky() -> Iterator[FakeBluesky]:
    with FakeBluesky(accounts={ME: PASSWORD}) as fake:
        yield fake


def sources(fake: FakeBluesky, *, enabled: bool = True) -> tuple[Source, ...]:
    return (Source.model_validate({"id": "bsky-matinale", "type": "bluesky", "handle": ME,
                                   "password_env": PASSWORD_ENV, "service": fake.url,
                                   "account": "matinale", "enabled": enabled}),)


def clients(fake: FakeBluesky, *, timeout: float = 5.0, enabled: bool = True
            ) -> BlueskyClients:
    return BlueskyClients({PASSWORD_ENV: PASSWORD}, timeout=timeout,
                          sources=lambda: sources(fake, enabled=enabled))


def link(post: dict[str, object], actor: str) -> str:
    return f"https://bsky.app/profile/{actor}/post/{str(post['uri']).rsplit('/', 1)[1]}"


# -- the fetcher ----------------------------------------------------------------------------------
def test_the_fetcher_is_a_post_fetcher_and_claims_only_bsky_post_links(
        bluesky: FakeBluesky) -> None:
    """Post links on bsky.app, by handle or DID; not profiles, not other hosts."""
    fetcher = BlueskyFetcher(clients(bluesky))
    assert isinstance(fetcher, PostFetcher)
    assert fetcher.can_fetch("https://bsky.app/profile/kev59.bsky.social/post/3lbq2xyz")
    assert fetcher.can_fetch("https://bsky.app/profile/did:plc:abc123/post/3lbq2xyz/")
    assert not fetcher.can_fetch("https://bsky.app/profile/kev59.bsky.social")
    assert not fetcher.can_fetch("https://mastodon.social/@kev/1")
    assert not fetcher.can_fetch("https://bsky.app.evil.example/profile/x/post/1")


def test_a_link_by_handle_becomes_the_post_with_its_refs(bluesky: FakeBluesky) -> None:
    """Handle resolved to a DID, post read; author, text, refs and the account it names."""
    opener = bluesky.post("alice.bsky.social", "Un fil sur la matinale")
    post = bluesky.reply(opener, by="furax.bsky.social",
                         text=f"@{ME} quelle honte <!here>", langs=["fr"])
    fetched = Fetchers([BlueskyFetcher(clients(bluesky), public_service=None)]).fetch(
        link(post, "furax.bsky.social"))
    assert fetched is not None and fetched.platform == "bluesky"
    mention = fetched.post
    assert mention.text == f"@{ME} quelle honte <!here>"
    assert (mention.author.handle, mention.author.name) == ("@furax.bsky.social", "Furax")
    assert mention.ref is not None and mention.external_id == post["uri"]
    assert (mention.ref.id, mention.ref.cid) == (post["uri"], post["cid"])
    assert (mention.ref.root_id, mention.ref.root_cid) == (opener["uri"], opener["cid"])
    assert mention.account == "matinale" and mention.url == link(post, "furax.bsky.social")
    assert [r.query["handle"] for r in bluesky.calls("com.atproto.identity.resolveHandle")] \
        == [["furax.bsky.social"]]


def test_a_link_by_did_needs_no_handle_resolution(bluesky: FakeBluesky) -> None:
    """did:plc links go straight to getPosts; a post not about us names no account."""
    post = bluesky.post("alice.bsky.social", "Rien à voir")
    did = bluesky.account("alice.bsky.social")["did"]
    mention = BlueskyFetcher(clients(bluesky), public_service=None).fetch(link(post, did))
    assert mention.text == "Rien à voir" and mention.account is None
    assert bluesky.calls("com.atproto.identity.resolveHandle") == []


def test_without_an_account_the_public_appview_reads_the_post(bluesky: FakeBluesky) -> None:
    """No Bluesky account enabled: the post is read signed out, no session created."""
    post = bluesky.post("alice.bsky.social", "Public")
    fetcher = BlueskyFetcher(clients(bluesky, enabled=False), public_service=bluesky.url)
    assert fetcher.fetch(link(post, "alice.bsky.social")).text == "Public"
    assert bluesky.calls("com.atproto.server.createSession") == []
    offline = BlueskyFetcher(clients(bluesky, enabled=False), public_service=None)
    with pytest.raises(FetchFailed, match="no Bluesky account"):
        offline.fetch(link(post, "alice.bsky.social"))


def test_a_refused_session_falls_back_to_the_public_appview(bluesky: FakeBluesky) -> None:
    """The account's password is refused: the public post is still read, signed out."""
    post = bluesky.post("alice.bsky.social", "Toujours lisible")
    bluesky.account(ME)["password"] = "changed-elsewhere"
    fetcher = BlueskyFetcher(clients(bluesky), public_service=bluesky.url)
    assert fetcher.fetch(link(post, "alice.bsky.social")).text == "Toujours lisible"
    without = BlueskyFetcher(clients(bluesky), public_service=None)
    with pytest.raises(FetchFailed, match="refused the handle or app password"):
        without.fetch(link(post, "alice.bsky.social"))


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        (lambda f, p: None, "not a Bluesky handle"),
        (lambda f, p: f.delete(p["uri"]), "the post was not found"),
        (lambda f, p: f.set_down(), "answered HTTP 503"),
    ],
    ids=["unknown-handle", "deleted", "down"],
)
def test_unreadable_posts_fail_with_a_reason(bluesky: FakeBluesky, setup: object,
                                            reason: str) -> None:
    """An unknown handle, a deleted post or an unreachable service is a FetchFailed."""
    post = bluesky.post("alice.bsky.social", "Bientôt effacé")
    setup(bluesky, post)  # type: ignore[operator]
    actor = "nobody.bsky.social" if reason.startswith("not a") else "alice.bsky.social"
    with pytest.raises(FetchFailed, match=reason):
        Fetchers([BlueskyFetcher(clients(bluesky), public_service=None)]).fetch(
            link(post, actor))


def test_a_hanging_service_is_cut_at_the_registry_deadline(bluesky: FakeBluesky) -> None:
    """getPosts that never answers costs the deadline, then FetchFailed naming bsky.app."""
    post = bluesky.post("alice.bsky.social", "Lent")
    bluesky.hang_next("app.bsky.feed.getPosts", 2.0)
    started = time.monotonic()
    with pytest.raises(FetchFailed, match="bsky.app did not answer within 0.5 s"):
        Fetchers([BlueskyFetcher(clients(bluesky), public_service=None)], timeout=0.5).fetch(
            link(post, "alice.bsky.social"))
    assert time.monotonic() - started < 1.5


# -- replies and posts ----------------------------------------------------------------------------
def test_a_reply_goes_back_with_the_thread_root_and_the_mention_as_parent(
        bluesky: FakeBluesky) -> None:
    """root = the thread's first post, parent = the mention; its author is notified."""
    opener = bluesky.post("alice.bsky.social", "Un fil")
    mention = bluesky.reply(opener, by="kev59.bsky.social", text=f"@{ME} une question ?")
    publisher = BlueskyPublisher(clients(bluesky), clock=FrozenClock(datetime.now(UTC)))
    sent = publisher.reply("matinale", "Merci @kev59.bsky.social, voir https://radio.example/a",
                           mention["uri"], mention["cid"], opener["uri"], opener["cid"])
    [created] = bluesky.created
    record = created["record"]
    refs = {part: (ref["uri"], ref["cid"]) for part, ref in record["reply"].items()
            if part in ("root", "parent")}
    assert refs == {"root": (opener["uri"], opener["cid"]),
                    "parent": (mention["uri"], mention["cid"])}
    assert (sent.uri, sent.cid) == (created["uri"], created["cid"])
    assert sent.url == f"https://bsky.app/profile/{ME}/post/{sent.uri.rsplit('/', 1)[1]}"
    features = [f["features"][0] for f in record["facets"]]
    assert {"$type": "app.bsky.richtext.facet#link", "uri": "https://radio.example/a"} \
        in features
    assert any(f.get("did") == bluesky.account("kev59.bsky.social")["did"] for f in features)
    assert "langs" not in record  # not claimed when unknown (the SDK's send_post says 'en')
    assert [n["reason"] for n in bluesky.notifications_for("kev59.bsky.social")] == ["reply"]


def test_a_post_is_written_in_the_account_repo_with_its_languages(bluesky: FakeBluesky
                                                                  ) -> None:
    """post() writes a top-level post in the account's repo, langs as given."""
    sent = BlueskyPublisher(clients(bluesky)).post("matinale", "Ce matin à 7h50 : le livre",
                                                   langs=["fr"])
    [created] = bluesky.created
    assert created["record"]["langs"] == ["fr"] and "reply" not in created["record"]
    assert sent.uri.startswith(f"at://{bluesky.account(ME)['did']}/app.bsky.feed.post/")


def test_text_over_300_graphemes_is_refused_before_anything_is_sent(bluesky: FakeBluesky
                                                                    ) -> None:
    """300 accented letters (600 code points) go; 301 are refused with the figures."""
    accented = "e\u0301"  # é written with a combining accent: one grapheme, two code points
    assert grapheme_length(accented * 300) == MAX_GRAPHEMES and len(accented * 300) == 600
    publisher = BlueskyPublisher(clients(bluesky))
    publisher.post("matinale", accented * 300)
    with pytest.raises(TextTooLong) as refused:
        publisher.post("matinale", accented * 301)
    assert (refused.value.length, refused.value.limit) == (301, 300)
    assert "shorten it by 1" in str(refused.value.reason) and not refused.value.retryable
    assert len(bluesky.calls("com.atproto.repo.createRecord")) == 1


def test_a_refused_or_failed_send_is_a_clear_failure(bluesky: FakeBluesky) -> None:
    """No account → not retryable; a 503 → retryable; nothing posted either way."""
    publisher = BlueskyPublisher(clients(bluesky))
    with pytest.raises(PublishFailed, match="no Bluesky account is configured for sport"
                       ) as missing:
        publisher.post("sport", "Bonjour")
    assert not missing.value.retryable
    bluesky.fail_next("com.atproto.repo.createRecord", status=503)
    with pytest.raises(PublishFailed, match="answered HTTP 503") as down:
        publisher.post("matinale", "Bonjour")
    assert down.value.retryable and not isinstance(down.value, PublishUnconfirmed)
    assert bluesky.created == []


def test_an_expired_session_during_a_reply_sends_it_once(bluesky: FakeBluesky) -> None:
    """ExpiredToken on createRecord: refreshed, sent again, one post."""
    publisher = BlueskyPublisher(clients(bluesky))
    publisher.post("matinale", "Premier")
    bluesky.expire_access_tokens()
    publisher.post("matinale", "Second")
    assert [p["record"]["text"] for p in bluesky.created] == ["Premier", "Second"]
    assert len(bluesky.calls("com.atproto.server.refreshSession")) == 1


def test_a_timeout_after_sending_is_unconfirmed_and_a_fixed_key_settles_it(
        bluesky: FakeBluesky) -> None:
    """Unconfirmed, never resent blindly; with the same rkey, find() and a resend give the
    one post that landed."""
    publisher = BlueskyPublisher(clients(bluesky, timeout=0.5))
    publisher.post("matinale", "réchauffe la session")
    key = record_key(datetime(2026, 11, 2, 7, 50, tzinfo=UTC), "reply-42")
    bluesky.hang_next("com.atproto.repo.createRecord", 1.0)  # answers late, after writing
    with pytest.raises(PublishUnconfirmed):
        publisher.post("matinale", "Merci !", rkey=key)
    deadline = time.monotonic() + 5
    while publisher.find("matinale", key) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    found = publisher.find("matinale", key)
    assert found is not None and found.uri.endswith(f"/app.bsky.feed.post/{key}")
    again = publisher.post("matinale", "Merci !", rkey=key)
    assert again == found
    assert [p["record"]["text"] for p in bluesky.created].count("Merci !") == 1
    assert publisher.find("matinale", record_key(datetime(2026, 1, 1, tzinfo=UTC), "x")) is None


def test_the_bench_serves_a_thread_to_the_real_client(bluesky: FakeBluesky) -> None:
    """getPostThread through the SDK: the post, its parents up to the root, its replies."""
    root = bluesky.post("alice.bsky.social", "Racine")
    middle = bluesky.reply(root, by="bob.bsky.social", text="Milieu")
    leaf = bluesky.reply(middle, by="carol.bsky.social", text="Feuille")
    client = clients(bluesky).login(sources(bluesky)[0]).client
    thread = client.app.bsky.feed.get_post_thread(params={"uri": middle["uri"]}).thread
    assert thread.post.record.text == "Milieu" and thread.parent.post.uri == root["uri"]
    assert [r.post.uri for r in thread.replies] == [leaf["uri"]]
