"""A small client for the X API v2 (api.x.com), over httpx, signed with OAuth 1.0a.

Why plain httpx and not tweepy or X's SDK (xdk): tweepy's v2 `Client` has the host
`https://api.twitter.com` written in (no base URL: the tests could not point it at
`tests/support/x_server.py`), and both hide what Vigie needs from every answer — the
`x-rate-limit-*` headers (pacing), the error body (a reason staff can act on), and, for
a write, whether it may have happened (`outcome`, the rule of `bot.connectors.doubt`).
httpx is already a dependency; OAuth 1.0a signing (RFC 5849, HMAC-SHA1) is 30 lines.

Why OAuth 1.0a user context: an account's access token and secret are made once in the
Developer Console ("Keys and tokens") and never expire, so the newsroom file only names
four environment variables. OAuth 2.0 user tokens last two hours and their refresh
tokens are single-use: Vigie would have to store a rotating secret itself, and a lost
refresh (a crash between X's answer and the write) would lock the account out until
someone signs in again. Every endpoint Vigie uses accepts OAuth 1.0a.

Rate limits (https://docs.x.com/fundamentals/rate-limits): every answer carries
`x-rate-limit-limit`, `-remaining` and `-reset` (epoch seconds) for its endpoint; the
client remembers them per endpoint and makes no call into a known block: with nothing
remaining before the reset (or after a 429) it refuses at once with `retry_after`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, urlsplit

from bot.reasons import Reason

if TYPE_CHECKING:  # httpx is imported by the first call (start-up cost)
    import httpx

log = logging.getLogger(__name__)

USER_AGENT = "Vigie/0.1 (newsroom listening)"
BLOCKED_PAUSE = 900.0  # a 429 without a reset header: X's windows are 15 minutes

Kind = Literal["auth", "forbidden", "not_found", "rate_limited", "invalid", "unavailable",
               "timeout", "unreachable", "credits", "duplicate"]
WriteOutcome = Literal["not_sent", "answered", "lost"]


class XFailure(Exception):
    """A call that did not work. `reason` is for staff (no secret in it); `outcome`
    says, for a write, whether it may have happened anyway: `not_sent`, `answered` (a
    server error: over, may have been done), `lost` (no answer: X may still do it)."""

    def __init__(self, reason: Reason, *, kind: Kind, outcome: WriteOutcome = "not_sent",
                 status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(str(reason))
        self.reason = reason
        self.kind = kind
        self.outcome = outcome
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class Credentials:
    """An app's consumer key and secret, and one account's access token and secret."""

    api_key: str = field(repr=False)
    api_secret: str = field(repr=False)
    token: str = field(repr=False)
    token_secret: str = field(repr=False)


def _enc(value: str) -> str:
    return quote(value, safe="~-._")


def oauth1_header(method: str, url: str, params: Mapping[str, str], credentials: Credentials,
                  *, nonce: str | None = None, timestamp: int | None = None) -> str:
    """The `Authorization: OAuth …` header of a request (RFC 5849 §3.4, HMAC-SHA1).
    `params`: the query parameters (a JSON body is not signed)."""
    oauth = {"oauth_consumer_key": credentials.api_key,
             "oauth_nonce": nonce or secrets.token_hex(16),
             "oauth_signature_method": "HMAC-SHA1",
             "oauth_timestamp": str(timestamp if timestamp is not None else int(time.time())),
             "oauth_token": credentials.token, "oauth_version": "1.0"}
    oauth["oauth_signature"] = oauth1_signature(method, url, {**params, **oauth},
                                                credentials.api_secret,
                                                credentials.token_secret)
    return "OAuth " + ", ".join(f'{_enc(k)}="{_enc(v)}"' for k, v in sorted(oauth.items()))


def oauth1_signature(method: str, url: str, params: Mapping[str, str], consumer_secret: str,
                     token_secret: str) -> str:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = parts.port
    if port and not ((parts.scheme == "http" and port == 80) or
                     (parts.scheme == "https" and port == 443)):
        host = f"{host}:{port}"
    base_url = f"{parts.scheme.lower()}://{host}{parts.path}"
    pairs = sorted((_enc(k), _enc(v)) for k, v in params.items())
    normalized = "&".join(f"{k}={v}" for k, v in pairs)
    base = "&".join((method.upper(), _enc(base_url), _enc(normalized)))
    key = f"{_enc(consumer_secret)}&{_enc(token_secret)}"
    digest = hmac.new(key.encode(), base.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


@dataclass(frozen=True)
class Limit:
    """An endpoint's window as X last reported it."""

    limit: int
    remaining: int
    reset: float  # epoch seconds

    def wait(self, now: float) -> float:
        return max(self.reset - now, 0.0) if self.remaining <= 0 else 0.0


@dataclass
class XApi:
    """One account's signed calls. `clock` (epoch seconds) is injected for tests."""

    credentials: Credentials = field(repr=False)
    base_url: str = "https://api.x.com"
    timeout: float = 10.0
    transport: httpx.BaseTransport | None = None
    clock: Callable[[], float] = time.time
    _limits: dict[str, Limit] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _http: httpx.Client | None = field(default=None, init=False, repr=False)

    def limits(self) -> dict[str, Limit]:
        with self._lock:
            return dict(self._limits)

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def wait_for(self, endpoint: str) -> float:
        """Seconds until `endpoint` ("GET /2/users/:id/mentions") may be called again."""
        with self._lock:
            known = self._limits.get(endpoint)
        return known.wait(self.clock()) if known else 0.0

    def call(self, method: str, path: str, *, endpoint: str,
             params: Mapping[str, Any] | None = None, body: Mapping[str, Any] | None = None
             ) -> dict[str, Any]:
        """One request; its JSON object, or `XFailure`. `endpoint` names the rate-limit
        window (the path with `:id` in place of ids)."""
        wait = self.wait_for(endpoint)
        if wait > 0:
            raise XFailure(Reason("x.rate_limited", minutes=max(round(wait / 60), 1)),
                           kind="rate_limited", retry_after=wait)
        import httpx

        url = f"{self.base_url.rstrip('/')}/{path.lstrip('/')}"
        query = {k: str(v) for k, v in (params or {}).items() if v is not None}
        headers = {"Authorization": oauth1_header(method, url, query, self.credentials)}
        try:
            response = self._client().request(method, url, params=query or None,
                                              json=body, headers=headers)
        except httpx.TimeoutException as exc:
            sent = not isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout)
            raise XFailure(Reason("x.timeout"), kind="timeout",
                           outcome="lost" if sent else "not_sent") from None
        except httpx.HTTPError as exc:
            sent = not isinstance(exc, httpx.ConnectError)
            raise XFailure(Reason("x.unreachable", error=type(exc).__name__),
                           kind="unreachable", outcome="lost" if sent else "not_sent"
                           ) from None
        self._remember(endpoint, response.headers, response.status_code)
        return self._answer(response, endpoint)

    # -- inside --------------------------------------------------------------------------------
    def _client(self) -> httpx.Client:
        import httpx

        with self._lock:
            if self._http is None:
                self._http = httpx.Client(timeout=self.timeout, transport=self.transport,
                                          headers={"User-Agent": USER_AGENT})
            return self._http

    def _remember(self, endpoint: str, headers: Mapping[str, str], status: int) -> None:
        limit = _int(headers.get("x-rate-limit-limit"))
        remaining = _int(headers.get("x-rate-limit-remaining"))
        reset = _int(headers.get("x-rate-limit-reset"))
        if status == 429:
            remaining = 0
            if reset is None or reset <= self.clock():
                reset = int(self.clock() + BLOCKED_PAUSE)
        if remaining is None or reset is None:
            return
        with self._lock:
            self._limits[endpoint] = Limit(limit or 0, remaining, float(reset))
        if remaining <= 0:
            log.info("X rate limit of %s reached; resets in %.0f s", endpoint,
                     reset - self.clock())

    def _answer(self, response: httpx.Response, endpoint: str) -> dict[str, Any]:
        try:
            answer: Any = response.json()
        except ValueError:
            answer = None
        status = response.status_code
        if response.is_success and isinstance(answer, dict):
            return answer
        detail = _detail(answer)
        if status == 429:
            wait = self.wait_for(endpoint)
            return self._raise(XFailure(Reason("x.rate_limited",
                                               minutes=max(round(wait / 60), 1)),
                                        kind="rate_limited", status=status, retry_after=wait))
        if status == 401:
            return self._raise(XFailure(Reason("x.token_refused"), kind="auth", status=status))
        if status == 402:
            return self._raise(XFailure(Reason("x.credits"), kind="credits", status=status))
        if status == 403:
            if "duplicate" in detail.lower():
                return self._raise(XFailure(Reason("x.duplicate"), kind="duplicate",
                                            status=status))
            return self._raise(XFailure(Reason("x.forbidden", detail=detail), kind="forbidden",
                                        status=status))
        if status == 404:
            return self._raise(XFailure(Reason("x.not_found"), kind="not_found",
                                        status=status))
        if 400 <= status < 500:
            return self._raise(XFailure(Reason("x.invalid", status=status, detail=detail),
                                        kind="invalid", status=status))
        outcome: WriteOutcome = "lost" if status in (502, 504) else (
            "not_sent" if status == 503 else "answered")
        return self._raise(XFailure(Reason("x.http_status", status=status),
                                    kind="unavailable", outcome=outcome, status=status))

    @staticmethod
    def _raise(failure: XFailure) -> dict[str, Any]:
        raise failure


def _detail(answer: Any) -> str:
    """X's problem text: `detail`, else the first error's `message`, short."""
    if not isinstance(answer, dict):
        return "?"
    detail = answer.get("detail") or answer.get("title")
    errors = answer.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        detail = errors[0].get("message") or errors[0].get("detail") or detail
    return str(detail or "?")[:200]


def _int(value: str | None) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None
