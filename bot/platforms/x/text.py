"""How X counts a post's text (twitter-text 3, the "weighted length"): cheap to import.

X allows 280 *weighted* characters: after NFC normalisation, each code point in the
ranges below (Latin, punctuation, most European scripts) weighs 1, every other one
(CJK, Japanese, Korean, most symbols) weighs 2; an emoji sequence weighs 2 whatever its
code points; every link weighs 23, whatever its length (X wraps it in t.co).
See https://docs.x.com/fundamentals/counting-characters and twitter-text's
`config/v3.json` (scale 100, defaultWeight 200, transformedURLLength 23).
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from typing import Any

MAX_WEIGHTED = 280
URL_WEIGHT = 23
# (first, last) code points weighing 1 (twitter-text v3 `ranges`, weight 100 of 100).
LIGHT_RANGES = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))
_URL = re.compile(r"(?i)\b(?:https?://)[^\s<>\"]+|\b(?:www\.)[^\s<>\"]+")


@cache
def _patterns() -> tuple[Any, Any]:
    """Grapheme clusters and emoji (the `regex` module is loaded on first count: start-up
    cost)."""
    import regex

    return regex.compile(r"\X"), regex.compile(
        r"\p{Extended_Pictographic}|\p{Regional_Indicator}")


def _light(char: str) -> bool:
    point = ord(char)
    return any(first <= point <= last for first, last in LIGHT_RANGES)


def weighted_length(text: str) -> int:
    """The length X counts against its 280 (links 23, CJK and emoji 2)."""
    text = unicodedata.normalize("NFC", text)
    total = 0
    position = 0
    for match in _URL.finditer(text):
        total += _plain_weight(text[position:match.start()]) + URL_WEIGHT
        position = match.end()
    return total + _plain_weight(text[position:])


def _plain_weight(text: str) -> int:
    clusters, emoji = _patterns()
    total = 0
    for cluster in clusters.findall(text):
        if emoji.search(cluster):
            total += 2
        else:
            total += sum(1 if _light(char) else 2 for char in cluster)
    return total


def has_link(text: str) -> bool:
    """Does the text carry a link (X bills such a post far more)?"""
    return _URL.search(text) is not None
