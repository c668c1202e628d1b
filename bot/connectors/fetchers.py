"""Fetch one post from its link: what turns a pasted Mastodon or Bluesky URL into a mention
with its real author and text (and an id the reply can go back to).

Each platform's connector provides a `PostFetcher`; the app factory hands them to one
`Fetchers` registry, which asks them in order who can read a link. The registry is the
only caller and holds the deadline: a fetcher that hangs cannot hold a flag back for
more than `timeout` seconds, and any failure comes out as `FetchFailed` with a reason a
person can read on the card ("mastodon.social did not answer").
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

from bot.mentions.models import MentionIn
from bot.reasons import Reason

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0


class FetchFailed(Exception):
    """The post could not be read (unreachable, gone, private…); `reason` is shown to staff,
    each in their language, and `str()` is its English text for logs."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(str(reason))
        self.reason = reason


@runtime_checkable
class PostFetcher(Protocol):
    """Reads posts of one platform.

    `platform` names it on cards and in logs ("mastodon", "bluesky"). `can_fetch` must be
    cheap and offline (look at the URL only). `fetch` returns the post as a `MentionIn`
    (external id as the platform knows it, author, text, created_at, url, language, and
    `account` when the post is addressed to one of the newsroom's accounts) or raises
    `FetchFailed`; it should use its own network timeouts.
    """

    platform: str

    def can_fetch(self, url: str) -> bool: ...

    def fetch(self, url: str) -> MentionIn: ...


@dataclass(frozen=True)
class Fetched:
    platform: str
    post: MentionIn


class Fetchers:
    """The registry: the first fetcher that claims a link reads it, within a deadline."""

    def __init__(self, fetchers: Iterable[PostFetcher] = (), *,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        self._fetchers = list(fetchers)
        self._timeout = timeout
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="fetch")

    def add(self, fetcher: PostFetcher) -> None:
        self._fetchers.append(fetcher)

    def platform_for(self, url: str) -> str | None:
        """The platform of the fetcher that would read `url`, if any."""
        fetcher = self._find(url)
        return fetcher.platform if fetcher else None

    def fetch(self, url: str) -> Fetched | None:
        """The post behind `url`; None when no fetcher knows the link.

        Raises `FetchFailed` when a fetcher knows it but cannot read it in time.
        """
        fetcher = self._find(url)
        if fetcher is None:
            return None
        host = urlsplit(url).hostname or url
        future = self._pool.submit(fetcher.fetch, url)
        try:
            post = future.result(timeout=self._timeout)
        except FutureTimeout:
            raise FetchFailed(Reason("fetch.timeout", host=host, seconds=self._timeout)
                              ) from None
        except FetchFailed:
            raise
        except Exception as exc:  # a connector bug must not lose the flag
            log.warning("fetcher %s failed on %s", fetcher.platform, url, exc_info=True)
            raise FetchFailed(Reason("fetch.crashed", host=host, error=type(exc).__name__)
                              ) from None
        return Fetched(fetcher.platform, post)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _find(self, url: str) -> PostFetcher | None:
        for fetcher in self._fetchers:
            try:
                if fetcher.can_fetch(url):
                    return fetcher
            except Exception:
                log.warning("fetcher %s failed to look at %s", fetcher.platform, url,
                            exc_info=True)
        return None
