"""X, over its API v2 (plain httpx, OAuth 1.0a user context; see `api`): each account's
mentions polled with `since_id`, replies, approved posts, and hide / mute / block. X
bills every call: each is paid from the monthly budget of the `[x]` table (`spend`),
which Vigie never exceeds — polling slows, then stops, before replies and moderation
have to."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated

from pydantic import StringConstraints

from bot.platforms.base import Connection, Context, Platform, SourceField, TextRules
from bot.platforms.x.text import MAX_WEIGHTED, weighted_length
from bot.settings import Problem

if TYPE_CHECKING:
    from bot.config import Source

# As `bot.config.EnvName` (which imports this registry, so cannot be imported here).
_EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Z_][A-Z0-9_]*$")]
_CONSOLE = ("in the X Developer Console: your app → Keys and tokens (set User authentication "
            "to Read and write first)")


class XPlatform(Platform):
    name = "x"
    label = "X"
    emoji = ":bird:"
    listens = frozenset({"poll"})
    source_fields = (
        SourceField("api_key_env", "the name of the environment variable holding the app's "
                    "API key (consumer key)", annotation=_EnvName | None, default=None),
        SourceField("api_secret_env", "the name of the environment variable holding the "
                    "app's API key secret", annotation=_EnvName | None, default=None),
        SourceField("token_env", "the name of the environment variable holding the "
                    "account's access token"),
        SourceField("token_secret_env", "the name of the environment variable holding the "
                    "account's access token secret", annotation=_EnvName | None, default=None),
        SourceField("account_id", annotation=str | None, default=None, in_form=False),
        SourceField("interval"),
    )
    poll_every = 300  # every read is paid: five minutes unless the source says otherwise
    text = TextRules(MAX_WEIGHTED, weighted_length)
    replies = True
    publishes = True
    moderation = frozenset({"hide", "mute", "block"})

    def secret_problems(self, source: Source, index: int, environ: Mapping[str, str]
                        ) -> list[Problem]:
        problems = []
        for key, holds in (("api_key_env", "the app's API key"),
                           ("api_secret_env", "the app's API key secret"),
                           ("token_env", "the account's access token"),
                           ("token_secret_env", "the account's access token secret")):
            problems += self.unset_variable(source, key, index, environ, holds=holds,
                                            fix=_CONSOLE)
        return problems

    def connect(self, context: Context) -> Connection:
        from bot.platforms.x.client import XClients, XConnector
        from bot.platforms.x.moderation import XModerator
        from bot.platforms.x.publish import XPublisher
        from bot.platforms.x.replies import XReplier
        from bot.platforms.x.spend import Budget, standalone_engine

        settings = context.config.x
        budget = Budget(engine=context.engine or standalone_engine(), settings=settings,
                        clock=context.clock)
        clients = XClients(context.environ, settings, budget, clock=context.clock,
                           timeout=context.timeout, sources=context.sources)

        def check(source: Source) -> str | None:
            if any(not context.environ.get(source.setting(key) or "") for key in
                   ("api_key_env", "api_secret_env", "token_env", "token_secret_env")):
                return None  # `secret_problems` says so
            me = clients.me(source)
            return f"X token of @{me.username} (user id {me.id})"

        def notes() -> list[str]:
            if not any(s.type == "x" for s in context.sources()):
                return []
            from bot.platforms.x.spend import standing_text

            return [standing_text(budget.standing(), "en")]

        return Connection(poll=XConnector(clients), replier=XReplier(clients),
                          publisher=XPublisher(clients), moderator=XModerator(clients),
                          check=check, notes=notes)


X = XPlatform()
