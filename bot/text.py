"""Text helpers shared by routing, deduplication and Slack rendering."""

from __future__ import annotations

import hashlib
import re
import unicodedata

_SPACES = re.compile(r"\s+")
_URLS = re.compile(r"https?://\S+")
_NOT_WORD = re.compile(r"[^\w\s]", re.UNICODE)


def fold(text: str) -> str:
    """Lowercase and strip accents, so 'Grève' matches 'greve'."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def fingerprint(text: str) -> str:
    """A hash that is equal for texts differing only in case, accents, spacing,
    punctuation and links: how copy-pasted posts and bot reposts differ."""
    simplified = _SPACES.sub(" ", _NOT_WORD.sub(" ", _URLS.sub(" ", fold(text)))).strip()
    return hashlib.sha256(simplified.encode("utf-8")).hexdigest()[:32]


def keyword_pattern(keywords: list[str]) -> re.Pattern[str] | None:
    """One regex matching any keyword as whole words, on folded text."""
    if not keywords:
        return None
    alternatives = "|".join(re.escape(fold(k.strip())) for k in sorted(keywords, key=len)[::-1])
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.UNICODE)


def grapheme_length(text: str) -> int:
    """User-perceived characters (extended grapheme clusters, UAX #29), as Bluesky and
    Mastodon count them: 👩‍👩‍👧 or é written with a combining accent count once."""
    import regex  # only drafts and replies count graphemes

    return len(regex.findall(r"\X", text))
