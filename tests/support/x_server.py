"""An X API v2 server on 127.0.0.1 for tests: Vigie's real X client (httpx, OAuth 1.0a)
is pointed at `FakeX.url` through `[x] api_url`.

Shapes as X documents them (https://docs.x.com/x-api): a list answer is `{"data": [...],
"includes": {"users": [...]}, "meta": {"result_count", "newest_id", "oldest_id",
"next_token"}}` (only `meta.result_count` when nothing matches), newest first;
`since_id`/`until_id` (exclusive), `start_time`, `max_results` (5–100, else 400 with the
invalid-request problem), `pagination_token`. Errors are problems: `{"title", "detail",
"type", "status"}` (401 Unauthorized, 403 Forbidden — duplicate content, hiding a reply
outside the account's conversations —, 404, 429 Too Many Requests). Every answer carries
`x-rate-limit-limit/-remaining/-reset` for its endpoint and token (15-minute windows);
a request over the limit gets 429 with them.

Requests are signed with OAuth 1.0a (HMAC-SHA1): the signature is checked here against
the app's consumer secret and the token's secret, as X does; a bad one is a 401.

Endpoints: GET /2/users/me; GET /2/users/:id/mentions; GET /2/users/:id/tweets; POST
/2/tweets (with `reply.in_reply_to_tweet_id`: X puts the author's @name in front of the
stored text); PUT /2/tweets/:id/hidden; POST /2/users/:id/muting and /blocking, DELETE
/2/users/:id/muting/:target and /blocking/:target.

`billed` counts what X would bill (posts and users returned, posts created, with or
without a link, interactions), without the daily deduplication: the bench's figures.
Faults: `fail_next` (an error status, or `created=True`: after carrying it out),
`hang_next` (carried out late; the client times out), `limit` (an endpoint's window).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from bot.sandbox.faults import Fault, play_before, take
from bot.sandbox.local_server import LocalServer, QuietHandler

__all__ = ["FakeX", "Request"]

WINDOW = 900  # seconds: X's rate-limit windows
DEFAULT_LIMITS = {"GET /2/users/:id/mentions": 450, "GET /2/users/:id/tweets": 900,
                  "POST /2/tweets": 100, "GET /2/users/me": 75}
_LINK = re.compile(r"https?://\S+")


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: dict[str, Any]
    user_id: str | None
    status: int


@dataclass
class _Window:
    limit: int
    remaining: int
    reset: int


@dataclass
class _State:
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    posts: dict[str, dict[str, Any]] = field(default_factory=dict)
    hidden: set[str] = field(default_factory=set)
    muting: dict[str, set[str]] = field(default_factory=dict)
    blocking: dict[str, set[str]] = field(default_factory=dict)


def _problem(status: int, title: str, detail: str, kind: str = "about:blank"
             ) -> dict[str, Any]:
    return {"title": title, "detail": detail, "type": kind, "status": status}


def _fault_problem(status: int) -> dict[str, Any]:
    """A played fault's body, titled as X titles that status."""
    title, detail = {401: ("Unauthorized", "Unauthorized"),
                     429: ("Too Many Requests", "Too Many Requests"),
                     503: ("Service Unavailable", "Service Unavailable")}.get(
        status, ("Internal Server Error", "Internal error"))
    return _problem(status, title, detail)


def _enc(value: str) -> str:
    return quote(value, safe="~-._")


class FakeX(LocalServer):
    """One developer app (`api_key`/`api_secret`) and an account per access token
    (`tokens` maps token → (token secret, username))."""

    def __init__(self, *, api_key: str = "app-key", api_secret: str = "app-secret",
                 tokens: dict[str, tuple[str, str]] | None = None) -> None:
        self.api_key, self.api_secret = api_key, api_secret
        self._lock = threading.RLock()
        self._ids = itertools.count(1_860_000_000_000_000_001)
        self._user_ids = itertools.count(4_400_000_001)
        self._state = _State()
        self._faults: list[Fault] = []
        self._windows: dict[tuple[str, str], _Window] = {}
        self.limits = dict(DEFAULT_LIMITS)
        self.tokens: dict[str, tuple[str, str]] = {}
        self.requests: list[Request] = []
        self.billed: Counter[str] = Counter()
        for token, (secret, username) in (tokens or {"tok-matinale": ("tok-secret",
                                                                        "matinale")}).items():
            self.add_token(token, secret, username)

    # -- seeding -----------------------------------------------------------------------------
    def add_token(self, token: str, secret: str, username: str) -> dict[str, Any]:
        user = self.user(username)
        with self._lock:
            self.tokens[token] = (secret, user["id"])
        return user

    def user(self, username: str) -> dict[str, Any]:
        """The account called `username`, made on first use."""
        with self._lock:
            for user in self._state.users.values():
                if user["username"] == username:
                    return user
            user = {"id": str(next(self._user_ids)), "username": username,
                    "name": username.capitalize()}
            self._state.users[user["id"]] = user
            return user

    def post(self, by: str, text: str, *, reply_to: dict[str, Any] | None = None,
             lang: str = "fr") -> dict[str, Any]:
        """A post by `by` (a reply when `reply_to` is given: X puts @name in front)."""
        author = self.user(by)
        with self._lock:
            post_id = str(next(self._ids))
            post: dict[str, Any] = {
                "id": post_id, "text": text, "author_id": author["id"], "lang": lang,
                "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "conversation_id": post_id, "edit_history_tweet_ids": [post_id]}
            if reply_to is not None:
                parent_author = self._state.users[reply_to["author_id"]]["username"]
                if not text.startswith(f"@{parent_author}"):
                    post["text"] = f"@{parent_author} {text}"
                post["conversation_id"] = reply_to["conversation_id"]
                post["in_reply_to_user_id"] = reply_to["author_id"]
                post["referenced_tweets"] = [{"type": "replied_to", "id": reply_to["id"]}]
            self._state.posts[post_id] = post
            return dict(post)

    def mention(self, account: str, *, by: str = "auditrice", text: str = "Bonjour",
                reply_to: dict[str, Any] | None = None) -> dict[str, Any]:
        """A post by `by` that names @`account`."""
        return self.post(by, f"@{account} {text}" if f"@{account}" not in text else text,
                         reply_to=reply_to)

    def posts_by(self, username: str) -> list[dict[str, Any]]:
        author = self.user(username)["id"]
        with self._lock:
            return [dict(p) for p in self._state.posts.values() if p["author_id"] == author]

    def hidden(self) -> set[str]:
        with self._lock:
            return set(self._state.hidden)

    def muted_by(self, username: str) -> set[str]:
        with self._lock:
            return set(self._state.muting.get(self.user(username)["id"], set()))

    def blocked_by(self, username: str) -> set[str]:
        with self._lock:
            return set(self._state.blocking.get(self.user(username)["id"], set()))

    def calls(self, method: str, prefix: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path.startswith(prefix)]

    # -- faults ------------------------------------------------------------------------------
    def fail_next(self, prefix: str, *, status: int = 500, times: int = 1,
                  created: bool = False) -> None:
        with self._lock:
            self._faults.append(Fault(prefix, status, times, created=created))

    def hang_next(self, prefix: str, seconds: float, *,
                  release: threading.Event | None = None, create: bool = True) -> None:
        with self._lock:
            self._faults.append(Fault(prefix, 504, 1, hang=seconds, release=release,
                                      create=create))

    def limit(self, endpoint: str, *, remaining: int, reset_in: int = WINDOW) -> None:
        """Set every token's window of `endpoint` ("GET /2/users/:id/mentions")."""
        with self._lock:
            for _, user_id in self.tokens.values():
                self._windows[(endpoint, user_id)] = _Window(
                    self.limits.get(endpoint, 300), remaining, int(time.time()) + reset_in)

    # -- the API -------------------------------------------------------------------------------
    def handle(self, method: str, url: str, path: str, query: dict[str, str],
               body: dict[str, Any], auth: str) -> tuple[int, Any, dict[str, str], str | None]:
        user_id = self._verify(method, url, query, auth)
        if user_id is None:
            return 401, _problem(401, "Unauthorized", "Unauthorized"), {}, None
        endpoint = _endpoint(method, path)
        headers, over = self._count(endpoint, user_id)
        if over:
            return 429, _problem(429, "Too Many Requests", "Too Many Requests"), headers, user_id
        with self._lock:
            fault = take(self._faults, path)
        early = play_before(fault, hung_and_dropped=(
            504, _problem(504, "Gateway Timeout", "upstream timed out"), {}),
            refused=_fault_problem(fault.status if fault else 500))
        if early is not None:
            return early[0], early[1], {**headers, **early[2]}, user_id
        status, answer = self._route(method, path, query, body, user_id)
        if fault is not None and fault.created and not fault.hang:
            return fault.status, _fault_problem(fault.status), headers, user_id
        return status, answer, headers, user_id

    def _count(self, endpoint: str, user_id: str) -> tuple[dict[str, str], bool]:
        now = int(time.time())
        with self._lock:
            window = self._windows.get((endpoint, user_id))
            if window is None or window.reset <= now:
                window = _Window(self.limits.get(endpoint, 300),
                                 self.limits.get(endpoint, 300), now + WINDOW)
                self._windows[(endpoint, user_id)] = window
            over = window.remaining <= 0
            if not over:
                window.remaining -= 1
            return ({"x-rate-limit-limit": str(window.limit),
                     "x-rate-limit-remaining": str(window.remaining),
                     "x-rate-limit-reset": str(window.reset)}, over)

    def _verify(self, method: str, url: str, query: dict[str, str], auth: str) -> str | None:
        """The user the OAuth 1.0a signature proves, or None (RFC 5849 §3.4.1–3.4.2)."""
        if not auth.startswith("OAuth "):
            return None
        oauth = {unquote(k): unquote(v.strip('"')) for k, v in
                 (part.strip().split("=", 1) for part in auth[6:].split(","))}
        with self._lock:
            known = self.tokens.get(oauth.get("oauth_token", ""))
        if known is None or oauth.get("oauth_consumer_key") != self.api_key:
            return None
        signature = oauth.pop("oauth_signature", "")
        params = sorted((_enc(k), _enc(v)) for k, v in {**query, **oauth}.items())
        base = "&".join((method, _enc(url), _enc("&".join(f"{k}={v}" for k, v in params))))
        key = f"{_enc(self.api_secret)}&{_enc(known[0])}"
        expected = base64.b64encode(hmac.new(key.encode(), base.encode(),
                                             hashlib.sha1).digest()).decode()
        return known[1] if hmac.compare_digest(expected, signature) else None

    def _route(self, method: str, path: str, query: dict[str, str], body: dict[str, Any],
               me: str) -> tuple[int, Any]:
        parts = path.strip("/").split("/")
        if path == "/2/users/me" and method == "GET":
            with self._lock:
                self.billed["user_read"] += 1
                return 200, {"data": dict(self._state.users[me])}
        if len(parts) == 4 and parts[:2] == ["2", "users"] and method == "GET" \
                and parts[3] in ("mentions", "tweets"):
            return self._timeline(parts[2], parts[3], query)
        if path == "/2/tweets" and method == "POST":
            return self._create(me, body)
        if len(parts) == 4 and parts[:2] == ["2", "tweets"] and parts[3] == "hidden" \
                and method == "PUT":
            return self._hide(me, parts[2], bool(body.get("hidden")))
        if len(parts) >= 4 and parts[:2] == ["2", "users"] and parts[3] in ("muting",
                                                                           "blocking"):
            if parts[2] != me:
                return 403, _problem(403, "Forbidden", "You can only act as yourself")
            edges = self._state.muting if parts[3] == "muting" else self._state.blocking
            with self._lock:
                if method == "POST" and len(parts) == 4:
                    target = str(body.get("target_user_id") or "")
                    if target not in self._state.users:
                        return 400, _problem(400, "Invalid Request", "target_user_id unknown")
                    edges.setdefault(me, set()).add(target)
                    self.billed["user_interaction"] += 1
                    return 200, {"data": {parts[3]: True}}
                if method == "DELETE" and len(parts) == 5:
                    edges.setdefault(me, set()).discard(parts[4])
                    self.billed[f"{parts[3]}_delete"] += 1
                    return 200, {"data": {parts[3]: False}}
        return 404, _problem(404, "Not Found Error", f"no route {method} {path}",
                             "https://api.twitter.com/2/problems/resource-not-found")

    def _timeline(self, user_id: str, which: str, query: dict[str, str]) -> tuple[int, Any]:
        try:
            size = int(query.get("max_results", "10"))
        except ValueError:
            size = 0
        if not 5 <= size <= 100:
            return 400, {"errors": [{"parameters": {"max_results": [query.get("max_results")]},
                                     "message": "The `max_results` query parameter value "
                                     f"[{query.get('max_results')}] is not between 5 and 100"}],
                         "title": "Invalid Request",
                         "detail": "One or more parameters to your request was invalid.",
                         "type": "https://api.twitter.com/2/problems/invalid-request"}
        with self._lock:
            user = self._state.users.get(user_id)
            if user is None:
                return 404, _problem(404, "Not Found Error", "user not found")
            if which == "mentions":
                found = [p for p in self._state.posts.values()
                         if f"@{user['username']}".lower() in p["text"].lower()
                         and p["author_id"] != user_id]
            else:
                found = [p for p in self._state.posts.values() if p["author_id"] == user_id]
            found.sort(key=lambda p: int(p["id"]), reverse=True)
            found = found[:800 if which == "mentions" else 3200]
            if "since_id" in query:
                found = [p for p in found if int(p["id"]) > int(query["since_id"])]
            if "until_id" in query:
                found = [p for p in found if int(p["id"]) < int(query["until_id"])]
            if "start_time" in query:
                found = [p for p in found if p["created_at"] >= query["start_time"][:19]]
            offset = int(query.get("pagination_token", "0") or 0)
            page = found[offset:offset + size]
            if not page:
                return 200, {"meta": {"result_count": 0}}
            fields = set(query.get("tweet.fields", "").split(","))
            data = [{k: v for k, v in p.items() if k in ("id", "text", "edit_history_tweet_ids")
                     or k in fields} for p in page]
            answer: dict[str, Any] = {"data": data}
            meta: dict[str, Any] = {"result_count": len(page), "newest_id": page[0]["id"],
                                    "oldest_id": page[-1]["id"]}
            if offset + size < len(found):
                meta["next_token"] = str(offset + size)
            answer["meta"] = meta
            owned = which == "tweets"
            self.billed["owned_read" if owned else "post_read"] += len(page)
            if "author_id" in query.get("expansions", ""):
                authors = list(dict.fromkeys(p["author_id"] for p in page))
                user_fields = set(query.get("user.fields", "").split(","))
                answer["includes"] = {"users": [
                    {k: v for k, v in self._state.users[a].items()
                     if k in ("id", "name", "username") or k in user_fields}
                    for a in authors]}
                self.billed["user_read"] += len(authors)
            return 200, answer

    def _create(self, me: str, body: dict[str, Any]) -> tuple[int, Any]:
        text = str(body.get("text") or "")
        if not text.strip():
            return 400, {"errors": [{"message": "text is required"}],
                         "title": "Invalid Request", "detail": "One or more parameters to "
                         "your request was invalid.",
                         "type": "https://api.twitter.com/2/problems/invalid-request"}
        with self._lock:
            username = self._state.users[me]["username"]
            reply = body.get("reply") or {}
            parent = None
            if reply.get("in_reply_to_tweet_id"):
                parent = self._state.posts.get(str(reply["in_reply_to_tweet_id"]))
                if parent is None:
                    return 400, {"errors": [{"message": "Your Tweet cannot be replied to."}],
                                 "title": "Invalid Request", "detail": "One or more "
                                 "parameters to your request was invalid.",
                                 "type": "https://api.twitter.com/2/problems/invalid-request"}
            stored = text
            if parent is not None:
                named = self._state.users[parent["author_id"]]["username"]
                stored = text if text.startswith(f"@{named}") else f"@{named} {text}"
            if any(p["author_id"] == me and p["text"] == stored
                   for p in self._state.posts.values()):
                return 403, _problem(403, "Forbidden", "You are not allowed to create a "
                                     "Tweet with duplicate content.")
            self.billed["post_create_with_link" if _LINK.search(text) else "post_create"] += 1
        post = self.post(username, text, reply_to=parent)
        return 201, {"data": {"id": post["id"], "text": text,
                              "edit_history_tweet_ids": [post["id"]]}}

    def _hide(self, me: str, post_id: str, hide: bool) -> tuple[int, Any]:
        with self._lock:
            post = self._state.posts.get(post_id)
            if post is None:
                return 404, _problem(404, "Not Found Error", "post not found")
            root = self._state.posts.get(post["conversation_id"])
            if root is None or root["author_id"] != me or post["id"] == root["id"]:
                return 403, _problem(403, "Forbidden", "You can only hide replies to "
                                     "conversations you started")
            (self._state.hidden.add if hide else self._state.hidden.discard)(post_id)
            self.billed["content_manage"] += 1
            return 200, {"data": {"hidden": hide}}


def _endpoint(method: str, path: str) -> str:
    """The rate-limit window's name: ids replaced by `:id`."""
    parts = path.strip("/").split("/")
    shape = [":id" if part.isdigit() and index else part for index, part in enumerate(parts)]
    if len(shape) == 5:  # DELETE /2/users/:id/muting/:target
        shape = shape[:4]
    return f"{method} /{'/'.join(shape)}"


class _Handler(QuietHandler):
    server_fake: FakeX
    disable_nagle_algorithm = True  # headers and body go out at once (keep-alive)

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        fake = self.server_fake
        split = urlsplit(self.path)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body: dict[str, Any] = json.loads(raw) if raw else {}
        host = self.headers.get("Host", "")
        url = f"http://{host}{split.path}"
        try:
            status, answer, extra, user_id = fake.handle(
                method, url, split.path, query, body, self.headers.get("Authorization", ""))
        except Exception as exc:  # a bug here must show as a 500, not hang the client
            status, answer, extra, user_id = 500, _problem(500, "Error", repr(exc)), {}, None
        with fake._lock:
            fake.requests.append(Request(method, split.path, query, body, user_id, status))
        self.answer_json(status, answer, extra)


FakeX.handler = _Handler
