"""Bluesky, through the atproto SDK: mentions, replies and quotes polled from each
account's notifications, posts read from their bsky.app links, replies, scheduled posts,
and mute / block / report / hide. One `BlueskyClients` per running Vigie logs in once
per account for all of them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from bot.platforms.base import Connection, Context, Platform, SourceField, TextRules
from bot.platforms.bluesky.text import MAX_BYTES, MAX_GRAPHEMES, grapheme_length
from bot.settings import Problem

if TYPE_CHECKING:
    from bot.config import Source


class BlueskyPlatform(Platform):
    name = "bluesky"
    label = "Bluesky"
    emoji = ":butterfly:"
    listens = frozenset({"poll"})
    source_fields = (
        SourceField("handle", "the account's handle, e.g. matinale.bsky.social"),
        SourceField("password_env", "the name of the environment variable holding an app "
                    "password"),
        SourceField("service"),
        SourceField("interval"),
    )
    poll_every = 60
    text = TextRules(MAX_GRAPHEMES, grapheme_length, max_bytes=MAX_BYTES)
    replies = True
    publishes = True
    moderation = frozenset({"mute", "block", "report", "hide"})

    def secret_problems(self, source: Source, index: int, environ: Mapping[str, str]
                        ) -> list[Problem]:
        return self.unset_variable(
            source, "password_env", index, environ, holds="its app password",
            fix="in Bluesky: Settings → Privacy and security → App passwords → Add")

    def connect(self, context: Context) -> Connection:
        from bot.platforms.bluesky.client import (
            BlueskyClients,
            BlueskyConnector,
            BlueskyFetcher,
            BlueskyPublisher,
        )
        from bot.platforms.bluesky.moderation import BlueskyModerator
        from bot.platforms.bluesky.publish import BlueskyTargetPublisher
        from bot.platforms.bluesky.replies import BlueskyReplier

        clients = BlueskyClients(context.environ, timeout=context.timeout,
                                 sources=context.sources)

        def check(source: Source) -> str | None:
            if not context.environ.get(source.password_env or ""):
                return None  # `secret_problems` says so
            session = clients.login(source)
            return f"Bluesky session for @{session.handle} ({session.did})"

        return Connection(
            poll=BlueskyConnector(clients), fetcher=BlueskyFetcher(clients),
            replier=BlueskyReplier(clients, BlueskyPublisher(clients, clock=context.clock)),
            publisher=BlueskyTargetPublisher(clients, clock=context.clock),
            moderator=BlueskyModerator(clients, context.clock), check=check)


BLUESKY = BlueskyPlatform()
