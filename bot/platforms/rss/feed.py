"""RSS and Atom feeds: alert feeds, hashtag and profile feeds.

We fetch ourselves (httpx) to control what feedparser would not: a hard timeout, a size
cap, conditional GET with the ETag / Last-Modified the feed gave last time (a 304 costs
the feed nothing), and `Retry-After` on 429/503. feedparser then parses whatever came,
tolerating the malformed XML real feeds serve; a document with no entries and a parse
error is a failure, not an empty feed.
"""

from __future__ import annotations

import calendar
import hashlib
import io
import re
import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from bot.connectors import Fetched, PollState, SourceFailure
from bot.connectors.html import html_to_text
from bot.mentions.models import Author, MentionIn
from bot.reasons import Reason

if TYPE_CHECKING:  # feedparser and httpx are imported by the first feed read
    import httpx

USER_AGENT = "Vigie/0.1 (newsroom listening; feed reader)"
ACCEPT = ("application/atom+xml, application/rss+xml, application/rdf+xml;q=0.9, "
          "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5")
MAX_BYTES = 5 * 1024 * 1024
TEXT_LIMIT = 40_000
_URL = re.compile(r"^https?://\S+$")
_LANG = re.compile(r"^([a-zA-Z]{2,3})(?:[-_].*)?$")


class RssConnector:
    def __init__(self, *, timeout: float = 10.0, transport: httpx.BaseTransport | None = None
                 ) -> None:
        self._timeout = timeout
        self._transport = transport

    def __call__(self, source: Any, state: PollState) -> Fetched:
        url = str(source.url)
        headers = {"User-Agent": USER_AGENT, "Accept": ACCEPT}
        if state.etag:
            headers["If-None-Match"] = state.etag
        if state.last_modified:
            headers["If-Modified-Since"] = state.last_modified
        body, response = self._get(url, headers)
        if response.status_code == 304:
            return Fetched(not_modified=True, etag=state.etag, last_modified=state.last_modified)
        import feedparser

        # A stream, never bytes: feedparser would try a bytes body as a local file name.
        parsed = feedparser.parse(io.BytesIO(body), response_headers={
            "content-location": str(response.url),
            "content-type": response.headers.get("content-type", "application/xml"),
            "content-language": response.headers.get("content-language", ""),
        })
        if not parsed.entries and (parsed.bozo or not parsed.version):
            problem = parsed.get("bozo_exception")
            raise SourceFailure(Reason("feed.unreadable", detail=_short(str(problem)))
                                if problem else Reason("feed.no_document"))
        since = state.now - timedelta(hours=source.backfill_hours) if state.first else None
        mentions = []
        feed_lang = _lang(parsed.feed.get("language") or response.headers.get(
            "content-language"))
        feed_title = html_to_text(parsed.feed.get("title") or "") or _host(url)
        for entry in parsed.entries:
            mention = entry_to_mention(entry, feed_title=feed_title, feed_lang=feed_lang,
                                       now=state.now)
            if mention is None or (since is not None and mention.created_at < since):
                continue
            mentions.append(mention)
        mentions.sort(key=lambda m: m.created_at)
        return Fetched(mentions=mentions, etag=response.headers.get("etag"),
                       last_modified=response.headers.get("last-modified"))

    def _get(self, url: str, headers: dict[str, str]) -> tuple[bytes, httpx.Response]:
        import httpx

        try:
            with httpx.Client(timeout=self._timeout, follow_redirects=True, max_redirects=5,
                              transport=self._transport) as client, \
                    client.stream("GET", url, headers=headers) as response:
                if response.status_code in (429, 503) or response.status_code >= 400:
                    raise SourceFailure(
                        Reason("feed.http_status", status=response.status_code),
                        retry_after=_retry_after(response.headers.get("retry-after")),
                    )
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > MAX_BYTES:
                        raise SourceFailure(Reason("feed.too_large",
                                                  megabytes=MAX_BYTES // 1_000_000))
                    chunks.append(chunk)
                return b"".join(chunks), response
        except httpx.TimeoutException:
            raise SourceFailure(Reason("feed.timeout", seconds=self._timeout)) from None
        except httpx.HTTPError as exc:
            raise SourceFailure(Reason("feed.unreachable", error=type(exc).__name__)
                                ) from None


def entry_to_mention(entry: Any, *, feed_title: str, feed_lang: str | None,
                     now: datetime) -> MentionIn | None:
    """One feed entry as a mention, or None if it carries nothing to show."""
    title = html_to_text(entry.get("title") or "")
    content = entry.get("content") or []
    body_html = (content[0].get("value") if content else None) or entry.get("summary") or ""
    body = html_to_text(body_html)
    if body and title and (body.startswith(title) or title.startswith(body)):
        text = body if len(body) >= len(title) else title
    else:
        text = "\n".join(part for part in (title, body) if part)
    if not text:
        return None
    link = entry.get("link") or ""
    url = link if _URL.match(link) and len(link) <= 2048 else None
    external = entry.get("id") or link or hashlib.sha256(text.encode()).hexdigest()
    if len(external) > 256:
        external = "sha256:" + hashlib.sha256(external.encode()).hexdigest()
    detail = entry.get("author_detail") or {}
    author_name = html_to_text(entry.get("author") or detail.get("name") or "") or feed_title
    handle = detail.get("href") or detail.get("email") or author_name
    lang = _lang((entry.get("content") or [{}])[0].get("language")
                 or (entry.get("summary_detail") or {}).get("language")) or feed_lang
    try:
        return MentionIn(
            external_id=external,
            text=text[:TEXT_LIMIT],
            author=Author(handle=handle[:256], name=author_name[:256]),
            created_at=_date(entry) or now,
            url=url,
            language=lang,
            platform="rss",
        )
    except ValidationError:
        return None


def _date(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            return datetime.fromtimestamp(calendar.timegm(value), UTC)
    return None


def _lang(value: str | None) -> str | None:
    match = _LANG.match((value or "").strip())
    return match.group(1).lower() if match else None


def _host(url: str) -> str:
    import httpx

    return httpx.URL(url).host or url


def _short(text: str) -> str:
    return text if len(text) <= 160 else text[:159] + "…"


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time())
