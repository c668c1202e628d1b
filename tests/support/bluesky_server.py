"""A Bluesky-compatible XRPC server on 127.0.0.1 for tests: the real `atproto` Client,
unchanged, is pointed at `FakeBluesky.url` (its `base_url`; the SDK appends `/xrpc`).

Why: the connector, the link fetcher, replies and publishing must be tested through the
SDK's real HTTP calls (JSON bodies, query lists, Bearer access and refresh JWTs, the
SDK's own decoding of the access JWT's `exp`, its error classes per status) without
network access. One server plays the PDS and the AppView, as bsky.social does for its
users.

Sessions: `createSession` (handle, DID or e-mail + password) hands out HS256 JWTs shaped
like the PDS's (`at+jwt` access with `scope`/`sub`/`aud`/`iat`/`exp`, `refresh+jwt` with a
`jti`); `refreshSession` rotates them and revokes the old refresh token, like the PDS.
An expired or revoked access token gets `400 ExpiredToken` (what the PDS answers; set
`expired_status = 401` to test the other shape), a wrong password `401
AuthenticationRequired`.

Endpoints: com.atproto.server.createSession/refreshSession/getSession,
com.atproto.identity.resolveHandle, com.atproto.repo.createRecord/getRecord (posts, with
lexicon limits enforced: 300 graphemes, 3000 bytes; `rkey` honoured and conflicts
refused; and app.bsky.graph.block / app.bsky.feed.threadgate records, also with
putRecord and deleteRecord), app.bsky.graph.muteActor/unmuteActor,
com.atproto.moderation.createReport, app.bsky.notification.listNotifications (newest
first, `reasons`, `limit`, `cursor`), app.bsky.feed.getPostThread/getPosts,
app.bsky.actor.getProfile.

Faults: `fail_next` (any status and XRPC error, Retry-After for 429; `created=True`:
the request is carried out first, as when a PDS fails after writing the record),
`hang_next` (the request is carried out late — after `seconds`, or when `release` is set
— to trigger client timeouts; `create=False`: it then fails, having written nothing),
`set_down` (503 everywhere), `expire_access_tokens`, `revoke_refresh_tokens`.
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
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bot.sandbox.faults import Fault, play_before, take
from bot.sandbox.local_server import LocalServer, QuietHandler

__all__ = ["FakeBluesky", "Request"]

POST = "app.bsky.feed.post"
BLOCK = "app.bsky.graph.block"
THREADGATE = "app.bsky.feed.threadgate"
_SECRET = b"fake-pds-signing-key"
_B32 = "234567abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class Request:
    method: str
    nsid: str
    query: dict[str, list[str]]
    body: dict[str, Any]
    authorization: str | None
    status: int


@dataclass
class _State:
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)  # did → account
    posts: dict[str, dict[str, Any]] = field(default_factory=dict)  # uri → post
    notifications: list[dict[str, Any]] = field(default_factory=list)
    refresh_tokens: set[str] = field(default_factory=set)  # live refresh jti
    revoked_access: set[str] = field(default_factory=set)  # access tokens said expired
    mutes: dict[str, set[str]] = field(default_factory=dict)  # did → muted dids
    records: dict[str, dict[str, Any]] = field(default_factory=dict)  # uri → block, threadgate
    reports: list[dict[str, Any]] = field(default_factory=list)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _tid(micros: int, clock_id: int = 0) -> str:
    value = (micros << 10) | (clock_id & 0x3FF)
    return "".join(_B32[(value >> (5 * i)) & 31] for i in reversed(range(13)))


def _cid(data: Any) -> str:
    digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).digest()
    return "bafyrei" + base64.b32encode(digest).decode().lower().rstrip("=")[:52]


def _graphemes(text: str) -> int:
    """Close enough to UAX #29 for tests: combining marks, ZWJ sequences, flags."""
    count, joined, flag = 0, False, False
    for char in text:
        code = ord(char)
        if joined:
            joined = False
            continue
        if code == 0x200D:
            joined = True
            continue
        if unicodedata.category(char) in ("Mn", "Mc", "Me") or 0x1F3FB <= code <= 0x1F3FF \
                or 0xFE00 <= code <= 0xFE0F:
            continue
        if 0x1F1E6 <= code <= 0x1F1FF:
            flag = not flag
            if not flag:
                continue
        count += 1
    return count


_MENTION = re.compile(r"(?:^|\s|\()@([a-zA-Z0-9][a-zA-Z0-9.-]*\.[a-zA-Z]{2,})")
_LINK = re.compile(r"https?://[^\s]+")


class FakeBluesky(LocalServer):
    """One PDS + AppView. `accounts` maps handle → app password for accounts that log in."""

    def __init__(self, *, accounts: dict[str, str] | None = None,
                 access_ttl: timedelta = timedelta(hours=2)) -> None:
        self._lock = threading.RLock()
        self._state = _State()
        self._faults: list[Fault] = []
        self._down = False
        self._clock_ids = itertools.count(1)
        self._last_micros = 0
        self.access_ttl = access_ttl
        self.expired_status = 400
        self.requests: list[Request] = []
        self._issued_access: set[str] = set()
        for handle, password in (accounts or {"matinale.bsky.social": "app-pass-matinale"}
                                 ).items():
            self.add_account(handle, password=password)

    # -- seeding -----------------------------------------------------------------------------
    def add_account(self, handle: str, *, password: str | None = None,
                    display_name: str | None = None) -> dict[str, Any]:
        with self._lock:
            for account in self._state.accounts.values():
                if account["handle"] == handle:
                    return account
            digest = base64.b32encode(hashlib.sha256(handle.encode()).digest()).decode()
            did = "did:plc:" + digest.lower()[:24]
            account = {"did": did, "handle": handle, "password": password,
                       "displayName": display_name if display_name is not None
                       else handle.split(".")[0].capitalize(),
                       "email": f"{handle.split('.')[0]}@example.org"}
            self._state.accounts[did] = account
            return account

    def account(self, handle_or_did: str) -> dict[str, Any]:
        with self._lock:
            return next(a for a in self._state.accounts.values()
                        if handle_or_did in (a["handle"], a["did"]))

    def post(self, by: str, text: str, *, reply_to: str | None = None,
             quote: str | None = None, langs: list[str] | None = None,
             created_at: datetime | None = None, indexed_at: datetime | None = None,
             facets: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """`by` (a handle, created if unknown) posts `text`; notifies whoever it replies to,
        quotes or @-mentions. Facets for @handles and links are made the way the app does.
        Returns the post view (`uri`, `cid`, `record`…)."""
        author = self.add_account(by)
        record: dict[str, Any] = {"$type": POST, "text": text,
                                  "createdAt": _iso(created_at or datetime.now(UTC))}
        if langs is None:
            langs = ["fr"]
        if langs:
            record["langs"] = langs
        record["facets"] = facets if facets is not None else self._facets(text)
        if not record["facets"]:
            del record["facets"]
        with self._lock:
            if reply_to is not None:
                parent = self._state.posts[reply_to]
                root = parent["record"].get("reply", {}).get("root") or \
                    {"uri": parent["uri"], "cid": parent["cid"]}
                record["reply"] = {"root": root,
                                   "parent": {"uri": parent["uri"], "cid": parent["cid"]}}
            if quote is not None:
                quoted = self._state.posts[quote]
                record["embed"] = {"$type": "app.bsky.embed.record",
                                   "record": {"uri": quoted["uri"], "cid": quoted["cid"]}}
            return self._store(author, record, indexed_at=indexed_at)

    def mention(self, to: str, *, by: str = "kev59.bsky.social", text: str = "Bonjour",
                **kwargs: Any) -> dict[str, Any]:
        """`by` @-mentions `to` (a handle): the post, and `to`'s mention notification."""
        return self.post(by, f"@{to} {text}", **kwargs)

    def reply(self, to_post: dict[str, Any], *, by: str = "kev59.bsky.social",
              text: str = "Bien dit", **kwargs: Any) -> dict[str, Any]:
        return self.post(by, text, reply_to=to_post["uri"], **kwargs)

    def like(self, post: dict[str, Any], *, by: str = "fan.bsky.social") -> None:
        """A notification that is not about a post to answer (reason `like`)."""
        liker = self.add_account(by)
        with self._lock:
            self._notify(post["author"]["did"], liker, "like", uri=post["uri"],
                         cid=post["cid"], record={"$type": "app.bsky.feed.like",
                                                  "subject": {"uri": post["uri"],
                                                              "cid": post["cid"]},
                                                  "createdAt": _iso(datetime.now(UTC))},
                         subject=post["uri"], indexed_at=None)

    def delete(self, uri: str) -> None:
        with self._lock:
            self._state.posts.pop(uri, None)

    # -- faults and inspection ---------------------------------------------------------------
    def fail_next(self, nsid: str = "", *, status: int = 503, times: int = 1,
                  error: str = "InternalServerError", retry_after: int | None = None,
                  created: bool = False) -> None:
        """The next `times` calls whose NSID starts with `nsid` answer `status`; with
        `created`, only after being carried out (the record written)."""
        with self._lock:
            self._faults.append(Fault(nsid, status, times, error, retry_after,
                                      created=created))

    def hang_next(self, nsid: str = "", seconds: float = 5.0, *, times: int = 1,
                  release: threading.Event | None = None, create: bool = True) -> None:
        """The next `times` calls wait `seconds` (or, with `release`, until it is set,
        `seconds` at most), then are carried out and answered; with `create=False` they
        fail instead (500), having written nothing."""
        with self._lock:
            self._faults.append(Fault(nsid, 0, times, hang=seconds, release=release,
                                      create=create))

    def set_down(self, down: bool = True) -> None:
        with self._lock:
            self._down = down

    def expire_access_tokens(self) -> None:
        """Every access token handed out so far is now answered 'Token has expired'."""
        with self._lock:
            self._state.revoked_access.update(self._issued_access)

    def revoke_refresh_tokens(self) -> None:
        with self._lock:
            self._state.refresh_tokens.clear()

    def calls(self, nsid: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.nsid == nsid]

    @property
    def created(self) -> list[dict[str, Any]]:
        """Posts written through createRecord, oldest first (post views, `record` inside)."""
        with self._lock:
            return [p for p in self._state.posts.values() if p.get("_created")]

    def muted_by(self, handle: str) -> set[str]:
        """DIDs the account `handle` muted."""
        with self._lock:
            return set(self._state.mutes.get(self.account(handle)["did"], set()))

    def blocked_by(self, handle: str) -> set[str]:
        """DIDs the account `handle` blocks (its app.bsky.graph.block records)."""
        did = self.account(handle)["did"]
        with self._lock:
            return {r["value"]["subject"] for u, r in self._state.records.items()
                    if u.startswith(f"at://{did}/{BLOCK}/")}

    def threadgate(self, post_uri: str) -> dict[str, Any] | None:
        did, _, rkey = post_uri.removeprefix("at://").partition(f"/{POST}/")
        with self._lock:
            found = self._state.records.get(f"at://{did}/{THREADGATE}/{rkey}")
            return dict(found["value"]) if found else None

    @property
    def reports(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._state.reports)

    def notifications_for(self, handle: str) -> list[dict[str, Any]]:
        did = self.account(handle)["did"]
        with self._lock:
            return [n for n in self._state.notifications if n["_for"] == did]

    # -- internals -----------------------------------------------------------------------------
    def _now_micros(self) -> int:
        with self._lock:
            micros = max(int(time.time() * 1_000_000), self._last_micros + 1000)
            self._last_micros = micros
            return micros

    def _facets(self, text: str) -> list[dict[str, Any]]:
        facets = []
        for match in _MENTION.finditer(text):
            handle = match.group(1)
            known = next((a for a in self._state.accounts.values() if a["handle"] == handle),
                         None)
            if known is None:
                continue
            start = len(text[:match.start(1) - 1].encode())
            end = len(text[:match.end(1)].encode())
            facets.append({"index": {"byteStart": start, "byteEnd": end}, "features": [
                {"$type": "app.bsky.richtext.facet#mention", "did": known["did"]}]})
        for match in _LINK.finditer(text):
            start, end = len(text[:match.start()].encode()), len(text[:match.end()].encode())
            facets.append({"index": {"byteStart": start, "byteEnd": end}, "features": [
                {"$type": "app.bsky.richtext.facet#link", "uri": match.group(0)}]})
        return facets

    def _store(self, author: dict[str, Any], record: dict[str, Any], *,
               indexed_at: datetime | None = None, rkey: str | None = None,
               created: bool = False) -> dict[str, Any]:
        micros = self._now_micros()
        rkey = rkey or _tid(micros, next(self._clock_ids))
        uri = f"at://{author['did']}/{POST}/{rkey}"
        moment = indexed_at or datetime.fromtimestamp(micros / 1_000_000, UTC)
        post: dict[str, Any] = {
                "uri": uri, "cid": _cid(record), "author": self._profile(author, basic=True),
                "record": record, "replyCount": 0, "repostCount": 0, "likeCount": 0,
                "quoteCount": 0, "indexedAt": _iso(moment), "labels": [], "_rkey": rkey,
                "_created": created}
        self._state.posts[uri] = post
        notified: set[str] = set()
        reply = record.get("reply")
        if reply:
            parent = self._state.posts.get(reply["parent"]["uri"])
            if parent is not None:
                parent["replyCount"] += 1
                target = parent["author"]["did"]
                if target != author["did"]:
                    self._notify(target, author, "reply", uri=uri, cid=post["cid"],
                                 record=record, subject=parent["uri"], indexed_at=moment)
                    notified.add(target)
        embed = record.get("embed") or {}
        if embed.get("$type") == "app.bsky.embed.record":
            quoted = self._state.posts.get(embed["record"]["uri"])
            if quoted is not None and quoted["author"]["did"] not in notified \
                    and quoted["author"]["did"] != author["did"]:
                quoted["quoteCount"] += 1
                self._notify(quoted["author"]["did"], author, "quote", uri=uri,
                             cid=post["cid"], record=record, subject=quoted["uri"],
                             indexed_at=moment)
                notified.add(quoted["author"]["did"])
        for facet in record.get("facets") or []:
            for feature in facet.get("features") or []:
                did = feature.get("did")
                if feature.get("$type", "").endswith("#mention") and did \
                        and did not in notified and did != author["did"] \
                        and did in self._state.accounts:
                    self._notify(did, author, "mention", uri=uri, cid=post["cid"],
                                 record=record, subject=None, indexed_at=moment)
                    notified.add(did)
        return _public(post)

    def _notify(self, to: str, author: dict[str, Any], reason: str, *, uri: str, cid: str,
                record: dict[str, Any], subject: str | None,
                indexed_at: datetime | None) -> None:
        moment = indexed_at or datetime.fromtimestamp(self._now_micros() / 1_000_000, UTC)
        notification = {"uri": uri, "cid": cid, "author": self._profile(author),
                        "reason": reason, "record": record, "isRead": False,
                        "indexedAt": _iso(moment), "labels": [], "_for": to}
        if subject:
            notification["reasonSubject"] = subject
        self._state.notifications.append(notification)

    def _profile(self, account: dict[str, Any], *, basic: bool = False) -> dict[str, Any]:
        profile = {"did": account["did"], "handle": account["handle"],
                   "displayName": account["displayName"],
                   "avatar": f"https://cdn.bsky.example/avatar/{account['did']}.jpg",
                   "labels": [], "createdAt": "2023-05-01T10:00:00.000Z"}
        if not basic:
            profile["indexedAt"] = "2024-01-01T00:00:00.000Z"
            profile["description"] = ""
        return profile

    # -- tokens --------------------------------------------------------------------------------
    def _jwt(self, typ: str, payload: dict[str, Any]) -> str:
        header = _b64(json.dumps({"typ": typ, "alg": "HS256"}).encode())
        body = _b64(json.dumps(payload, separators=(",", ":")).encode())
        signature = hmac.new(_SECRET, f"{header}.{body}".encode(), hashlib.sha256).digest()
        return f"{header}.{body}.{_b64(signature)}"

    def _read_jwt(self, token: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        try:
            header, body, signature = token.split(".")
            expected = hmac.new(_SECRET, f"{header}.{body}".encode(), hashlib.sha256).digest()
            if not hmac.compare_digest(_b64(expected), signature):
                return None
            pad = "=" * (-len(body) % 4)
            head = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
            return head, json.loads(base64.urlsafe_b64decode(body + pad))
        except (ValueError, json.JSONDecodeError):
            return None

    def _session(self, account: dict[str, Any]) -> dict[str, Any]:
        now = int(time.time())
        jti = _b64(hashlib.sha256(f"{account['did']}{time.time_ns()}{next(self._clock_ids)}"
                                  .encode()).digest())[:32]
        access = self._jwt("at+jwt", {"scope": "com.atproto.appPass", "sub": account["did"],
                                      "aud": "did:web:pds.example", "iat": now, "jti": jti[:16],
                                      "exp": now + int(self.access_ttl.total_seconds())})
        refresh = self._jwt("refresh+jwt", {"scope": "com.atproto.refresh",
                                            "sub": account["did"], "aud": "did:web:pds.example",
                                            "jti": jti, "iat": now, "exp": now + 90 * 86400})
        self._state.refresh_tokens.add(jti)
        self._issued_access.add(access)
        return {"did": account["did"], "handle": account["handle"], "email": account["email"],
                "emailConfirmed": True, "emailAuthFactor": False, "active": True,
                "accessJwt": access, "refreshJwt": refresh}

    def _authorise(self, authorization: str | None, *, refresh: bool = False
                   ) -> tuple[dict[str, Any] | None, tuple[int, dict[str, Any]] | None]:
        if not authorization or not authorization.startswith("Bearer "):
            return None, (401, {"error": "AuthenticationRequired",
                                "message": "Authentication Required"})
        token = authorization.removeprefix("Bearer ").strip()
        read = self._read_jwt(token)
        if read is None:
            return None, (400, {"error": "InvalidToken", "message": "Token could not be verified"})
        header, payload = read
        wanted = "refresh+jwt" if refresh else "at+jwt"
        if header.get("typ") != wanted:
            return None, (400, {"error": "InvalidToken", "message": "Invalid token type"})
        if refresh and payload.get("jti") not in self._state.refresh_tokens:
            return None, (400, {"error": "ExpiredToken", "message": "Token has been revoked"})
        if int(payload.get("exp", 0)) <= time.time() or (
                not refresh and token in self._state.revoked_access):
            return None, (self.expired_status, {"error": "ExpiredToken",
                                                "message": "Token has expired"})
        account = self._state.accounts.get(str(payload.get("sub")))
        if account is None:
            return None, (400, {"error": "InvalidToken", "message": "Unknown account"})
        return {**account, "_jti": payload.get("jti")}, None

    # -- the API -------------------------------------------------------------------------------
    def handle(self, method: str, nsid: str, query: dict[str, list[str]], body: dict[str, Any],
               authorization: str | None) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            if self._down:
                return 503, {"error": "ServiceUnavailable", "message": "Service Unavailable"}, {}
            fault = take(self._faults, nsid)
        early = play_before(fault, hung_and_dropped=(
            500, {"error": "InternalServerError", "message": "Internal Server Error"}, {}),
            refused={"error": fault.error, "message": f"HTTP {fault.status}"} if fault else {})
        if early is not None:
            return early
        with self._lock:
            answer = self._route(method, nsid, query, body, authorization)
        if fault is not None and fault.created:  # carried out, then failed
            return fault.status, {"error": fault.error, "message": f"HTTP {fault.status}"}, {}
        return answer

    def _route(self, method: str, nsid: str, query: dict[str, list[str]], body: dict[str, Any],
               authorization: str | None) -> tuple[int, Any, dict[str, str]]:
        def arg(name: str) -> str:
            return (query.get(name) or [""])[0]

        if method == "POST" and nsid == "com.atproto.server.createSession":
            who = str(body.get("identifier") or "").removeprefix("@").lower()
            account = next((a for a in self._state.accounts.values()
                            if who in (a["handle"].lower(), a["did"], a["email"])), None)
            if account is None or not account["password"] or \
                    body.get("password") != account["password"]:
                return 401, {"error": "AuthenticationRequired",
                             "message": "Invalid identifier or password"}, {}
            return 200, self._session(account), {}
        if method == "POST" and nsid == "com.atproto.server.refreshSession":
            account, refused = self._authorise(authorization, refresh=True)
            if refused or account is None:
                return (*(refused or (401, {})), {})
            self._state.refresh_tokens.discard(account["_jti"])
            return 200, self._session(account), {}
        if method == "GET" and nsid == "com.atproto.identity.resolveHandle":
            handle = arg("handle").lower()
            found = next((a for a in self._state.accounts.values()
                          if a["handle"].lower() == handle), None)
            if found is None:
                return 400, {"error": "InvalidRequest", "message": "Unable to resolve handle"}, {}
            return 200, {"did": found["did"]}, {}
        if method == "GET" and nsid == "app.bsky.feed.getPosts":
            posts = [_public(self._state.posts[u]) for u in query.get("uris", [])
                     if u in self._state.posts]
            return 200, {"posts": posts}, {}
        if method == "GET" and nsid == "app.bsky.feed.getPostThread":
            return self._thread(arg("uri"))
        if method == "GET" and nsid == "app.bsky.actor.getProfile":
            try:
                return 200, self._profile(self.account(arg("actor"))), {}
            except StopIteration:
                return 400, {"error": "InvalidRequest", "message": "Profile not found"}, {}
        me, refused = self._authorise(authorization)
        if refused or me is None:
            return (*(refused or (401, {})), {})
        if method == "GET" and nsid == "com.atproto.server.getSession":
            return 200, {"did": me["did"], "handle": me["handle"], "active": True}, {}
        if method == "GET" and nsid == "app.bsky.notification.listNotifications":
            return self._list_notifications(me, query)
        if method == "POST" and nsid in ("app.bsky.graph.muteActor",
                                          "app.bsky.graph.unmuteActor"):
            try:
                target = self.account(str(body.get("actor") or ""))["did"]
            except StopIteration:
                return 400, {"error": "InvalidRequest", "message": "Actor not found"}, {}
            muted = self._state.mutes.setdefault(me["did"], set())
            if nsid == "app.bsky.graph.muteActor":
                muted.add(target)
            else:
                muted.discard(target)
            return 200, {}, {}
        if method == "POST" and nsid == "com.atproto.moderation.createReport":
            subject = body.get("subject") or {}
            if not body.get("reasonType") or not (subject.get("did") or subject.get("uri")):
                return 400, {"error": "InvalidRequest", "message": "Invalid report"}, {}
            report = {"id": len(self._state.reports) + 1, "reasonType": body["reasonType"],
                      "reason": body.get("reason"), "subject": subject,
                      "reportedBy": me["did"], "createdAt": _iso(datetime.now(UTC))}
            self._state.reports.append(report)
            return 200, report, {}
        if method == "POST" and nsid == "com.atproto.repo.createRecord" and \
                body.get("collection") in (BLOCK, THREADGATE):
            return self._put_record(me, body, create=True)
        if method == "POST" and nsid == "com.atproto.repo.putRecord":
            return self._put_record(me, body, create=False)
        if method == "POST" and nsid == "com.atproto.repo.deleteRecord":
            uri = f"at://{me['did']}/{body.get('collection')}/{body.get('rkey')}"
            self._state.records.pop(uri, None)
            self._state.posts.pop(uri, None)
            return 200, {}, {}
        if method == "POST" and nsid == "com.atproto.repo.createRecord":
            return self._create_record(me, body)
        if method == "GET" and nsid == "com.atproto.repo.getRecord":
            repo = self.account(arg("repo"))["did"] if arg("repo") else ""
            uri = f"at://{repo}/{arg('collection')}/{arg('rkey')}"
            if uri in self._state.records:
                return 200, self._state.records[uri], {}
            found = self._state.posts.get(uri)
            if found is None:
                return 400, {"error": "RecordNotFound",
                             "message": f"Could not locate record: {uri}"}, {}
            return 200, {"uri": uri, "cid": found["cid"], "value": found["record"]}, {}
        return 501, {"error": "MethodNotImplemented", "message": "Method Not Implemented"}, {}

    def _list_notifications(self, me: dict[str, Any], query: dict[str, list[str]]
                            ) -> tuple[int, Any, dict[str, str]]:
        reasons = set(query.get("reasons") or [])
        try:
            limit = int((query.get("limit") or ["50"])[0])
        except ValueError:
            limit = 0
        if not 1 <= limit <= 100:
            return 400, {"error": "InvalidRequest",
                         "message": "limit must be between 1 and 100"}, {}
        items = [n for n in self._state.notifications if n["_for"] == me["did"]
                 and (not reasons or n["reason"] in reasons)]
        items.sort(key=lambda n: (n["indexedAt"], n["uri"]), reverse=True)
        cursor = (query.get("cursor") or [""])[0]
        if cursor:
            at, _, uri = cursor.partition("::")
            items = [n for n in items if (n["indexedAt"], n["uri"]) < (at, uri)]
        page = items[:limit]
        answer: dict[str, Any] = {"notifications": [_public(n) for n in page],
                                  "priority": False}
        if len(items) > limit:
            answer["cursor"] = f"{page[-1]['indexedAt']}::{page[-1]['uri']}"
        return 200, answer, {}

    def _thread(self, uri: str) -> tuple[int, Any, dict[str, str]]:
        post = self._state.posts.get(uri)
        if post is None:
            return 400, {"error": "NotFound", "message": f"Post not found: {uri}"}, {}

        def view(item: dict[str, Any], depth: int) -> dict[str, Any]:
            node: dict[str, Any] = {"$type": "app.bsky.feed.defs#threadViewPost",
                                    "post": _public(item)}
            parent_ref = (item["record"].get("reply") or {}).get("parent")
            if parent_ref and depth < 20:
                parent = self._state.posts.get(parent_ref["uri"])
                node["parent"] = view(parent, depth + 1) if parent else {
                    "$type": "app.bsky.feed.defs#notFoundPost", "uri": parent_ref["uri"],
                    "notFound": True}
            return node

        thread = view(post, 0)
        thread["replies"] = [
            {"$type": "app.bsky.feed.defs#threadViewPost", "post": _public(p), "replies": []}
            for p in self._state.posts.values()
            if (p["record"].get("reply") or {}).get("parent", {}).get("uri") == uri]
        return 200, {"thread": thread}, {}

    def _put_record(self, me: dict[str, Any], body: dict[str, Any], *, create: bool
                    ) -> tuple[int, Any, dict[str, str]]:
        """Block and threadgate records (and putRecord of any): stored as given."""
        if str(body.get("repo") or "") not in (me["did"], me["handle"]):
            return 401, {"error": "AuthRequired", "message": "Input/repo must be the "
                         "authenticated account"}, {}
        collection = str(body.get("collection") or "")
        record = dict(body.get("record") or {})
        if collection == BLOCK and not str(record.get("subject", "")).startswith("did:"):
            return 400, {"error": "InvalidRequest", "message": "Record/subject must be a did"}, {}
        if collection == THREADGATE and not str(record.get("post", "")).startswith("at://"):
            return 400, {"error": "InvalidRequest", "message": "Record/post must be an at-uri"}, {}
        rkey = str(body.get("rkey") or _tid(self._now_micros(), next(self._clock_ids)))
        uri = f"at://{me['did']}/{collection}/{rkey}"
        if create and uri in self._state.records:
            return 400, {"error": "InvalidRequest", "message": "Record already exists"}, {}
        self._state.records[uri] = {"uri": uri, "cid": _cid(record), "value": record}
        return 200, {"uri": uri, "cid": _cid(record)}, {}

    def _create_record(self, me: dict[str, Any], body: dict[str, Any]
                       ) -> tuple[int, Any, dict[str, str]]:
        repo = str(body.get("repo") or "")
        if repo not in (me["did"], me["handle"]):
            return 401, {"error": "AuthRequired", "message": "Input/repo must be the "
                         "authenticated account"}, {}
        if body.get("collection") != POST:
            return 400, {"error": "InvalidRequest", "message": "unsupported collection"}, {}
        record = dict(body.get("record") or {})
        text = record.get("text")
        problem = None
        if not isinstance(text, str):
            problem = "Record/text must be a string"
        elif len(text.encode()) > 3000:
            problem = "Record/text must not be longer than 3000 characters"
        elif _graphemes(text) > 300:
            problem = "Record/text must not be longer than 300 graphemes"
        elif not isinstance(record.get("createdAt"), str):
            problem = 'Record must have the property "createdAt"'
        reply = record.get("reply")
        if problem is None and reply is not None:
            for part in ("root", "parent"):
                ref = reply.get(part) if isinstance(reply, dict) else None
                if not isinstance(ref, dict) or not str(ref.get("uri", "")).startswith("at://") \
                        or not ref.get("cid"):
                    problem = f"Record/reply/{part} must be a strong ref (uri and cid)"
        if problem is not None:
            return 400, {"error": "InvalidRequest",
                         "message": f"Invalid app.bsky.feed.post record: {problem}"}, {}
        rkey = body.get("rkey")
        if rkey is not None:
            if not re.fullmatch(r"[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}",
                                str(rkey)):
                return 400, {"error": "InvalidRequest",
                             "message": "Invalid record key: must be a TID"}, {}
            if f"at://{me['did']}/{POST}/{rkey}" in self._state.posts:
                return 400, {"error": "InvalidRequest",
                             "message": "Record already exists"}, {}
        record["$type"] = POST
        post = self._store(me, record, rkey=rkey, created=True)
        return 200, {"uri": post["uri"], "cid": post["cid"],
                     "commit": {"cid": _cid({"commit": post["uri"]}), "rev": _tid(
                         self._now_micros())}, "validationStatus": "valid"}, {}


def _public(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if not k.startswith("_")}


class _Handler(QuietHandler):
    server_fake: FakeBluesky
    # Headers and body go out in two writes: without this, Nagle's algorithm and the
    # client's delayed ACK hold every keep-alive answer back ~40 ms.
    disable_nagle_algorithm = True

    def _serve(self, method: str) -> None:
        fake = self.server_fake
        split = urlsplit(self.path)
        query = parse_qs(split.query)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body: dict[str, Any] = {}
        extra: dict[str, str] = {}
        nsid = split.path.removeprefix("/xrpc/").strip("/")
        try:
            if raw:
                body = json.loads(raw)
            if not split.path.startswith("/xrpc/"):
                status, answer, extra = 404, {"error": "NotFound", "message": "Not Found"}, {}
            else:
                status, answer, extra = fake.handle(method, nsid, query, body,
                                                    self.headers.get("Authorization"))
        except json.JSONDecodeError:
            status, answer, extra = 400, {"error": "InvalidRequest",
                                          "message": "Invalid JSON body"}, {}
        except Exception as exc:  # a bug here must show as a 500, not hang the client
            status, answer, extra = 500, {"error": "InternalServerError",
                                          "message": repr(exc)}, {}
        with fake._lock:
            fake.requests.append(Request(method, nsid, query, body,
                                         self.headers.get("Authorization"), status))
        self.answer_json(status, answer, extra)


FakeBluesky.handler = _Handler
