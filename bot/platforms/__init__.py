"""The platforms Vigie speaks, one line each: the registry the rest of Vigie asks.

Adding a platform is one folder, `bot/platforms/<name>/`, and one line in `PLATFORMS`
(see "How to add a platform" in `bot.platforms.base`). Importing this module is cheap:
each platform's SDK is loaded when it is first connected.
"""

from __future__ import annotations

from bot.platforms.base import Platform
from bot.platforms.bluesky import BLUESKY
from bot.platforms.facebook import FACEBOOK
from bot.platforms.instagram import INSTAGRAM
from bot.platforms.mastodon import MASTODON
from bot.platforms.rss import RSS
from bot.platforms.threads import THREADS
from bot.platforms.webhook import WEBHOOK
from bot.platforms.x import X
from bot.platforms.youtube import YOUTUBE

PLATFORMS: tuple[Platform, ...] = (WEBHOOK, RSS, MASTODON, BLUESKY, FACEBOOK, INSTAGRAM,
                                   THREADS, YOUTUBE, X)

# Platforms Vigie does not speak but may name (a mention sent by a webhook, a text to
# copy by hand): their names, and the length limits worth showing to whoever copies.
OTHER_LABELS = {"web": "Web", "x": "X", "twitter": "X", "threads": "Threads",
                "instagram": "Instagram", "facebook": "Facebook", "linkedin": "LinkedIn",
                "youtube": "YouTube", "slack": "Slack"}


def platform(name: str) -> Platform | None:
    """The platform called `name` (a source type, a post target kind, a mention's)."""
    return next((p for p in PLATFORMS if p.name == name), None)


def names() -> tuple[str, ...]:
    return tuple(p.name for p in PLATFORMS)


def label(name: str) -> str:
    """How staff read the platform's name: "Mastodon", "X", "Rss" for one unknown."""
    found = platform(name)
    if found is not None:
        return found.label
    return OTHER_LABELS.get(name, name.capitalize())
