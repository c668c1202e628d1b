"""Where a reply goes and how its length counts; sending on Mastodon with the real
Mastodon.py client against the local Mastodon-compatible server, each failure sorted into
"certainly not sent" or "maybe sent"."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.config import Config, Source
from bot.mentions.models import Mention
from bot.platforms.bluesky.client import BlueskyClients, BlueskyPublisher
from bot.platforms.bluesky.replies import BlueskyReplier
from bot.platforms.mastodon.client import MastodonClients
from bot.platforms.mastodon.replies import MastodonReplier
from bot.replies.models import Reply, ReplyKind, ReplyState
from bot.replies.platforms import Platforms, SendFailed, SendUnconfirmed, Target
from bot.sandbox.mastodon import FakeMastodon

TOKEN_ENV = "MASTO_TOKEN"


def a_mention(**fields: Any) -> Mention:
    values: dict[str, Any] = dict(
        id=1, source_id="masto", external_id="1", platform="mastodon", account_id="matinale",
        author_handle="@kev59@mamot.example", author_name="Kévin", text="Bonjour",
        fingerprint="", created_at=datetime(2026, 11, 2, tzinfo=UTC),
        received_at=datetime(2026, 11, 2, tzinfo=UTC), channel_id="C0MENTIONS",
        platform_ref="42", visibility="direct")
    values.update(fields)
    return Mention(**values)


def platforms_for(config: Config, instance: str, *, timeout: float = 1.0,
                  token: str = "token-matinale") -> Platforms:
    source = Source.model_validate({"id": "masto", "type": "mastodon", "account": "matinale",
                                    "instance": instance, "token_env": TOKEN_ENV})
    config = config.model_copy(update={"sources": [source]})
    environ = {TOKEN_ENV: token} if token else {}
    mastodon = MastodonClients(environ, timeout=timeout, sources=lambda: tuple(config.sources))
    bluesky = BlueskyClients(environ, sources=lambda: tuple(config.sources))
    return Platforms(config=config, repliers={
        "mastodon": MastodonReplier(mastodon),
        "bluesky": BlueskyReplier(bluesky, BlueskyPublisher(bluesky))})


@pytest.fixture
def mastodon() -> Iterator[FakeMastodon]:
    with FakeMastodon() as fake:
        yield fake


def a_reply(text: str = "@kev59@mamot.example Merci !") -> Reply:
    now = datetime(2026, 11, 2, tzinfo=UTC)
    return Reply(id=3, mention_id=1, author_id="U1", kind=ReplyKind.MASTODON,
                 account_id="matinale", text=text, key="key-3", state=ReplyState.SENDING,
                 created_at=now, updated_at=now, template="fr/thanks")


def test_targets_follow_the_mention_and_the_configured_accounts(config: Config) -> None:
    """Mastodon with an account configured: Mastodon; without one, or from RSS: by hand,
    saying why; X keeps its limit for whoever copies the text."""
    platforms = platforms_for(config, "https://pouet.example")
    assert platforms.target(a_mention()).kind == ReplyKind.MASTODON
    other = platforms.target(a_mention(account_id="sport-talk"))
    assert (other.kind, other.by_hand_reason) == (ReplyKind.BY_HAND, "no_account")
    assert platforms.target(a_mention(platform_ref=None)).by_hand_reason == "no_ref"
    rss = platforms.target(a_mention(platform="rss"))
    assert (rss.kind, rss.platform, rss.limit) == (ReplyKind.BY_HAND, "RSS", None)
    assert platforms.target(a_mention(platform="x")).limit == 280


@pytest.mark.parametrize(("author", "handle"), [
    ("@kev59@mamot.example", "@kev59@mamot.example"),
    ("kev59@mamot.example", "@kev59@mamot.example"),
    ("https://mamot.example/@kev59", "@kev59@mamot.example"),
    ("Kévin", None),
])
def test_the_author_is_addressed_whatever_shape_the_source_gave(
        config: Config, author: str, handle: str | None) -> None:
    """Webhooks may give `user@instance` or a profile link: the reply still names the
    author as Mastodon expects; with something else, nothing is put in front."""
    target = platforms_for(config, "https://pouet.example").target(
        a_mention(author_handle=author))
    assert target.prefix == (f"{handle} " if handle else "")


def test_mastodon_counts_links_and_handles_like_mastodon() -> None:
    """Links count 23, a remote handle counts without its domain, and the author's handle
    is added in front only when the text does not already name them."""
    target = Target(ReplyKind.MASTODON, "Mastodon", 500, prefix="@kev59@mamot.example ")
    assert target.final_text("Merci !") == "@kev59@mamot.example Merci !"
    assert target.final_text("Merci @kev59@mamot.example !") == "Merci @kev59@mamot.example !"
    long_link = "https://example.com/" + "a" * 200
    assert target.length(f"Voir {long_link}") == len("@kev59 Voir ") + 23
    assert target.remaining() == 500 - len("@kev59 ")
    assert not target.too_long(f"{'x' * 400} {long_link}")


def test_bluesky_counts_graphemes_and_bytes() -> None:
    """300 user-perceived characters, and never more than 3000 bytes."""
    target = Target(ReplyKind.BLUESKY, "Bluesky", 300)
    assert target.length("👩‍👩‍👧" * 300) == 300 and not target.too_long("👩‍👩‍👧" * 120)
    assert target.too_long("👩‍👩‍👧" * 300)  # 300 graphemes, but 5,400 bytes
    assert target.too_long("é" * 301)


def test_a_mastodon_reply_keeps_visibility_language_and_key(config: Config,
                                                           mastodon: FakeMastodon) -> None:
    """Sent with in_reply_to_id, the mention's visibility, the template's language and the
    reply's Idempotency-Key: sending twice makes one post."""
    author = mastodon.add_account("kev59", domain="mamot.example")
    status = mastodon.add_status(author, "<p>Bonjour</p>", visibility="direct")
    platforms = platforms_for(config, mastodon.url)
    mention = a_mention(platform_ref=status["id"])
    first = platforms.send(a_reply(), mention)
    again = platforms.send(a_reply(), mention)
    [posted] = mastodon.posted
    assert first == again and first.remote_id == posted["id"]
    assert (posted["in_reply_to_id"], posted["visibility"], posted["language"]) == (
        status["id"], "direct", "fr")


@pytest.mark.parametrize("status, kind, retryable, reason", [
    (503, SendFailed, True, "the instance answered HTTP 503"),
    (500, SendUnconfirmed, None, "the instance answered HTTP 500"),
    (502, SendUnconfirmed, None, "the instance's gateway answered HTTP 502"),
    (504, SendUnconfirmed, None, "the instance's gateway answered HTTP 504"),
    (429, SendFailed, True, "rate limited by the instance; try again in a few minutes"),
    (401, SendFailed, False, "the instance refused the access token (401): it needs the "
                             "write:statuses scope"),
    (404, SendFailed, False, "the post is gone (deleted, or no longer visible to the "
                             "account)"),
    (422, SendFailed, False, "the instance refused the reply (HTTP 422: HTTP 422)"),
])
def test_mastodon_failures_are_sorted_by_what_to_do_next(
        config: Config, mastodon: FakeMastodon, status: int, kind: type[Exception],
        retryable: bool | None, reason: str) -> None:
    """Errors before sending are failures (retry may work, or not); a server error (the
    instance may have saved the reply before failing) or a gateway error after sending is
    unconfirmed: only a 500 is the certain end of the request."""
    platforms = platforms_for(config, mastodon.url)
    mastodon.fail_next("/api/v1/statuses", status=status)
    with pytest.raises(kind) as caught:
        platforms.send(a_reply(), a_mention())
    assert str(caught.value) == reason
    if retryable is not None:
        assert isinstance(caught.value, SendFailed) and caught.value.retryable is retryable
    else:
        assert isinstance(caught.value, SendUnconfirmed)
        assert caught.value.answered is (status == 500)


def test_a_refused_connection_failed_but_a_timeout_may_have_sent(
        config: Config, mastodon: FakeMastodon) -> None:
    """Nobody listening: certainly not sent. An answer later than the timeout: maybe sent
    (and the instance did create it)."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(SendFailed, match="cannot reach the instance"):
        platforms_for(config, f"http://127.0.0.1:{port}").send(a_reply(), a_mention())

    author = mastodon.add_account("kev59", domain="mamot.example")
    status = mastodon.add_status(author, "<p>Bonjour</p>")
    mastodon.hang_next("/api/v1/statuses", 0.8)
    with pytest.raises(SendUnconfirmed, match="no answer from the instance"):
        platforms_for(config, mastodon.url, timeout=0.3).send(
            a_reply(), a_mention(platform_ref=status["id"]))


def test_a_missing_token_is_a_failure_that_says_which_variable(config: Config) -> None:
    """The account is configured but its token variable is empty: said plainly."""
    platforms = platforms_for(config, "https://pouet.example", token="")
    with pytest.raises(SendFailed, match=f"the environment variable {TOKEN_ENV} is not set"):
        platforms.send(a_reply(), a_mention())
