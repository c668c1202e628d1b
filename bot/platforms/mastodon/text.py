"""How Mastodon counts a status's text (StatusLengthValidator): cheap to import."""

from __future__ import annotations

import re

from bot.text import grapheme_length

DEFAULT_MAX_CHARACTERS = 500  # instances may allow more (never less)
URL_LENGTH = 23  # every link counts as 23 characters, whatever its length
_URL = re.compile(r"https?://\S+")
_REMOTE_MENTION = re.compile(r"(?<![\w@])(@\w+)@[\w.-]+\w")
_OWN_PREFIX = re.compile(r"@([A-Za-z0-9_]+)(?:@[A-Za-z0-9.-]+[A-Za-z0-9])? ")


def mastodon_length(text: str) -> int:
    """What Mastodon counts against its limit (StatusLengthValidator): grapheme clusters,
    each link as 23, and `@user@domain` as `@user`."""
    countable = _URL.sub("x" * URL_LENGTH, text)
    countable = _REMOTE_MENTION.sub(r"\1", countable)
    return grapheme_length(countable)


def status_length(text: str) -> int:
    """A reply's length, as Mastodon.py counts it (`Mastodon.get_status_length`)."""
    from mastodon import Mastodon

    return int(Mastodon.get_status_length(text))


def prefix_length(prefix: str) -> int:
    """Vigie's own "@user@instance " counts as "@user " on Mastodon: no need to load
    Mastodon.py (a newsroom without Mastodon checks its templates at start)."""
    own = _OWN_PREFIX.fullmatch(prefix)
    return len(own.group(1)) + 2 if own else status_length(prefix)
