"""Run the real Vigie over HTTP, in-process, on a free port: what `vigie serve` runs."""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

import httpx
import uvicorn

from bot.app import Vigie
from bot.platforms.webhook.receiver import sign
from bot.web import create_web_app


class RunningVigie:
    """A started Vigie: uvicorn serving the ASGI app and the background relay."""

    def __init__(self, vigie: Vigie) -> None:
        self.vigie = vigie
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port = int(self._socket.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(create_web_app(vigie), lifespan="off", log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )
        self.http = httpx.Client(base_url=self.url, timeout=10)
        self._stopped = False
        self._background = False

    def start(self, *, background: bool = True) -> RunningVigie:
        """Serve HTTP; with `background`, also run the relay and the scheduler."""
        self._background = background
        if background:
            self.vigie.start_background()
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._server.should_exit = True
        self._thread.join(10)
        self.http.close()
        if self._background:
            self.vigie.stop()
        else:
            self.vigie.engine.dispose()

    def post_mention(
        self,
        source: str,
        mention: dict[str, Any] | bytes,
        *,
        secret: str | None,
        timestamp: int | None = None,
    ) -> httpx.Response:
        """POST a mention to the webhook, signed the way the README tells integrators."""
        body = mention if isinstance(mention, bytes) else json.dumps(mention).encode()
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            sent_at = int(time.time()) if timestamp is None else timestamp
            headers["X-Vigie-Timestamp"] = str(sent_at)
            headers["X-Vigie-Signature"] = sign(secret, sent_at, body)
        return self.http.post(f"/ingest/{source}", content=body, headers=headers)
