"""Feeds served on 127.0.0.1 for the tests and the sandbox: real HTTP, conditional GET, faults.

`serve(path, body)` publishes a document; the server answers 304 when the request's
If-None-Match / If-Modified-Since match what it last sent, and can be told to answer an
error status (with Retry-After), to hang past the client's timeout, or to serve bytes.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bot.sandbox.local_server import send_answer

__all__ = ["FeedServer", "atom", "rss"]


@dataclass
class _Doc:
    body: bytes
    content_type: str
    last_modified: str = "Mon, 02 Nov 2026 07:00:00 GMT"
    status: int = 200
    retry_after: int | None = None
    delay: float = 0.0
    etag: bool = True


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    status: int


@dataclass
class FeedServer:
    docs: dict[str, _Doc] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def __enter__(self) -> FeedServer:
        fake = self

        class Handler(_Handler):
            server_fake = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def url(self, path: str) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def serve(self, path: str, body: str | bytes, *, content_type: str = "application/rss+xml",
              status: int = 200, retry_after: int | None = None, delay: float = 0.0,
              last_modified: str = "Mon, 02 Nov 2026 07:00:00 GMT") -> None:
        data = body.encode() if isinstance(body, str) else body
        with self._lock:
            self.docs[path] = _Doc(data, content_type, last_modified, status, retry_after, delay)

    def fail(self, path: str, status: int, *, retry_after: int | None = None) -> None:
        with self._lock:
            self.docs[path].status, self.docs[path].retry_after = status, retry_after

    def hang(self, path: str, seconds: float) -> None:
        with self._lock:
            self.docs[path].delay = seconds

    def heal(self, path: str) -> None:
        with self._lock:
            self.docs[path].status, self.docs[path].delay = 200, 0.0

    def hits_of(self, path: str) -> list[Hit]:
        with self._lock:
            return [h for h in self.hits if h.path == path]


class _Handler(BaseHTTPRequestHandler):
    server_fake: FeedServer

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        fake = self.server_fake
        with fake._lock:
            doc = fake.docs.get(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, body, extra = 404, b"not found", {}
        if doc is not None:
            if doc.delay:
                time.sleep(doc.delay)
            etag = '"' + hashlib.sha256(doc.body).hexdigest()[:16] + '"'
            if doc.status != 200:
                status, body = doc.status, b"<html><body>Error</body></html>"
                if doc.retry_after is not None:
                    extra["Retry-After"] = str(doc.retry_after)
            elif headers.get("if-none-match") == etag or (
                    "if-none-match" not in headers
                    and headers.get("if-modified-since") == doc.last_modified):
                status, body = 304, b""
                extra = {"ETag": etag, "Last-Modified": doc.last_modified}
            else:
                status, body = 200, doc.body
                extra = {"ETag": etag, "Last-Modified": doc.last_modified,
                         "Content-Type": doc.content_type}
        with fake._lock:
            fake.hits.append(Hit(self.path, headers, status))
        send_answer(self, status, body, extra)


def rss(items: list[dict[str, str]], *, title: str = "Alerte Radio Exemple",
        language: str = "fr-FR") -> str:
    """An RSS 2.0 document; item values are inserted as given (so tests can put HTML)."""
    entries = "".join(
        "<item>" + "".join(f"<{k}>{v}</{k}>" for k, v in item.items()) + "</item>"
        for item in items
    )
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>{title}</title><link>https://alerts.example/</link>"
            f"<language>{language}</language>{entries}</channel></rss>")


def atom(entries: list[dict[str, str]], *, title: str = "Hashtag #matinale") -> str:
    body = "".join(
        "<entry>" + "".join(
            f'<link href="{v}"/>' if k == "link" else f"<{k}>{v}</{k}>" for k, v in e.items()
        ) + "</entry>"
        for e in entries
    )
    return (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>{title}</title><id>urn:x</id><updated>2026-11-02T07:00:00Z</updated>"
            f"{body}</feed>")
