"""Mastodon (and compatible servers), through Mastodon.py: mentions polled from each
account's notifications, posts read from their links, replies, scheduled posts, and
mute / block / report. One `MastodonClients` per running Vigie serves all of them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from bot.platforms.base import Connection, Context, Platform, SourceField, TextRules
from bot.platforms.mastodon.text import (
    DEFAULT_MAX_CHARACTERS,
    mastodon_length,
    prefix_length,
    status_length,
)
from bot.settings import Problem

if TYPE_CHECKING:
    from bot.config import Source


class MastodonPlatform(Platform):
    name = "mastodon"
    label = "Mastodon"
    emoji = ":elephant:"
    listens = frozenset({"poll"})
    source_fields = (
        SourceField("instance", "the instance's address, e.g. https://mastodon.social"),
        SourceField("token_env", "the name of the environment variable holding the "
                    "account's access token"),
        SourceField("interval"),
        SourceField("notifications", in_form=False),
    )
    poll_every = 60
    # Instances may allow more than 500 (asked of each, see `MastodonClients`).
    text = TextRules(DEFAULT_MAX_CHARACTERS, mastodon_length)
    reply_text = TextRules(DEFAULT_MAX_CHARACTERS, status_length, count_prefix=prefix_length)
    replies = True
    publishes = True
    moderation = frozenset({"mute", "block", "report"})

    def secret_problems(self, source: Source, index: int, environ: Mapping[str, str]
                        ) -> list[Problem]:
        return self.unset_variable(
            source, "token_env", index, environ, holds="its access token",
            fix=f"on {source.instance}: Preferences → Development → New application, scopes "
            "read:notifications read:statuses (and write:statuses to reply), then copy "
            "'Your access token'")

    def connect(self, context: Context) -> Connection:
        from bot.platforms.mastodon.client import (
            MastodonClients,
            MastodonConnector,
            MastodonFetcher,
            translated_errors,
        )
        from bot.platforms.mastodon.moderation import MastodonModerator
        from bot.platforms.mastodon.publish import MastodonTargetPublisher
        from bot.platforms.mastodon.replies import MastodonReplier

        clients = MastodonClients(context.environ, timeout=context.timeout,
                                  sources=context.sources)

        def check(source: Source) -> str | None:
            if not context.environ.get(source.token_env or ""):
                return None  # `secret_problems` says so
            with translated_errors():
                me = clients.for_source(source).account_verify_credentials()
            return f"Mastodon token of @{me['acct']}"

        return Connection(poll=MastodonConnector(clients), fetcher=MastodonFetcher(clients),
                          replier=MastodonReplier(clients),
                          publisher=MastodonTargetPublisher(clients),
                          moderator=MastodonModerator(clients), check=check,
                          background=(clients.learn_limits,))


MASTODON = MastodonPlatform()
