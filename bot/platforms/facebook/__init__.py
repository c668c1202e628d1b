"""Facebook Pages, through Meta's Graph API (`bot.platforms.meta`): comments and
visitors' posts on each Page by signed webhook (`/webhooks/facebook`) and by polling
recent posts' comments as the fallback, replies under a comment, hide / unhide and
delete, and approved posts published to the Page."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from bot.platforms.base import Connection, Context, Platform, SourceField, TextRules
from bot.settings import Problem

if TYPE_CHECKING:
    from bot.config import EnvName, HttpUrl, Source
else:  # the annotations `bot.config.Source` gains (it imports this module)
    from typing import Annotated

    from pydantic import StringConstraints

    EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Z_][A-Z0-9_]*$")]
    HttpUrl = Annotated[str, StringConstraints(pattern=r"^https?://[^\s/]+\S*$",
                                               max_length=2048)]

POST_LIMIT = 63_206  # characters in a Page post (Meta's composer)
COMMENT_LIMIT = 8_000  # characters in a comment

# The `[[sources]]` keys shared by the Meta platforms (declared identically by each).
META_FIELDS = (
    SourceField("account_id", "the Page's (or Instagram account's) numeric id",
                annotation=str | None, default=None),
    SourceField("token_env", "the name of the environment variable holding the Page "
                "access token (a system user's)"),
    SourceField("app_secret_env", annotation=EnvName | None, default=None),
    SourceField("verify_token_env", annotation=EnvName | None, default=None),
    SourceField("api_url", annotation=HttpUrl | None, default=None, in_form=False),
    SourceField("interval"),
)


class FacebookPlatform(Platform):
    name = "facebook"
    label = "Facebook"
    emoji = ":blue_book:"
    listens = frozenset({"push", "poll"})
    source_fields = META_FIELDS
    poll_every = 300  # the webhook brings comments at once; polling catches up
    text = TextRules(POST_LIMIT)
    reply_text = TextRules(COMMENT_LIMIT)
    replies = True
    publishes = True
    moderation = frozenset({"hide", "delete"})
    undoes = frozenset({"hide"})

    def secret_problems(self, source: Source, index: int, environ: Mapping[str, str]
                        ) -> list[Problem]:
        return meta_secret_problems(self, source, index, environ)

    def connect(self, context: Context) -> Connection:
        from bot.platforms.facebook.services import facebook_connection

        return facebook_connection(context)


def meta_secret_problems(platform: Platform, source: Source, index: int,
                         environ: Mapping[str, str]) -> list[Problem]:
    """Unset variables of a Facebook / Instagram source, each with where to find it."""
    return [
        *platform.unset_variable(
            source, "token_env", index, environ, holds="its Page access token",
            fix="Meta Business Suite → Settings → System users → Generate new token (the "
            "app, the Page, the permissions in the README), or see README, 'Facebook and "
            "Instagram'"),
        *platform.unset_variable(
            source, "app_secret_env", index, environ, holds="the Meta app's secret",
            fix="developers.facebook.com → your app → App settings → Basic → App secret"),
        *platform.unset_variable(
            source, "verify_token_env", index, environ, holds="the webhook verify token",
            fix="generate one with: python -c \"import secrets; "
            "print(secrets.token_hex(24))\" and give the same value in the app's "
            "Webhooks settings"),
    ]


FACEBOOK = FacebookPlatform()
