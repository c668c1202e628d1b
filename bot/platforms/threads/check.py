"""What `vigie check` verifies of each Threads profile: its token works and belongs to
the profile named (`account_id`), every permission Vigie uses is granted (and which to
grant otherwise), how long until the long-lived token expires, how much of the 250 posts
a day is used — and, for the app, how much of Meta's rate limit."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.config import Source
from bot.connectors import SourceFailure
from bot.platforms.base import Context
from bot.platforms.meta.actions import threads_quota
from bot.platforms.meta.graph import (
    GraphFailure,
    missing_permissions,
    permissions_reason,
)
from bot.platforms.threads.accounts import ThreadsAccounts, source_failure
from bot.reasons import Reason

FEATURES = ("listen", "reply", "moderate", "publish")
EXPIRY_WARNING_DAYS = 10


class ThreadsCheck:
    def __init__(self, accounts: ThreadsAccounts, context: Context) -> None:
        self._accounts = accounts
        self._context = context

    def check(self, source: Source) -> str | None:
        if not self._accounts.secret(source, "token_env"):
            return None  # `secret_problems` says so
        client = self._accounts.client(source)
        try:
            me = client.get("me", {"fields": "id,username"})
            expected = self._accounts.user_id(source)
            if expected and str(me.get("id")) != expected:
                raise SourceFailure(Reason("threads.wrong_user", found=str(me.get("id")),
                                           username=str(me.get("username") or ""),
                                           expected=expected))
            token = client.get("debug_token", {"input_token": client.token})
            data = token.get("data") if isinstance(token.get("data"), dict) else {}
            granted = {str(scope) for scope in (data or {}).get("scopes") or []}
            missing = missing_permissions(granted, "threads", FEATURES)
            reason = permissions_reason("Threads", missing)
            if reason is not None:
                raise SourceFailure(reason)
            quota = threads_quota(client, expected or str(me.get("id")))
        except GraphFailure as failure:
            raise source_failure(failure) from None
        parts = [f"Threads token of @{me.get('username')}",
                 Reason("threads.quota", used=quota.used, total=quota.total).text("en")]
        expires = _expires_in_days(data or {}, self._context.clock.now())
        if expires is not None and expires <= EXPIRY_WARNING_DAYS:
            parts.append(f"WARNING: {Reason('threads.expires', days=expires).text('en')}")
        return "; ".join(parts)

    def notes(self) -> list[str]:
        return [client.usage.reason("Threads").text("en") for client in self._accounts.clients()]


def _expires_in_days(data: dict[str, object], now: datetime) -> int | None:
    expires = data.get("expires_at")
    if not isinstance(expires, int | float) or expires <= 0:
        return None  # 0: never expires
    return max((datetime.fromtimestamp(expires, UTC) - now).days, 0)
