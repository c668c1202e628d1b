"""Safe Slack mrkdwn from untrusted text.

Everything a mention carries (text, author name, handle, URL) is written by strangers.
Escaping `&`, `<` and `>` is what Slack documents to stop `<!channel>`, `<@U…>`,
`<!subteam^…>` and `<url|label>` from pinging people or hiding a link behind a label;
blocks that show such text also set `verbatim` so nothing is auto-linked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

ELLIPSIS = "…"
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


@dataclass(frozen=True)
class Message:
    """What `chat.postMessage` / `chat.update` need: fallback text, blocks, metadata."""

    text: str
    blocks: list[dict[str, Any]]
    metadata: dict[str, Any] | None = None


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    """Text as the person typed it: Slack sends `&`, `<`, `>` as entities (e.g. in a slash
    command's text)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def truncate(text: str, limit: int) -> str:
    """Cut `text` to at most `limit` characters, marking the cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + ELLIPSIS


def escaped_within(text: str, limit: int) -> str:
    """Escape then truncate to `limit` characters without cutting an entity in half."""
    result = escape(text)
    if len(result) <= limit:
        return result
    pieces: list[str] = []
    size = 0
    for char in text:
        piece = _ENTITIES.get(char, char)
        if size + len(piece) > limit - 1:
            break
        pieces.append(piece)
        size += len(piece)
    return "".join(pieces).rstrip() + ELLIPSIS


def link(url: str, label: str) -> str:
    """A `<url|label>` link whose URL and label cannot break out of the brackets."""
    safe_url = escape(url).replace("|", "%7C").replace(" ", "%20")
    safe_label = escape(label).replace("|", "¦")
    return f"<{safe_url}|{safe_label}>"


def date(when: datetime, fallback: str, token: str = "{date_short_pretty} {time}") -> str:
    """A date Slack renders in each reader's own time zone and language."""
    return f"<!date^{int(when.timestamp())}^{token}|{escape(fallback)}>"


def mrkdwn(text: str, *, verbatim: bool = True) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text, "verbatim": verbatim}


def plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}
