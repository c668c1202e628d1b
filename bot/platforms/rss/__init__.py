"""RSS and Atom feeds (alert feeds, hashtag and profile feeds): polled, read-only."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.platforms.base import Connection, Context, Platform, SourceField

if TYPE_CHECKING:
    from bot.config import Source


class RssPlatform(Platform):
    name = "rss"
    label = "RSS"
    emoji = ":newspaper:"
    listens = frozenset({"poll"})
    source_fields = (SourceField("url", "the feed's http(s) address"),
                     SourceField("interval"),
                     SourceField("backfill_hours", in_form=False))
    poll_every = 300

    def connect(self, context: Context) -> Connection:
        from bot.platforms.rss.feed import RssConnector

        reader = RssConnector()

        def check(source: Source) -> str:
            from datetime import UTC, datetime

            from bot.connectors import PollState

            fetched = reader(source, PollState(now=datetime.now(UTC), first=False))
            return f"feed read, {len(fetched.mentions)} entries"

        return Connection(poll=reader, check=check)


RSS = RssPlatform()
