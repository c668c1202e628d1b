"""Slack's own message markup, read back as plain text a person would write.

A flagged Slack message carries `<@U123>`, `<#C123|desk>`, `<!here>`,
`<https://example.org|a label>` and `&lt;` entities. Stored as is and shown on a card,
that markup would either ping people again or show as noise; escaped, it shows as
`&lt;@U123&gt;`. So it becomes `@Anna`, `#desk`, `@here`, `a label (https://example.org)`
— plain text, which the card then escapes like any untrusted text. Nothing here ever
produces markup.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

_TOKEN = re.compile(r"<([^<>\n]*)>")
_BARE_URL = re.compile(r"https?://[^\s<>|\"]+")
_TRAILING = ".,;:!?)]}»\"'"
_SPACES = re.compile(r"[ \t]+")
_LINES = re.compile(r"\n{3,}")

NameOf = Callable[[str], str | None]


def unescape(text: str) -> str:
    """Undo the three entities Slack escapes in message text (and only those)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def links(text: str) -> list[str]:
    """Web links in a Slack text, in order, without duplicates: `<url|label>` targets and
    bare URLs (slash commands send what the user typed)."""
    found: list[str] = []
    for match in _TOKEN.finditer(text):
        target = match.group(1).split("|", 1)[0]
        if target.startswith(("http://", "https://")):
            found.append(unescape(target))
    for url in _BARE_URL.findall(_TOKEN.sub(" ", text)):
        found.append(unescape(url).rstrip(_TRAILING))
    return list(dict.fromkeys(url for url in found if _is_web(url)))


def readable(text: str, *, name_of: NameOf = lambda _: None,
             drop_users: Iterable[str] = (), drop_links: Iterable[str] = ()) -> str:
    """`text` with Slack markup turned into plain words; `drop_*` remove tokens entirely
    (the bot's own mention, the link that became the mention's URL)."""
    dropped_users = set(drop_users)
    dropped_links = set(drop_links)
    pieces: list[str] = []
    position = 0
    for match in _TOKEN.finditer(text):
        pieces.append(unescape(text[position:match.start()]))
        pieces.append(_token(match.group(1), name_of, dropped_users, dropped_links))
        position = match.end()
    pieces.append(unescape(text[position:]))
    result = "".join(pieces)
    for url in dropped_links:  # a bare URL typed in a slash command
        result = result.replace(url, " ")
    return tidy(result)


def tidy(text: str) -> str:
    lines = [_SPACES.sub(" ", line).strip() for line in text.replace("\r", "").split("\n")]
    return _LINES.sub("\n\n", "\n".join(lines)).strip()


def _token(inner: str, name_of: NameOf, dropped_users: set[str], dropped_links: set[str]
           ) -> str:
    target, _, label = inner.partition("|")
    label = unescape(label)
    if target.startswith("@"):
        user = target[1:]
        if user in dropped_users:
            return " "
        return "@" + (name_of(user) or label.lstrip("@") or user)
    if target.startswith("#"):
        return "#" + (label or target[1:])
    if target.startswith("!subteam^"):
        return label or "@group"
    if target.startswith("!date^"):
        return label
    if target.startswith("!"):
        return "@" + target[1:].split("^")[0]
    url = unescape(target)
    if url in dropped_links:
        return " "
    if url.startswith("mailto:"):
        return label or url.removeprefix("mailto:")
    if label and label not in (url, _without_scheme(url)):
        return f"{label} ({url})"
    return url


def message_text(message: Mapping[str, Any], *, name_of: NameOf = lambda _: None) -> str:
    """Everything a person sees in a Slack message, as plain text: its text, shared or
    unfurled content (attachments) and its files as links."""
    parts = [readable(str(message.get("text") or ""), name_of=name_of)]
    for attachment in message.get("attachments") or []:
        if isinstance(attachment, Mapping):
            shown = _attachment(attachment, name_of)
            if shown:
                parts.append(shown)
    for file in message.get("files") or []:
        if isinstance(file, Mapping):
            name = str(file.get("title") or file.get("name") or "file")
            url = file.get("permalink") or file.get("url_private")
            parts.append(f"📎 {name}: {url}" if url else f"📎 {name}")
    return tidy("\n\n".join(p for p in parts if p))


def _attachment(attachment: Mapping[str, Any], name_of: NameOf) -> str:
    lines = []
    heading = " — ".join(
        str(attachment[key]) for key in ("author_name", "title") if attachment.get(key)
    )
    if heading:
        lines.append(heading)
    body = attachment.get("text") or attachment.get("fallback") or ""
    if body:
        lines.append(readable(str(body), name_of=name_of))
    source = attachment.get("from_url") or attachment.get("original_url") or attachment.get(
        "title_link")
    if source:
        lines.append(str(source))
    return "\n".join("> " + line for line in "\n".join(lines).split("\n")) if lines else ""


def guess_author(url: str) -> str:
    """The best author handle a link gives without fetching it: `@x@host` for Mastodon-style
    `/@x/…` paths, `@handle` for Bluesky profile links, else the host."""
    parts = urlsplit(url)
    host = (parts.hostname or "").removeprefix("www.")
    segments = [s for s in parts.path.split("/") if s]
    if segments and segments[0].startswith("@") and len(segments[0]) > 1:
        name = segments[0]
        return name if name.count("@") > 1 else f"{name}@{host}"
    if host == "bsky.app" and len(segments) >= 2 and segments[0] == "profile":
        return "@" + segments[1]
    return host or url


def _without_scheme(url: str) -> str:
    return url.split("://", 1)[-1]


def _is_web(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)
