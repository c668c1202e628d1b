"""YouTube, through the Data API v3: comments on a channel's videos polled (published,
held for review, likely spam), replies in a comment's thread, and hold / remove /
remove and ban / publish. Quota is the constraint, so each channel has a daily budget
that polling spends on purpose and replies and moderation keep a reserve of
(`quota`). OAuth: a refresh token per channel, refreshed by google-auth."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated

from pydantic import Field, StringConstraints

from bot.platforms.base import Connection, Context, Platform, SourceField, TextRules
from bot.settings import Problem

if TYPE_CHECKING:
    from bot.config import Source

_ENV = Annotated[str, StringConstraints(pattern=r"^[A-Z_][A-Z0-9_]*$")]
_URL = Annotated[str, StringConstraints(pattern=r"^https?://[^\s/]+\S*$", max_length=2048)]
_CHANNEL = Annotated[str, StringConstraints(pattern=r"^UC[A-Za-z0-9_-]{22}$")]
_GET_TOKEN = ("see README, YouTube: create an OAuth client (Desktop app) in Google Cloud, "
              "authorise the channel once with the youtube.force-ssl scope, and keep its "
              "refresh token")


class YouTubePlatform(Platform):
    name = "youtube"
    label = "YouTube"
    emoji = ":tv:"
    listens = frozenset({"poll"})
    source_fields = (
        SourceField("channel_id", "the channel's id, UC… (YouTube Studio → Settings → "
                    "Channel → Advanced settings)", annotation=_CHANNEL | None, default=None),
        SourceField("client_id_env", "the name of the environment variable holding the "
                    "OAuth client id", annotation=_ENV | None, default=None),
        SourceField("client_secret_env", "the name of the environment variable holding the "
                    "OAuth client secret", annotation=_ENV | None, default=None),
        SourceField("refresh_token_env", "the name of the environment variable holding the "
                    "channel's refresh token", annotation=_ENV | None, default=None),
        SourceField("interval"),
        SourceField("daily_units", annotation=Annotated[int, Field(ge=100, le=10_000_000)],
                    default=10_000, in_form=False),
        SourceField("reserve_units", annotation=Annotated[int, Field(ge=0, le=10_000_000)],
                    default=1_000, in_form=False),
        SourceField("api_url", annotation=_URL, default="https://www.googleapis.com",
                    in_form=False),
        SourceField("oauth_url", annotation=_URL, default="https://oauth2.googleapis.com",
                    in_form=False),
    )
    poll_every = 60  # the fastest a stream is read; quiet streams much less often
    reply_text = TextRules(10_000)
    replies = True
    moderation = frozenset({"hold", "reject", "reject_ban", "release"})

    def secret_problems(self, source: Source, index: int, environ: Mapping[str, str]
                        ) -> list[Problem]:
        problems = []
        for key, holds in (("client_id_env", "the OAuth client id"),
                           ("client_secret_env", "the OAuth client secret"),
                           ("refresh_token_env", "the channel's refresh token")):
            problems += self.unset_variable(source, key, index, environ, holds=holds,
                                            fix=_GET_TOKEN)
        return problems

    def connect(self, context: Context) -> Connection:
        from bot.platforms.youtube.client import YouTubeClients
        from bot.platforms.youtube.listen import YouTubeConnector
        from bot.platforms.youtube.moderation import YouTubeModerator
        from bot.platforms.youtube.replies import YouTubeReplier
        from bot.platforms.youtube.status import checker, notes, usage

        clients = YouTubeClients(context.environ, clock=context.clock, timeout=context.timeout,
                                 sources=context.sources)
        return Connection(poll=YouTubeConnector(clients), replier=YouTubeReplier(clients),
                          moderator=YouTubeModerator(clients), check=checker(clients),
                          notes=notes(clients), usage=usage(clients))


YOUTUBE = YouTubePlatform()
