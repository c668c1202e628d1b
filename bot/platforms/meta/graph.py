"""A small client for Meta's Graph API (graph.facebook.com) and the Threads API
(graph.threads.net), which speak the same dialect: versioned paths, JSON answers, errors
as `{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}`, cursor
pagination and usage headers.

Why our own and not an SDK: Vigie needs four things Meta's SDKs do not give together —
a base URL setting (tests point it at `tests/support/graph_server.py`), errors sorted
into reasons a community manager can act on (`bot.reasons`, `[reasons.meta]`), what a
failed *write* says about whether it happened (`outcome`, the rule of
`bot.connectors.doubt`), and pacing by the usage headers so Vigie slows down before
Meta blocks it rather than after.

Rate limits (https://developers.facebook.com/docs/graph-api/overview/rate-limiting):
`X-App-Usage` gives percentages `{"call_count", "total_cputime", "total_time"}`;
`X-Business-Use-Case-Usage` gives, per business object, a list of the same plus `type`
and `estimated_time_to_regain_access` (minutes). Page, system-user and Instagram
tokens are counted by the latter. The client keeps the latest of both; above
`SLOW_FROM` percent it waits in proportion before each call, at 100 % (or while Meta
says access is not yet regained) it waits that long — or, when that is longer than
the caller accepts (`max_wait`), refuses at once without calling: no call is ever made
into a known block.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qsl, urlsplit

from bot.reasons import Reason

if TYPE_CHECKING:  # httpx is imported by the first call (start-up cost)
    import httpx

log = logging.getLogger(__name__)

GRAPH_URL = "https://graph.facebook.com"
GRAPH_VERSION = "v21.0"
THREADS_URL = "https://graph.threads.net"
THREADS_VERSION = "v1.0"
USER_AGENT = "Vigie/0.1 (newsroom listening)"

SLOW_FROM = 75.0  # percent of a usage figure above which calls are spread out
SLOW_MAX_PAUSE = 30.0  # seconds before a call at 99.9 %, in proportion from SLOW_FROM
BLOCKED_PAUSE = 600.0  # at 100 % with no estimate from Meta: ten minutes
USAGE_FRESH = 600.0  # a figure older than this no longer slows calls (Meta's windows roll)
DEFAULT_MAX_WAIT = 10.0  # longer than this before a call: refuse it instead

# Error codes (https://developers.facebook.com/docs/graph-api/guides/error-handling)
TOKEN_CODES = {190, 102, 463, 467}
PERMISSION_CODES = {10, *range(200, 300)}
RATE_CODES = {4, 17, 32, 613, *range(80001, 80015)}
TRANSIENT_CODES = {1, 2}
BLOCKED_CODES = {368}
NOT_FOUND_SUBCODES = {33}
PUBLISH_LIMIT_SUBCODE = 2207042  # Instagram: the 24-hour publishing limit is reached
_PERMISSION = re.compile(
    r"\b((?:pages|instagram|threads|business|ads|read|publish|public)_[a-z_]+)\b")

Kind = Literal["token_expired", "permission", "rate_limited", "not_found", "invalid",
               "blocked", "unavailable", "refused", "timeout", "unreachable",
               "publish_limit", "already_published"]
WriteOutcome = Literal["not_sent", "answered", "lost"]


class GraphFailure(Exception):
    """A call that did not work. `reason` is for staff (no secret in it); `kind` sorts it
    for code; `outcome` says, for a write, whether it may have happened anyway:
    `not_sent` (refused before anything happened), `answered` (a server error: over,
    may have been done), `lost` (no answer: Meta may still do it)."""

    def __init__(self, reason: Reason, *, kind: Kind, outcome: WriteOutcome = "not_sent",
                 status: int | None = None, code: int | None = None,
                 subcode: int | None = None, retry_after: float | None = None,
                 permission: str | None = None, trace: str | None = None) -> None:
        super().__init__(str(reason))
        self.reason = reason
        self.kind = kind
        self.outcome = outcome
        self.status = status
        self.code = code
        self.subcode = subcode
        self.retry_after = retry_after
        self.permission = permission
        self.trace = trace


# -- usage -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Usage:
    """The latest usage Meta reported, in percent of the allowance (the highest of the
    app's and every business use case's figures), and how long until access is back."""

    call_count: float = 0.0
    total_cputime: float = 0.0
    total_time: float = 0.0
    regain_seconds: float = 0.0
    kind: str = ""  # "app", or the business use case type ("pages", "instagram"…)
    seen_at: float | None = None  # monotonic time of the answer that carried it

    @property
    def peak(self) -> float:
        return max(self.call_count, self.total_cputime, self.total_time)

    def pause(self, now: float) -> float:
        """Seconds to wait before the next call."""
        if self.seen_at is None:
            return 0.0
        if self.regain_seconds > 0:
            return max(self.seen_at + self.regain_seconds - now, 0.0)
        if self.peak >= 100:
            return max(self.seen_at + BLOCKED_PAUSE - now, 0.0)
        if self.peak > SLOW_FROM and now - self.seen_at < USAGE_FRESH:
            return SLOW_MAX_PAUSE * (self.peak - SLOW_FROM) / (100 - SLOW_FROM)
        return 0.0

    def reason(self, platform: str) -> Reason:
        """For `vigie check` and logs: how much of the allowance is used."""
        if self.seen_at is None:
            return Reason("meta.usage_unknown", platform=platform)
        return Reason("meta.usage", platform=platform, percent=round(self.peak),
                      calls=round(self.call_count), cpu=round(self.total_cputime),
                      time=round(self.total_time))


def parse_usage(headers: Mapping[str, str], *, now: float) -> Usage | None:
    """Both usage headers folded into one `Usage` (the worst figures), or None when the
    answer carried neither. Unreadable headers are ignored, as Meta may add fields."""
    figures: list[tuple[str, Mapping[str, Any]]] = []
    app = _json_header(headers.get("x-app-usage"))
    if isinstance(app, dict):
        figures.append(("app", app))
    business = _json_header(headers.get("x-business-use-case-usage"))
    if isinstance(business, dict):
        for entries in business.values():
            for entry in entries if isinstance(entries, list) else []:
                if isinstance(entry, dict):
                    figures.append((str(entry.get("type") or "business"), entry))
    if not figures:
        return None
    worst = max(figures, key=lambda item: _peak(item[1]))
    regain = max((_number(entry.get("estimated_time_to_regain_access"))
                  for _, entry in figures), default=0.0)
    return Usage(call_count=max(_number(e.get("call_count")) for _, e in figures),
                 total_cputime=max(_number(e.get("total_cputime")) for _, e in figures),
                 total_time=max(_number(e.get("total_time")) for _, e in figures),
                 regain_seconds=regain * 60, kind=worst[0], seen_at=now)


def _json_header(value: str | None) -> Any:
    if not value:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return None


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _peak(entry: Mapping[str, Any]) -> float:
    return max(_number(entry.get(k)) for k in ("call_count", "total_cputime", "total_time"))


# -- the client ----------------------------------------------------------------------------------
@dataclass
class GraphClient:
    """One token on one API (Graph or Threads). `platform` names it in reasons
    ("Facebook", "Instagram", "Threads"). `sleep` and `clock` are injected so tests
    see the pauses without waiting them."""

    token: str = field(repr=False)  # never in logs or tracebacks
    platform: str = "Facebook"
    base_url: str = GRAPH_URL
    version: str = GRAPH_VERSION
    timeout: float = 10.0
    max_wait: float = DEFAULT_MAX_WAIT
    transport: httpx.BaseTransport | None = None
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    _usage: Usage = field(default_factory=Usage, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _http: httpx.Client | None = field(default=None, init=False, repr=False)

    @classmethod
    def threads(cls, token: str, *, base_url: str = THREADS_URL,
                version: str = THREADS_VERSION, **options: Any) -> GraphClient:
        return cls(token, platform="Threads", base_url=base_url, version=version, **options)

    @property
    def usage(self) -> Usage:
        with self._lock:
            return self._usage

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    # -- calls -------------------------------------------------------------------------------
    def get(self, path: str, params: Mapping[str, Any] | None = None, *,
            needs: str | None = None) -> dict[str, Any]:
        return self.call("GET", path, params=params, needs=needs)

    def post(self, path: str, data: Mapping[str, Any] | None = None, *,
             needs: str | None = None) -> dict[str, Any]:
        return self.call("POST", path, data=data, needs=needs)

    def delete(self, path: str, *, needs: str | None = None) -> dict[str, Any]:
        return self.call("DELETE", path, needs=needs)

    def call(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
             data: Mapping[str, Any] | None = None, needs: str | None = None
             ) -> dict[str, Any]:
        """One request; its JSON object, or `GraphFailure`. `needs` names the permission
        the call requires, for the reason when Meta's message does not."""
        self._pace()
        import httpx

        url = f"{self.base_url.rstrip('/')}/{self.version}/{path.lstrip('/')}"
        try:
            response = self._client().request(
                method, url, params=_flat(params), data=_flat(data),
                headers={"Authorization": f"Bearer {self.token}"})
        except httpx.TimeoutException as exc:
            sent = not isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout)
            raise GraphFailure(Reason("meta.timeout", platform=self.platform),
                               kind="timeout", outcome="lost" if sent else "not_sent"
                               ) from None
        except httpx.HTTPError as exc:
            sent = not isinstance(exc, httpx.ConnectError)
            raise GraphFailure(Reason("meta.unreachable", platform=self.platform,
                                      error=type(exc).__name__),
                               kind="unreachable", outcome="lost" if sent else "not_sent"
                               ) from None
        usage = parse_usage(response.headers, now=self.clock())
        if usage is not None:
            with self._lock:
                self._usage = usage
            if usage.peak > SLOW_FROM:
                log.info("%s usage at %d%% (%s)", self.platform, usage.peak, usage.kind)
        return self._answer(response, needs)

    def pages(self, path: str, params: Mapping[str, Any] | None = None, *,
              max_pages: int = 10, cursor_only: bool = False,
              needs: str | None = None) -> Iterator[dict[str, Any]]:
        """The items of a list edge, page after page by `paging.cursors.after` while
        `paging.next` says there is more (`cursor_only`: edges such as Threads
        mentions that give cursors but no `next`; there, an empty page ends it)."""
        query = dict(params or {})
        for _ in range(max_pages):
            answer = self.get(path, query, needs=needs)
            data = answer.get("data")
            items = [item for item in data if isinstance(item, dict)] \
                if isinstance(data, list) else []
            yield from items
            paging = _obj(answer.get("paging"))
            after = _obj(paging.get("cursors")).get("after")
            more = bool(paging.get("next")) or (cursor_only and bool(items))
            if not more:
                return
            if not after:  # only a `next` link: take its cursor from it
                after = dict(parse_qsl(urlsplit(str(paging.get("next"))).query)).get("after")
            if not after or after == query.get("after"):
                return
            query["after"] = after

    # -- inside --------------------------------------------------------------------------------
    def _client(self) -> httpx.Client:
        import httpx

        with self._lock:
            if self._http is None:
                self._http = httpx.Client(timeout=self.timeout, transport=self.transport,
                                          headers={"User-Agent": USER_AGENT})
            return self._http

    def _pace(self) -> None:
        usage = self.usage
        pause = usage.pause(self.clock())
        if pause <= 0:
            return
        if pause > self.max_wait:
            raise GraphFailure(Reason("meta.rate_limited", platform=self.platform,
                                      minutes=max(round(pause / 60), 1)),
                               kind="rate_limited", retry_after=pause)
        log.info("%s usage at %d%%: waiting %.1f s before the next call", self.platform,
                 usage.peak, pause)
        self.sleep(pause)

    def _answer(self, response: httpx.Response, needs: str | None) -> dict[str, Any]:
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        if response.is_success and isinstance(body, dict) and "error" not in body:
            return body
        if response.is_success and body is True:  # some edges answer a bare `true`
            return {"success": True}
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            status = response.status_code
            outcome: WriteOutcome = "lost" if status in (502, 504) else (
                "answered" if status >= 500 else "not_sent")
            raise GraphFailure(Reason("meta.http_status", platform=self.platform,
                                      status=status),
                               kind="unavailable", outcome=outcome, status=status)
        raise self._failure(response.status_code, error, needs)

    def _failure(self, status: int, error: Mapping[str, Any], needs: str | None
                 ) -> GraphFailure:
        code = _int(error.get("code"))
        subcode = _int(error.get("error_subcode"))
        message = str(error.get("message") or "")
        trace = str(error.get("fbtrace_id") or "") or None
        common: dict[str, Any] = {"status": status, "code": code, "subcode": subcode,
                                  "trace": trace}
        platform = self.platform
        if code in TOKEN_CODES or (error.get("type") == "OAuthException" and status == 401):
            return GraphFailure(Reason("meta.token_expired", platform=platform),
                                kind="token_expired", **common)
        if code in RATE_CODES:
            wait = self.usage.regain_seconds or BLOCKED_PAUSE
            with self._lock:  # no call until then, whatever the headers said
                now = self.clock()
                self._usage = Usage(100, 100, 100, regain_seconds=wait,
                                    kind=self._usage.kind or "app", seen_at=now)
            return GraphFailure(Reason("meta.rate_limited", platform=platform,
                                       minutes=max(round(wait / 60), 1)),
                                kind="rate_limited", retry_after=wait, **common)
        if code in PERMISSION_CODES:
            found = _PERMISSION.search(message)
            permission = found.group(1) if found else needs
            reason = (Reason("meta.permission_missing", platform=platform,
                             permission=permission) if permission
                      else Reason("meta.permission_denied", platform=platform))
            return GraphFailure(reason, kind="permission", permission=permission, **common)
        if subcode == PUBLISH_LIMIT_SUBCODE:
            return GraphFailure(Reason("meta.publish_limit", platform=platform),
                                kind="publish_limit", **common)
        if code in BLOCKED_CODES:
            return GraphFailure(Reason("meta.blocked", platform=platform), kind="blocked",
                                **common)
        if status == 404 or subcode in NOT_FOUND_SUBCODES or (
                code == 100 and "does not exist" in message):
            return GraphFailure(Reason("meta.not_found", platform=platform),
                                kind="not_found", **common)
        if code in TRANSIENT_CODES or error.get("is_transient") or status >= 500:
            outcome: WriteOutcome = "lost" if status in (502, 504) else "answered"
            return GraphFailure(Reason("meta.unavailable", platform=platform),
                                kind="unavailable", outcome=outcome, **common)
        if code == 100:
            return GraphFailure(Reason("meta.invalid", platform=platform,
                                       detail=_message(message)), kind="invalid", **common)
        return GraphFailure(Reason("meta.refused", platform=platform, code=code or status,
                                   detail=_message(message)), kind="refused", **common)


def _flat(values: Mapping[str, Any] | None) -> dict[str, str] | None:
    """Graph parameters as form/query strings: booleans as Meta spells them, lists and
    objects as JSON."""
    if not values:
        return None
    flat: dict[str, str] = {}
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool):
            flat[key] = "true" if value else "false"
        elif isinstance(value, list | dict):
            flat[key] = json.dumps(value)
        else:
            flat[key] = str(value)
    return flat


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _message(message: str) -> str:
    """Meta's message without its `(#code)` prefix, short enough to show."""
    text = re.sub(r"^\(#\d+\)\s*", "", message).strip()
    return text[:200] or "?"


# -- what `vigie check` verifies -------------------------------------------------------------------
# The permissions each feature needs (https://developers.facebook.com/docs/permissions).
PERMISSIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "facebook": {
        "listen": ("pages_show_list", "pages_manage_metadata", "pages_read_engagement",
                   "pages_read_user_content"),
        "reply": ("pages_manage_engagement",),
        "moderate": ("pages_manage_engagement",),
        "publish": ("pages_manage_posts",),
    },
    "instagram": {
        "listen": ("instagram_basic", "instagram_manage_comments", "pages_show_list",
                   "pages_read_engagement"),
        "reply": ("instagram_manage_comments",),
        "moderate": ("instagram_manage_comments",),
        "publish": ("instagram_content_publish",),
    },
    "threads": {
        "listen": ("threads_basic", "threads_read_replies", "threads_manage_mentions"),
        "reply": ("threads_content_publish",),
        "moderate": ("threads_manage_replies",),
        "publish": ("threads_content_publish",),
    },
}


def token_scopes(client: GraphClient) -> set[str]:
    """The permissions granted to the client's token (`GET /debug_token`, which a Page or
    system-user token may ask about itself)."""
    answer = client.get("debug_token", {"input_token": client.token})
    data = _obj(answer.get("data"))
    if data.get("is_valid") is False:
        raise GraphFailure(Reason("meta.token_expired", platform=client.platform),
                           kind="token_expired")
    return {str(scope) for scope in data.get("scopes") or []}


def missing_permissions(granted: set[str], platform: str, features: tuple[str, ...]
                        ) -> list[str]:
    """The permissions `features` need on `platform` that `granted` lacks, in order."""
    wanted = [p for feature in features for p in PERMISSIONS[platform].get(feature, ())]
    return [p for p in dict.fromkeys(wanted) if p not in granted]


def permissions_reason(platform: str, missing: list[str]) -> Reason | None:
    """For `vigie check`: which permissions to grant, with the fix; None if none."""
    if not missing:
        return None
    return Reason("meta.permissions_missing", platform=platform,
                  permissions=", ".join(missing))
