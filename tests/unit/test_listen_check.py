"""`vigie check` reads each feed and verifies each Mastodon token, online."""

from __future__ import annotations

import pytest

from bot.checks import source_problems
from bot.config import Config, Source
from bot.sandbox.feed import FeedServer, rss
from bot.sandbox.mastodon import FakeMastodon


@pytest.mark.own_database
def test_check_reads_feeds_and_verifies_mastodon_tokens(config: Config) -> None:
    """A good feed and token are noted; a 404 feed and a refused token are problems."""
    with FeedServer() as feeds, FakeMastodon() as mastodon:
        feeds.serve("/ok.rss", rss([{"title": "x", "guid": "1"}]))
        sources = [
            Source(id="ok", type="rss", url=feeds.url("/ok.rss")),
            Source(id="gone", type="rss", url=feeds.url("/gone.rss")),
            Source(id="masto", type="mastodon", instance=mastodon.url, token_env="GOOD"),
            Source(id="masto-bad", type="mastodon", instance=mastodon.url, token_env="BAD"),
        ]
        notes: list[str] = []
        problems = source_problems(config.model_copy(update={"sources": sources}),
                                   {"GOOD": "token-matinale", "BAD": "nope"}, notes)
    assert notes == ["ok: feed read, 1 entries", "masto: Mastodon token of @matinale"]
    assert [(p.where, p.message.split(" (")[0]) for p in problems] == [
        ("sources[1] (gone)", "the feed answered HTTP 404"),
        ("sources[3] (masto-bad)", "the instance refused the access token"),
    ]
    assert "nope" not in str(problems)
