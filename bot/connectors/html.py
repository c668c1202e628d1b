"""HTML → plain text for feed entries and Mastodon statuses.

A real parser (the standard library's), not regexes: entities are decoded once,
`<script>`/`<style>` content is dropped, block tags become line breaks, and Mastodon's
hidden link parts (`<span class="invisible">`) are left out as Mastodon itself does.
The result is plain text; Slack escaping happens later, when a card is built.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_SKIP = frozenset({"script", "style", "template", "noscript", "head", "title", "iframe",
                   "object", "svg", "math"})
_BLOCK = frozenset({"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6",
                    "blockquote", "pre", "tr", "table", "section", "article", "hr",
                    "figure", "figcaption", "dd", "dt"})
_VOID = frozenset({"br", "hr", "img", "input", "meta", "link", "area", "base", "col",
                   "embed", "source", "track", "wbr"})
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_LINES = re.compile(r"\n{3,}")


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._stack: list[tuple[str, bool]] = []  # (tag, hides its content)
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        hides = tag in _SKIP or "invisible" in classes
        if tag in _BLOCK:
            self.parts.append("\n")
        if tag in _VOID:
            return
        self._stack.append((tag, hides))
        self._hidden += hides
        if "ellipsis" in classes and not self._hidden:
            self._ellipsis = True

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID:
            return
        # Close up to the matching tag, tolerating the unclosed tags real feeds carry.
        for index in range(len(self._stack) - 1, -1, -1):
            if self._stack[index][0] == tag:
                for _, hides in self._stack[index:]:
                    self._hidden -= hides
                del self._stack[index:]
                break
        if tag in _BLOCK:
            self.parts.append("\n")
        if tag == "span" and getattr(self, "_ellipsis", False):
            self.parts.append("…")
            self._ellipsis = False

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    if "<" not in markup and "&" not in markup:
        return _tidy(markup)
    parser = _Text()
    parser.feed(markup)
    parser.close()
    return _tidy("".join(parser.parts))


def _tidy(text: str) -> str:
    lines = [_SPACES.sub(" ", line).strip() for line in text.replace("\r\n", "\n").split("\n")]
    return _LINES.sub("\n\n", "\n".join(lines)).strip()
