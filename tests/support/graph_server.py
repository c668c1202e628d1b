"""A local server speaking Meta's Graph API (Facebook Pages, Instagram professional
accounts) and the Threads API, on 127.0.0.1, for tests: the real client code
(`bot.platforms.meta`) is pointed at `FakeGraph.url` / `FakeGraph.threads_url` by its base
URL settings.

Shapes follow Meta's documentation: versioned paths (`/v21.0/...`; Threads under
`/threads/v1.0/...`, standing for graph.threads.net), JSON objects, lists as
`{"data": [...], "paging": {"cursors": {"before", "after"}, "next"}}` (Threads mentions:
cursors without `next`, as documented), errors as `{"error": {"message", "type",
"code", "error_subcode", "fbtrace_id"}}` — 190 token expired or invalid, 10/200
permission, 100 invalid parameter (subcode 33: no such object), 4/80001/80002 rate
limits, 368 blocked as abusive, 1/2 transient. Error *codes and types* are Meta's;
the message texts are modelled on Meta's and are not byte-for-byte. Usage headers
(`X-App-Usage`, and for Page and Instagram tokens `X-Business-Use-Case-Usage` with
`estimated_time_to_regain_access` in minutes) rise by `usage_step` percent per call;
at 100 % calls are refused (code 4 / 80001 / 80002) until `reset_usage`, and every call
made meanwhile is counted in `over_limit_calls`.

Endpoints:
- Pages: `GET /{page}/published_posts|posts|feed`, `POST /{page}/feed` (message, link),
  `GET /{post}/comments` (filter=stream|toplevel, order=chronological|
  reverse_chronological, since, limit, after, fields), `POST /{post-or-comment}/comments`
  (a reply to a reply lands in the same thread, under the first-level comment),
  `POST /{comment}` with `is_hidden`, `DELETE /{comment}`, `GET /{id}`, `GET
  /debug_token`, `GET /me/permissions`, `GET /me`.
- Instagram: `GET /{ig-user}/media`, `GET /{media}/comments` (nested `replies{...}`),
  `GET|POST /{comment}/replies` (refused on a hidden comment; a reply to a reply is added
  to the first-level comment, as documented), `POST /{comment}` with `hide`, `DELETE
  /{comment}`, `GET /{ig-user}?fields=mentioned_comment.comment_id(X){...}` and
  `mentioned_media.media_id(X){...}`, `POST /{ig-user}/mentions`, `POST /{ig-user}/media`
  (container) then `POST /{ig-user}/media_publish` (creation_id; 50 per 24 h), `GET
  /{container}?fields=status_code`, `GET /{ig-user}/content_publishing_limit`.
- Threads: `GET /me`, `GET /{user}/threads`, `POST /{user}/threads` (media_type=TEXT,
  text ≤ 500, reply_to_id), `POST /{user}/threads_publish` (250 per 24 h), `GET
  /{container}?fields=status`, `GET /{media}/replies|conversation`, `GET /{user}/replies`,
  `GET /{user}/mentions`, `POST /{reply}/manage_reply` (hide),
  `GET /{user}/threads_publishing_limit`, `GET /debug_token`.

Faults (bot/sandbox/faults.py): `fail_next` (a status and Graph error code, before or —
`created=True` — after carrying the request out; a rate-limit code comes with the usage
headers at 100 %, code 190 with subcode 463, the token's session expired, as Meta
answers them), `hang_next` (answered late, to time
the client out; carried out in the end unless `create=False`), `expire_token`,
`revoke`, `set_usage`. Signed webhook deliveries are built by
`tests/support/meta_webhooks.py`.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from bot.sandbox.faults import Fault, play_before, take
from bot.sandbox.local_server import LocalServer, QuietHandler

__all__ = ["FakeGraph", "Grant", "Request", "threads_length"]

Answer = tuple[int, Any, dict[str, str]]
DAY = 86_400
IG_DAILY_POSTS = 50
THREADS_DAILY_POSTS = 250
THREADS_MAX_CHARACTERS = 500


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    form: dict[str, str]
    token: str | None
    status: int
    rest: str = ""  # the path after the version: "/{page-id}/feed"


@dataclass
class Grant:
    """What a token may do: it speaks for `subject` (a Page, an IG user, a Threads user)."""

    subject: str
    kind: str  # "page", "instagram", "threads"
    scopes: set[str]
    expired: bool = False
    usage: float = 0.0  # percent
    expires_at: int = 0  # Unix time the token expires (debug_token), 0: never


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def threads_length(text: str) -> int:
    """Threads' count: characters, emojis counted as their UTF-8 bytes (as documented)."""
    return sum(len(c.encode()) if ord(c) >= 0x1F000 or 0x2600 <= ord(c) < 0x2800 else 1
               for c in text)


def _error(status: int, code: int, message: str, *, subcode: int | None = None,
           kind: str = "OAuthException", transient: bool = False) -> Answer:
    error: dict[str, Any] = {"message": message, "type": kind, "code": code,
                             "fbtrace_id": "AbCdEfGh123"}
    if subcode is not None:
        error["error_subcode"] = subcode
    if transient:
        error["is_transient"] = True
    return status, {"error": error}, {}


def _missing(object_id: str) -> Answer:
    return _error(400, 100, f"Unsupported get request. Object with ID '{object_id}' does "
                  "not exist, cannot be loaded due to missing permissions, or does not "
                  "support this operation.", subcode=33, kind="GraphMethodException")


class FakeGraph(LocalServer):
    """Pages, Instagram accounts and Threads profiles with their posts and comments."""

    def __init__(self, *, version: str = "v21.0", threads_version: str = "v1.0",
                 usage_step: float = 1.0, regain_minutes: int = 1,
                 app_id: str = "555000111") -> None:
        self.version = version
        self.threads_version = threads_version
        self.usage_step = usage_step
        self.regain_minutes = regain_minutes
        self.app_id = app_id
        self.grants: dict[str, Grant] = {}
        self.objects: dict[str, dict[str, Any]] = {}
        self.requests: list[Request] = []
        self.over_limit_calls = 0
        self._lock = threading.RLock()
        self._ids = itertools.count(17_841_400_000_000_001)
        self._faults: list[Fault] = []
        self._published: dict[str, list[float]] = {}  # subject → publish times

    @property
    def threads_url(self) -> str:
        return f"{self.url}/threads"

    # -- seeding -------------------------------------------------------------------------------
    def next_id(self) -> str:
        with self._lock:
            return str(next(self._ids))

    def add_page(self, name: str = "La Matinale", *, token: str = "page-token",
                 scopes: set[str] | None = None) -> str:
        page_id = self.next_id()
        with self._lock:
            self.objects[page_id] = {"_type": "page", "id": page_id, "name": name}
            self.grants[token] = Grant(page_id, "page", set(scopes if scopes is not None else {
                "pages_show_list", "pages_read_engagement", "pages_manage_engagement",
                "pages_manage_posts", "pages_manage_metadata", "pages_read_user_content"}))
        return page_id

    def add_post(self, page_id: str, message: str, *, created: datetime | None = None,
                 author: tuple[str, str] | None = None) -> str:
        with self._lock:
            post_id = f"{page_id}_{self.next_id()}"
            page = self.objects[page_id]
            who = author or (page_id, page["name"])
            self.objects[post_id] = {
                "_type": "fb_post", "_page": page_id, "id": post_id, "message": message,
                "created_time": _iso(created or datetime.now(UTC)),
                "from": {"id": who[0], "name": who[1]},
                "permalink_url": f"https://www.facebook.com/{page_id}/posts/"
                                 f"{post_id.split('_')[1]}"}
            return post_id

    def add_comment(self, on: str, message: str, *, author: tuple[str, str] = (
            "10158", "Kévin Fan"), created: datetime | None = None,
            hidden: bool = False) -> str:
        """A Facebook comment on a post, or a reply to a comment (`on` a comment id)."""
        with self._lock:
            target = self.objects[on]
            parent = None
            if target["_type"] == "fb_comment":
                parent = target["_parent"] or target["id"]  # one level of threads
                post_id = target["_post"]
            else:
                post_id = on
            comment_id = f"{post_id.split('_')[1]}_{self.next_id()}"
            self.objects[comment_id] = {
                "_type": "fb_comment", "_post": post_id, "_parent": parent, "id": comment_id,
                "message": message, "created_time": _iso(created or datetime.now(UTC)),
                "from": {"id": author[0], "name": author[1]}, "is_hidden": hidden,
                "permalink_url": f"https://www.facebook.com/{post_id.split('_')[0]}/posts/"
                f"{post_id.split('_')[1]}?comment_id={comment_id.split('_')[1]}"}
            return comment_id

    def add_ig_user(self, username: str = "lamatinale", *, token: str = "ig-token",
                    scopes: set[str] | None = None) -> str:
        ig_id = self.next_id()
        with self._lock:
            self.objects[ig_id] = {"_type": "ig_user", "id": ig_id, "username": username}
            self.grants[token] = Grant(ig_id, "instagram", set(scopes if scopes is not None
                                                               else {
                "instagram_basic", "instagram_manage_comments", "instagram_content_publish",
                "pages_read_engagement", "pages_show_list"}))
        return ig_id

    def add_ig_media(self, ig_id: str, caption: str, *, created: datetime | None = None
                     ) -> str:
        media_id = self.next_id()
        with self._lock:
            self.objects[media_id] = {
                "_type": "ig_media", "_owner": ig_id, "id": media_id, "caption": caption,
                "media_type": "IMAGE", "media_product_type": "FEED",
                "timestamp": _iso(created or datetime.now(UTC)),
                "permalink": f"https://www.instagram.com/p/C{media_id[-8:]}/",
                "username": self.objects[ig_id]["username"]}
        return media_id

    def add_ig_comment(self, on: str, text: str, *, username: str = "fan_de_radio",
                       user_id: str = "90010", created: datetime | None = None,
                       hidden: bool = False) -> str:
        """An Instagram comment on a media, or a reply (`on` a comment id)."""
        with self._lock:
            target = self.objects[on]
            parent = None
            media_id = on
            if target["_type"] == "ig_comment":
                parent = target.get("parent_id") or target["id"]
                media_id = target["_media"]
            comment_id = self.next_id()
            comment: dict[str, Any] = {
                "_type": "ig_comment", "_media": media_id, "id": comment_id, "text": text,
                "timestamp": _iso(created or datetime.now(UTC)), "username": username,
                "from": {"id": user_id, "username": username}, "hidden": hidden,
                "like_count": 0, "media": {"id": media_id}}
            if parent:
                comment["parent_id"] = parent
            self.objects[comment_id] = comment
            return comment_id

    def add_threads_user(self, username: str = "lamatinale", *, token: str = "threads-token",
                         scopes: set[str] | None = None) -> str:
        user_id = self.next_id()
        with self._lock:
            self.objects[user_id] = {"_type": "th_user", "id": user_id, "username": username}
            self.grants[token] = Grant(user_id, "threads", set(scopes if scopes is not None
                                                               else {
                "threads_basic", "threads_content_publish", "threads_read_replies",
                "threads_manage_replies", "threads_manage_mentions"}))
        return user_id

    def add_threads_post(self, author: str, text: str, *, reply_to: str | None = None,
                         created: datetime | None = None, username: str | None = None
                         ) -> str:
        """A Threads post by `author` (a user id, or any id with `username`), or a reply."""
        with self._lock:
            media_id = self.next_id()
            name = username or self.objects[author]["username"]
            root = reply_to
            while root and self.objects[root].get("_reply_to"):
                root = self.objects[root]["_reply_to"]
            self.objects[media_id] = {
                "_type": "th_media", "_owner": author, "_reply_to": reply_to, "_root": root,
                "id": media_id, "text": text, "username": name, "media_type": "TEXT_POST",
                "media_product_type": "THREADS",
                "timestamp": _iso(created or datetime.now(UTC)),
                "permalink": f"https://www.threads.net/@{name}/post/P{media_id[-6:]}",
                "shortcode": f"P{media_id[-6:]}", "is_reply": reply_to is not None,
                "hide_status": "NOT_HUSHED" if reply_to else None,
                "_mentions": re.findall(r"@([\w.]+)", text)}
            return media_id

    def threads_webhook_value(self, media_id: str) -> dict[str, Any]:
        """The `value` of a Threads `replies` / `mentions` webhook for a stored reply, in
        the shape of Meta's example (https://developers.facebook.com/docs/threads/webhooks)."""
        with self._lock:
            media = self.objects[media_id]
            value = {k: media[k] for k in ("id", "username", "text", "permalink",
                                           "shortcode", "timestamp")}
            value["media_type"] = "TEXT_POST"
            if media["_reply_to"]:
                root = self.objects[media["_root"]]
                value["replied_to"] = {"id": media["_reply_to"]}
                value["root_post"] = {"id": root["id"], "owner_id": root["_owner"],
                                      "username": root["username"]}
            return value

    # -- faults and inspection --------------------------------------------------------------------
    def fail_next(self, prefix: str = "/", *, status: int = 500, code: int = 2,
                  times: int = 1, created: bool = False) -> None:
        """The next `times` requests whose path (after the version) starts with `prefix`
        answer `status` with Graph error `code`; with `created`, only after being
        carried out."""
        with self._lock:
            self._faults.append(Fault(prefix, status, times, error=str(code),
                                      created=created))

    def hang_next(self, prefix: str = "/", seconds: float = 5.0, *, times: int = 1,
                  release: threading.Event | None = None, create: bool = True) -> None:
        with self._lock:
            self._faults.append(Fault(prefix, 0, times, hang=seconds, release=release,
                                      create=create))

    def expire_token(self, token: str) -> None:
        with self._lock:
            self.grants[token].expired = True

    def revoke(self, token: str, permission: str) -> None:
        with self._lock:
            self.grants[token].scopes.discard(permission)

    def set_usage(self, token: str, percent: float) -> None:
        with self._lock:
            self.grants[token].usage = percent

    def reset_usage(self, token: str) -> None:
        self.set_usage(token, 0.0)

    def calls(self, method: str, prefix: str = "/") -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.method == method
                    and r.rest.startswith(prefix)]

    def children(self, kind: str, **match: Any) -> list[dict[str, Any]]:
        """Stored objects of `kind` whose private fields match (`_post=…`, `_parent=…`)."""
        with self._lock:
            return [dict(o) for o in self.objects.values() if o["_type"] == kind
                    and all(o.get(k) == v for k, v in match.items())]

    # -- the API ----------------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, list[str]],
               form: dict[str, str], token: str | None) -> Answer:
        threads = path.startswith("/threads/")
        prefix = f"/threads/{self.threads_version}/" if threads else f"/{self.version}/"
        if not path.startswith(prefix):
            return _error(400, 2500, "Unknown path components: " + path, kind="OAuthException")
        rest = path[len(prefix):].strip("/")
        params = {k: v[-1] for k, v in query.items()} | form
        with self._lock:
            fault = take(self._faults, "/" + rest)
            grant = self.grants.get(token or "")
            if grant is None:
                return _error(400, 190, "Invalid OAuth access token - Cannot parse access "
                              "token")
            if grant.expired:
                return _error(400, 190, "Error validating access token: Session has expired "
                              "on Monday, 01-Dec-26 10:00:00 PST.", subcode=463)
            if grant.usage >= 100:
                self.over_limit_calls += 1
                return self._throttled(grant)
            grant.usage = min(grant.usage + self.usage_step, 100.0)
            headers = self._usage_headers(grant)
        early = play_before(fault, hung_and_dropped=_error(500, 1, "An unknown error has "
                                                           "occurred.", transient=True),
                            refused={})
        if early is not None and fault is not None and not fault.hang:
            return self._fault_answer(fault, grant, headers)
        if early is not None:
            return early[0], early[1], headers
        with self._lock:
            status, body, extra = (self._threads(method, rest, params, grant) if threads
                                   else self._graph(method, rest, params, grant, token or ""))
        if fault is not None and fault.created:
            return self._fault_answer(fault, grant, headers)
        return status, body, headers | extra

    def _fault_answer(self, fault: Fault, grant: Grant, headers: dict[str, str]) -> Answer:
        """A played fault in Meta's shape: a transient error (1, 2), a rate limit (4, 17,
        32, 613, 80001…) with the usage headers at 100 % and the minutes to regain access,
        or an expired token (190, subcode 463) — for this one call only."""
        code = int(fault.error) if fault.error.isdigit() else 1
        message = _FAULT_MESSAGES.get(
            code, "An unexpected error has occurred. Please retry your request later.")
        subcode = 463 if code == 190 else None
        status, body, _ = _error(fault.status, code, message, subcode=subcode,
                                 transient=code in (1, 2))
        if code in _RATE_CODES:
            with self._lock:
                usage, grant.usage = grant.usage, 100.0
                headers = self._usage_headers(grant)
                grant.usage = usage
        return status, body, headers

    def _throttled(self, grant: Grant) -> Answer:
        headers = self._usage_headers(grant)
        if grant.kind == "page":
            status, body, _ = _error(403, 80001, "There have been too many calls to this "
                                     "Page account. Wait a bit and try again.")
        elif grant.kind == "instagram":
            status, body, _ = _error(403, 80002, "There have been too many calls to this "
                                     "Instagram account. Wait a bit and try again.")
        else:
            status, body, _ = _error(403, 4, "Application request limit reached",
                                     transient=True)
        return status, body, headers

    def _usage_headers(self, grant: Grant) -> dict[str, str]:
        figure = round(grant.usage)
        app = {"call_count": round(figure / 2), "total_cputime": round(figure / 4),
               "total_time": round(figure / 4)}
        headers = {"X-App-Usage": json.dumps(app)}
        if grant.kind in ("page", "instagram"):
            business = {grant.subject: [{
                "type": "pages" if grant.kind == "page" else "instagram",
                "call_count": figure, "total_cputime": round(figure / 3),
                "total_time": round(figure / 3),
                "estimated_time_to_regain_access": self.regain_minutes if figure >= 100 else 0}]}
            headers["X-Business-Use-Case-Usage"] = json.dumps(business)
        else:
            headers["X-App-Usage"] = json.dumps({"call_count": figure,
                                                 "total_cputime": round(figure / 4),
                                                 "total_time": round(figure / 4)})
        return headers

    def _needs(self, grant: Grant, permission: str, *, write: bool = False) -> Answer | None:
        if permission in grant.scopes:
            return None
        if write:
            return _error(403, 200, f"(#200) Requires {permission} permission to manage the "
                          "object")
        return _error(403, 10, f"(#10) This endpoint requires the '{permission}' permission "
                      "or the 'Page Public Content Access' feature.")

    # -- Graph: Pages and Instagram ---------------------------------------------------------------
    def _graph(self, method: str, rest: str, params: dict[str, str], grant: Grant,
               token: str) -> Answer:
        parts = rest.split("/")
        if parts == ["debug_token"]:
            return 200, {"data": {
                "app_id": self.app_id, "type": "PAGE" if grant.kind == "page" else "USER",
                "application": "Vigie", "is_valid": True, "expires_at": 0,
                "data_access_expires_at": 0, "scopes": sorted(grant.scopes),
                "profile_id": grant.subject}}, {}
        if parts == ["me", "permissions"]:
            return 200, {"data": [{"permission": p, "status": "granted"}
                                  for p in sorted(grant.scopes)]}, {}
        object_id = grant.subject if parts[0] == "me" else parts[0]
        target = self.objects.get(object_id)
        if target is None:
            return _missing(object_id)
        kind = target["_type"]
        edge = parts[1] if len(parts) > 1 else None
        if edge is None:
            return self._node(method, target, params, grant)
        if kind == "page":
            return self._page_edge(method, target, edge, params, grant)
        if kind == "fb_post" or (kind == "fb_comment" and edge == "comments"):
            if edge != "comments":
                return _missing(object_id)
            return self._fb_comments(method, target, params, grant)
        if kind == "ig_user":
            return self._ig_user_edge(method, target, edge, params, grant)
        if kind == "ig_media" and edge == "comments" and method == "GET":
            return self._ig_comments(target, params, grant)
        if kind == "ig_comment" and edge == "replies":
            return self._ig_replies(method, target, params, grant)
        return _missing(object_id)

    def _node(self, method: str, target: dict[str, Any], params: dict[str, str],
              grant: Grant) -> Answer:
        kind = target["_type"]
        if method == "GET":
            if kind == "ig_user" and "fields" in params and "mentioned_" in params["fields"]:
                return self._ig_mentioned(target, params["fields"], grant)
            if kind == "ig_container":
                return 200, {"id": target["id"], "status_code": target["status_code"]}, {}
            return 200, self._fields(target, params.get("fields")), {}
        if kind == "fb_comment" and method == "POST" and "is_hidden" in params:
            refused = self._needs(grant, "pages_manage_engagement", write=True)
            if refused:
                return refused
            if target["_parent"] is None and target["from"]["id"] == grant.subject:
                return _error(400, 100, "(#100) A Page cannot hide its own comments")
            target["is_hidden"] = params["is_hidden"] == "true"
            return 200, {"success": True}, {}
        if kind == "ig_comment" and method == "POST" and "hide" in params:
            refused = self._needs(grant, "instagram_manage_comments", write=True)
            if refused:
                return refused
            target["hidden"] = params["hide"] == "true"
            return 200, {"success": True}, {}
        if method == "DELETE" and kind in ("fb_comment", "fb_post", "ig_comment"):
            needed = "instagram_manage_comments" if kind == "ig_comment" else (
                "pages_manage_engagement" if kind == "fb_comment" else "pages_manage_posts")
            refused = self._needs(grant, needed, write=True)
            if refused:
                return refused
            del self.objects[target["id"]]
            for child in [o for o in self.objects.values()
                          if target["id"] in (o.get("_parent"), o.get("parent_id"))]:
                del self.objects[child["id"]]
            return 200, {"success": True}, {}
        return _missing(target["id"])

    def _page_edge(self, method: str, page: dict[str, Any], edge: str,
                   params: dict[str, str], grant: Grant) -> Answer:
        if grant.subject != page["id"]:
            return _missing(page["id"])
        if method == "POST" and edge == "feed":
            refused = self._needs(grant, "pages_manage_posts", write=True)
            if refused:
                return refused
            message = params.get("message", "").strip()
            if not message and not params.get("link"):
                return _error(400, 100, "(#100) Missing message or attachment")
            post_id = self.add_post(page["id"], message)
            if params.get("link"):
                self.objects[post_id]["link"] = params["link"]
            self.objects[post_id]["_posted"] = True
            return 200, {"id": post_id}, {}
        if method == "GET" and edge in ("published_posts", "posts", "feed"):
            refused = self._needs(grant, "pages_read_engagement")
            if refused:
                return refused
            posts = [o for o in self.objects.values() if o["_type"] == "fb_post"
                     and o["_page"] == page["id"]
                     and (edge == "feed" or o["from"]["id"] == page["id"])]
            posts.sort(key=lambda o: (o["created_time"], o["id"]), reverse=True)
            return self._list(posts, params, f"/{self.version}/{page['id']}/{edge}")
        return _missing(page["id"])

    def _fb_comments(self, method: str, target: dict[str, Any], params: dict[str, str],
                     grant: Grant) -> Answer:
        post_id = target["_post"] if target["_type"] == "fb_comment" else target["id"]
        if self.objects[post_id]["_page"] != grant.subject:
            return _missing(target["id"])
        if method == "POST":
            refused = self._needs(grant, "pages_manage_engagement", write=True)
            if refused:
                return refused
            message = params.get("message", "").strip()
            if not message and not params.get("attachment_url"):
                return _error(400, 100, "(#100) Missing message or attachment")
            page = self.objects[grant.subject]
            comment_id = self.add_comment(target["id"], message,
                                          author=(page["id"], page["name"]))
            return 200, {"id": comment_id}, {}
        if method != "GET":
            return _missing(target["id"])
        refused = self._needs(grant, "pages_read_engagement")
        if refused:
            return refused
        stream = params.get("filter") == "stream"
        if target["_type"] == "fb_comment":
            items = [o for o in self.objects.values() if o["_type"] == "fb_comment"
                     and o["_parent"] == target["id"]]
        else:
            items = [o for o in self.objects.values() if o["_type"] == "fb_comment"
                     and o["_post"] == post_id and (stream or o["_parent"] is None)]
        since = _since(params.get("since"))
        if since is not None:
            items = [o for o in items if _epoch(o["created_time"]) >= since]
        items.sort(key=lambda o: (o["created_time"], int(o["id"].split("_")[1])),
                   reverse=params.get("order") == "reverse_chronological")
        return self._list(items, params, f"/{self.version}/{target['id']}/comments")

    # Instagram
    def _ig_user_edge(self, method: str, user: dict[str, Any], edge: str,
                      params: dict[str, str], grant: Grant) -> Answer:
        if grant.subject != user["id"]:
            return _missing(user["id"])
        if edge == "media" and method == "GET":
            refused = self._needs(grant, "instagram_basic")
            if refused:
                return refused
            media = [o for o in self.objects.values() if o["_type"] == "ig_media"
                     and o["_owner"] == user["id"]]
            media.sort(key=lambda o: (o["timestamp"], o["id"]), reverse=True)
            return self._list(media, params, f"/{self.version}/{user['id']}/media")
        if edge == "media" and method == "POST":
            refused = self._needs(grant, "instagram_content_publish", write=True)
            if refused:
                return refused
            if not params.get("image_url") and not params.get("video_url"):
                return _error(400, 100, "(#100) The parameter image_url is required")
            if len(params.get("caption", "")) > 2200:
                return _error(400, 100, "(#100) The caption is longer than 2200 characters",
                              subcode=2207006)
            container = self.next_id()
            self.objects[container] = {"_type": "ig_container", "_owner": user["id"],
                                       "id": container, "status_code": "FINISHED",
                                       "_caption": params.get("caption", ""),
                                       "_image": params.get("image_url")}
            return 200, {"id": container}, {}
        if edge == "media_publish" and method == "POST":
            return self._publish(user["id"], params.get("creation_id", ""), "ig_container",
                                 IG_DAILY_POSTS, grant)
        if edge == "content_publishing_limit" and method == "GET":
            used = self._used(user["id"])
            return 200, {"data": [{"quota_usage": used, "config": {
                "quota_total": IG_DAILY_POSTS, "quota_duration": DAY}}]}, {}
        if edge == "mentions" and method == "POST":
            refused = self._needs(grant, "instagram_manage_comments", write=True)
            if refused:
                return refused
            on = params.get("comment_id") or params.get("media_id") or ""
            if on not in self.objects or not params.get("message"):
                return _error(400, 100, "(#100) Invalid parameter")
            comment_id = self.add_ig_comment(on, params["message"], username=user["username"],
                                             user_id=user["id"])
            return 200, {"id": comment_id}, {}
        return _missing(user["id"])

    def _publish(self, owner: str, creation_id: str, kind: str, daily: int,
                 grant: Grant) -> Answer:
        permission = "threads_content_publish" if kind == "th_container" \
            else "instagram_content_publish"
        refused = self._needs(grant, permission, write=True)
        if refused:
            return refused
        container = self.objects.get(creation_id)
        if container is None or container["_type"] != kind or container["_owner"] != owner:
            return _missing(creation_id)
        status_key = "status" if kind == "th_container" else "status_code"
        if container[status_key] == "PUBLISHED":
            return _error(400, 9004, "(#9004) The media has already been published",
                          subcode=2207008)
        if self._used(owner) >= daily:
            return _error(400, 9, "Application request limit reached: the account has "
                          f"published {daily} posts in 24 hours", subcode=2207042)
        if kind == "ig_container":
            media_id = self.add_ig_media(owner, container["_caption"])
        else:
            media_id = self.add_threads_post(owner, container["_text"],
                                             reply_to=container["_reply_to"])
        self.objects[media_id]["_posted"] = True
        container[status_key] = "PUBLISHED"
        container["_media"] = media_id
        self._published.setdefault(owner, []).append(time.time())
        return 200, {"id": media_id}, {}

    def _used(self, owner: str) -> int:
        now = time.time()
        return sum(1 for t in self._published.get(owner, []) if now - t < DAY)

    def _ig_comments(self, media: dict[str, Any], params: dict[str, str],
                     grant: Grant) -> Answer:
        if media["_owner"] != grant.subject:
            return _missing(media["id"])
        refused = self._needs(grant, "instagram_manage_comments")
        if refused:
            return refused
        items = [o for o in self.objects.values() if o["_type"] == "ig_comment"
                 and o["_media"] == media["id"] and not o.get("parent_id")]
        items.sort(key=lambda o: (o["timestamp"], o["id"]), reverse=True)
        return self._list(items, params, f"/{self.version}/{media['id']}/comments")

    def _ig_replies(self, method: str, comment: dict[str, Any], params: dict[str, str],
                    grant: Grant) -> Answer:
        media = self.objects.get(comment["_media"])
        if media is None or media["_owner"] != grant.subject:
            return _missing(comment["id"])
        if method == "GET":
            items = [o for o in self.objects.values() if o["_type"] == "ig_comment"
                     and o.get("parent_id") == comment["id"]]
            items.sort(key=lambda o: (o["timestamp"], o["id"]))
            return self._list(items, params, f"/{self.version}/{comment['id']}/replies")
        refused = self._needs(grant, "instagram_manage_comments", write=True)
        if refused:
            return refused
        if comment["hidden"]:
            return _error(400, 100, "(#100) Cannot reply to a hidden comment")
        if not params.get("message", "").strip():
            return _error(400, 100, "(#100) The parameter message is required")
        user = self.objects[grant.subject]
        reply = self.add_ig_comment(comment["id"], params["message"],
                                    username=user["username"], user_id=user["id"])
        return 200, {"id": reply}, {}

    def _ig_mentioned(self, user: dict[str, Any], fields: str, grant: Grant) -> Answer:
        refused = self._needs(grant, "instagram_manage_comments")
        if refused:
            return refused
        answer: dict[str, Any] = {"id": user["id"]}
        for name, modifier, sub in _parse_fields(fields):
            found = re.fullmatch(r"\.(comment_id|media_id)\((\d+)\)", modifier or "")
            if name not in ("mentioned_comment", "mentioned_media") or not found:
                continue
            target = self.objects.get(found.group(2))
            wanted = "ig_comment" if name == "mentioned_comment" else "ig_media"
            if target is None or target["_type"] != wanted:
                return _missing(found.group(2))
            answer[name] = self._fields(target, sub or "id")
        return 200, answer, {}

    # -- Threads ----------------------------------------------------------------------------------
    def _threads(self, method: str, rest: str, params: dict[str, str], grant: Grant
                 ) -> Answer:
        if grant.kind != "threads":
            return _error(400, 190, "Invalid OAuth access token - Cannot parse access token")
        parts = rest.split("/")
        if parts == ["debug_token"]:  # graph.threads.net/v1.0/debug_token, as documented
            return 200, {"data": {
                "type": "USER", "application": "Vigie", "is_valid": True,
                "expires_at": grant.expires_at, "data_access_expires_at": grant.expires_at,
                "issued_at": int(time.time()), "scopes": sorted(grant.scopes),
                "user_id": grant.subject}}, {}
        object_id = grant.subject if parts[0] == "me" else parts[0]
        target = self.objects.get(object_id)
        if target is None:
            return _missing(object_id)
        edge = parts[1] if len(parts) > 1 else None
        if edge is None and method == "GET":
            if target["_type"] == "th_container":
                return 200, {"id": target["id"], "status": target["status"]}, {}
            return 200, self._fields(target, params.get("fields")), {}
        if target["_type"] == "th_user":
            if target["id"] != grant.subject:
                return _missing(object_id)
            return self._threads_user(method, target, edge or "", params, grant)
        if target["_type"] == "th_media" and edge in ("replies", "conversation"):
            refused = self._needs(grant, "threads_read_replies")
            if refused:
                return refused
            if edge == "replies":
                items = [o for o in self.objects.values() if o["_type"] == "th_media"
                         and o["_reply_to"] == target["id"]]
            else:
                items = [o for o in self.objects.values() if o["_type"] == "th_media"
                         and o["_root"] == (target["_root"] or target["id"])
                         and o["id"] != target["id"]]
            items.sort(key=lambda o: (o["timestamp"], o["id"]),
                       reverse=params.get("reverse", "true") != "false")
            return self._list([self._threads_view(o) for o in items], params,
                              f"/threads/{self.threads_version}/{target['id']}/{edge}")
        if target["_type"] == "th_media" and edge == "manage_reply" and method == "POST":
            refused = self._needs(grant, "threads_manage_replies", write=True)
            if refused:
                return refused
            root = self.objects.get(target["_root"] or "")
            if not target["_reply_to"] or root is None or root["_owner"] != grant.subject:
                return _error(400, 100, "(#100) Only replies to your own posts can be hidden")
            target["hide_status"] = "HIDDEN" if params.get("hide") == "true" else "UNHUSHED"
            return 200, {"success": True}, {}
        return _missing(object_id)

    def _threads_user(self, method: str, user: dict[str, Any], edge: str,
                      params: dict[str, str], grant: Grant) -> Answer:
        if edge == "threads" and method == "POST":
            refused = self._needs(grant, "threads_content_publish", write=True)
            if refused:
                return refused
            if params.get("media_type") != "TEXT":
                return _error(400, 100, "(#100) Param media_type must be one of {TEXT, IMAGE, "
                              "VIDEO, CAROUSEL}")
            text = params.get("text", "")
            if not text.strip():
                return _error(400, 100, "(#100) Param text is required for TEXT posts")
            if threads_length(text) > THREADS_MAX_CHARACTERS:
                return _error(400, 100, "(#100) Param text must be at most 500 characters "
                              "long", subcode=4279009)
            reply_to = params.get("reply_to_id")
            if reply_to and (reply_to not in self.objects
                             or self.objects[reply_to]["_type"] != "th_media"):
                return _missing(reply_to)
            container = self.next_id()
            self.objects[container] = {"_type": "th_container", "_owner": user["id"],
                                       "id": container, "status": "FINISHED", "_text": text,
                                       "_reply_to": reply_to}
            return 200, {"id": container}, {}
        if edge == "threads_publish" and method == "POST":
            return self._publish(user["id"], params.get("creation_id", ""), "th_container",
                                 THREADS_DAILY_POSTS, grant)
        if method != "GET":
            return _missing(user["id"])
        if edge == "threads_publishing_limit":
            return 200, {"data": [{"quota_usage": self._used(user["id"]), "config": {
                "quota_total": THREADS_DAILY_POSTS, "quota_duration": DAY},
                "reply_quota_usage": 0, "reply_config": {"quota_total": 1000,
                                                         "quota_duration": DAY}}]}, {}
        if edge in ("threads", "replies"):
            want_replies = edge == "replies"
            items = [o for o in self.objects.values() if o["_type"] == "th_media"
                     and o["_owner"] == user["id"] and bool(o["_reply_to"]) == want_replies]
        elif edge == "mentions":
            refused = self._needs(grant, "threads_manage_mentions")
            if refused:
                return refused
            items = [o for o in self.objects.values() if o["_type"] == "th_media"
                     and user["username"] in o["_mentions"] and o["_owner"] != user["id"]]
        else:
            return _missing(user["id"])
        items.sort(key=lambda o: (o["timestamp"], o["id"]), reverse=True)
        return self._list([self._threads_view(o) for o in items], params,
                          f"/threads/{self.threads_version}/{user['id']}/{edge}",
                          with_next=edge != "mentions")

    def _threads_view(self, media: dict[str, Any]) -> dict[str, Any]:
        view = dict(media)
        if media["_reply_to"]:
            view["replied_to"] = {"id": media["_reply_to"]}
            root = self.objects.get(media["_root"] or "")
            view["root_post"] = {"id": media["_root"],
                                 **({"owner_id": root["_owner"], "username": root["username"]}
                                    if root else {})}
        return view

    # -- shared -----------------------------------------------------------------------------------
    def _list(self, items: list[dict[str, Any]], params: dict[str, str], path: str, *,
              with_next: bool = True) -> Answer:
        limit = min(int(params.get("limit") or 25), 100)
        start = 0
        if params.get("after"):
            start = _cursor(params["after"])
        page = items[start:start + limit]
        body: dict[str, Any] = {"data": [self._fields(o, params.get("fields"))
                                         for o in page]}
        if page:
            body["paging"] = {"cursors": {"before": _encode_cursor(start),
                                          "after": _encode_cursor(start + len(page))}}
            if with_next and start + len(page) < len(items):
                query = {k: v for k, v in params.items() if k != "after"}
                query["after"] = _encode_cursor(start + len(page))
                base = f"{self.url}{path}"
                body["paging"]["next"] = f"{base}?{urlencode(query)}"
        return 200, body, {}

    def _fields(self, obj: dict[str, Any], fields: str | None) -> dict[str, Any]:
        kind = obj["_type"]
        default = {"fb_comment": "id,message,created_time,from",
                   "fb_post": "id,message,created_time", "ig_comment": "id,text,timestamp",
                   "ig_media": "id", "th_media": "id"}.get(kind, "id,name,username")
        out: dict[str, Any] = {}
        for name, _, sub in _parse_fields(fields or default):
            if name == "parent" and kind == "fb_comment":
                if obj["_parent"]:
                    out["parent"] = self._fields(self.objects[obj["_parent"]], sub or "id") \
                        if obj["_parent"] in self.objects else {"id": obj["_parent"]}
            elif name == "replies" and kind == "ig_comment":
                replies = sorted((o for o in self.objects.values()
                                  if o["_type"] == "ig_comment"
                                  and o.get("parent_id") == obj["id"]),
                                 key=lambda o: (o["timestamp"], o["id"]))
                if replies:
                    out["replies"] = {"data": [self._fields(r, sub) for r in replies]}
            elif name == "comments_count" and kind == "ig_media":
                out[name] = sum(1 for o in self.objects.values()
                                if o["_type"] == "ig_comment" and o["_media"] == obj["id"])
            elif name == "media" and kind == "ig_comment":
                out["media"] = {"id": obj["_media"]}
            elif name in obj and not name.startswith("_") and obj[name] is not None:
                value = obj[name]
                out[name] = {k: value[k] for k in (sub.split(",") if sub else value)
                             if k in value} if isinstance(value, dict) else value
        out.setdefault("id", obj["id"])
        return out


_FAULT_MESSAGES = {
    1: "An unknown error has occurred.",
    2: "An unexpected error has occurred. Please retry your request later.",
    4: "Application request limit reached",
    17: "User request limit reached",
    32: "Page request limit reached",
    368: "The action attempted has been deemed abusive or is otherwise disallowed",
    613: "Calls to this api have exceeded the rate limit.",
    80001: "There have been too many calls to this Page account. Wait a bit and try again.",
    80002: "There have been too many calls to this Instagram account. Wait a bit and try "
           "again.",
    190: "Error validating access token: Session has expired on Monday, 01-Dec-26 10:00:00 "
         "PST.",
}
_RATE_CODES = {4, 17, 32, 613, 80001, 80002}


def _parse_fields(spec: str | None) -> list[tuple[str, str, str]]:
    """`id,from{id,name},mentioned_comment.comment_id(1){text}` → (name, modifier, sub)."""
    out: list[tuple[str, str, str]] = []
    depth, start = 0, 0
    text = spec or ""
    pieces: list[str] = []
    for index, char in enumerate(text):
        if char in "{(":
            depth += 1
        elif char in "})":
            depth -= 1
        elif char == "," and depth == 0:
            pieces.append(text[start:index])
            start = index + 1
    pieces.append(text[start:])
    for piece in (p.strip() for p in pieces if p.strip()):
        sub = ""
        if piece.endswith("}") and "{" in piece:
            sub = piece[piece.index("{") + 1:-1]
            piece = piece[:piece.index("{")]
        name, _, modifier = piece.partition(".")
        out.append((name, f".{modifier}" if modifier else "", sub))
    return out


def _encode_cursor(index: int) -> str:
    return f"QVFI{index:06d}"


def _cursor(value: str) -> int:
    digits = value.removeprefix("QVFI")
    return int(digits) if digits.isdigit() else 0


def _epoch(iso: str) -> float:
    return datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S%z").timestamp()


def _since(value: str | None) -> float | None:
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class _Handler(QuietHandler):
    server_fake: FakeGraph
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms stall

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        fake = self.server_fake
        split = urlsplit(self.path)
        query = parse_qs(split.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        form: dict[str, str] = {}
        if raw and "json" in self.headers.get("Content-Type", ""):
            form = {k: str(v) for k, v in json.loads(raw).items()}
        elif raw:
            form = {k: v[-1] for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()}
        auth = self.headers.get("Authorization", "")
        token = auth.split(" ", 1)[1].strip() if auth.startswith(("Bearer ", "OAuth ")) \
            else (query.pop("access_token", [None])[-1] or form.pop("access_token", None))
        try:
            status, body, extra = fake.handle(method, split.path, query, form, token)
        except Exception as exc:  # a bug here must show as a 500, not hang the client
            status, body, extra = 500, {"error": {"message": repr(exc), "code": 1,
                                                  "type": "FakeGraphBug"}}, {}
        with fake._lock:
            rest = re.sub(r"^(/threads)?/v[\d.]+", "", split.path)
            fake.requests.append(Request(method, split.path, query, form, token, status, rest))
        self.answer_json(status, body, extra,
                         content_type="application/json; charset=UTF-8")


FakeGraph.handler = _Handler
