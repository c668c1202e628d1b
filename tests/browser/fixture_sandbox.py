"""A stand-in for the sandbox's browser API, fed with Slack JSON the bot really posts.

Why: the web client's rendering and the payloads it sends can be checked in a real browser
without starting the bot; the messages, views and files in ``fixtures/workspace.json`` were
captured from FakeSlack during the e2e suite (mention card, draft preview, report, App Home,
reply and draft modals). It speaks the contract in notes/sandbox-api.md: reads are served
from memory, acts are recorded (``posts``) and the few that Slack itself resolves
(reactions, a person's message, closing a modal) change the state and emit a change.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

WEB_DIR = Path(__file__).resolve().parents[2] / "bot" / "sandbox" / "web"
WORKSPACE = Path(__file__).resolve().parent / "fixtures" / "workspace.json"

# A 2x2 PNG (for the report charts) and a CSV (for the export).
_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000002000000020802000000fdd49a73"
    "0000001649444154789c63f8cfc0f09f8181e13f03c37f0600230e05fbcd2ec7a1"
    "0000000049454e44ae426082"
)
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8"}


class FixtureSandbox:
    """Serve the web client and the browser API on 127.0.0.1 (ephemeral port)."""

    def __init__(self, workspace: dict[str, Any] | None = None) -> None:
        data = workspace if workspace is not None else json.loads(WORKSPACE.read_text("utf-8"))
        self.data = copy.deepcopy(data)
        self.messages: dict[str, list[dict[str, Any]]] = self.data["messages"]
        self.modals: dict[str, list[dict[str, Any]]] = {}
        self.posts: list[tuple[str, dict[str, Any]]] = []
        self.submission_errors: dict[str, str] | None = None
        self._changes: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._view_seq = 0

    # ------------------------------------------------------------ lifecycle
    def start(self) -> FixtureSandbox:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.sandbox = self  # type: ignore[attr-defined]
        self._server = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # ------------------------------------------------------------ what the bot would do
    def emit(self, kind: str, **fields: Any) -> None:
        with self._cond:
            self._changes.append({"kind": kind, **fields})
            self._cond.notify_all()

    def post_message(self, channel: str, message: dict[str, Any]) -> dict[str, Any]:
        msg = {"type": "message", "ts": f"{time.time():.6f}", **message}
        with self._cond:
            self.messages.setdefault(channel, []).append(msg)
            parent_ts = msg.get("thread_ts")
            if parent_ts and parent_ts != msg["ts"]:
                for m in self.messages[channel]:
                    if m["ts"] == parent_ts:
                        m["reply_count"] = m.get("reply_count", 0) + 1
                        m["thread_ts"] = parent_ts
        self.emit("message", channel=channel, ts=msg["ts"])
        return msg

    def update_message(self, channel: str, ts: str, **fields: Any) -> None:
        with self._cond:
            for m in self.messages[channel]:
                if m["ts"] == ts:
                    m.update(fields)
        self.emit("update", channel=channel, ts=ts)

    def open_modal(self, user: str, name: str) -> dict[str, Any]:
        view: dict[str, Any] = copy.deepcopy(self.data["modals"][name])
        self._view_seq += 1
        view["id"] = f"VFIX{self._view_seq}"
        view["hash"] = f"h{self._view_seq}"
        with self._cond:
            self.modals.setdefault(user, []).append(view)
        self.emit("view", user=user, view_id=view["id"])
        return view

    def posted(self, path: str) -> list[dict[str, Any]]:
        return [body for p, body in self.posts if p == path]

    def wait_posted(self, path: str, count: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.posted(path)
            if len(found) >= count:
                return found
            time.sleep(0.02)
        raise AssertionError(f"expected {count} POST {path}, got {self.posted(path)}")

    # ------------------------------------------------------------ API
    def get(self, path: str, q: dict[str, str]) -> tuple[int, Any]:
        user = q.get("user") or self.data["me"]
        if path == "bootstrap":
            keys = ("team", "bot_user_id", "users", "channels", "commands", "locale")
            return 200, {**{k: self.data[k] for k in keys}, "me": user}
        if path == "history":
            with self._cond:
                msgs = [m for m in self.messages.get(q["channel"], [])
                        if (m.get("thread_ts") in (None, m["ts"]))
                        and (not m.get("ephemeral") or m.get("user") == user)]
                return 200, {"messages": copy.deepcopy(msgs)}
        if path == "replies":
            with self._cond:
                msgs = self.messages.get(q["channel"], [])
                found = next((m for m in msgs if m["ts"] == q["ts"]), None)
                if found is None:
                    return 404, {"ok": False, "error": "thread_not_found",
                                 "message": "no such message"}
                root = found.get("thread_ts") or found["ts"]
                thread = [m for m in msgs if m["ts"] == root or m.get("thread_ts") == root]
                thread.sort(key=lambda m: float(m["ts"]))
                return 200, {"messages": copy.deepcopy(thread)}
        if path == "views":
            with self._cond:
                return 200, {"modals": copy.deepcopy(self.modals.get(user, [])),
                             "home": copy.deepcopy(self.data["home"])}
        if path == "changes":
            since = int(q.get("since", "0"))
            timeout = float(q.get("timeout", "25"))
            with self._cond:
                self._cond.wait_for(lambda: len(self._changes) > since, timeout=min(timeout, 2.0))
                return 200, {"cursor": len(self._changes), "changes": self._changes[since:]}
        if path == "mastodon":
            return 200, {"statuses": self.data["statuses"]}
        return 404, {"ok": False, "error": "unknown_method", "message": path}

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        self.posts.append((path, body))
        if path == "message":
            msg = {"user": body["user"], "text": body["text"]}
            if body.get("thread_ts"):
                msg["thread_ts"] = body["thread_ts"]
            self.post_message(body["channel"], msg)
        elif path == "reaction":
            self._react(body)
        elif path == "view_submission":
            if self.submission_errors:
                return 200, {"ok": False, "response_action": "errors",
                             "errors": self.submission_errors}
            self._drop_view(body["user"], body["view_id"])
        elif path == "view_closed":
            self._drop_view(body["user"], body["view_id"])
        return 200, {"ok": True}

    def _react(self, body: dict[str, Any]) -> None:
        with self._cond:
            for m in self.messages.get(body["channel"], []):
                if m["ts"] != body["ts"]:
                    continue
                reactions = m.setdefault("reactions", [])
                r = next((r for r in reactions if r["name"] == body["name"]), None)
                if body["add"]:
                    if r is None:
                        r = {"name": body["name"], "users": [], "count": 0}
                        reactions.append(r)
                    if body["user"] not in r["users"]:
                        r["users"].append(body["user"])
                elif r is not None and body["user"] in r["users"]:
                    r["users"].remove(body["user"])
                if r is not None:
                    r["count"] = len(r["users"])
                m["reactions"] = [r for r in reactions if r["count"]]
        self.emit("reaction", channel=body["channel"], ts=body["ts"])

    def _drop_view(self, user: str, view_id: str) -> None:
        with self._cond:
            self.modals[user] = [v for v in self.modals.get(user, []) if v["id"] != view_id]
        self.emit("view", user=user, view_id=view_id)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a page closed during its long poll: nothing to report


class _Handler(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    @property
    def sandbox(self) -> FixtureSandbox:
        return self.server.sandbox  # type: ignore[attr-defined,no-any-return]

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, data: Any) -> None:
        self._send(status, json.dumps(data).encode(), "application/json")

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/":
            return self._static("index.html")
        if url.path.startswith("/static/"):
            return self._static(url.path.removeprefix("/static/"))
        if url.path.startswith("/sandbox/api/files/"):
            file_id = url.path.rsplit("/", 1)[1]
            csv = file_id == "F00000004" and "D0CM" in self.sandbox.messages
            if csv:
                return self._send(200, b"date;auteur\n2026-12-03;Kev\n", "text/csv; charset=utf-8")
            return self._send(200, _PNG, "image/png")
        if url.path.startswith("/sandbox/api/"):
            q = {k: v[0] for k, v in parse_qs(url.query).items()}
            status, data = self.sandbox.get(url.path.removeprefix("/sandbox/api/"), q)
            return self._json(status, data)
        self._send(404, b"not found", "text/plain")

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        status, data = self.sandbox.post(url.path.removeprefix("/sandbox/api/"), body)
        self._json(status, data)

    def _static(self, name: str) -> None:
        path = (WEB_DIR / name).resolve()
        if WEB_DIR not in path.parents or not path.is_file():
            return self._send(404, b"not found", "text/plain")
        self._send(200, path.read_bytes(), _TYPES.get(path.suffix, "application/octet-stream"))
