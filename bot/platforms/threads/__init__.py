"""Threads, through Meta's Threads API (`bot.platforms.meta`): replies under the
profile's posts and mentions of it, pushed by a signed webhook (`/webhooks/threads`)
and polled; replies from the card and approved posts, each published exactly once
(`containers`); hiding and showing again replies under the profile's own posts; the
500-character limit counted as Threads counts it. One `ThreadsAccounts` per running
Vigie keeps one client per profile, paced by Meta's usage headers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated

from pydantic import StringConstraints

from bot.platforms.base import Connection, Context, Platform, SourceField, TextRules
from bot.platforms.meta.actions import THREADS_MAX_CHARACTERS, threads_length
from bot.settings import Problem

if TYPE_CHECKING:
    from bot.config import Source
    from bot.mentions.service import Intake
    from bot.platforms.base import WebRoute

# As `bot.config.EnvName` (which imports the registry, so cannot be imported here).
EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Z_][A-Z0-9_]*$")]
HttpUrl = Annotated[str, StringConstraints(pattern=r"^https?://[^\s/]+\S*$", max_length=2048)]


class ThreadsPlatform(Platform):
    name = "threads"
    label = "Threads"
    emoji = ":thread:"
    listens = frozenset({"push", "poll"})
    source_fields = (
        SourceField("account_id", "the profile's Threads user id (GET /me with its token)",
                    annotation=str | None, default=None),
        SourceField("token_env", "the name of the environment variable holding the "
                    "profile's long-lived Threads token"),
        SourceField("app_secret_env", annotation=EnvName | None, default=None),
        SourceField("verify_token_env", annotation=EnvName | None, default=None),
        SourceField("api_url", annotation=HttpUrl | None, default=None, in_form=False),
        SourceField("interval"),
    )
    poll_every = 300
    text = TextRules(THREADS_MAX_CHARACTERS, threads_length)
    replies = True
    publishes = True
    moderation = frozenset({"hide"})
    undoes = frozenset({"hide"})  # a hidden reply shown again from the card

    def secret_problems(self, source: Source, index: int, environ: Mapping[str, str]
                        ) -> list[Problem]:
        problems = self.unset_variable(
            source, "token_env", index, environ, holds="the profile's long-lived token",
            fix="in the Meta app (Threads use case), get a user token with the threads_* "
            "permissions, exchange it for a long-lived one (GET /access_token, "
            "grant_type=th_exchange_token) and put it there; see README, Threads")
        problems += self.unset_variable(
            source, "app_secret_env", index, environ,
            holds="the Meta app's Threads app secret, to check webhook signatures",
            fix="App Dashboard → App settings → Basic → Threads app secret")
        problems += self.unset_variable(
            source, "verify_token_env", index, environ,
            holds="the verify token typed in the webhook settings",
            fix="choose a random string, put it there and in the App Dashboard's Threads "
            "webhook settings (Verify token)")
        return problems

    def connect(self, context: Context) -> Connection:
        from bot.platforms.threads.accounts import ThreadsAccounts
        from bot.platforms.threads.check import ThreadsCheck
        from bot.platforms.threads.containers import Containers
        from bot.platforms.threads.listen import ThreadsPoller, ThreadsWebhook
        from bot.platforms.threads.moderation import ThreadsModerator
        from bot.platforms.threads.publish import ThreadsPublisher
        from bot.platforms.threads.replies import ThreadsReplier

        accounts = ThreadsAccounts(context.environ, sources=context.sources,
                                   timeout=context.timeout)
        containers = Containers(context.engine, context.clock)
        checker = ThreadsCheck(accounts, context)

        def push(intake: Intake) -> Sequence[WebRoute]:
            return ThreadsWebhook(accounts, intake, context.clock).routes()

        return Connection(poll=ThreadsPoller(accounts), push=push,
                          replier=ThreadsReplier(accounts, containers),
                          publisher=ThreadsPublisher(accounts, containers),
                          moderator=ThreadsModerator(accounts), check=checker.check,
                          notes=checker.notes)


THREADS = ThreadsPlatform()
