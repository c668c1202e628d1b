"""A Mastodon-compatible API server on 127.0.0.1 for the tests and the sandbox (`vigie demo`):
the real Mastodon.py client, unchanged, is pointed at `FakeMastodon.url`.

Why: connectors, replies, moderation and publishing must be tested through Mastodon.py's
real HTTP calls (auth header, form and JSON bodies, pagination by Link headers, error
statuses) without network access. Entities follow the shapes Mastodon documents
(Status, Account, Notification, Instance v1/v2, Relationship, Report).

Endpoints: instance v1/v2, verify_credentials, notifications (types[], exclude_types[],
since_id, max_id, min_id, limit, Link header) and one notification, status lookup,
context and source, an account's statuses (max_id paging), POST/DELETE statuses,
account mute/unmute/block/unblock, reports.

Idempotency-Key as Mastodon honours it (PostStatusService, since mastodon#37879): a
request holds a lock on its key while it runs, so a second one with the same key is
turned away with 503 meanwhile; once the status exists the key maps to it for an hour,
and a request with the key gets that status back. It reports `version` (a release with
that lock by default); given an older one (`OLD_VERSION`) it has no lock, like those
releases: a second request while the first runs is carried out too.

Faults: `fail_next` (any status, with Retry-After for 429; `created=True`: the status is
created first, then the request fails, as when Mastodon fails after saving),
`hang_next` (the request is carried out late — after `seconds`, or when `release` is set
— to trigger client timeouts; `create=False`: it then fails without creating anything),
`set_down` (503 everywhere).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bot.sandbox.faults import Fault, play_before, take
from bot.sandbox.local_server import LocalServer, QuietHandler

__all__ = ["FakeMastodon", "Request"]

VERSION = "4.6.0"  # has the lock on the Idempotency-Key (bot.platforms.mastodon.client)
OLD_VERSION = "4.3.2"  # has not


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    form: dict[str, Any]
    token: str | None
    status: int
    idempotency_key: str | None = None


@dataclass
class _State:
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    statuses: dict[str, dict[str, Any]] = field(default_factory=dict)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    mutes: set[str] = field(default_factory=set)
    blocks: set[str] = field(default_factory=set)
    reports: list[dict[str, Any]] = field(default_factory=list)
    idempotency: dict[str, str] = field(default_factory=dict)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class FakeMastodon(LocalServer):
    """One instance, one logged-in account per token (`tokens` maps token → username)."""

    def __init__(self, *, domain: str = "pouet.example",
                 tokens: dict[str, str] | None = None, max_characters: int = 500,
                 first_id: int = 110_000_000_000_000_001, version: str = VERSION) -> None:
        self.domain = domain
        self.version = version  # as /api/v1 and /api/v2/instance report it
        self.max_characters = max_characters  # the instance's setting, as Mastodon serves it
        self.tokens = dict(tokens or {"token-matinale": "matinale"})
        self._lock = threading.RLock()
        self._ids = itertools.count(first_id)  # Mastodon's ids grow with time
        self._state = _State()
        self._faults: list[Fault] = []
        self._in_flight: set[str] = set()  # Idempotency-Keys of requests being processed
        self._down = False
        self.requests: list[Request] = []
        self.on_post: Callable[[dict[str, Any]], None] | None = None
        for username in set(self.tokens.values()):
            self.add_account(username, display_name=username.capitalize())

    # -- keeping it across restarts (the sandbox) ---------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """The instance's content as JSON: the sandbox keeps it, so a reply to a mention
        received before a restart still finds its status."""
        with self._lock:
            state = self._state
            saved: dict[str, Any] = json.loads(json.dumps({
                "accounts": state.accounts, "statuses": state.statuses,
                "notifications": state.notifications, "mutes": sorted(state.mutes),
                "blocks": sorted(state.blocks), "reports": state.reports,
                "idempotency": state.idempotency}))
            return saved

    def restore(self, saved: dict[str, Any]) -> None:
        """Bring back what `snapshot` saved (new ids keep growing past the saved ones)."""
        with self._lock:
            state = _State(accounts=dict(saved["accounts"]), statuses=dict(saved["statuses"]),
                           notifications=list(saved["notifications"]),
                           mutes=set(saved["mutes"]), blocks=set(saved["blocks"]),
                           reports=list(saved["reports"]),
                           idempotency=dict(saved["idempotency"]))
            for account in self._state.accounts.values():  # the tokens' own accounts
                if not any(a["acct"] == account["acct"] for a in state.accounts.values()):
                    state.accounts[account["id"]] = account
            self._state = state
            newest = max([int(i) for i in [*state.accounts, *state.statuses]] or [0])
            current = next(self._ids)
            self._ids = itertools.count(max(current, newest + 1))

    # -- seeding -----------------------------------------------------------------------------
    def next_id(self) -> str:
        with self._lock:
            return str(next(self._ids))

    def add_account(self, username: str, *, domain: str | None = None,
                    display_name: str = "") -> dict[str, Any]:
        acct = username if domain in (None, self.domain) else f"{username}@{domain}"
        with self._lock:
            for account in self._state.accounts.values():
                if account["acct"] == acct:
                    return account
            account_id = self.next_id()
            host = domain or self.domain
            account = {
                "id": account_id, "username": username, "acct": acct,
                "display_name": display_name, "locked": False, "bot": False,
                "discoverable": True, "group": False,
                "created_at": _iso(datetime(2022, 1, 1, tzinfo=UTC)), "note": "",
                "url": f"https://{host}/@{username}", "uri": f"https://{host}/users/{username}",
                "avatar": f"https://{host}/avatars/{username}.png",
                "avatar_static": f"https://{host}/avatars/{username}.png",
                "header": "", "header_static": "", "followers_count": 0,
                "following_count": 0, "statuses_count": 0, "last_status_at": None,
                "emojis": [], "fields": [],
            }
            self._state.accounts[account_id] = account
            return account

    def account(self, acct: str) -> dict[str, Any]:
        with self._lock:
            return next(a for a in self._state.accounts.values() if a["acct"] == acct)

    def add_status(self, author: dict[str, Any], content_html: str, *,
                   visibility: str = "public", language: str | None = "fr",
                   spoiler_text: str = "", in_reply_to_id: str | None = None,
                   created_at: datetime | None = None) -> dict[str, Any]:
        with self._lock:
            status_id = self.next_id()
            host = author["url"].split("/")[2]
            status: dict[str, Any] = {
                "id": status_id, "uri": f"https://{host}/users/{author['username']}/statuses/"
                f"{status_id}", "url": f"https://{host}/@{author['username']}/{status_id}",
                "created_at": _iso(created_at or datetime.now(UTC)), "account": author,
                "content": content_html, "visibility": visibility, "sensitive": bool(spoiler_text),
                "spoiler_text": spoiler_text, "language": language,
                "in_reply_to_id": in_reply_to_id,
                "in_reply_to_account_id": (self._state.statuses[in_reply_to_id]["account"]["id"]
                                           if in_reply_to_id in self._state.statuses else None),
                "reblog": None, "media_attachments": [], "mentions": [], "tags": [],
                "emojis": [], "reblogs_count": 0, "favourites_count": 0, "replies_count": 0,
                "application": None, "edited_at": None, "poll": None, "card": None,
                "favourited": False, "reblogged": False, "muted": False, "bookmarked": False,
                "pinned": False, "filtered": [],
            }
            self._state.statuses[status_id] = status
            author["statuses_count"] += 1
            return status

    def mention(self, to: str, *, by: str = "kev59", by_domain: str | None = "mamot.example",
                text: str = "Bonjour", visibility: str = "public", language: str | None = "fr",
                spoiler_text: str = "", kind: str = "mention",
                created_at: datetime | None = None) -> dict[str, Any]:
        """`by` mentions the local account `to`: a status plus its notification for `to`."""
        author = self.add_account(by, domain=by_domain, display_name=by.capitalize())
        target = self.account(to)
        html = (f'<p><span class="h-card"><a href="{target["url"]}" class="u-url mention">'
                f'@<span>{to}</span></a></span> {text}</p>')
        status = self.add_status(author, html, visibility=visibility, language=language,
                                 spoiler_text=spoiler_text, created_at=created_at)
        with self._lock:
            self._state.notifications.append({
                "id": self.next_id(), "type": kind, "created_at": status["created_at"],
                "account": author, "status": status, "group_key": f"ungrouped-{status['id']}",
                "_for": target["id"],
            })
        return status

    def notify(self, to: str, kind: str, *, by: str = "fan") -> None:
        """A notification without a status (follow…) for `to`."""
        author = self.add_account(by, domain="mamot.example")
        with self._lock:
            self._state.notifications.append({
                "id": self.next_id(), "type": kind, "created_at": _iso(datetime.now(UTC)),
                "account": author, "_for": self.account(to)["id"],
            })

    # -- faults and inspection ---------------------------------------------------------------
    def fail_next(self, prefix: str = "/", *, status: int = 503, times: int = 1,
                  retry_after: int | None = None, created: bool = False) -> None:
        """The next `times` requests under `prefix` answer `status`; with `created`, only
        after being carried out (a status posted, its Idempotency-Key recorded)."""
        with self._lock:
            self._faults.append(Fault(prefix, status, times, retry_after=retry_after,
                                      created=created))

    def hang_next(self, prefix: str = "/", seconds: float = 5.0, *, times: int = 1,
                  release: threading.Event | None = None, create: bool = True) -> None:
        """The next `times` requests under `prefix` wait `seconds` (or, with `release`,
        until it is set, `seconds` at most), then are carried out and answered; with
        `create=False` they fail instead (500), having created nothing."""
        with self._lock:
            self._faults.append(Fault(prefix, 0, times, hang=seconds, release=release,
                                      create=create))

    def in_flight(self) -> int:
        """Status posts still being processed (a hung request the client gave up on)."""
        with self._lock:
            return len(self._in_flight)

    def set_down(self, down: bool = True) -> None:
        with self._lock:
            self._down = down

    def calls(self, method: str, prefix: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path.startswith(prefix)]

    @property
    def posted(self) -> list[dict[str, Any]]:
        """Statuses created through POST /api/v1/statuses, oldest first."""
        with self._lock:
            return [s for s in self._state.statuses.values() if s.get("_posted")]

    @property
    def mutes(self) -> set[str]:
        return set(self._state.mutes)

    @property
    def blocks(self) -> set[str]:
        return set(self._state.blocks)

    @property
    def reports(self) -> list[dict[str, Any]]:
        return list(self._state.reports)

    # -- the API -------------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, list[str]], form: dict[str, Any],
               token: str | None, headers: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        key = headers.get("idempotency-key") if (method, path) == ("POST", "/api/v1/statuses") \
            else None
        with self._lock:
            if self._down:
                return 503, {"error": "Service Unavailable"}, {}
            fault = take(self._faults, path)
            if key and self._me(token) is not None:
                if key in self._in_flight and _locks_keys(self.version):
                    # Mastodon::RaceConditionError on the key's lock
                    return 503, {"error": "There was a temporary problem serving your "
                                          "request, please try again"}, {}
                self._in_flight.add(key)
        try:
            early = play_before(fault, hung_and_dropped=(
                500, {"error": "We're sorry, but something went wrong"}, {}),
                refused={"error": f"HTTP {fault.status}" if fault else ""})
            if early is not None:
                return early
            with self._lock:
                if path == "/api/v1/instance":
                    answer: tuple[int, Any, dict[str, str]] = 200, self._instance_v1(), {}
                elif path == "/api/v2/instance":
                    answer = 200, self._instance_v2(), {}
                else:
                    me = self._me(token)
                    if me is None:
                        return 401, {"error": "The access token is invalid"}, {}
                    answer = self._route(method, path, query, form, me, headers)
            if fault is not None and fault.created:  # carried out, then failed
                return fault.status, {"error": f"HTTP {fault.status}"}, {}
            return answer
        finally:
            if key:
                with self._lock:
                    self._in_flight.discard(key)

    def _route(self, method: str, path: str, query: dict[str, list[str]], form: dict[str, Any],
               me: dict[str, Any], headers: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        parts = path.strip("/").split("/")[2:]  # after api/v1
        if method == "GET" and parts == ["accounts", "verify_credentials"]:
            return 200, {**me, "source": {"privacy": "public", "language": "fr"}}, {}
        if method == "GET" and parts == ["notifications"]:
            return self._notifications(query, me)
        if method == "GET" and len(parts) == 2 and parts[0] == "notifications":
            found = next((n for n in self._state.notifications if n["id"] == parts[1]
                          and n["_for"] == me["id"]), None)
            return (200, _public(found), {}) if found else (404, {"error": "Record not found"}, {})
        if parts[:1] == ["statuses"]:
            return self._statuses(method, parts[1:], form, me, headers)
        if method == "GET" and parts == ["search"]:  # /api/v2/search, resolving a post's URL
            q = (query.get("q") or [""])[0]
            wanted = (query.get("type") or ["statuses"])[0] == "statuses"
            hits = [_public(s) for s in self._state.statuses.values()
                    if wanted and q in (s["url"], s["uri"])]
            return 200, {"accounts": [], "statuses": hits, "hashtags": []}, {}
        if method == "GET" and len(parts) == 3 and parts[0] == "accounts" \
                and parts[2] == "statuses":
            return self._account_statuses(parts[1], query)
        if method == "POST" and len(parts) == 3 and parts[0] == "accounts":
            return self._relationship(parts[1], parts[2])
        if method == "POST" and parts == ["reports"]:
            report = {"id": self.next_id(), "action_taken": False, "category":
                      form.get("category", "other"), "comment": form.get("comment", ""),
                      "forwarded": str(form.get("forward", "false")).lower() == "true",
                      "status_ids": _list(form, "status_ids"),
                      "target_account": self._state.accounts.get(str(form.get("account_id")))}
            if report["target_account"] is None:
                return 422, {"error": "Validation failed: Account can't be blank"}, {}
            self._state.reports.append(report)
            return 200, report, {}
        return 404, {"error": "Record not found"}, {}

    def _notifications(self, query: dict[str, list[str]], me: dict[str, Any]
                       ) -> tuple[int, Any, dict[str, str]]:
        types = query.get("types[]") or query.get("types") or []
        excluded = query.get("exclude_types[]") or query.get("exclude_types") or []
        limit = min(int((query.get("limit") or ["40"])[0]), 80)
        since = (query.get("since_id") or [""])[0]
        max_id = (query.get("max_id") or [""])[0]
        min_id = (query.get("min_id") or [""])[0]
        items = [n for n in self._state.notifications if n["_for"] == me["id"]
                 and (not types or n["type"] in types) and n["type"] not in excluded]
        items.sort(key=lambda n: int(n["id"]), reverse=True)
        if since:
            items = [n for n in items if int(n["id"]) > int(since)]
        if max_id:
            items = [n for n in items if int(n["id"]) < int(max_id)]
        if min_id:  # the page just above min_id, still answered newest first
            above = sorted((n for n in items if int(n["id"]) > int(min_id)),
                           key=lambda n: int(n["id"]))
            items = above[:limit][::-1]
        page = items[:limit]
        headers: dict[str, str] = {}
        if page:
            base = f"{self.url}/api/v1/notifications"
            headers["Link"] = (f'<{base}?max_id={page[-1]["id"]}>; rel="next", '
                               f'<{base}?min_id={page[0]["id"]}>; rel="prev"')
        return 200, [_public(n) for n in page], headers

    def _account_statuses(self, account_id: str, query: dict[str, list[str]]
                          ) -> tuple[int, Any, dict[str, str]]:
        """The account's statuses, newest first (exclude_replies, max_id, limit)."""
        if account_id not in self._state.accounts:
            return 404, {"error": "Record not found"}, {}
        flag = (query.get("exclude_replies") or ["false"])[0].lower() in ("true", "1")
        limit = min(int((query.get("limit") or ["20"])[0]), 40)
        max_id = (query.get("max_id") or [""])[0]
        items = [s for s in self._state.statuses.values() if s["account"]["id"] == account_id
                 and not (flag and s.get("in_reply_to_id"))
                 and not (max_id and int(s["id"]) >= int(max_id))]
        items.sort(key=lambda s: int(s["id"]), reverse=True)
        return 200, [_public(s) for s in items[:limit]], {}

    def _statuses(self, method: str, rest: list[str], form: dict[str, Any], me: dict[str, Any],
                  headers: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        if method == "POST" and not rest:
            key = headers.get("idempotency-key")
            if key and key in self._state.idempotency:
                return 200, _public(self._state.statuses[self._state.idempotency[key]]), {}
            text = str(form.get("status") or "").strip()
            if not text and not form.get("media_ids"):
                return 422, {"error": "Validation failed: Text can't be blank"}, {}
            if len(text) > self.max_characters:
                return 422, {"error": "Validation failed: Text character limit of "
                                      f"{self.max_characters} "
                             "exceeded"}, {}
            reply_to = form.get("in_reply_to_id")
            if reply_to and str(reply_to) not in self._state.statuses:
                return 404, {"error": "Record not found"}, {}
            visibility = str(form.get("visibility") or "public")
            if visibility not in ("public", "unlisted", "private", "direct"):
                return 422, {"error": "Validation failed: Visibility is not included"}, {}
            status = self.add_status(me, f"<p>{_escape(text)}</p>", visibility=visibility,
                                     language=form.get("language"),
                                     spoiler_text=str(form.get("spoiler_text") or ""),
                                     in_reply_to_id=str(reply_to) if reply_to else None)
            status["_posted"] = True
            status["_text"] = text
            if self.on_post is not None:  # the sandbox's page shows it
                self.on_post(status)
            if key:
                self._state.idempotency[key] = status["id"]
            return 200, _public(status), {}
        found = self._state.statuses.get(rest[0]) if rest else None
        if found is None:
            return 404, {"error": "Record not found"}, {}
        status = found
        if method == "GET" and len(rest) == 1:
            return 200, _public(status), {}
        if method == "GET" and rest[1:] == ["source"]:  # the text as typed (Mastodon ≥ 3.5)
            return 200, {"id": status["id"], "text": status.get("_text") or re.sub(
                r"<[^>]+>", "", status["content"]), "spoiler_text": status["spoiler_text"]}, {}
        if method == "GET" and rest[1:] == ["context"]:
            ancestors: list[Any] = []
            cursor = status.get("in_reply_to_id")
            while cursor and cursor in self._state.statuses:
                ancestors.insert(0, _public(self._state.statuses[cursor]))
                cursor = self._state.statuses[cursor].get("in_reply_to_id")
            descendants = [_public(s) for s in self._state.statuses.values()
                           if s.get("in_reply_to_id") == status["id"]]
            return 200, {"ancestors": ancestors, "descendants": descendants}, {}
        if method == "DELETE" and len(rest) == 1:
            if status["account"]["id"] != me["id"]:
                return 404, {"error": "Record not found"}, {}
            del self._state.statuses[rest[0]]
            return 200, {**_public(status), "text": status.get("_text", "")}, {}
        return 404, {"error": "Record not found"}, {}

    def _relationship(self, account_id: str, action: str) -> tuple[int, Any, dict[str, str]]:
        if account_id not in self._state.accounts:
            return 404, {"error": "Record not found"}, {}
        target = {"mute": self._state.mutes, "unmute": self._state.mutes,
                  "block": self._state.blocks, "unblock": self._state.blocks}.get(action)
        if target is None:
            return 404, {"error": "Record not found"}, {}
        (target.add if action in ("mute", "block") else target.discard)(account_id)
        return 200, {
            "id": account_id, "following": False, "showing_reblogs": False, "notifying": False,
            "followed_by": False, "blocking": account_id in self._state.blocks,
            "blocked_by": False, "muting": account_id in self._state.mutes,
            "muting_notifications": account_id in self._state.mutes, "requested": False,
            "domain_blocking": False, "endorsed": False, "note": "", "languages": None,
        }, {}

    def _me(self, token: str | None) -> dict[str, Any] | None:
        username = self.tokens.get(token or "")
        if username is None:
            return None
        return next(a for a in self._state.accounts.values() if a["acct"] == username)

    def _instance_v1(self) -> dict[str, Any]:
        return {"uri": self.domain, "title": "Pouet", "short_description": "", "description": "",
                "email": f"admin@{self.domain}", "version": self.version, "urls": {},
                "stats": {"user_count": 1, "status_count": len(self._state.statuses),
                          "domain_count": 1}, "thumbnail": None, "languages": ["fr", "en"],
                "registrations": False, "approval_required": False, "invites_enabled": False,
                "configuration": {"statuses": {"max_characters": self.max_characters}},
                "contact_account": None, "rules": []}

    def _instance_v2(self) -> dict[str, Any]:
        return {"domain": self.domain, "title": "Pouet", "version": self.version,
                "source_url": "https://github.com/mastodon/mastodon", "description": "",
                "usage": {"users": {"active_month": 1}}, "thumbnail": {"url": ""},
                "languages": ["fr", "en"],
                "configuration": {"statuses": {"max_characters": self.max_characters}},
                "registrations": {"enabled": False, "approval_required": False, "message": None},
                "contact": {"email": f"admin@{self.domain}", "account": None}, "rules": [],
                "api_versions": {"mastodon": 2}}


def _locks_keys(version: str) -> bool:
    """Mastodon 4.6.0 and later hold the lock on the Idempotency-Key (as this fake
    assumes; the reasoning is in bot.platforms.mastodon.client)."""
    numbers = re.match(r"(\d+)\.(\d+)\.(\d+)", version)
    return numbers is not None and tuple(int(n) for n in numbers.groups()) >= (4, 6, 0)


def _public(item: dict[str, Any] | None) -> Any:
    if item is None:
        return None
    return {k: (_public(v) if isinstance(v, dict) else v) for k, v in item.items()
            if not k.startswith("_")}


def _list(form: dict[str, Any], key: str) -> list[str]:
    value = form.get(f"{key}[]", form.get(key, []))
    return [str(v) for v in (value if isinstance(value, list) else [value])]


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class _Handler(QuietHandler):
    server_fake: FakeMastodon

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def _serve(self, method: str) -> None:
        fake = self.server_fake
        split = urlsplit(self.path)
        query = parse_qs(split.query)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        form: dict[str, Any] = {}
        kind = self.headers.get("Content-Type", "")
        if raw and "json" in kind:
            form = json.loads(raw)
        elif raw:
            for key, values in parse_qs(raw.decode(), keep_blank_values=True).items():
                form[key] = values if key.endswith("[]") or len(values) > 1 else values[0]
        auth = self.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else None
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            path = split.path.rstrip("/") or "/"  # Mastodon.py asks for /api/v2/instance/
            status, body, extra = fake.handle(method, path, query, form, token, headers)
        except Exception as exc:  # a bug here must show as a 500, not hang the client
            status, body, extra = 500, {"error": repr(exc)}, {}
        with fake._lock:
            fake.requests.append(Request(method, split.path, query, form, token, status,
                                         headers.get("idempotency-key")))
        self.answer_json(status, body, extra)


FakeMastodon.handler = _Handler
