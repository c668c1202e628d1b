"""A local, Slack-faithful Web API server: the test suite's Slack and the sandbox's.

Why: the bot must be exercised through the real ``slack_sdk.WebClient`` (HTTP, auth header,
JSON vs form bodies, error handling) without network access, and tests must be able to
reproduce what production Slack does to us: rejected blocks, 429 with ``Retry-After``, 5xx,
hangs after the message was actually posted, expired ``trigger_id``s.  Point the client at
``FakeSlack.base_url``; nothing else changes. The sandbox (`vigie demo`) serves a browser
client from the same server (``extra_routes``) and follows what changes (``changes_since``):
what the tests prove is what a person sees.
"""

from __future__ import annotations

import base64
import bisect
import copy
import dataclasses
import itertools
import json
import math
import mimetypes
import random
import re
import secrets
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Final, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "KNOWN_BLOCK_TYPES",
    "SLACK_POSTING_RATE",
    "Call",
    "Change",
    "ExtraRoutes",
    "CHAOS_KINDS",
    "FakeSlack",
    "UploadedFile",
    "validate_blocks",
]

_T = TypeVar("_T")

#: Layout blocks Slack accepts in messages and views (anything else is ``invalid_blocks``).
KNOWN_BLOCK_TYPES: Final = frozenset(
    {
        "section",
        "divider",
        "image",
        "actions",
        "context",
        "input",
        "header",
        "rich_text",
        "file",
        "video",
        "markdown",
    }
)

# Arguments Slack documents as "JSON-encoded string" in form bodies.
_JSON_FIELDS: Final = frozenset(
    {"blocks", "attachments", "view", "metadata", "files", "user_auth_blocks"}
)
_NO_AUTH_METHODS: Final = frozenset({"api.test"})
_DEFAULT_SCOPES: Final = (
    "app_mentions:read,channels:history,channels:read,chat:write,chat:write.public,commands,"
    "files:write,groups:history,im:history,im:write,reactions:read,reactions:write,"
    "usergroups:read,users:read"
)
#: What Slack documents for posting (https://api.slack.com/apis/rate-limits): chat.postMessage
#: "generally allows posting one message per second per channel", "short bursts >1 allowed"
#: (``channel_burst`` of them). For ``FakeSlack(channel_rate_limit=SLACK_POSTING_RATE)``.
SLACK_POSTING_RATE: Final = (1, 1.0)
_MESSAGE_MAX_BLOCKS: Final = 50
_VIEW_MAX_BLOCKS: Final = 100
_TEXT_MAX: Final = 40_000
_BLOCKS_ONLY_TEXT: Final = "This content can't be displayed."
_CHANGES_KEPT: Final = 5000  # what a browser that slept may still catch up on

#: One change a watcher can follow (`FakeSlack.changes_since`): ``kind`` is message,
#: update, delete, reaction, ephemeral, view, view_closed or home (the sandbox adds its
#: own kinds), with ``channel``, ``ts``, ``user``, ``view_id`` where they apply, and the
#: ``cursor`` it was given.
Change = dict[str, Any]
#: ``(method, path, query, body, headers)`` → ``(status, body, content type, headers)``
#: or None for "not mine": how the sandbox serves its browser API beside the Web API.
ExtraRoutes = Callable[
    [str, str, str, bytes, Mapping[str, str]],
    "tuple[int, bytes, str, dict[str, str]] | None",
]
#: What `FakeSlack.chaos` plays, each the way production Slack (or the network) fails:
#: ``ratelimited`` 429 + Retry-After, nothing done; ``server_error`` a 500/503, nothing done;
#: ``server_error_after`` a 500, 502 or 504 after the call was carried out (a 503 is
#: Slack's front door refusing: nothing done); ``hang_after`` the call is
#: carried out, its answer comes after ``hang_seconds`` (past the client's timeout);
#: ``reset_before`` / ``reset_after`` the connection is reset before / after carrying it
#: out; ``slow`` carried out and answered after ``slow_seconds`` (a slow Slack).
CHAOS_KINDS: Final = ("ratelimited", "server_error", "server_error_after", "hang_after",
                      "reset_before", "reset_after", "slow")
_DUMP_CHUNK: Final = 50  # messages serialized per hold of the lock when saving


@dataclass(frozen=True)
class Call:
    """One Web API request as the fake received it (params decoded, JSON strings parsed)."""

    method: str
    params: dict[str, Any]
    token: str | None
    at: float  # time.monotonic() when the request arrived
    status: int  # HTTP status answered
    error: str | None = None  # Slack ``error`` field when ok is false


@dataclass
class UploadedFile:
    """A file sent through the ``files_upload_v2`` flow (bytes kept for assertions)."""

    id: str
    filename: str
    length: int
    content: bytes = b""
    uploaded: bool = False
    completed: bool = False
    title: str | None = None
    channel: str | None = None
    initial_comment: str | None = None
    thread_ts: str | None = None


@dataclass
class _Fault:
    kind: str  # "fail" | "fail_after" (carried out, then the failure) | "hang"
    remaining: int
    status: int = 429
    retry_after: int = 1
    error: str | None = None
    seconds: float = 0.0
    then_apply: bool = True
    channel: str | None = None  # only calls to this channel, when given
    reset: bool = False  # the connection is reset instead of answered


@dataclass
class _Chaos:
    """Random faults on a share of the calls (`FakeSlack.chaos`)."""

    rate: float
    rng: random.Random
    kinds: tuple[str, ...]
    methods: frozenset[str] | None
    slow_seconds: float
    hang_seconds: float


@dataclass
class _Trigger:
    created: float
    user_id: str | None
    view_id: str | None
    used: bool = False


@dataclass
class _Channel:
    id: str
    name: str
    is_private: bool = False
    is_member: bool = True
    created: int = field(default_factory=lambda: int(time.time()))


@dataclass
class _ResponseUrl:
    channel_id: str | None
    user_id: str | None
    message_ts: str | None
    uses: int = 0


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class _Answer:
    status: int
    body: bytes
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before writing the answer (hang_next)
    reset: bool = False  # reset the connection instead of answering (chaos)


class _ApiError(Exception):
    """A Slack ``{"ok": false}`` answer raised from a method implementation."""

    def __init__(
        self,
        error: str,
        *,
        messages: Sequence[str] = (),
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(error)
        self.error = error
        self.messages = list(messages)
        self.status = status
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error": self.error, **self.extra}
        if self.messages:
            body["response_metadata"] = {"messages": self.messages}
        return body


def _json_answer(
    status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> _Answer:
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    return _Answer(status=status, body=data, headers=dict(headers or {}))


def _flag(value: Any) -> bool:
    """Slack booleans arrive as true/false (JSON) or "1"/"0"/"true" (forms)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    return str(value).strip().lower() in {"1", "true", "yes"}


def _int(value: Any, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(str(value))
    except ValueError as exc:
        message = f"[ERROR] invalid integer: {value}"
        raise _ApiError("invalid_arguments", messages=[message]) from exc


def _ts_key(ts: str) -> tuple[int, int]:
    sec, _, frac = ts.partition(".")
    return int(sec or 0), int((frac + "000000")[:6])


def _maybe_json(value: Any) -> Any:
    if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _decode_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Parse the JSON-string arguments (blocks, view, metadata...) into Python objects."""
    return {k: (_maybe_json(v) if k in _JSON_FIELDS else v) for k, v in params.items()}


# --------------------------------------------------------------------------------------
# Block Kit validation (the subset of Slack's schema checks bots trip over in practice)
# --------------------------------------------------------------------------------------


def _check_text_object(
    obj: Any,
    pointer: str,
    errors: list[str],
    *,
    max_len: int,
    plain_only: bool = False,
    required: bool = True,
) -> None:
    if obj is None:
        if required:
            errors.append(f"missing required field: text [json-pointer:{pointer}]")
        return
    if not isinstance(obj, dict):
        errors.append(f"expected object [json-pointer:{pointer}]")
        return
    kind = obj.get("type")
    allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
    if kind not in allowed:
        errors.append(f"must be one of {', '.join(allowed)} [json-pointer:{pointer}/type]")
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        errors.append(f"must be more than 0 characters [json-pointer:{pointer}/text]")
    elif len(text) > max_len:
        errors.append(f"must be less than {max_len + 1} characters [json-pointer:{pointer}/text]")


def _check_element(element: Any, pointer: str, errors: list[str]) -> None:
    if not isinstance(element, dict):
        errors.append(f"expected object [json-pointer:{pointer}]")
        return
    action_id = element.get("action_id")
    if isinstance(action_id, str) and len(action_id) > 255:
        errors.append(f"must be less than 256 characters [json-pointer:{pointer}/action_id]")
    kind = element.get("type")
    if kind == "button":
        _check_text_object(
            element.get("text"), f"{pointer}/text", errors, max_len=75, plain_only=True
        )
        value = element.get("value")
        if isinstance(value, str) and len(value) > 2000:
            errors.append(f"must be less than 2001 characters [json-pointer:{pointer}/value]")
        url = element.get("url")
        if isinstance(url, str) and len(url) > 3000:
            errors.append(f"must be less than 3001 characters [json-pointer:{pointer}/url]")
        if element.get("style") not in (None, "primary", "danger"):
            errors.append(f"must be one of primary, danger [json-pointer:{pointer}/style]")
    elif kind in (
        "static_select",
        "multi_static_select",
        "overflow",
        "radio_buttons",
        "checkboxes",
    ):
        options = element.get("options")
        if options is None and "option_groups" in element:
            return
        limit = {"overflow": 5, "radio_buttons": 10, "checkboxes": 10}.get(str(kind), 100)
        if not isinstance(options, list) or not options:
            errors.append(f"must provide options [json-pointer:{pointer}/options]")
            return
        if len(options) > limit:
            errors.append(f"no more than {limit} items allowed [json-pointer:{pointer}/options]")
        for j, option in enumerate(options):
            opt_ptr = f"{pointer}/options/{j}"
            if not isinstance(option, dict):
                errors.append(f"expected object [json-pointer:{opt_ptr}]")
                continue
            _check_text_object(
                option.get("text"),
                f"{opt_ptr}/text",
                errors,
                max_len=75,
                plain_only=kind in ("static_select", "multi_static_select", "overflow"),
            )
            value = option.get("value")
            if isinstance(value, str) and len(value) > 150:
                errors.append(f"must be less than 151 characters [json-pointer:{opt_ptr}/value]")


def validate_blocks(blocks: Any, *, pointer: str = "/blocks", max_blocks: int = 50) -> list[str]:
    """Return Slack-style error strings (``... [json-pointer:/blocks/0/text/text]``).

    Why: Slack rejects the whole message for one bad block; tests must catch that locally.
    """
    if not isinstance(blocks, list):
        return [f"expected array [json-pointer:{pointer}]"]
    errors: list[str] = []
    if len(blocks) > max_blocks:
        errors.append(f"no more than {max_blocks} items allowed [json-pointer:{pointer}]")
    seen_ids: set[str] = set()
    for i, block in enumerate(blocks):
        ptr = f"{pointer}/{i}"
        if not isinstance(block, dict):
            errors.append(f"expected object [json-pointer:{ptr}]")
            continue
        kind = block.get("type")
        if kind not in KNOWN_BLOCK_TYPES:
            errors.append(f"unsupported type: {kind} [json-pointer:{ptr}/type]")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or not block_id or len(block_id) > 255:
                errors.append(f"must be 1 to 255 characters [json-pointer:{ptr}/block_id]")
            elif block_id in seen_ids:
                errors.append(f"duplicate block_id: {block_id} [json-pointer:{ptr}/block_id]")
            else:
                seen_ids.add(block_id)
        if kind == "section":
            text, fields = block.get("text"), block.get("fields")
            if text is None and fields is None:
                errors.append(f"must provide either text or fields [json-pointer:{ptr}]")
            if text is not None:
                _check_text_object(text, f"{ptr}/text", errors, max_len=3000)
            if fields is not None:
                if not isinstance(fields, list):
                    errors.append(f"expected array [json-pointer:{ptr}/fields]")
                else:
                    if len(fields) > 10:
                        errors.append(f"no more than 10 items allowed [json-pointer:{ptr}/fields]")
                    for j, item in enumerate(fields):
                        _check_text_object(item, f"{ptr}/fields/{j}", errors, max_len=2000)
            if "accessory" in block:
                _check_element(block["accessory"], f"{ptr}/accessory", errors)
        elif kind == "header":
            _check_text_object(
                block.get("text"), f"{ptr}/text", errors, max_len=150, plain_only=True
            )
        elif kind == "actions":
            elements = block.get("elements")
            if not isinstance(elements, list) or not elements:
                errors.append(f"must provide at least 1 element [json-pointer:{ptr}/elements]")
            else:
                if len(elements) > 25:
                    errors.append(f"no more than 25 items allowed [json-pointer:{ptr}/elements]")
                for j, element in enumerate(elements):
                    _check_element(element, f"{ptr}/elements/{j}", errors)
        elif kind == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not elements:
                errors.append(f"must provide at least 1 element [json-pointer:{ptr}/elements]")
            elif len(elements) > 10:
                errors.append(f"no more than 10 items allowed [json-pointer:{ptr}/elements]")
            else:
                for j, element in enumerate(elements):
                    if isinstance(element, dict) and element.get("type") in (
                        "plain_text",
                        "mrkdwn",
                    ):
                        _check_text_object(element, f"{ptr}/elements/{j}", errors, max_len=3000)
                    elif not isinstance(element, dict) or element.get("type") != "image":
                        errors.append(f"unsupported element [json-pointer:{ptr}/elements/{j}]")
        elif kind == "image":
            if "image_url" not in block and "slack_file" not in block:
                errors.append(f"must provide image_url or slack_file [json-pointer:{ptr}]")
            alt = block.get("alt_text")
            if not isinstance(alt, str) or not alt:
                errors.append(f"missing required field: alt_text [json-pointer:{ptr}/alt_text]")
            elif len(alt) > 2000:
                errors.append(f"must be less than 2001 characters [json-pointer:{ptr}/alt_text]")
        elif kind == "input":
            _check_text_object(
                block.get("label"), f"{ptr}/label", errors, max_len=2000, plain_only=True
            )
            if "element" not in block:
                errors.append(f"missing required field: element [json-pointer:{ptr}/element]")
            else:
                _check_element(block["element"], f"{ptr}/element", errors)
            if "hint" in block:
                _check_text_object(
                    block["hint"], f"{ptr}/hint", errors, max_len=2000, plain_only=True
                )
        elif kind == "rich_text":
            if not isinstance(block.get("elements"), list):
                errors.append(f"missing required field: elements [json-pointer:{ptr}/elements]")
        elif kind == "markdown":
            text = block.get("text")
            if not isinstance(text, str) or not text:
                errors.append(f"must be more than 0 characters [json-pointer:{ptr}/text]")
            elif len(text) > 12000:
                errors.append(f"must be less than 12001 characters [json-pointer:{ptr}/text]")
        elif kind == "file":
            for key in ("external_id", "source"):
                if key not in block:
                    errors.append(f"missing required field: {key} [json-pointer:{ptr}/{key}]")
        elif kind == "video":
            for key in ("alt_text", "title", "thumbnail_url", "video_url"):
                if key not in block:
                    errors.append(f"missing required field: {key} [json-pointer:{ptr}/{key}]")
    return errors


def _fill_ids(blocks: list[Any]) -> list[Any]:
    """Slack generates ``block_id``/``action_id`` when the app omits them; so do we."""
    out: list[Any] = copy.deepcopy(blocks)
    for block in out:
        if not isinstance(block, dict):
            continue
        block.setdefault("block_id", secrets.token_urlsafe(4)[:5])
        elements: list[Any] = []
        if isinstance(block.get("elements"), list) and block.get("type") == "actions":
            elements = block["elements"]
        for key in ("accessory", "element"):
            if isinstance(block.get(key), dict):
                elements.append(block[key])
        for element in elements:
            if isinstance(element, dict) and element.get("type") not in (None, "image"):
                element.setdefault("action_id", secrets.token_urlsafe(4)[:5])
    return out


def _tz_info(tz: str) -> tuple[str, int]:
    try:
        now = datetime.now(ZoneInfo(tz))
    except ZoneInfoNotFoundError:
        return tz, 0
    offset = now.utcoffset()
    return now.tzname() or tz, int(offset.total_seconds()) if offset else 0


# --------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    # socketserver's default backlog of 5 drops connections under a burst, and the
    # client's SYN retry then adds a full second: Slack itself has no such limit.
    request_queue_size = 256
    fake: FakeSlack

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that time out on purpose (hang tests) must not spam stderr."""


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "FakeSlack/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request logging; ``FakeSlack.calls`` is the log."""

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        fake = self.server.fake
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = unquote(parts.path)
        if path.startswith("/api/"):
            answer = fake._http_api(
                path[len("/api/") :],
                raw,
                self.headers.get("Content-Type", ""),
                parts.query,
                self.headers.get("Authorization"),
            )
        elif path.startswith("/upload/v1/"):
            answer = fake._http_upload(path[len("/upload/v1/") :], raw)
        elif path.startswith("/response_url/"):
            answer = fake._http_response_url(path[len("/response_url/") :], raw)
        else:
            answer = fake._http_extra(self.command, path, parts.query, raw, dict(self.headers))
        if answer.delay > 0:
            fake._stopping.wait(answer.delay)
        if answer.reset:
            # SO_LINGER 0 then close: the kernel sends RST, the client sees a reset
            # connection (ECONNRESET), as when a proxy between the bot and Slack drops it.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            for key, value in answer.headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(answer.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test): Slack would not notice either


# --------------------------------------------------------------------------------------
# The fake
# --------------------------------------------------------------------------------------


class FakeSlack:
    """Slack Web API double on 127.0.0.1 for ``WebClient(base_url=fake.base_url)``.

    Why: lets tests assert on what the bot *sent* and on Slack's current state (messages
    after updates/deletes, views, files) and inject production failures deterministically.
    """

    def __init__(
        self,
        *,
        token: str = "xoxb-test",
        extra_tokens: Iterable[str] = (),
        team_id: str = "T0001",
        team_name: str = "Vigie Test",
        team_domain: str = "vigie-test",
        app_id: str = "A0001",
        bot_user_id: str = "U0BOT",
        bot_id: str = "B0BOT",
        bot_name: str = "vigie",
        accept_any_channel: bool = True,
        accept_any_user: bool = True,
        channel_rate_limit: tuple[int, float] | None = None,
        channel_burst: int = 3,
        trigger_ttl: float = 3.0,
        scopes: str = _DEFAULT_SCOPES,
        port: int = 0,
        host: str = "127.0.0.1",
    ) -> None:
        self.host = host  # 0.0.0.0 for containers to reach it (deploy/test_stack.py)
        self.token = token
        self.tokens: set[str] = {token, *extra_tokens}
        self.team_id = team_id
        self.team_name = team_name
        self.team_domain = team_domain
        self.app_id = app_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.bot_name = bot_name
        self.accept_any_channel = accept_any_channel
        self.accept_any_user = accept_any_user
        self.channel_rate_limit = channel_rate_limit
        self.channel_burst = channel_burst
        self.trigger_ttl = trigger_ttl
        self.scopes = scopes
        self._port = port
        self.socket_mode_url: str | None = None  # set by a Socket Mode test server
        self.extra_routes: ExtraRoutes | None = None  # the sandbox's browser API

        self._lock = threading.RLock()
        self._changed_cond = threading.Condition(self._lock)
        self._cursor = 0  # never goes back, even on reset(): watchers keep their place
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._ids = itertools.count(1)
        self._last_us = 0

        # directory (kept by reset())
        self._users: dict[str, dict[str, Any]] = {}
        self._channels: dict[str, _Channel] = {}
        self._usergroups: dict[str, list[str]] = {}
        self._members: dict[str, list[str]] = {}
        self._init_state()
        self.add_user(bot_user_id, bot_name, real_name=bot_name.capitalize(), is_bot=True)

        self._methods: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "api.test": self._api_test,
            "apps.connections.open": self._apps_connections_open,
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.delete": self._chat_delete,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "conversations.open": self._conversations_open,
            "conversations.info": self._conversations_info,
            "conversations.members": self._conversations_members,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "reactions.add": self._reactions_add,
            "reactions.remove": self._reactions_remove,
            "users.info": self._users_info,
            "usergroups.users.list": self._usergroups_users_list,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
        }

    def _init_state(self) -> None:
        self._calls: list[Call] = []
        self._messages: dict[str, list[dict[str, Any]]] = {}
        self._ephemerals: dict[str, list[dict[str, Any]]] = {}
        self._views: dict[str, dict[str, Any]] = {}
        self._view_users: dict[str, str | None] = {}
        self._home: dict[str, str] = {}
        self._triggers: dict[str, _Trigger] = {}
        self._files: dict[str, UploadedFile] = {}
        self._upload_keys: dict[str, str] = {}
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._faults: dict[str, list[_Fault]] = {}
        self._buckets: dict[str, _Bucket] = {}
        self._dms: dict[str, str] = {}  # user id (or sorted ids) -> D/G id
        self._dm_users: dict[str, list[str]] = {}
        self._down = False
        self._ratelimited = 0
        self._ratelimited_in: dict[str, int] = {}
        self._changes: deque[Change] = deque(maxlen=_CHANGES_KEPT)
        self._open_modals: dict[str, list[str]] = {}  # user -> view ids, bottom to top
        self._chaos: _Chaos | None = None
        self._chaos_played: dict[str, int] = {}

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> FakeSlack:
        """Bind `host` (127.0.0.1; ephemeral port by default), serve in a daemon thread."""
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _Server((self.host, self._port), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="FakeSlack",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; hung requests are released immediately."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        with self._changed_cond:  # long polls return now rather than at their timeout
            self._changed_cond.notify_all()
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeSlack is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Root URL of the server, e.g. ``http://127.0.0.1:PORT/``."""
        return f"http://127.0.0.1:{self.port}/"

    @property
    def base_url(self) -> str:
        """Value for ``WebClient(base_url=...)``."""
        return f"{self.url}api/"

    @property
    def workspace_url(self) -> str:
        return f"https://{self.team_domain}.slack.com/"

    # ---------------------------------------------------------------- seeding

    def add_user(
        self,
        id: str,
        name: str,
        *,
        real_name: str | None = None,
        display_name: str | None = None,
        email: str | None = None,
        locale: str = "fr-FR",
        tz: str = "Europe/Paris",
        is_bot: bool = False,
        is_admin: bool = False,
        deleted: bool = False,
    ) -> dict[str, Any]:
        """Register a user returned by ``users.info`` (Slack's documented user shape)."""
        real = real_name if real_name is not None else name
        tz_label, tz_offset = _tz_info(tz)
        user: dict[str, Any] = {
            "id": id,
            "team_id": self.team_id,
            "name": name,
            "deleted": deleted,
            "color": "9f69e7",
            "real_name": real,
            "tz": tz,
            "tz_label": tz_label,
            "tz_offset": tz_offset,
            "profile": {
                "real_name": real,
                "real_name_normalized": real,
                "display_name": display_name if display_name is not None else name,
                "display_name_normalized": display_name if display_name is not None else name,
                "email": email if email is not None else f"{name}@example.com",
                "status_text": "",
                "status_emoji": "",
                "image_48": f"https://avatars.example.com/{id}_48.png",
                "team": self.team_id,
            },
            "is_admin": is_admin,
            "is_owner": False,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": is_bot,
            "is_app_user": False,
            "updated": int(time.time()),
            "locale": locale,
        }
        if is_bot:
            user["profile"]["bot_id"] = self.bot_id if id == self.bot_user_id else f"B{id[1:]}"
            user["profile"].pop("email")
        with self._lock:
            self._users[id] = user
        return copy.deepcopy(user)

    def add_channel(
        self, id: str, name: str, *, is_private: bool = False, is_member: bool = True
    ) -> None:
        """Register a channel. With ``is_member=False`` the bot is not in it: history,
        threads, files and ephemerals fail (``not_in_channel``; ``channel_not_found`` when
        private), and only ``chat.postMessage`` to a public one works (``chat:write.public``)."""
        with self._lock:
            self._channels[id] = _Channel(id, name.lstrip("#"), is_private, is_member)

    def set_channel_members(self, channel: str, user_ids: Iterable[str]) -> None:
        """Who ``conversations.members`` lists for ``channel`` (pages of ``limit``)."""
        with self._lock:
            self._members[channel] = list(user_ids)

    def add_usergroup(self, id: str, user_ids: Iterable[str]) -> None:
        """Register a user group for ``usergroups.users.list``."""
        with self._lock:
            self._usergroups[id] = list(user_ids)

    def add_message(
        self,
        channel: str,
        text: str,
        *,
        user: str,
        ts: str | None = None,
        thread_ts: str | None = None,
        blocks: list[dict[str, Any]] | None = None,
        files: list[dict[str, Any]] | None = None,
    ) -> str:
        """Seed a message written by a human (so the bot can react, reply, read history);
        ``files`` are Slack file objects (``name``, ``permalink``…) shared with it."""
        with self._lock:
            ts = ts or self._next_ts()
            msg: dict[str, Any] = {
                "type": "message",
                "user": user,
                "text": text,
                "ts": ts,
                "team": self.team_id,
            }
            if blocks is not None:
                msg["blocks"] = blocks
            if files is not None:
                msg["files"] = copy.deepcopy(files)
                msg["upload"] = True
            if thread_ts and thread_ts != ts:
                msg["thread_ts"] = thread_ts
                msg["parent_user_id"] = self._parent_user(channel, thread_ts)
                self._bump_thread(channel, thread_ts, ts, user)
            self._insert(channel, msg)
            return ts

    def add_reaction(self, channel: str, ts: str, name: str, *, user: str) -> None:
        """Record a human's reaction on a stored message (what the user sees in Slack)."""
        with self._lock:
            msg = self._find(self._canonical_channel(channel), ts)
            if msg is None:
                return
            reactions: list[dict[str, Any]] = msg.setdefault("reactions", [])
            for reaction in reactions:
                if reaction["name"] == name:
                    if user not in reaction["users"]:
                        reaction["users"].append(user)
                        reaction["count"] += 1
                        self.notify("reaction", channel=self._canonical_channel(channel), ts=ts)
                    return
            reactions.append({"name": name, "users": [user], "count": 1})
            self.notify("reaction", channel=self._canonical_channel(channel), ts=ts)

    def remove_reaction(self, channel: str, ts: str, name: str, *, user: str) -> None:
        """Undo :meth:`add_reaction` (used by the driver's ``reaction_removed``)."""
        with self._lock:
            msg = self._find(self._canonical_channel(channel), ts)
            if msg is None:
                return
            for reaction in msg.get("reactions", []):
                if reaction["name"] == name and user in reaction["users"]:
                    reaction["users"].remove(user)
                    reaction["count"] -= 1
            kept = [r for r in msg.get("reactions", []) if r["count"] > 0]
            if kept:
                msg["reactions"] = kept
            else:
                msg.pop("reactions", None)
            self.notify("reaction", channel=self._canonical_channel(channel), ts=ts)

    # ---------------------------------------------------------------- fault injection

    def fail_next(
        self,
        method: str,
        *,
        status: int = 429,
        retry_after: int = 1,
        times: int = 1,
        error: str | None = None,
        then_apply: bool = False,
        channel: str | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` (``"*"`` = any; to ``channel``
        only, if given) with a failure.

        429 → ``Retry-After`` header + ``ratelimited``; 5xx → HTTP error; ``status=200`` with
        ``error=...`` → an arbitrary Slack error such as ``channel_not_found``. With
        ``then_apply`` the call is carried out first (a 500 after the message was posted).
        """
        with self._lock:
            self._faults.setdefault(method, []).append(
                _Fault("fail_after" if then_apply else "fail", times, status=status,
                       retry_after=retry_after, error=error, channel=channel)
            )

    def hang_next(
        self, method: str, seconds: float, *, times: int = 1, then_apply: bool = True,
        channel: str | None = None,
    ) -> None:
        """Delay the answer of the next calls by ``seconds`` (to ``channel`` only, if given:
        a fault armed early then waits for the call it is meant for).

        ``then_apply=True`` applies the call first (the message *is* posted; only the answer
        is late: "sent but the client timed out"); ``False`` drops it (``request_timeout``).
        """
        with self._lock:
            self._faults.setdefault(method, []).append(
                _Fault("hang", times, seconds=seconds, then_apply=then_apply, channel=channel)
            )

    def reset_next(self, method: str, *, times: int = 1, then_apply: bool = False,
                   channel: str | None = None) -> None:
        """Reset the connection of the next calls instead of answering them; with
        ``then_apply`` the call is carried out first (posted, but the client never knows)."""
        with self._lock:
            self._faults.setdefault(method, []).append(
                _Fault("hang", times, then_apply=then_apply, channel=channel, reset=True))

    def chaos(self, rate: float, *, seed: int | random.Random = 0,
              kinds: Sequence[str] = CHAOS_KINDS, methods: Iterable[str] | None = None,
              slow_seconds: float = 2.0, hang_seconds: float = 5.0) -> None:
        """From now on, a share ``rate`` (0–1) of the Web API calls (of ``methods`` only,
        when given) meet a fault drawn from ``kinds`` (see `CHAOS_KINDS`), from a seeded
        generator; ``rate=0`` stops it. Faults armed with `fail_next` & co. come first.
        `chaos_played` counts what was played, by kind."""
        unknown = set(kinds) - set(CHAOS_KINDS)
        if unknown:
            raise ValueError(f"unknown chaos kinds: {sorted(unknown)}")
        rng = seed if isinstance(seed, random.Random) else random.Random(seed)
        with self._lock:
            self._chaos = None if rate <= 0 else _Chaos(
                rate, rng, tuple(kinds), frozenset(methods) if methods is not None else None,
                slow_seconds, hang_seconds)

    @property
    def chaos_played(self) -> dict[str, int]:
        """The faults `chaos` played so far, by kind."""
        with self._lock:
            return dict(self._chaos_played)

    def set_down(self, down: bool = True) -> None:
        """While down, every Web API call answers HTTP 503."""
        with self._lock:
            self._down = down

    @property
    def ratelimited_count(self) -> int:
        """How many HTTP 429 answers were given (channel rate limit and injected)."""
        with self._lock:
            return self._ratelimited

    @property
    def ratelimited_channels(self) -> dict[str, int]:
        """The 429s of the channel rate limit, per channel (a DM: its D… id)."""
        with self._lock:
            return dict(self._ratelimited_in)

    # ---------------------------------------------------------------- triggers / urls

    def new_trigger_id(
        self, *, user_id: str | None = None, view_id: str | None = None, age: float = 0.0
    ) -> str:
        """Mint a trigger_id valid ``trigger_ttl`` seconds (``age`` backdates it)."""
        with self._lock:
            n = next(self._ids)
            serial = f"{n}{secrets.randbelow(10**6):06d}"
            trigger = f"{serial}.{int(time.time())}.{secrets.token_hex(16)}"
            self._triggers[trigger] = _Trigger(time.monotonic() - age, user_id, view_id)
            return trigger

    def new_response_url(
        self,
        *,
        channel_id: str | None = None,
        user_id: str | None = None,
        message_ts: str | None = None,
    ) -> str:
        """A ``response_url`` served here; posts are recorded as method ``"response_url"``."""
        with self._lock:
            key = f"{self.team_id}/{next(self._ids)}/{secrets.token_hex(12)}"
            self._response_urls[key] = _ResponseUrl(channel_id, user_id, message_ts)
            return f"{self.url}response_url/{key}"

    # ---------------------------------------------------------------- inspection

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self._calls if c.method == method]

    def messages(self, channel: str, *, include_replies: bool = True) -> list[dict[str, Any]]:
        """Current state of the channel (after updates/deletes), oldest first."""
        with self._lock:
            msgs = self._messages.get(self._canonical_channel(channel), [])
            return copy.deepcopy(
                [m for m in msgs if include_replies or m.get("thread_ts", m["ts"]) == m["ts"]]
            )

    def top_level_before(self, channel: str, before: str | None, count: int
                         ) -> list[dict[str, Any]]:
        """Up to ``count`` top-level messages older than ``before`` (all: None), newest
        first; only those are copied, so a page of a long channel costs a page."""
        with self._lock:
            msgs = self._messages.get(self._canonical_channel(channel), [])
            limit = _ts_key(before) if before else None
            page: list[dict[str, Any]] = []
            for m in reversed(msgs):
                if len(page) >= count:
                    break
                if m.get("thread_ts", m["ts"]) != m["ts"]:
                    continue
                if limit is not None and _ts_key(m["ts"]) >= limit:
                    continue
                page.append(m)
            return copy.deepcopy(page)

    def thread(self, channel: str, ts: str) -> list[dict[str, Any]]:
        """The message ``ts`` and its replies (empty if it is gone), oldest first, without
        copying the rest of the channel."""
        with self._lock:
            msgs = self._messages.get(self._canonical_channel(channel), [])
            return copy.deepcopy([m for m in msgs
                                  if m["ts"] == ts or m.get("thread_ts") == ts])

    def channel_ids(self) -> list[str]:
        """Every channel (DMs included) holding at least one message."""
        with self._lock:
            return [channel for channel, msgs in self._messages.items() if msgs]

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._find(self._canonical_channel(channel), ts)
            return copy.deepcopy(found) if found is not None else None

    def find_message(self, ts: str) -> tuple[str, dict[str, Any]] | None:
        """Locate a message by ts in any channel: ``(channel_id, message)``."""
        with self._lock:
            for channel, msgs in self._messages.items():
                for msg in msgs:
                    if msg["ts"] == ts:
                        return channel, copy.deepcopy(msg)
            return None

    def ephemerals(self, channel: str, user: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            msgs = self._ephemerals.get(self._canonical_channel(channel), [])
            return copy.deepcopy([m for m in msgs if user is None or m["user"] == user])

    def view(self, view_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._views.get(view_id)
            return copy.deepcopy(found) if found is not None else None

    def views_for(self, user_id: str) -> list[dict[str, Any]]:
        """Modals opened/pushed for ``user_id`` (needs the trigger to carry the user)."""
        with self._lock:
            return copy.deepcopy(
                [
                    v
                    for vid, v in self._views.items()
                    if self._view_users.get(vid) == user_id and v["type"] == "modal"
                ]
            )

    def home_view(self, user_id: str) -> dict[str, Any] | None:
        with self._lock:
            vid = self._home.get(user_id)
            return copy.deepcopy(self._views[vid]) if vid else None

    def uploaded_files(self) -> list[UploadedFile]:
        with self._lock:
            return [copy.deepcopy(f) for f in self._files.values()]

    def dm_channel(self, user_id: str) -> str:
        """The DM id ``conversations.open(users=user_id)`` returns."""
        with self._lock:
            return self._dm_for([user_id])

    def user(self, user_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._users.get(user_id)
            return copy.deepcopy(found) if found is not None else None

    def channel_name(self, channel_id: str) -> str | None:
        with self._lock:
            ch = self._channels.get(channel_id)
            if ch is not None:
                return ch.name
            if channel_id in self._dm_users or channel_id.startswith("D"):
                return "directmessage"
            return None

    def wait_for(
        self, predicate: Callable[[], _T], timeout: float = 5.0, interval: float = 0.01
    ) -> _T:
        """Poll ``predicate`` until it returns something truthy; return it.

        Why: the bot acks Slack first and works in the background.
        """
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if time.monotonic() >= deadline:
                raise TimeoutError(f"condition not met within {timeout}s; last value: {result!r}")
            time.sleep(interval)

    # ---------------------------------------------------------------- changes & modals

    @property
    def cursor(self) -> int:
        """The number of the latest change (0: none yet)."""
        with self._lock:
            return self._cursor

    def notify(self, kind: str, **info: Any) -> None:
        """Record a change and wake the watchers (the sandbox adds its own kinds)."""
        with self._lock:
            self._cursor += 1
            self._changes.append({"kind": kind, "cursor": self._cursor,
                                  **{k: v for k, v in info.items() if v is not None}})
            self._changed_cond.notify_all()

    def changes_since(self, cursor: int, timeout: float = 0.0) -> tuple[int, list[Change]]:
        """The changes after ``cursor``, waiting up to ``timeout`` seconds for one.

        Why: a browser long-polls this instead of re-reading every channel.
        """
        with self._changed_cond:
            if cursor > self._cursor:  # the server restarted: everything is new
                cursor = 0
            if self._cursor <= cursor and timeout > 0:
                self._changed_cond.wait_for(
                    lambda: self._cursor > cursor or self._stopping.is_set(), timeout)
            return self._cursor, [copy.deepcopy(c) for c in self._changes
                                  if c["cursor"] > cursor]

    def open_modals(self, user_id: str) -> list[dict[str, Any]]:
        """The modals on ``user_id``'s screen, bottom to top (what Slack shows them)."""
        with self._lock:
            return [copy.deepcopy(self._views[v]) for v in self._open_modals.get(user_id, [])
                    if v in self._views]

    def close_modal(self, user_id: str, view_id: str, *, all_views: bool = False) -> None:
        """A modal leaves the screen: submitted, cancelled, or ``clear``ed with its stack."""
        with self._lock:
            stack = self._open_modals.get(user_id, [])
            if all_views:
                stack.clear()
            elif view_id in stack:
                del stack[stack.index(view_id):]
            self.notify("view_closed", user=user_id, view_id=view_id)

    def replace_modal(self, user_id: str, view_id: str, spec: dict[str, Any]) -> dict[str, Any]:
        """``response_action: update`` — the submitted modal shows ``spec`` instead."""
        with self._lock:
            current = self._views[view_id]
            spec = self._validate_view(spec, expected="modal")
            view = self._make_view(spec, view_id=view_id, root_view_id=current["root_view_id"],
                                   previous_view_id=current["previous_view_id"])
            self.notify("view", user=user_id, view_id=view_id)
            return view

    def push_modal(self, user_id: str, parent_id: str, spec: dict[str, Any]) -> dict[str, Any]:
        """``response_action: push`` — ``spec`` opens on top of the submitted modal."""
        with self._lock:
            parent = self._views[parent_id]
            spec = self._validate_view(spec, expected="modal")
            view = self._make_view(spec, root_view_id=parent["root_view_id"],
                                   previous_view_id=parent_id)
            self._view_users[view["id"]] = user_id
            self._open_modals.setdefault(user_id, []).append(view["id"])
            self.notify("view", user=user_id, view_id=view["id"])
            return view

    def set_view_state(self, view_id: str, values: dict[str, Any]) -> None:
        """What the person typed in a modal so far (sent with its next interaction)."""
        with self._lock:
            if view_id in self._views:
                self._views[view_id]["state"] = {"values": copy.deepcopy(values)}

    def respond(self, channel: str, user: str, params: dict[str, Any]) -> bool:
        """What Slack does with the body of an app's answer to a slash command: its text
        or blocks shown to the user (``in_channel``: to everyone). False: nothing shown."""
        with self._lock:
            ctx = _ResponseUrl(self._canonical_channel(channel), user, None)
            answer = self._apply_response_url(ctx, _decode_params(params))
            return answer.status == 200

    def users(self) -> list[dict[str, Any]]:
        """Everyone ``users.info`` knows, the bot included."""
        with self._lock:
            return copy.deepcopy(list(self._users.values()))

    def channels(self) -> list[dict[str, Any]]:
        """The channels seeded with ``add_channel``, with the members given them."""
        with self._lock:
            return [{"id": c.id, "name": c.name, "is_private": c.is_private,
                     "is_member": c.is_member, "members": list(self._members.get(c.id, []))}
                    for c in self._channels.values()]

    def file(self, file_id: str) -> UploadedFile | None:
        with self._lock:
            found = self._files.get(file_id)
            return copy.deepcopy(found) if found is not None else None

    def snapshot(self) -> dict[str, Any]:
        """What the workspace shows (messages, ephemerals, views and the modals open on
        each screen, files, DMs), as JSON: the sandbox keeps it across restarts, as Slack
        would."""
        return dict(json.loads(self.dump()))

    def dump(self) -> str:
        """`snapshot` as JSON text. Channels are serialized a few dozen messages at a
        time, each chunk under the lock, the rest of the workspace at the end.

        Why: copying (or serializing) a 1,000-card workspace in one go held the lock, and
        every request waiting on it, for hundreds of milliseconds every save. Each message
        is saved as it was at one moment; one changed meanwhile is saved again next time
        (the change moved the cursor the save loop watches)."""
        with self._lock:
            channels = list(self._messages)
        saved_channels = []
        for channel in channels:
            chunks: list[str] = []
            after: tuple[int, int] | None = None
            while True:
                with self._lock:
                    msgs = self._messages.get(channel, [])
                    first = 0 if after is None else bisect.bisect_right(
                        msgs, after, key=lambda m: _ts_key(m["ts"]))
                    chunk = msgs[first:first + _DUMP_CHUNK]
                    if not chunk:
                        break
                    chunks.append(json.dumps(chunk, ensure_ascii=False)[1:-1])
                    after = _ts_key(chunk[-1]["ts"])
            saved_channels.append(f"{json.dumps(channel)}: [{','.join(c for c in chunks if c)}]")
        with self._lock:
            serial = next(self._ids)
            self._ids = itertools.count(serial)
            files = {}
            for file_id, stored in self._files.items():
                item = dataclasses.asdict(stored)
                item["content"] = base64.b64encode(stored.content).decode()
                files[file_id] = item
            rest = json.dumps({
                "version": 1, "serial": serial, "last_us": self._last_us,
                "ephemerals": self._ephemerals,
                "views": self._views, "view_users": self._view_users, "home": self._home,
                "open_modals": self._open_modals,
                "files": files, "dms": self._dms, "dm_users": self._dm_users},
                ensure_ascii=False)
        return f'{rest[:-1]}, "messages": {{{", ".join(saved_channels)}}}}}'

    def restore(self, saved: Mapping[str, Any]) -> None:
        """Show again what `snapshot` saved, modals still open where they were (a
        snapshot from before modals were kept opens none)."""
        with self._lock:
            self._ids = itertools.count(int(saved["serial"]))
            self._last_us = max(self._last_us, int(saved["last_us"]))
            self._messages = copy.deepcopy(dict(saved["messages"]))
            self._ephemerals = copy.deepcopy(dict(saved["ephemerals"]))
            self._views = copy.deepcopy(dict(saved["views"]))
            self._view_users = dict(saved["view_users"])
            self._home = dict(saved["home"])
            self._open_modals = {
                str(user): [str(v) for v in stack if v in self._views]
                for user, stack in dict(saved.get("open_modals") or {}).items()}
            self._dms = dict(saved["dms"])
            self._dm_users = {k: list(v) for k, v in saved["dm_users"].items()}
            self._files = {}
            for file_id, item in saved["files"].items():
                content = base64.b64decode(item.pop("content"))
                self._files[file_id] = UploadedFile(**item, content=content)
            self.notify("restored")

    def reset(self, *, directory: bool = False) -> None:
        """Forget calls, messages, views, files and faults (``directory=True``: seeds too)."""
        with self._lock:
            self._init_state()
            if directory:
                bot = self._users.get(self.bot_user_id)
                self._users = {self.bot_user_id: bot} if bot else {}
                self._channels = {}
                self._usergroups = {}
                self._members = {}

    # ================================================================= internals

    def _next_ts(self) -> str:
        us = max(int(time.time() * 1_000_000), self._last_us + 1)
        self._last_us = us
        return f"{us // 1_000_000}.{us % 1_000_000:06d}"

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):08d}"

    def _record(
        self, method: str, params: dict[str, Any], token: str | None, at: float, answer: _Answer
    ) -> _Answer:
        error: str | None = None
        if answer.content_type.startswith("application/json"):
            try:
                body = json.loads(answer.body)
                if isinstance(body, dict) and not body.get("ok", True):
                    error = str(body.get("error"))
            except json.JSONDecodeError:
                pass
        if answer.status == 429:
            self._ratelimited += 1
        self._calls.append(Call(method, copy.deepcopy(params), token, at, answer.status, error))
        return answer

    def _headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = {"x-oauth-scopes": self.scopes}
        headers.update(extra or {})
        return headers

    # ---------------------------------------------------------------- HTTP entry points

    def _http_api(
        self, method: str, raw: bytes, content_type: str, query: str, authorization: str | None
    ) -> _Answer:
        at = time.monotonic()
        query_params = parse_qs(query, keep_blank_values=True)
        params: dict[str, Any] = {k: v[0] for k, v in query_params.items()}
        body_token: str | None = None
        ctype = content_type.split(";")[0].strip().lower()
        try:
            if ctype == "application/json":
                loaded = json.loads(raw or b"{}")
                if not isinstance(loaded, dict):
                    raise ValueError("JSON body must be an object")
                params.update(loaded)
                params.pop("token", None)  # Slack ignores tokens inside JSON bodies
            elif ctype == "multipart/form-data":
                params.update(self._parse_multipart(raw, content_type))
                body_token = params.pop("token", None)
            elif raw:
                form = parse_qs(raw.decode("utf-8"), keep_blank_values=True)
                params.update({k: v[0] for k, v in form.items()})
                body_token = params.pop("token", None)
            else:
                body_token = params.pop("token", None)
        except (ValueError, UnicodeDecodeError):
            with self._lock:
                answer = _json_answer(200, {"ok": False, "error": "invalid_json"})
                return self._record(method, params, None, at, answer)
        params = _decode_params(params)
        token: str | None = None
        if authorization and authorization.lower().startswith("bearer "):
            token = authorization[7:].strip()
        elif body_token:
            token = str(body_token)
        return self._handle(method, params, token, at)

    @staticmethod
    def _parse_multipart(raw: bytes, content_type: str) -> dict[str, Any]:
        head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
        message = BytesParser(policy=HTTP).parsebytes(head + raw)
        out: dict[str, Any] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not isinstance(name, str):
                continue
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
            out[name] = data if part.get_filename() else data.decode("utf-8", "replace")
        return out

    def _handle(self, method: str, params: dict[str, Any], token: str | None, at: float) -> _Answer:
        with self._lock:
            if self._down:
                answer = _json_answer(503, {"ok": False, "error": "service_unavailable"})
                return self._record(method, params, token, at, answer)
            fault = self._take_fault(method, params.get("channel")) or self._chaos_fault(method)
            if fault is not None and fault.kind == "fail":
                return self._record(method, params, token, at, self._fault_answer(fault))
            if fault is not None and not fault.then_apply:
                answer = _json_answer(200, {"ok": False, "error": "request_timeout"})
                answer.delay = fault.seconds
                answer.reset = fault.reset
                return self._record(method, params, token, at, answer)
            answer = self._process(method, params, token)
            if fault is not None and fault.kind == "fail_after":
                return self._record(method, params, token, at, self._fault_answer(fault))
            self._record(method, params, token, at, answer)
            if fault is not None:
                answer.delay = fault.seconds
                answer.reset = fault.reset
            return answer

    def _chaos_fault(self, method: str) -> _Fault | None:
        """A fault drawn by `chaos` for this call, or None (call with the lock held)."""
        chaos = self._chaos
        if chaos is None or (chaos.methods is not None and method not in chaos.methods):
            return None
        if chaos.rng.random() >= chaos.rate:
            return None
        kind = chaos.rng.choice(chaos.kinds)
        self._chaos_played[kind] = self._chaos_played.get(kind, 0) + 1
        if kind == "ratelimited":
            return _Fault("fail", 1, status=429, retry_after=1)
        if kind == "server_error":
            return _Fault("fail", 1, status=chaos.rng.choice((500, 503)))
        if kind == "server_error_after":
            return _Fault("fail_after", 1, status=chaos.rng.choice((500, 502, 504)))
        if kind == "hang_after":
            return _Fault("hang", 1, seconds=chaos.hang_seconds)
        if kind == "slow":
            return _Fault("hang", 1, seconds=chaos.slow_seconds)
        return _Fault("hang", 1, then_apply=kind == "reset_after", reset=True)

    def _take_fault(self, method: str, channel: object = None) -> _Fault | None:
        for key in (method, "*"):
            queue = self._faults.get(key)
            for fault in queue or ():
                if fault.channel is not None and fault.channel != channel:
                    continue
                fault.remaining -= 1
                if fault.remaining <= 0:
                    queue.remove(fault)  # type: ignore[union-attr]
                return fault
        return None

    def _fault_answer(self, fault: _Fault) -> _Answer:
        if fault.status == 429:
            return _json_answer(
                429,
                {"ok": False, "error": "ratelimited"},
                self._headers({"Retry-After": str(fault.retry_after)}),
            )
        if fault.status >= 500:
            error = fault.error or ("fatal_error" if fault.status == 500 else "service_unavailable")
            return _json_answer(fault.status, {"ok": False, "error": error})
        return _json_answer(
            fault.status, {"ok": False, "error": fault.error or "fatal_error"}, self._headers()
        )

    def _process(self, method: str, params: dict[str, Any], token: str | None) -> _Answer:
        impl = self._methods.get(method)
        if impl is None:
            return _json_answer(200, {"ok": False, "error": "unknown_method"}, self._headers())
        if method not in _NO_AUTH_METHODS:
            if not token:
                return _json_answer(200, {"ok": False, "error": "not_authed"})
            if token not in self.tokens:
                return _json_answer(200, {"ok": False, "error": "invalid_auth"})
        try:
            result = impl(params)
        except _ApiError as err:
            return _json_answer(err.status, err.body(), self._headers(err.headers))
        return _json_answer(200, {"ok": True, **result}, self._headers())

    def _http_extra(self, method: str, path: str, query: str, raw: bytes,
                    headers: Mapping[str, str]) -> _Answer:
        """Anything but the Web API: the sandbox's routes when it set them, else 404."""
        found = None
        if self.extra_routes is not None:
            found = self.extra_routes(method, path, query, raw, headers)
        if found is None:
            return _Answer(404, b"not found", "text/plain")
        status, body, content_type, extra = found
        return _Answer(status, body, content_type, dict(extra))

    def _http_upload(self, key: str, raw: bytes) -> _Answer:
        with self._lock:
            file_id = self._upload_keys.get(key)
            if file_id is None:
                return _Answer(404, b"not found", "text/plain")
            stored = self._files[file_id]
            stored.content = raw
            stored.uploaded = True
            return _Answer(200, f"OK - {len(raw)}".encode(), "text/plain")

    def _http_response_url(self, key: str, raw: bytes) -> _Answer:
        at = time.monotonic()
        with self._lock:
            ctx = self._response_urls.get(key)
            try:
                loaded = json.loads(raw or b"{}")
                params: dict[str, Any] = loaded if isinstance(loaded, dict) else {}
            except json.JSONDecodeError:
                params = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
                if "payload" in params:
                    params = json.loads(params["payload"])
            params = _decode_params(params)
            if ctx is None:
                return self._record(
                    "response_url", params, None, at, _Answer(404, b"no_service", "text/plain")
                )
            ctx.uses += 1
            if ctx.uses > 5:
                return self._record(
                    "response_url", params, None, at, _Answer(404, b"used_url", "text/plain")
                )
            answer = self._apply_response_url(ctx, params)
            return self._record("response_url", params, None, at, answer)

    def _apply_response_url(self, ctx: _ResponseUrl, params: dict[str, Any]) -> _Answer:
        text, blocks = params.get("text"), params.get("blocks")
        if blocks is not None:
            errors = validate_blocks(blocks, max_blocks=_MESSAGE_MAX_BLOCKS)
            if errors:
                return _Answer(400, b"invalid_blocks", "text/plain")
        channel = ctx.channel_id
        if channel is None:
            return _Answer(404, b"channel_not_found", "text/plain")
        if _flag(params.get("delete_original", False)):
            if ctx.message_ts and self._find(channel, ctx.message_ts):
                self._remove(channel, ctx.message_ts)
            return _json_answer(200, {"ok": True})
        if not text and not blocks and not params.get("attachments"):
            return _Answer(400, b"no_text", "text/plain")
        if _flag(params.get("replace_original", False)) and ctx.message_ts:
            original = self._find(channel, ctx.message_ts)
            if original is None:
                return _Answer(404, b"message_not_found", "text/plain")
            self._apply_update(channel, original, params)
            return _json_answer(200, {"ok": True})
        if params.get("response_type") == "in_channel":
            ts = self._next_ts()
            self._store_bot_message(channel, params, ts)
        else:
            ephemeral = self._ephemeral(channel, ctx.user_id or "", params, self._next_ts())
            self._ephemerals.setdefault(channel, []).append(ephemeral)
            self.notify("ephemeral", channel=channel, ts=ephemeral["ts"], user=ctx.user_id)
        return _json_answer(200, {"ok": True})

    # ---------------------------------------------------------------- storage helpers

    def _canonical_channel(self, channel: str) -> str:
        if channel and channel[0] in "UW":
            return self._dm_for([channel])
        if channel.startswith("#"):
            for ch in self._channels.values():
                if ch.name == channel[1:]:
                    return ch.id
        return channel

    def _dm_for(self, users: Sequence[str]) -> str:
        key = ",".join(sorted(users))
        if key not in self._dms:
            dm = self._new_id("D" if len(users) == 1 else "G")
            self._dms[key] = dm
            self._dm_users[dm] = list(users)
        return self._dms[key]

    def _resolve_channel(self, raw: Any, *, allow_user: bool = False, posting: bool = False,
                         reading: bool = False, public_post: bool = False) -> str:
        """A channel id, refused as Slack refuses it for a bot that is not a member:
        posting needs membership, except `chat.postMessage` into a public channel with
        `chat:write.public`; reading a channel's history or threads always needs it
        (`not_in_channel`, or `channel_not_found` for a private channel)."""
        if raw is None or raw == "":
            raise _ApiError("channel_not_found")
        channel = str(raw)
        if channel.startswith("#"):
            resolved = self._canonical_channel(channel)
            if resolved == channel:
                raise _ApiError("channel_not_found")
            channel = resolved
        elif channel[0] in "UW":
            if not allow_user:
                raise _ApiError("channel_not_found")
            self._require_user(channel)
            return self._dm_for([channel])
        known = self._channels.get(channel)
        if known is not None:
            if (posting or reading) and not known.is_member:
                if known.is_private:
                    raise _ApiError("channel_not_found")
                if not (public_post and "chat:write.public" in self.scopes.split(",")):
                    raise _ApiError("not_in_channel")
            return channel
        if channel in self._dm_users:
            return channel
        if self.accept_any_channel and re.fullmatch(r"[CGD][A-Z0-9]+", channel):
            return channel
        raise _ApiError("channel_not_found")

    def _require_user(self, user_id: str) -> dict[str, Any]:
        user = self._users.get(user_id)
        if user is None:
            if not self.accept_any_user or not re.fullmatch(r"[UW][A-Z0-9]+", user_id):
                raise _ApiError("user_not_found")
            name = user_id.lower()
            self.add_user(user_id, name, real_name=f"User {user_id}")
            user = self._users[user_id]
        return user

    def _insert(self, channel: str, msg: dict[str, Any]) -> None:
        msgs = self._messages.setdefault(channel, [])
        msgs.append(msg)
        msgs.sort(key=lambda m: _ts_key(m["ts"]))
        thread_ts = msg.get("thread_ts")
        self.notify("message", channel=channel, ts=msg["ts"],
                    thread_ts=thread_ts if thread_ts != msg["ts"] else None)

    def _find(self, channel: str, ts: str) -> dict[str, Any] | None:
        for msg in self._messages.get(channel, []):
            if msg["ts"] == ts:
                return msg
        return None

    def _remove(self, channel: str, ts: str) -> None:
        self._messages[channel] = [m for m in self._messages.get(channel, []) if m["ts"] != ts]
        self.notify("delete", channel=channel, ts=ts)

    def _parent_user(self, channel: str, thread_ts: str) -> str | None:
        parent = self._find(channel, thread_ts)
        return parent.get("user") if parent else None

    def _bump_thread(self, channel: str, thread_ts: str, reply_ts: str, user: str) -> None:
        parent = self._find(channel, thread_ts)
        if parent is None:
            return
        parent["thread_ts"] = thread_ts
        parent["reply_count"] = int(parent.get("reply_count", 0)) + 1
        users = list(parent.get("reply_users", []))
        if user not in users:
            users.append(user)
        parent["reply_users"] = users
        parent["reply_users_count"] = len(users)
        parent["latest_reply"] = reply_ts

    def _take_rate_token(self, channel: str) -> None:
        if self.channel_rate_limit is None:
            return
        count, per = self.channel_rate_limit
        rate = count / per
        capacity = float(max(count, self.channel_burst))
        now = time.monotonic()
        bucket = self._buckets.setdefault(channel, _Bucket(capacity, now))
        bucket.tokens = min(capacity, bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        if bucket.tokens < 1.0:
            self._ratelimited_in[channel] = self._ratelimited_in.get(channel, 0) + 1
            retry_after = max(1, math.ceil((1.0 - bucket.tokens) / rate))
            raise _ApiError("ratelimited", status=429, headers={"Retry-After": str(retry_after)})
        bucket.tokens -= 1.0

    # ---------------------------------------------------------------- message validation

    def _message_content(self, params: dict[str, Any]) -> None:
        """Apply Slack's acceptance rules for text/blocks/attachments/metadata."""
        text = params.get("text")
        blocks = params.get("blocks")
        attachments = params.get("attachments")
        if blocks is not None and not isinstance(blocks, list):
            raise _ApiError("invalid_blocks_format")
        if attachments is not None and not isinstance(attachments, list):
            raise _ApiError("invalid_attachments")
        if not text and not blocks and not attachments:
            raise _ApiError("no_text")
        if isinstance(text, str) and len(text) > _TEXT_MAX:
            raise _ApiError("msg_too_long")
        if blocks:
            errors = validate_blocks(blocks, max_blocks=_MESSAGE_MAX_BLOCKS)
            if errors:
                raise _ApiError(
                    "invalid_blocks",
                    messages=[f"[ERROR] {e}" for e in errors],
                    extra={"errors": errors},
                )
        metadata = params.get("metadata")
        if metadata not in (None, "") and (
            not isinstance(metadata, dict)
            or not isinstance(metadata.get("event_type"), str)
            or not isinstance(metadata.get("event_payload", {}), dict)
        ):
            raise _ApiError("invalid_metadata_format")

    def _bot_message(self, params: dict[str, Any], ts: str) -> dict[str, Any]:
        blocks = params.get("blocks")
        text = params.get("text") or ("" if not blocks else _BLOCKS_ONLY_TEXT)
        msg: dict[str, Any] = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "text": text,
            "ts": ts,
            "team": self.team_id,
            "bot_profile": {
                "id": self.bot_id,
                "app_id": self.app_id,
                "name": self.bot_name,
                "team_id": self.team_id,
                "deleted": False,
            },
        }
        if blocks:
            msg["blocks"] = _fill_ids(blocks)
        if params.get("attachments"):
            msg["attachments"] = copy.deepcopy(params["attachments"])
        if isinstance(params.get("metadata"), dict):
            meta = params["metadata"]
            msg["metadata"] = {
                "event_type": meta["event_type"],
                "event_payload": copy.deepcopy(meta.get("event_payload", {})),
            }
        return msg

    def _store_bot_message(self, channel: str, params: dict[str, Any], ts: str) -> dict[str, Any]:
        msg = self._bot_message(params, ts)
        thread_ts = params.get("thread_ts")
        if thread_ts:
            msg["thread_ts"] = str(thread_ts)
            msg["parent_user_id"] = self._parent_user(channel, str(thread_ts))
            if _flag(params.get("reply_broadcast", False)):
                msg["subtype"] = "thread_broadcast"
            self._bump_thread(channel, str(thread_ts), ts, self.bot_user_id)
        self._insert(channel, msg)
        return msg

    def _apply_update(self, channel: str, msg: dict[str, Any], params: dict[str, Any]) -> None:
        if "blocks" in params and params["blocks"] is not None:
            if params["blocks"]:
                msg["blocks"] = _fill_ids(params["blocks"])
            else:
                msg.pop("blocks", None)
        if "attachments" in params and params["attachments"] is not None:
            if params["attachments"]:
                msg["attachments"] = copy.deepcopy(params["attachments"])
            else:
                msg.pop("attachments", None)
        if params.get("text"):
            msg["text"] = params["text"]
        elif "blocks" in params and params["blocks"]:
            msg["text"] = _BLOCKS_ONLY_TEXT
        if isinstance(params.get("metadata"), dict):
            meta = params["metadata"]
            msg["metadata"] = {
                "event_type": meta["event_type"],
                "event_payload": copy.deepcopy(meta.get("event_payload", {})),
            }
        msg["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        self.notify("update", channel=channel, ts=msg["ts"], thread_ts=msg.get("thread_ts"))

    def _ephemeral(
        self, channel: str, user: str, params: dict[str, Any], ts: str
    ) -> dict[str, Any]:
        msg = self._bot_message(params, ts)
        msg.pop("metadata", None)
        msg["user"] = user
        msg["channel"] = channel
        msg["subtype"] = "ephemeral"
        if params.get("thread_ts"):
            msg["thread_ts"] = str(params["thread_ts"])
        return msg

    @staticmethod
    def _public(msg: dict[str, Any], *, with_metadata: bool) -> dict[str, Any]:
        out = copy.deepcopy(msg)
        if not with_metadata:
            out.pop("metadata", None)
        return out

    # ---------------------------------------------------------------- methods: auth & chat

    def _api_test(self, params: dict[str, Any]) -> dict[str, Any]:
        if "error" in params:
            raise _ApiError(str(params["error"]), extra={"args": params})
        return {"args": params} if params else {}

    def _apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        """Socket Mode: the WebSocket URL for an app-level token (see socket_mode_url)."""
        if self.socket_mode_url is None:
            raise _ApiError("not_allowed_token_type")
        return {"url": self.socket_mode_url}

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": self.workspace_url,
            "team": self.team_name,
            "user": self.bot_name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(params.get("channel"), allow_user=True, posting=True,
                                        public_post=True)
        self._message_content(params)
        self._take_rate_token(channel)
        ts = self._next_ts()
        msg = self._store_bot_message(channel, params, ts)
        return {"channel": channel, "ts": ts, "message": self._public(msg, with_metadata=True)}

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(params.get("channel"))
        ts = str(params.get("ts") or "")
        msg = self._find(channel, ts)
        if msg is None:
            raise _ApiError("message_not_found")
        if msg.get("user") != self.bot_user_id:
            raise _ApiError("cant_update_message")
        self._message_content(params)
        self._apply_update(channel, msg, params)
        return {
            "channel": channel,
            "ts": ts,
            "text": msg["text"],
            "message": self._public(msg, with_metadata=True),
        }

    def _chat_post_ephemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(params.get("channel"), posting=True)
        user = str(params.get("user") or "")
        if not user:
            raise _ApiError("user_not_found")
        self._require_user(user)
        self._message_content(params)
        ts = self._next_ts()
        self._ephemerals.setdefault(channel, []).append(self._ephemeral(channel, user, params, ts))
        self.notify("ephemeral", channel=channel, ts=ts, user=user)
        return {"message_ts": ts}

    def _chat_delete(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(params.get("channel"))
        ts = str(params.get("ts") or "")
        msg = self._find(channel, ts)
        if msg is None:
            raise _ApiError("message_not_found")
        if msg.get("user") != self.bot_user_id:
            raise _ApiError("cant_delete_message")
        self._remove(channel, ts)
        return {"channel": channel, "ts": ts}

    def _chat_get_permalink(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(params.get("channel"))
        ts = str(params.get("message_ts") or "")
        msg = self._find(channel, ts)
        if msg is None:
            raise _ApiError("message_not_found")
        link = f"{self.workspace_url}archives/{channel}/p{ts.replace('.', '')}"
        thread_ts = msg.get("thread_ts")
        if thread_ts and thread_ts != ts:
            link += f"?thread_ts={thread_ts}&cid={channel}"
        return {"channel": channel, "permalink": link}

    # ---------------------------------------------------------------- methods: conversations

    def _conversations_history(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(params.get("channel"), reading=True)
        with_meta = _flag(params.get("include_all_metadata", False))
        inclusive = _flag(params.get("inclusive", False))
        oldest = str(params.get("oldest") or "0")
        latest = params.get("latest")
        limit = max(1, min(_int(params.get("limit"), 100), 999))
        offset = 0
        cursor = params.get("cursor")
        if cursor:
            match = re.fullmatch(r"offset:(\d+)", str(cursor))
            if match is None:
                raise _ApiError("invalid_cursor")
            offset = int(match.group(1))

        def keep(msg: dict[str, Any]) -> bool:
            if msg.get("thread_ts", msg["ts"]) != msg["ts"] and msg.get("subtype") != (
                "thread_broadcast"
            ):
                return False
            key = _ts_key(msg["ts"])
            low = _ts_key(oldest)
            if key < low or (key == low and not inclusive):
                return False
            if latest:
                high = _ts_key(str(latest))
                if key > high or (key == high and not inclusive):
                    return False
            return True

        selected = [m for m in reversed(self._messages.get(channel, [])) if keep(m)]
        page = selected[offset : offset + limit]
        has_more = len(selected) > offset + limit
        return {
            "messages": [self._public(m, with_metadata=with_meta) for m in page],
            "has_more": has_more,
            "pin_count": 0,
            "channel_actions_ts": None,
            "channel_actions_count": 0,
            "response_metadata": {"next_cursor": f"offset:{offset + limit}" if has_more else ""},
        }

    def _conversations_replies(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(params.get("channel"), reading=True)
        ts = str(params.get("ts") or "")
        parent = self._find(channel, ts)
        if parent is None:
            raise _ApiError("thread_not_found")
        with_meta = _flag(params.get("include_all_metadata", False))
        thread = [
            m for m in self._messages.get(channel, []) if m["ts"] == ts or m.get("thread_ts") == ts
        ]
        limit = max(1, min(_int(params.get("limit"), 1000), 1000))
        return {
            "messages": [self._public(m, with_metadata=with_meta) for m in thread[:limit]],
            "has_more": len(thread) > limit,
            "response_metadata": {"next_cursor": ""},
        }

    def _conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        raw_users = params.get("users")
        if not raw_users:
            if params.get("channel"):
                channel = self._resolve_channel(params["channel"])
                return {"channel": {"id": channel}, "no_op": True, "already_open": True}
            raise _ApiError("users_list_not_supplied")
        users = [u.strip() for u in str(raw_users).split(",") if u.strip()]
        if len(users) > 8:
            raise _ApiError("too_many_users")
        for user in users:
            self._require_user(user)
        existed = ",".join(sorted(users)) in self._dms
        channel_id = self._dm_for(users)
        result: dict[str, Any] = {"channel": {"id": channel_id}}
        if existed:
            result.update({"no_op": True, "already_open": True})
        if _flag(params.get("return_im", False)):
            result["channel"] = self._channel_object(channel_id, include_locale=False)
        return result

    def _channel_object(self, channel: str, *, include_locale: bool) -> dict[str, Any]:
        if channel in self._dm_users or channel.startswith("D"):
            users = self._dm_users.get(channel, [])
            obj: dict[str, Any] = {
                "id": channel,
                "created": int(time.time()),
                "is_im": channel.startswith("D"),
                "is_mpim": channel.startswith("G"),
                "is_org_shared": False,
                "is_archived": False,
                "is_open": True,
            }
            if channel.startswith("D"):
                obj["user"] = users[0] if users else None
                obj["is_user_deleted"] = False
            return obj
        known = self._channels.get(channel)
        name = known.name if known else channel.lower()
        obj = {
            "id": channel,
            "name": name,
            "name_normalized": name,
            "is_channel": not (known.is_private if known else False),
            "is_group": False,
            "is_im": False,
            "is_mpim": False,
            "is_private": known.is_private if known else False,
            "created": known.created if known else int(time.time()),
            "is_archived": False,
            "is_general": name == "general",
            "is_shared": False,
            "is_ext_shared": False,
            "is_org_shared": False,
            "is_member": known.is_member if known else True,
            "creator": "U00000000",
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
        }
        if include_locale:
            obj["locale"] = "fr-FR"
        return obj

    def _conversations_members(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(params.get("channel"))
        members = self._members.get(channel, [])
        limit = max(1, min(_int(params.get("limit"), 100), 1000))
        offset = 0
        if params.get("cursor"):
            match = re.fullmatch(r"offset:(\d+)", str(params["cursor"]))
            if match is None:
                raise _ApiError("invalid_cursor")
            offset = int(match.group(1))
        more = len(members) > offset + limit
        return {
            "members": members[offset : offset + limit],
            "response_metadata": {"next_cursor": f"offset:{offset + limit}" if more else ""},
        }

    def _conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(params.get("channel"))
        known = self._channels.get(channel)
        if known is not None and known.is_private and not known.is_member:
            raise _ApiError("channel_not_found")  # a private channel is unseen from outside
        return {
            "channel": self._channel_object(
                channel, include_locale=_flag(params.get("include_locale", False))
            )
        }

    # ---------------------------------------------------------------- methods: views

    def _use_trigger(self, params: dict[str, Any], *, consume: bool) -> _Trigger:
        trigger_id = params.get("trigger_id") or params.get("interactivity_pointer")
        if not trigger_id:
            raise _ApiError(
                "invalid_arguments", messages=["[ERROR] missing required field: trigger_id"]
            )
        trigger = self._triggers.get(str(trigger_id))
        if trigger is None:
            raise _ApiError("invalid_trigger_id")
        if trigger.used:
            raise _ApiError("exchanged_trigger_id")
        if time.monotonic() - trigger.created > self.trigger_ttl:
            raise _ApiError("expired_trigger_id")
        if consume:
            trigger.used = True
        return trigger

    def _validate_view(self, view: Any, *, expected: str | None = None) -> dict[str, Any]:
        """Slack answers ``invalid_arguments`` (not ``invalid_blocks``) for views."""
        if not isinstance(view, dict):
            raise _ApiError("invalid_arguments", messages=["[ERROR] missing required field: view"])
        errors: list[str] = []
        kind = view.get("type")
        if kind not in ("modal", "home") or (expected is not None and kind != expected):
            errors.append("must be a valid view type [json-pointer:/view/type]")
        if kind == "modal":
            _check_text_object(
                view.get("title"), "/view/title", errors, max_len=24, plain_only=True
            )
            for key in ("submit", "close"):
                if view.get(key) is not None:
                    _check_text_object(
                        view[key], f"/view/{key}", errors, max_len=24, plain_only=True
                    )
            blocks = view.get("blocks")
            has_input = isinstance(blocks, list) and any(
                isinstance(b, dict) and b.get("type") == "input" for b in blocks
            )
            if has_input and view.get("submit") is None:
                errors.append(
                    "must provide submit when input blocks are present [json-pointer:/view/submit]"
                )
        if "blocks" not in view:
            errors.append("missing required field: blocks [json-pointer:/view/blocks]")
        else:
            errors.extend(
                validate_blocks(view["blocks"], pointer="/view/blocks", max_blocks=_VIEW_MAX_BLOCKS)
            )
        private_metadata = view.get("private_metadata")
        if isinstance(private_metadata, str) and len(private_metadata) > 3000:
            errors.append("must be less than 3001 characters [json-pointer:/view/private_metadata]")
        callback_id = view.get("callback_id")
        if isinstance(callback_id, str) and len(callback_id) > 255:
            errors.append("must be less than 256 characters [json-pointer:/view/callback_id]")
        if errors:
            raise _ApiError("invalid_arguments", messages=[f"[ERROR] {e}" for e in errors])
        return view

    def _check_external_id(self, view: dict[str, Any], *, own_id: str | None = None) -> None:
        external = view.get("external_id")
        if not external:
            return
        for vid, existing in self._views.items():
            if vid != own_id and existing.get("external_id") == external:
                raise _ApiError("duplicate_external_id")

    def _make_view(
        self,
        spec: dict[str, Any],
        *,
        view_id: str | None = None,
        root_view_id: str | None = None,
        previous_view_id: str | None = None,
    ) -> dict[str, Any]:
        vid = view_id or self._new_id("V")
        view: dict[str, Any] = {
            "id": vid,
            "team_id": self.team_id,
            "type": spec["type"],
            "blocks": _fill_ids(spec.get("blocks", [])),
            "private_metadata": spec.get("private_metadata", ""),
            "callback_id": spec.get("callback_id", ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
            "title": copy.deepcopy(spec.get("title")),
            "clear_on_close": bool(spec.get("clear_on_close", False)),
            "notify_on_close": bool(spec.get("notify_on_close", False)),
            "close": copy.deepcopy(spec.get("close")),
            "submit": copy.deepcopy(spec.get("submit")),
            "previous_view_id": previous_view_id,
            "root_view_id": root_view_id or vid,
            "app_id": self.app_id,
            "external_id": spec.get("external_id", ""),
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }
        self._views[vid] = view
        return copy.deepcopy(view)

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        trigger = self._use_trigger(params, consume=False)
        spec = self._validate_view(params.get("view"), expected="modal")
        self._check_external_id(spec)
        self._use_trigger(params, consume=True)
        view = self._make_view(spec)
        self._view_users[view["id"]] = trigger.user_id
        if trigger.user_id:
            self._open_modals[trigger.user_id] = [view["id"]]
            self.notify("view", user=trigger.user_id, view_id=view["id"])
        return {"view": view}

    def _views_push(self, params: dict[str, Any]) -> dict[str, Any]:
        trigger = self._use_trigger(params, consume=False)
        spec = self._validate_view(params.get("view"), expected="modal")
        self._check_external_id(spec)
        parent = self._views.get(trigger.view_id) if trigger.view_id else None
        depth = 1
        cursor = parent
        while cursor is not None and cursor.get("previous_view_id"):
            depth += 1
            cursor = self._views.get(cursor["previous_view_id"])
        if parent is not None and depth >= 3:
            raise _ApiError("push_limit_reached")
        self._use_trigger(params, consume=True)
        view = self._make_view(
            spec,
            root_view_id=parent["root_view_id"] if parent else None,
            previous_view_id=parent["id"] if parent else None,
        )
        self._view_users[view["id"]] = trigger.user_id
        if trigger.user_id:
            self._open_modals.setdefault(trigger.user_id, []).append(view["id"])
            self.notify("view", user=trigger.user_id, view_id=view["id"])
        return {"view": view}

    def _views_update(self, params: dict[str, Any]) -> dict[str, Any]:
        view_id, external_id = params.get("view_id"), params.get("external_id")
        if not view_id and not external_id:
            raise _ApiError(
                "invalid_arguments", messages=["[ERROR] must provide view_id or external_id"]
            )
        current: dict[str, Any] | None = None
        if view_id:
            current = self._views.get(str(view_id))
        else:
            current = next(
                (v for v in self._views.values() if v.get("external_id") == external_id), None
            )
        if current is None:
            raise _ApiError("not_found")
        if params.get("hash") and params["hash"] != current["hash"]:
            raise _ApiError("hash_conflict")
        spec = self._validate_view(params.get("view"), expected=current["type"])
        self._check_external_id(spec, own_id=current["id"])
        view = self._make_view(
            spec,
            view_id=current["id"],
            root_view_id=current["root_view_id"],
            previous_view_id=current["previous_view_id"],
        )
        owner = self._view_users.get(view["id"])
        self.notify("home" if view["type"] == "home" else "view", user=owner, view_id=view["id"])
        return {"view": view}

    def _views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        user_id = str(params.get("user_id") or "")
        if not user_id:
            message = "[ERROR] missing required field: user_id"
            raise _ApiError("invalid_arguments", messages=[message])
        self._require_user(user_id)
        spec = self._validate_view(params.get("view"), expected="home")
        current_id = self._home.get(user_id)
        if current_id and params.get("hash") and params["hash"] != self._views[current_id]["hash"]:
            raise _ApiError("hash_conflict")
        view = self._make_view(spec, view_id=current_id)
        self._home[user_id] = view["id"]
        self._view_users[view["id"]] = user_id
        self.notify("home", user=user_id, view_id=view["id"])
        return {"view": view}

    # ---------------------------------------------------------------- methods: misc

    def _reaction_target(self, params: dict[str, Any]) -> tuple[dict[str, Any], str]:
        channel = self._resolve_channel(params.get("channel"))
        name = str(params.get("name") or "").strip(":")
        if not name:
            raise _ApiError("invalid_name")
        msg = self._find(channel, str(params.get("timestamp") or ""))
        if msg is None:
            raise _ApiError("message_not_found")
        return msg, name

    def _reactions_add(self, params: dict[str, Any]) -> dict[str, Any]:
        msg, name = self._reaction_target(params)
        reactions: list[dict[str, Any]] = msg.setdefault("reactions", [])
        for reaction in reactions:
            if reaction["name"] == name:
                if self.bot_user_id in reaction["users"]:
                    raise _ApiError("already_reacted")
                reaction["users"].append(self.bot_user_id)
                reaction["count"] += 1
                self._reaction_changed(params, msg)
                return {}
        reactions.append({"name": name, "users": [self.bot_user_id], "count": 1})
        self._reaction_changed(params, msg)
        return {}

    def _reaction_changed(self, params: dict[str, Any], msg: dict[str, Any]) -> None:
        self.notify("reaction", channel=self._canonical_channel(str(params.get("channel"))),
                    ts=msg["ts"])

    def _reactions_remove(self, params: dict[str, Any]) -> dict[str, Any]:
        msg, name = self._reaction_target(params)
        for reaction in msg.get("reactions", []):
            if reaction["name"] == name and self.bot_user_id in reaction["users"]:
                reaction["users"].remove(self.bot_user_id)
                reaction["count"] -= 1
                msg["reactions"] = [r for r in msg["reactions"] if r["count"] > 0]
                if not msg["reactions"]:
                    msg.pop("reactions")
                self._reaction_changed(params, msg)
                return {}
        raise _ApiError("no_reaction")

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user_id = str(params.get("user") or "")
        if not user_id:
            raise _ApiError("user_not_found")
        user = copy.deepcopy(self._require_user(user_id))
        if not _flag(params.get("include_locale", False)):
            user.pop("locale", None)
        return {"user": user}

    def _usergroups_users_list(self, params: dict[str, Any]) -> dict[str, Any]:
        group = str(params.get("usergroup") or "")
        if group not in self._usergroups:
            raise _ApiError("no_such_subteam")
        return {"users": list(self._usergroups[group])}

    def _files_get_upload_url(self, params: dict[str, Any]) -> dict[str, Any]:
        filename = params.get("filename")
        length = params.get("length")
        if not filename or length in (None, ""):
            raise _ApiError(
                "invalid_arguments", messages=["[ERROR] missing required field: filename, length"]
            )
        file_id = self._new_id("F")
        key = secrets.token_urlsafe(16)
        self._files[file_id] = UploadedFile(file_id, str(filename), _int(length, 0))
        self._upload_keys[key] = file_id
        return {"upload_url": f"{self.url}upload/v1/{key}", "file_id": file_id}

    def _files_complete_upload(self, params: dict[str, Any]) -> dict[str, Any]:
        files = params.get("files")
        if not isinstance(files, list) or not files:
            raise _ApiError("invalid_arguments", messages=["[ERROR] missing required field: files"])
        channel: str | None = None
        if params.get("channel_id"):
            channel = self._resolve_channel(params["channel_id"], posting=True)
        elif params.get("channels"):
            channel = self._resolve_channel(str(params["channels"]).split(",")[0], posting=True)
        completed: list[UploadedFile] = []
        for item in files:
            stored = self._files.get(str(item.get("id"))) if isinstance(item, dict) else None
            if stored is None or not stored.uploaded:
                raise _ApiError("file_not_found")
            completed.append(stored)
        objects: list[dict[str, Any]] = []
        for item, stored in zip(files, completed, strict=True):
            stored.completed = True
            stored.title = str(item.get("title") or stored.filename)
            stored.channel = channel
            stored.initial_comment = params.get("initial_comment")
            stored.thread_ts = params.get("thread_ts")
            objects.append(
                {
                    "id": stored.id,
                    "created": int(time.time()),
                    "timestamp": int(time.time()),
                    "name": stored.filename,
                    "title": stored.title,
                    "mimetype": mimetypes.guess_type(stored.filename)[0] or "",
                    "filetype": stored.filename.rpartition(".")[2].lower(),
                    "user": self.bot_user_id,
                    "size": len(stored.content),
                    "is_public": channel is not None and channel.startswith("C"),
                    "permalink": f"{self.workspace_url}files/{self.bot_user_id}/{stored.id}",
                }
            )
        if channel is not None:
            msg_params: dict[str, Any] = {"text": params.get("initial_comment") or ""}
            if params.get("thread_ts"):
                msg_params["thread_ts"] = params["thread_ts"]
            msg = self._store_bot_message(channel, msg_params, self._next_ts())
            msg["files"] = copy.deepcopy(objects)
            msg["upload"] = True
        return {"files": objects}
