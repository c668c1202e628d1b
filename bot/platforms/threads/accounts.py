"""The Threads profiles Vigie speaks for: each `[[sources]]` of type `threads` names its
profile (`account_id`, the Threads user id), the variable holding its long-lived token,
and those holding the Meta app's secret and webhook verify token. One `GraphClient` per
source (and token), kept so Meta's usage headers pace every call made for it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

from bot.config import Source
from bot.connectors import SourceFailure
from bot.platforms.meta.graph import THREADS_URL, GraphClient, GraphFailure
from bot.reasons import Reason


class ThreadsAccounts:
    def __init__(self, environ: Mapping[str, str], *, sources: Callable[[], tuple[Source, ...]],
                 timeout: float = 10.0) -> None:
        self._environ = environ
        self._sources = sources
        self._timeout = timeout
        self._clients: dict[tuple[str, str, str], GraphClient] = {}
        self._lock = threading.Lock()

    def sources(self) -> list[Source]:
        """The enabled Threads sources, as they stand now."""
        return [s for s in self._sources() if s.type == "threads" and s.enabled]

    def for_account(self, account: str | None) -> Source | None:
        """The source speaking for the newsroom account `account` (a mention's, a post
        target's)."""
        if not account:
            return None
        return next((s for s in self.sources() if s.account == account), None)

    def user_id(self, source: Source) -> str:
        return str(source.setting("account_id") or "")

    def secret(self, source: Source, key: str) -> str:
        """The value of the variable `key` names (`app_secret_env`…), "" when unset."""
        name = source.setting(key)
        return self._environ.get(name, "") if name else ""

    def client(self, source: Source) -> GraphClient:
        """The client for this source's token; `SourceFailure` when it is not set."""
        token = self.secret(source, "token_env")
        if not token:
            raise SourceFailure(Reason("threads.no_token", source=source.id,
                                       variable=source.token_env or "token_env"))
        base = str(source.setting("api_url") or THREADS_URL)
        key = (source.id, token, base)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = GraphClient.threads(token, base_url=base, timeout=self._timeout)
                self._clients[key] = client
            return client

    def clients(self) -> list[GraphClient]:
        with self._lock:
            return list(self._clients.values())


def source_failure(failure: GraphFailure) -> SourceFailure:
    """A Graph failure while reading, as the poller takes it (with Meta's wait)."""
    return SourceFailure(failure.reason, retry_after=failure.retry_after)
