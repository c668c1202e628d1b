"""The fetcher registry: who reads a link, and what a failure looks like to the caller."""

from __future__ import annotations

import time

import pytest

from bot.connectors.fetchers import Fetchers, FetchFailed, PostFetcher
from bot.mentions.models import MentionIn
from bot.reasons import Reason
from tests.support.fetchers import ScriptedFetcher

URL = "https://mastodon.example/@kev/1"


class Broken:
    platform = "bluesky"

    def can_fetch(self, url: str) -> bool:
        return "bsky" in url

    def fetch(self, url: str) -> MentionIn:
        raise KeyError("cid")


def test_scripted_fetcher_is_a_post_fetcher() -> None:
    """The double has the shape the connectors must have."""
    assert isinstance(ScriptedFetcher(), PostFetcher)


def test_the_fetcher_that_claims_the_link_reads_it() -> None:
    """A Mastodon link goes to the Mastodon fetcher; an unknown host to nobody."""
    mastodon = ScriptedFetcher()
    mastodon.publish(URL, status_id="1", handle="@kev@mastodon.example", name="Kev", text="hi")
    fetchers = Fetchers([Broken(), mastodon])
    fetched = fetchers.fetch(URL)
    assert fetched is not None and fetched.platform == "mastodon"
    assert fetched.post.author.name == "Kev"
    assert fetchers.fetch("https://news.example/a") is None
    assert fetchers.platform_for("https://bsky.app/profile/x/post/1") == "bluesky"


def test_unreachable_or_broken_fetches_fail_with_a_reason() -> None:
    """FetchFailed passes through; any other error becomes one naming the host."""
    mastodon = ScriptedFetcher()
    mastodon.unreachable.add(URL)
    fetchers = Fetchers([mastodon, Broken()])
    with pytest.raises(FetchFailed, match="cannot reach the instance") as unreachable:
        fetchers.fetch(URL)
    assert unreachable.value.reason == Reason("mastodon.unreachable", error="ConnectError")
    with pytest.raises(FetchFailed) as broken:
        fetchers.fetch("https://bsky.app/profile/x/post/1")
    assert broken.value.reason == Reason("fetch.crashed", host="bsky.app", error="KeyError")
    assert str(broken.value) == "unexpected error while reading bsky.app (KeyError)"


def test_a_hanging_fetch_is_cut_at_the_deadline() -> None:
    """A fetcher that never answers costs `timeout` seconds, not more."""
    mastodon = ScriptedFetcher()
    mastodon.hanging.add(URL)
    fetchers = Fetchers([mastodon], timeout=0.2)
    started = time.monotonic()
    with pytest.raises(FetchFailed, match="did not answer within 0.2 s"):
        fetchers.fetch(URL)
    assert time.monotonic() - started < 1
    mastodon.release.set()
    fetchers.close()
