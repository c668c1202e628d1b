"""A local Socket Mode endpoint: what `wss://wss-primary.slack.com/link` does for the bot.

slack-sdk's built-in Socket Mode client asks `apps.connections.open` (FakeSlack answers with
this server's `ws://` URL; the client uses plain sockets on a non-443 port, which slack-sdk
supports for testing), receives `hello`, then envelopes, and answers each with an ack
carrying the same `envelope_id` and, for commands and interactions, the response payload.
"""

from __future__ import annotations

import json
import queue
import threading
import uuid
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve


class SocketModeServer:
    def __init__(self, app_id: str = "A0001") -> None:
        self.app_id = app_id
        self.acks: queue.Queue[dict[str, Any]] = queue.Queue()
        self.connected = threading.Event()
        self._connection: ServerConnection | None = None
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> SocketModeServer:
        self._server = serve(self._handle, "127.0.0.1", 0)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
        if self._thread is not None:
            self._thread.join(5)

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.socket.getsockname()[1]
        return f"ws://127.0.0.1:{port}/link/?ticket={uuid.uuid4()}&app_id={self.app_id}"

    def _handle(self, connection: ServerConnection) -> None:
        self._connection = connection
        connection.send(json.dumps({
            "type": "hello",
            "num_connections": 1,
            "debug_info": {"host": "applink-test", "approximate_connection_time": 18060},
            "connection_info": {"app_id": self.app_id},
        }))
        self.connected.set()
        try:
            for message in connection:
                self.acks.put(json.loads(message))
        except ConnectionClosed:
            pass

    def send(self, kind: str, payload: dict[str, Any], *, accepts_response_payload: bool
             ) -> str:
        """Deliver one envelope (`slash_commands`, `events_api`, `interactive`)."""
        assert self._connection is not None, "no client connected"
        envelope_id = str(uuid.uuid4())
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "payload": payload,
            "type": kind,
            "accepts_response_payload": accepts_response_payload,
        }
        if kind == "events_api":
            envelope.update(retry_attempt=0, retry_reason="")
        self._connection.send(json.dumps(envelope))
        return envelope_id

    def ack_for(self, envelope_id: str, timeout: float = 5.0) -> dict[str, Any]:
        pending: list[dict[str, Any]] = []
        try:
            while True:
                ack = self.acks.get(timeout=timeout)
                if ack.get("envelope_id") == envelope_id:
                    return ack
                pending.append(ack)
        finally:
            for ack in pending:
                self.acks.put(ack)
