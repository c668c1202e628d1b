"""A post fetcher double: what the Mastodon/Bluesky connectors will provide, scripted.

It claims links on its hosts, answers the posts it was given, and fails the way a real
fetcher does for the others: unreachable host, or a hang (to prove the deadline).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from urllib.parse import urlsplit

from bot.connectors.fetchers import FetchFailed
from bot.mentions.models import Author, MentionIn
from bot.reasons import Reason


class ScriptedFetcher:
    def __init__(self, platform: str = "mastodon",
                 hosts: tuple[str, ...] = ("mastodon.example", "mastodon.social")) -> None:
        self.platform = platform
        self.hosts = hosts
        self.posts: dict[str, MentionIn] = {}
        self.unreachable: set[str] = set()
        self.hanging: set[str] = set()
        self.calls: list[str] = []
        self.release = threading.Event()

    def can_fetch(self, url: str) -> bool:
        return (urlsplit(url).hostname or "") in self.hosts

    def fetch(self, url: str) -> MentionIn:
        self.calls.append(url)
        host = urlsplit(url).hostname
        if url in self.hanging:
            self.release.wait(30)
        if url in self.unreachable or url not in self.posts:
            raise FetchFailed(self.unreachable_reason(host or url))
        return self.posts[url]

    def unreachable_reason(self, host: str) -> Reason:
        """What the real connector says when it cannot reach the post's server."""
        if self.platform == "bluesky":
            return Reason("bluesky.unreachable", host=host, error="ConnectError")
        return Reason("mastodon.unreachable", error="ConnectError")

    def publish(self, url: str, *, status_id: str, handle: str, name: str, text: str,
                account: str | None = None, lang: str | None = "fr") -> MentionIn:
        """Make `url` fetchable as this post."""
        post = MentionIn(
            external_id=status_id, text=text, author=Author(handle=handle, name=name),
            created_at=datetime(2026, 11, 1, 21, 30, tzinfo=UTC), url=url, language=lang,
            account=account, platform=self.platform,
        )
        self.posts[url] = post
        return post
