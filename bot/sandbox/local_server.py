"""The lifecycle every local platform server shares (Mastodon, Bluesky, Graph, YouTube, X):
a `ThreadingHTTPServer` on a free port of 127.0.0.1, serving the fake's request handler on
a daemon thread, the handler reaching the fake through its `server_fake` attribute."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self


class LocalServer:
    """Subclasses name their request handler in `handler`; `with Fake() as fake:` or
    `start()`/`stop()`, and `url` once started."""

    handler: ClassVar[type[BaseHTTPRequestHandler]]
    _server: ThreadingHTTPServer | None = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Self:
        handler = type("Handler", (self.handler,), {"server_fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True, name=type(self).__name__).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        assert self._server is not None, f"{type(self).__name__} is not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"


def send_answer(handler: BaseHTTPRequestHandler, status: int, body: bytes,
                headers: Mapping[str, str]) -> None:
    """Send one answer; a client that hung up (a timeout the test provoked) is fine."""
    try:
        handler.send_response(status)
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
    except (BrokenPipeError, ConnectionResetError):
        pass


class QuietHandler(BaseHTTPRequestHandler):
    """What every local platform server's handler shares: HTTP/1.1, no access log, and
    GET and POST sent to `_serve(method)` (a server adds `do_PUT` / `do_DELETE` where the
    platform has them, so the others keep answering 501 as before)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        raise NotImplementedError

    def answer(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        send_answer(self, status, body, headers)

    def answer_json(self, status: int, document: Any, headers: Mapping[str, str],
                    *, content_type: str = "application/json; charset=utf-8") -> None:
        """A JSON answer as the platform sends it (a 204 has no body and no type)."""
        if status == 204:
            self.answer(status, b"", headers)
        else:
            self.answer(status, json.dumps(document).encode(),
                        {"Content-Type": content_type, **headers})

