"""Instagram professional accounts, through Meta's Graph API (`bot.platforms.meta`):
comments on the account's media and mentions of it, by signed webhook
(`/webhooks/instagram`) and by polling recent media's comments as the fallback;
replies under a comment (or where the account was mentioned), hide / unhide and
delete; approved posts with a picture published (container, then `media_publish`,
within Instagram's 50 a day)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from bot.platforms.base import Connection, Context, Platform, TextRules
from bot.platforms.facebook import META_FIELDS, meta_secret_problems
from bot.settings import Problem

if TYPE_CHECKING:
    from bot.config import Source

CAPTION_LIMIT = 2_200  # characters in a caption or a comment


class InstagramPlatform(Platform):
    name = "instagram"
    label = "Instagram"
    emoji = ":camera:"
    listens = frozenset({"push", "poll"})
    source_fields = META_FIELDS
    poll_every = 300
    text = TextRules(CAPTION_LIMIT)
    replies = True
    publishes = True
    moderation = frozenset({"hide", "delete"})
    undoes = frozenset({"hide"})

    def secret_problems(self, source: Source, index: int, environ: Mapping[str, str]
                        ) -> list[Problem]:
        return meta_secret_problems(self, source, index, environ)

    def connect(self, context: Context) -> Connection:
        from bot.platforms.instagram.services import instagram_connection

        return instagram_connection(context)


INSTAGRAM = InstagramPlatform()
