"""How Bluesky counts a post's text (app.bsky.feed.post#text): cheap to import."""

from __future__ import annotations

from bot.text import grapheme_length

MAX_GRAPHEMES = 300  # app.bsky.feed.post#text: maxGraphemes
MAX_BYTES = 3000  # and maxLength, in UTF-8 bytes

__all__ = ["MAX_BYTES", "MAX_GRAPHEMES", "grapheme_length"]
