"""The YouTube Data API v3 for one running Vigie: one authorised session and one quota
per channel (source), shared by polling, replies and moderation.

Access tokens come from the channel's refresh token through google-auth (the library
Google maintains for its OAuth: it refreshes before expiry and after a 401), against
`oauth_url` + `/token`; calls go to `api_url` + `/youtube/v3/…` (both source settings,
so tests point them at a local server). Every call is counted against the channel's
`Quota` before it is made, and Google's answers are sorted into what Vigie does next:
`ApiError` carries the HTTP status, Google's `reason` and whether the quota is gone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.clock import Clock
from bot.config import Source
from bot.connectors import SourceFailure
from bot.platforms.youtube.quota import LIST_COST, Quota, reset_label
from bot.reasons import Reason

if TYPE_CHECKING:  # google-auth and requests are imported when a channel is first used
    from google.auth.transport.requests import AuthorizedSession

SCOPE = "https://www.googleapis.com/auth/youtube.force-ssl"


class ApiError(Exception):
    """Google answered with an error (`status` > 0), or did not answer (`status` 0:
    `sent` says whether the request may have reached Google)."""

    def __init__(self, reason: Reason, *, status: int = 0, google_reason: str = "",
                 sent: bool = False) -> None:
        super().__init__(str(reason))
        self.reason = reason
        self.status = status
        self.google_reason = google_reason
        self.sent = sent

    @property
    def quota_gone(self) -> bool:
        return self.google_reason in ("quotaExceeded", "dailyLimitExceeded")


@dataclass
class Channel:
    source: Source
    session: AuthorizedSession
    quota: Quota


class YouTubeClients:
    """A session and a quota per YouTube source, built on first use."""

    def __init__(self, environ: Mapping[str, str], *, clock: Clock, timeout: float,
                 sources: Callable[[], tuple[Source, ...]]) -> None:
        self._environ = environ
        self._clock = clock
        self._timeout = timeout
        self._sources = sources
        self._lock = threading.Lock()
        self._channels: dict[str, Channel] = {}
        self._quotas: dict[str, Quota] = {}

    def youtube_sources(self) -> list[Source]:
        return [s for s in self._sources() if s.type == "youtube"]

    def for_account(self, account: str) -> Source | None:
        """The YouTube source of a newsroom account (the channel that answers for it)."""
        return next((s for s in self.youtube_sources() if s.account == account and s.enabled),
                    None)

    def quota(self, source: Source) -> Quota:
        with self._lock:
            found = self._quotas.get(source.id)
            if found is None or found.budget != source.setting("daily_units"):
                found = Quota(budget=source.setting("daily_units"),
                              reserve=source.setting("reserve_units"), clock=self._clock)
                self._quotas[source.id] = found
            return found

    def missing(self, source: Source) -> list[str]:
        """The variables the source names that are not set."""
        keys = ("client_id_env", "client_secret_env", "refresh_token_env")
        return [str(source.setting(k)) for k in keys
                if not source.setting(k) or not self._environ.get(str(source.setting(k)))]

    def channel(self, source: Source) -> Channel:
        with self._lock:
            found = self._channels.get(source.id)
            if found is not None and found.source == source:
                return found
        missing = self.missing(source)
        if missing:
            raise SourceFailure(Reason("youtube.not_set", variables=", ".join(missing)))
        from google.auth.transport.requests import AuthorizedSession
        from google.oauth2.credentials import Credentials

        credentials = Credentials(  # type: ignore[no-untyped-call]
            token=None, refresh_token=self._environ[source.setting("refresh_token_env")],
            client_id=self._environ[source.setting("client_id_env")],
            client_secret=self._environ[source.setting("client_secret_env")],
            token_uri=f"{str(source.setting('oauth_url')).rstrip('/')}/token", scopes=[SCOPE])
        session = AuthorizedSession(  # type: ignore[no-untyped-call]
            credentials, refresh_timeout=self._timeout)
        built = Channel(source, session, self.quota(source))
        with self._lock:
            self._channels[source.id] = built
        return built

    def call(self, source: Source, method: str, path: str, *, params: dict[str, Any],
             cost: int = LIST_COST, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """One API call, counted against the channel's quota. Raises `ApiError`."""
        channel = self.channel(source)
        url = f"{str(source.setting('api_url')).rstrip('/')}/youtube/v3/{path}"
        import requests
        from google.auth.exceptions import RefreshError, TransportError

        try:
            response = channel.session.request(  # type: ignore[no-untyped-call]
                method, url, params=params, json=body, timeout=self._timeout)
        except RefreshError as exc:
            raise ApiError(Reason("youtube.token_refused", detail=_refresh_detail(exc)),
                           status=401, google_reason="invalid_grant") from None
        except TransportError as exc:
            raise ApiError(Reason("youtube.unreachable", error=type(exc).__name__)) from None
        except requests.ConnectionError as exc:
            # Refused before sending, or dropped once sent: requests cannot always tell.
            sent = not isinstance(exc, requests.exceptions.ConnectTimeout) and \
                "refused" not in str(exc).lower()
            raise ApiError(Reason("youtube.unreachable", error=type(exc).__name__),
                           sent=sent) from None
        except requests.Timeout:
            raise ApiError(Reason("youtube.timeout"), sent=True) from None
        if response.status_code != 503:
            channel.quota.spend(cost)  # Google counts errors too, except its own outages
        if response.status_code == 204:
            return {}
        if response.status_code >= 400:
            raise _api_error(response, channel.quota)
        try:
            found = response.json()
        except ValueError:
            raise ApiError(Reason("youtube.unreadable"), status=response.status_code) from None
        return found if isinstance(found, dict) else {}


def _api_error(response: Any, quota: Quota) -> ApiError:
    status = int(response.status_code)
    try:
        error = (response.json() or {}).get("error") or {}
    except ValueError:
        error = {}
    errors = error.get("errors") or [{}]
    reason = str(errors[0].get("reason") or "")
    message = str(error.get("message") or errors[0].get("message") or "")[:200]
    if reason in ("quotaExceeded", "dailyLimitExceeded"):
        quota.exhausted()
        return ApiError(Reason("youtube.quota_gone", when=reset_label(quota)),
                        status=status, google_reason=reason)
    if status == 401:
        return ApiError(Reason("youtube.token_refused", detail=message or reason),
                        status=status, google_reason=reason)
    if status == 404:
        return ApiError(Reason("youtube.not_found"), status=status, google_reason=reason)
    if status == 403:
        return ApiError(Reason("youtube.forbidden", detail=reason or message), status=status,
                        google_reason=reason)
    if status >= 500:
        return ApiError(Reason("youtube.http_status", status=status), status=status,
                        google_reason=reason, sent=True)
    return ApiError(Reason("youtube.refused", detail=reason or message, status=status),
                    status=status, google_reason=reason)


def _refresh_detail(exc: BaseException) -> str:
    args = tuple(exc.args)
    return str(args[0])[:200] if args else type(exc).__name__


def failure(exc: ApiError, quota: Quota) -> SourceFailure:
    """A poll that did not work, with when to try again (the reset, for quota)."""
    if exc.quota_gone:
        return SourceFailure(exc.reason, retry_after=quota.seconds_to_reset())
    return SourceFailure(exc.reason)

