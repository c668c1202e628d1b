"""A YouTube Data API v3 server on 127.0.0.1 for tests, with Google's OAuth token
endpoint: Vigie's YouTube client and google-auth, unchanged, are pointed at
`FakeYouTube.url` (a source's `api_url` and `oauth_url`).

Why: listening, quota, replies and moderation must be tested through real HTTP calls as
Google documents them, without network access: `GET /youtube/v3/commentThreads`
(`allThreadsRelatedToChannelId`, `moderationStatus` published / heldForReview /
likelySpam, `order=time` newest first by the top-level comment, `maxResults` 1–100
default 20, `pageToken`/`nextPageToken`, `part=snippet,replies` with at most 5 replies
per thread, the oldest, as the thread resource carries "not necessarily all" of them),
`GET /youtube/v3/comments` (`parentId` or `id`), `POST /youtube/v3/comments?part=snippet`
(a reply: `snippet.parentId` + `snippet.textOriginal`), `POST
/youtube/v3/comments/setModerationStatus` (`id`, `moderationStatus` heldForReview /
published / rejected, `banAuthor` only with rejected; 204 No Content), and `POST /token`
(`grant_type=refresh_token`; access tokens expire after `access_ttl` seconds).

Quota as Google counts it: each call costs its documented units (1 per list, 50 per
insert or moderation) against `daily_quota` for the day; past it every call gets `403`
with `{"error": {"code": 403, "errors": [{"reason": "quotaExceeded", "domain":
"youtube.quota"}], ...}}` until `new_day()` (Google resets at midnight Pacific time).
Errors have Google's shape: `{"error": {"code", "message", "errors": [{"message",
"domain", "reason"}], "status"}}`.

Faults: `fail_next` (any status/reason; `created=True`: carried out first, then failed),
`hang_next` (carried out late, or not), `set_down` (503 everywhere), `expire_tokens`,
`revoke_refresh_token`.
"""

from __future__ import annotations

import base64
import itertools
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bot.sandbox.faults import Fault, play_before, take
from bot.sandbox.local_server import LocalServer, QuietHandler

__all__ = ["COSTS", "FakeYouTube", "Request"]

COSTS = {"commentThreads.list": 1, "comments.list": 1, "comments.insert": 50,
         "comments.setModerationStatus": 50}
SCOPE = "https://www.googleapis.com/auth/youtube.force-ssl"
REPLIES_IN_THREAD = 5
MAX_TEXT = 10_000


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: dict[str, Any]
    authorization: str | None
    status: int


@dataclass
class _Channel:
    id: str
    title: str
    client_id: str
    client_secret: str
    refresh_token: str
    banned: set[str] = field(default_factory=set)  # author channel ids


@dataclass
class _State:
    channels: dict[str, _Channel] = field(default_factory=dict)
    videos: dict[str, str] = field(default_factory=dict)  # video id → channel id
    comments: dict[str, dict[str, Any]] = field(default_factory=dict)  # id → comment
    threads: list[str] = field(default_factory=list)  # top-level ids, oldest first
    replies: dict[str, list[str]] = field(default_factory=dict)  # parent → ids, oldest first
    tokens: dict[str, tuple[str, float]] = field(default_factory=dict)  # token → channel, exp
    units: int = 0  # spent today
    spent: dict[str, int] = field(default_factory=dict)  # method → units, today


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def error(status: int, reason: str, message: str, *, domain: str = "youtube.api"
          ) -> dict[str, Any]:
    """An error body shaped as Google's APIs send it."""
    names = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
             404: "NOT_FOUND", 500: "INTERNAL", 503: "UNAVAILABLE"}
    return {"error": {"code": status, "message": message,
                      "errors": [{"message": message, "domain": domain, "reason": reason}],
                      "status": names.get(status, "UNKNOWN")}}


class FakeYouTube(LocalServer):
    def __init__(self, *, daily_quota: int = 10_000, access_ttl: int = 3600,
                 now: Callable[[], datetime] | None = None) -> None:
        self.daily_quota = daily_quota
        self._now = now or (lambda: datetime.now(UTC))  # when comments are published
        self.access_ttl = access_ttl
        self._state = _State()
        self._lock = threading.RLock()
        self._faults: list[Fault] = []
        self._down = False
        self._ids = itertools.count(1)
        self._clock = datetime(2000, 1, 1, tzinfo=UTC)
        self.requests: list[Request] = []

    # -- the world --------------------------------------------------------------------------
    def add_channel(self, channel_id: str, *, title: str = "La Matinale",
                    client_id: str = "client-1.apps.googleusercontent.com",
                    client_secret: str = "client-secret", refresh_token: str = "1//refresh"
                    ) -> None:
        with self._lock:
            self._state.channels[channel_id] = _Channel(channel_id, title, client_id,
                                                        client_secret, refresh_token)

    def add_video(self, video_id: str, channel_id: str) -> None:
        with self._lock:
            self._state.videos[video_id] = channel_id

    def _tick(self) -> datetime:
        """Now, and each new comment at least a second after the previous one (distinct,
        ordered times)."""
        self._clock = max(self._now().replace(microsecond=0),
                          self._clock + timedelta(seconds=1))
        return self._clock

    def comment(self, video_id: str, text: str, *, by: str = "Kev59",
                author_channel: str | None = None, status: str = "published",
                parent: str | None = None, at: datetime | None = None) -> dict[str, Any]:
        """A viewer's comment (or a reply to `parent`); returns the stored comment."""
        with self._lock:
            channel = self._state.videos[video_id]
            number = next(self._ids)
            comment_id = f"Ug{number:020d}" if parent is None else f"{parent}.{number:010d}"
            moment = _iso(at or self._tick())
            author = author_channel or f"UC{by.lower():_<22}"[:24]
            found: dict[str, Any] = {
                "kind": "youtube#comment", "etag": secrets.token_hex(8), "id": comment_id,
                "snippet": {
                         "channelId": channel, "videoId": video_id, "textDisplay": text,
                         "textOriginal": text, "authorDisplayName": f"@{by}",
                         "authorProfileImageUrl": "https://yt3.ggpht.com/a/default.jpg",
                         "authorChannelUrl": f"http://www.youtube.com/@{by}",
                         "authorChannelId": {"value": author}, "canRate": True,
                         "viewerRating": "none", "likeCount": 0, "moderationStatus": status,
                         "publishedAt": moment, "updatedAt": moment}}
            if parent is not None:
                found["snippet"]["parentId"] = parent
                self._state.replies.setdefault(parent, []).append(comment_id)
            else:
                self._state.threads.append(comment_id)
            if author in self._state.channels[channel].banned:
                found["snippet"]["moderationStatus"] = "rejected"
            self._state.comments[comment_id] = found
            copy: dict[str, Any] = json.loads(json.dumps(found))
            return copy

    def status_of(self, comment_id: str) -> str:
        with self._lock:
            return str(self._state.comments[comment_id]["snippet"]["moderationStatus"])

    def set_status(self, comment_id: str, status: str) -> None:
        """What the channel's owner does in YouTube Studio (publish, hold, remove)."""
        with self._lock:
            self._state.comments[comment_id]["snippet"]["moderationStatus"] = status

    def replies_to(self, comment_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [self._state.comments[i] for i in self._state.replies.get(comment_id, [])]

    def banned(self, channel_id: str) -> set[str]:
        with self._lock:
            return set(self._state.channels[channel_id].banned)

    # -- quota ------------------------------------------------------------------------------
    @property
    def units_spent(self) -> int:
        with self._lock:
            return self._state.units

    def spent_on(self, method: str) -> int:
        with self._lock:
            return self._state.spent.get(method, 0)

    def new_day(self) -> None:
        """Midnight Pacific time: the project's quota is whole again."""
        with self._lock:
            self._state.units = 0
            self._state.spent.clear()

    def use_up_quota(self, left: int = 0) -> None:
        """Spend the day's quota elsewhere in the project (another app, the console)."""
        with self._lock:
            self._state.units = self.daily_quota - left

    # -- faults -----------------------------------------------------------------------------
    def fail_next(self, method: str = "", *, status: int = 503, reason: str = "backendError",
                  times: int = 1, created: bool = False) -> None:
        with self._lock:
            self._faults.append(Fault(method, status, times, error=reason, created=created))

    def hang_next(self, method: str = "", seconds: float = 5.0, *, create: bool = True,
                  release: threading.Event | None = None) -> None:
        with self._lock:
            self._faults.append(Fault(method, 0, 1, hang=seconds, create=create,
                                      release=release))

    def set_down(self, down: bool = True) -> None:
        with self._lock:
            self._down = down

    def expire_tokens(self) -> None:
        with self._lock:
            self._state.tokens.clear()

    def revoke_refresh_token(self, channel_id: str) -> None:
        with self._lock:
            self._state.channels[channel_id].refresh_token = "revoked-" + secrets.token_hex(4)

    def calls(self, method: str) -> list[Request]:
        """Requests made to a method ("commentThreads.list", "token", …)."""
        with self._lock:
            return [r for r in self.requests if _method(r.method, r.path) == method]

    # -- serving ----------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, list[str]], body: dict[str, Any],
               form: dict[str, list[str]], authorization: str | None
               ) -> tuple[int, Any, dict[str, str]]:
        name = _method(method, path)
        with self._lock:
            if self._down:
                return 503, error(503, "backendError", "Backend Error", domain="global"), {}
            fault = take(self._faults, name) if name != "token" else None
        early = play_before(fault, hung_and_dropped=(
            500, error(500, "backendError", "Backend Error", domain="global"), {}),
            refused=error(fault.status, fault.error, f"HTTP {fault.status}")
            if fault else {})
        if early is not None:
            return early
        with self._lock:
            if name == "token":
                return self._token(form)
            answer = self._api(name, query, body, authorization)
        if fault is not None and fault.created:
            return fault.status, error(fault.status, fault.error, f"HTTP {fault.status}"), {}
        return answer

    def _token(self, form: dict[str, list[str]]) -> tuple[int, Any, dict[str, str]]:
        def arg(name: str) -> str:
            return (form.get(name) or [""])[0]

        if arg("grant_type") != "refresh_token":
            return 400, {"error": "unsupported_grant_type",
                         "error_description": "Invalid grant_type"}, {}
        channel = next((c for c in self._state.channels.values()
                        if c.client_id == arg("client_id")), None)
        if channel is None or channel.client_secret != arg("client_secret"):
            return 401, {"error": "invalid_client",
                         "error_description": "The OAuth client was not found."}, {}
        owner = next((c for c in self._state.channels.values()
                      if c.refresh_token == arg("refresh_token")), None)
        if owner is None:
            return 400, {"error": "invalid_grant",
                         "error_description": "Token has been expired or revoked."}, {}
        token = "ya29." + secrets.token_urlsafe(24)
        self._state.tokens[token] = (owner.id, time.time() + self.access_ttl)
        return 200, {"access_token": token, "expires_in": self.access_ttl, "scope": SCOPE,
                     "token_type": "Bearer"}, {}

    def _api(self, name: str, query: dict[str, list[str]], body: dict[str, Any],
             authorization: str | None) -> tuple[int, Any, dict[str, str]]:
        token = (authorization or "").removeprefix("Bearer ").strip()
        owner, expires = self._state.tokens.get(token, ("", 0.0))
        if not owner or expires < time.time():
            message = "Request had invalid authentication credentials."
            found = error(401, "authError", "Invalid Credentials", domain="global")
            found["error"]["message"] = message
            return 401, found, {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'}
        cost = COSTS.get(name)
        if cost is None:
            return 404, error(404, "notFound", "Not Found", domain="global"), {}
        if self._state.units + cost > self.daily_quota:
            return 403, error(403, "quotaExceeded", "The request cannot be completed because "
                              "you have exceeded your quota.", domain="youtube.quota"), {}
        answer: tuple[int, Any, dict[str, str]] = getattr(
            self, "_" + name.replace(".", "_"))(owner, query, body)
        if answer[0] < 500:
            self._state.units += cost
            self._state.spent[name] = self._state.spent.get(name, 0) + cost
        return answer

    def _commentThreads_list(self, owner: str, query: dict[str, list[str]], body: dict[str, Any]
                             ) -> tuple[int, Any, dict[str, str]]:
        arg = _args(query)
        parts = set(arg("part").split(","))
        if not parts or not parts <= {"id", "snippet", "replies"} or not arg("part"):
            return 400, error(400, "invalidPart", "The part parameter is invalid."), {}
        channel = arg("allThreadsRelatedToChannelId")
        if not channel:
            return 400, error(400, "missingRequiredParameter", "No filter selected. Expected "
                              "one of: allThreadsRelatedToChannelId, id, videoId"), {}
        status = arg("moderationStatus") or "published"
        if status not in ("published", "heldForReview", "likelySpam"):
            return 400, error(400, "invalidParameter", "Invalid moderationStatus"), {}
        if status != "published" and channel != owner:
            return 403, error(403, "forbidden", "The request is not properly authorized."), {}
        size, start = _page(arg)
        if size is None:
            return 400, error(400, "invalidParameter", "Invalid maxResults"), {}
        threads = []
        for top_id in reversed(self._state.threads):  # order=time: newest first
            top = self._state.comments[top_id]
            if top["snippet"]["channelId"] != channel:
                continue
            replies = [self._state.comments[i] for i in self._state.replies.get(top_id, [])]
            if status == "published":
                if top["snippet"]["moderationStatus"] != "published":
                    continue
                shown = [r for r in replies if r["snippet"]["moderationStatus"] == "published"]
            else:
                shown = [r for r in replies if r["snippet"]["moderationStatus"] == status]
                if top["snippet"]["moderationStatus"] != status and not shown:
                    continue
            threads.append((top, replies, shown))
        page = threads[start:start + size]
        items = []
        for top, replies, shown in page:
            item: dict[str, Any] = {"kind": "youtube#commentThread", "etag": top["etag"],
                                    "id": top["id"]}
            if "snippet" in parts:
                item["snippet"] = {"channelId": channel, "videoId": top["snippet"]["videoId"],
                                   "topLevelComment": top, "canReply": True,
                                   "totalReplyCount": len(replies), "isPublic": True}
            if "replies" in parts and shown:
                item["replies"] = {"comments": shown[:REPLIES_IN_THREAD]}
            items.append(item)
        return 200, _listing("youtube#commentThreadListResponse", items, start, size,
                             len(threads)), {}

    def _comments_list(self, owner: str, query: dict[str, list[str]], body: dict[str, Any]
                       ) -> tuple[int, Any, dict[str, str]]:
        arg = _args(query)
        if arg("id"):
            found = [self._state.comments[i] for i in arg("id").split(",")
                     if i in self._state.comments]
            return 200, _listing("youtube#commentListResponse", found, 0, len(found) or 1,
                                 len(found)), {}
        parent = arg("parentId")
        if not parent:
            return 400, error(400, "missingRequiredParameter", "No filter selected. Expected "
                              "one of: id, parentId"), {}
        if parent not in self._state.comments:
            return 404, error(404, "commentNotFound", "The comment identified by the "
                              "parentId parameter could not be found."), {}
        size, start = _page(arg)
        if size is None:
            return 400, error(400, "invalidParameter", "Invalid maxResults"), {}
        replies = [self._state.comments[i] for i in self._state.replies.get(parent, [])]
        return 200, _listing("youtube#commentListResponse", replies[start:start + size], start,
                             size, len(replies)), {}

    def _comments_insert(self, owner: str, query: dict[str, list[str]], body: dict[str, Any]
                         ) -> tuple[int, Any, dict[str, str]]:
        snippet = body.get("snippet") or {}
        text = str(snippet.get("textOriginal") or "")
        parent = str(snippet.get("parentId") or "")
        if "snippet" not in _args(query)("part").split(","):
            return 400, error(400, "invalidPart", "The part parameter is invalid."), {}
        if not text:
            return 400, error(400, "commentTextRequired", "The comment resource must contain "
                              "a snippet.textOriginal property."), {}
        if len(text) > MAX_TEXT:
            return 400, error(400, "commentTextTooLong", "The comment text is too long."), {}
        top = self._state.comments.get(parent)
        if top is None or "parentId" in top["snippet"]:
            return 404, error(404, "parentCommentNotFound", "The parent comment could not be "
                              "found."), {}
        channel = self._state.channels[owner]
        reply = self.comment(top["snippet"]["videoId"], text, by=channel.title.replace(" ", ""),
                             author_channel=owner, parent=parent)
        reply["snippet"]["authorDisplayName"] = channel.title
        self._state.comments[reply["id"]]["snippet"]["authorDisplayName"] = channel.title
        return 200, reply, {}

    def _comments_setModerationStatus(self, owner: str, query: dict[str, list[str]],
                                      body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        arg = _args(query)
        status, ban = arg("moderationStatus"), arg("banAuthor").lower() == "true"
        if status not in ("heldForReview", "published", "rejected"):
            return 400, error(400, "invalidModerationStatus", "Invalid moderationStatus"), {}
        if ban and status != "rejected":
            return 400, error(400, "banWithoutReject", "The banAuthor parameter can only be "
                              "used if the moderationStatus parameter value is rejected."), {}
        ids = [i for i in arg("id").split(",") if i]
        if not ids or any(i not in self._state.comments for i in ids):
            return 404, error(404, "commentNotFound", "One or more comments could not be "
                              "found."), {}
        if any(self._state.comments[i]["snippet"]["channelId"] != owner for i in ids):
            return 403, error(403, "forbidden", "The moderation status of one or more comments "
                              "cannot be set due to insufficient permissions."), {}
        for comment_id in ids:
            snippet = self._state.comments[comment_id]["snippet"]
            snippet["moderationStatus"] = status
            if ban:
                self._state.channels[owner].banned.add(snippet["authorChannelId"]["value"])
        return 204, None, {}


def _method(http_method: str, path: str) -> str:
    path = path.rstrip("/")
    if path == "/token":
        return "token"
    name = path.removeprefix("/youtube/v3/")
    if name == "commentThreads" and http_method == "GET":
        return "commentThreads.list"
    if name == "comments":
        return "comments.list" if http_method == "GET" else "comments.insert"
    if name == "comments/setModerationStatus" and http_method == "POST":
        return "comments.setModerationStatus"
    return f"{http_method} {path}"


def _args(query: dict[str, list[str]]) -> Any:
    return lambda name: (query.get(name) or [""])[0]


def _page(arg: Any) -> tuple[int | None, int]:
    raw = arg("maxResults") or "20"
    size = int(raw) if raw.isdigit() and 1 <= int(raw) <= 100 else None
    token = arg("pageToken")
    start = int(base64.urlsafe_b64decode(token.encode()).decode()) if token else 0
    return size, start


def _listing(kind: str, items: list[dict[str, Any]], start: int, size: int, total: int
             ) -> dict[str, Any]:
    found: dict[str, Any] = {"kind": kind, "etag": secrets.token_hex(8),
                             "pageInfo": {"totalResults": total, "resultsPerPage": size},
                             "items": items}
    if start + size < total:
        found["nextPageToken"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
    return found


class _Handler(QuietHandler):
    server_fake: FakeYouTube
    disable_nagle_algorithm = True

    def _serve(self, method: str) -> None:
        fake = self.server_fake
        split = urlsplit(self.path)
        query = parse_qs(split.query)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body: dict[str, Any] = {}
        form: dict[str, list[str]] = {}
        try:
            if "x-www-form-urlencoded" in (self.headers.get("Content-Type") or ""):
                form = parse_qs(raw.decode())
            elif raw:
                body = json.loads(raw)
            status, answer, extra = fake.handle(method, split.path, query, body, form,
                                                self.headers.get("Authorization"))
        except json.JSONDecodeError:
            status, answer, extra = 400, error(400, "parseError", "Parse Error"), {}
        except Exception as exc:  # a bug here must show as a 500, not hang the client
            status, answer, extra = 500, error(500, "backendError", repr(exc)), {}
        with fake._lock:
            fake.requests.append(Request(method, split.path, query, body or
                                         {k: v[0] for k, v in form.items()},
                                         self.headers.get("Authorization"), status))
        self.answer_json(status, answer, extra,
                         content_type="application/json; charset=UTF-8")


FakeYouTube.handler = _Handler
