"""Mastodon, through Mastodon.py: read each account's mentions, and the one place that
builds a client for an account (replies, publishing and moderation reuse
`MastodonClients`).

Reading uses the notifications API filtered to the configured types (mentions by
default), polled with `since_id` = the newest notification already seen, which the
poller keeps in the database. More than a page of news is read back page by page
(`max_id`) down to that id, so a busy hour loses nothing. A status becomes a mention
with its id and visibility kept, so the answer can go back as a reply with the same
visibility.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from pydantic import ValidationError

from bot.config import Source
from bot.connectors import Fetched, PollState, SourceFailure
from bot.connectors.doubt import Doubt, Unproven
from bot.connectors.fetchers import FetchFailed
from bot.connectors.html import html_to_text
from bot.mentions.models import Author, MentionIn, PlatformRef
from bot.platforms.mastodon.text import DEFAULT_MAX_CHARACTERS
from bot.reasons import Reason

if TYPE_CHECKING:  # Mastodon.py is imported when an account is first used (start-up cost)
    from mastodon import Mastodon, MastodonError

PAGE = 40  # Mastodon's maximum for notifications
MAX_PAGES = 10
FIRST_POLL_REACH = timedelta(hours=24)
USER_AGENT = "Vigie/0.1 (newsroom listening)"
# Instances may allow more than Mastodon's 500 (never less). Asked of each instance
# once a day, with a timeout short enough for a draft's check inside Slack's 3 seconds.
LIMIT_FRESH = 24 * 3600.0
LIMIT_RETRY = 600.0
LIMIT_TIMEOUT = 1.5
FIND_MARGIN = timedelta(minutes=5)  # the instance's clock may differ from ours
FIND_PAGE = 40  # Mastodon's maximum for an account's statuses
FIND_PAGES = 5

log = logging.getLogger(__name__)


class MastodonClients:
    """One `Mastodon` client per account, built from the source's instance and the token
    read from the environment variable it names; rebuilt if either changes."""

    def __init__(self, environ: Mapping[str, str], *, timeout: float = 10.0,
                 sources: Callable[[], tuple[Source, ...]] | None = None) -> None:
        self.environ = environ
        self._timeout = timeout
        self._sources = sources
        self._lock = threading.Lock()
        self._clients: dict[str, tuple[tuple[str, str], Mastodon]] = {}
        self._facts: dict[str, tuple[InstanceFacts, float]] = {}  # instance → (facts, until)
        self._facts_lock = threading.Lock()
        # How an unknown outcome is settled for each account: its instance's version
        # decides (`resends_at_once`).
        self.doubt = replace(DOUBT, window_for=self._window_for)

    def for_source(self, source: Source) -> Mastodon:
        if source.type != "mastodon" or not source.instance or not source.token_env:
            raise SourceFailure(Reason("source.not_mastodon", source=source.id))
        token = self.environ.get(source.token_env, "")
        if not token:
            raise SourceFailure(Reason("source.variable_not_set", variable=source.token_env))
        signature = (source.instance, token)
        with self._lock:
            cached = self._clients.get(source.id)
            if cached and cached[0] == signature:
                return cached[1]
            from mastodon import Mastodon

            client = Mastodon(access_token=token, api_base_url=source.instance,
                              request_timeout=self._timeout, ratelimit_method="throw",
                              version_check_mode="none", user_agent=USER_AGENT)
            self._clients[source.id] = (signature, client)
            return client

    def max_characters(self, source: Source) -> int:
        """How long a status may be on the source's instance: its own setting when it
        tells (`configuration.statuses.max_characters`, or Pleroma's `max_toot_chars`),
        else Mastodon's 500."""
        return self._instance(str(source.instance or "")).max_characters

    def resends_at_once(self, source: Source) -> bool:
        """Whether, after a lost answer, a status certainly absent may be sent again at
        once: only on a Mastodon whose version has the lock on the Idempotency-Key
        (`locks_idempotency_keys`); unknown or unreachable → no (the 15-minute window)."""
        return locks_idempotency_keys(self._instance(str(source.instance or "")).version)

    def _window_for(self, account: str) -> timedelta | None:
        """`Doubt.window_for`: no window where the instance locks the key, else None
        (Mastodon's 15 minutes)."""
        for source in self._sources() if self._sources else ():
            if source.type == "mastodon" and source.account == account:
                return timedelta(0) if self.resends_at_once(source) else None
        return None

    def _instance(self, instance: str) -> InstanceFacts:
        """What the instance says of itself, remembered for a day; an instance that does
        not answer is asked again ten minutes later, and meanwhile its last known limit
        (or 500) holds and its version is unknown."""
        if not instance:
            return InstanceFacts(DEFAULT_MAX_CHARACTERS, None)
        with self._facts_lock:  # one question at a time: no stampede on start
            known = self._facts.get(instance)
            if known is not None and known[1] > time.monotonic():
                return known[0]
            facts = _instance_facts(instance)
            if facts is None:
                facts = InstanceFacts(known[0].max_characters if known
                                      else DEFAULT_MAX_CHARACTERS, None)
                self._facts[instance] = (facts, time.monotonic() + LIMIT_RETRY)
                return facts
            self._facts[instance] = (facts, time.monotonic() + LIMIT_FRESH)
            return facts

    def learn_limits(self) -> None:
        """Ask every enabled account's instance for its limit (at start, in the
        background), so the first draft's check does not wait for it."""
        for source in self._sources() if self._sources else ():
            if source.type == "mastodon" and source.enabled:
                self.max_characters(source)

    def any_client(self) -> tuple[Source, Mastodon] | None:
        """A client of any enabled Mastodon account, to read public posts."""
        for source in self._sources() if self._sources else ():
            if source.type == "mastodon" and source.enabled:
                try:
                    return source, self.for_source(source)
                except SourceFailure:
                    continue
        return None

    def for_account(self, account_id: str) -> tuple[Source, Mastodon] | None:
        """The Mastodon client that speaks as `account_id`, for replies and posts."""
        for source in self._sources() if self._sources else ():
            if source.type == "mastodon" and source.account == account_id and source.enabled:
                return source, self.for_source(source)
        return None


@dataclass(frozen=True)
class InstanceFacts:
    max_characters: int
    version: str | None  # as `/api/v2/instance` (or v1) reports it; None if not known


def _instance_facts(instance: str) -> InstanceFacts | None:
    """The instance's status length limit and version, or None if it cannot say now."""
    from mastodon import Mastodon, MastodonError, MastodonNotFoundError

    client = Mastodon(api_base_url=instance, request_timeout=LIMIT_TIMEOUT,
                      version_check_mode="none", user_agent=USER_AGENT)
    try:
        # Named versions: Mastodon.py's `instance()` asks the version first and, with
        # version checks off, recurses without end when the instance is unreachable.
        try:
            info = client.instance_v2()
        except MastodonNotFoundError:  # before Mastodon 4, and Pleroma
            info = client.instance_v1()
    except (MastodonError, ValueError) as exc:
        log.info("could not read %s's instance information: %s", instance, exc)
        return None
    version = info.get("version")
    version = str(version) if version else None
    statuses = ((info.get("configuration") or {}).get("statuses") or {})
    value = statuses.get("max_characters") or info.get("max_toot_chars")
    try:
        limit = int(value)
    except (TypeError, ValueError):
        limit = DEFAULT_MAX_CHARACTERS  # an instance that does not say keeps the default
    return InstanceFacts(limit if limit > 0 else DEFAULT_MAX_CHARACTERS, version)


class MastodonConnector:
    def __init__(self, clients: MastodonClients) -> None:
        self._clients = clients

    def __call__(self, source: Source, state: PollState) -> Fetched:
        client = self._clients.for_source(source)
        types = list(source.notifications)
        with translated_errors():
            page = list(client.notifications(types=types, since_id=state.cursor, limit=PAGE))
            seen = list(page)
            pages = 1
            while state.cursor and len(page) == PAGE and pages < MAX_PAGES:
                oldest = min((n["id"] for n in page), key=_order)
                page = list(client.notifications(types=types, since_id=state.cursor,
                                                 max_id=oldest, limit=PAGE))
                seen.extend(page)
                pages += 1
        newest = max((n["id"] for n in seen), key=_order, default=None)
        reach = state.now - FIRST_POLL_REACH if state.first and not state.cursor else None
        mentions = []
        for notification in sorted(seen, key=lambda n: _order(n["id"])):
            status = notification.get("status")
            if not status or notification.get("type") not in types:
                continue
            mention = status_to_mention(status, instance=str(source.instance),
                                        account=source.account)
            if mention is None or (reach is not None and mention.created_at < reach):
                continue
            mentions.append(mention)
        return Fetched(mentions=mentions,
                       cursor=str(newest) if newest is not None else state.cursor)


def status_to_mention(status: Mapping[str, Any], *, instance: str, account: str | None
                      ) -> MentionIn | None:
    author = status.get("account") or {}
    acct = str(author.get("acct") or author.get("username") or "unknown")
    if "@" not in acct:  # a local account: say which instance
        acct = f"{acct}@{urlsplit(instance).hostname}"
    text = html_to_text(str(status.get("content") or ""))
    warning = (status.get("spoiler_text") or "").strip()
    if warning:
        text = f"CW: {warning}\n{text}" if text else f"CW: {warning}"
    if not text:
        text = "(media)" if status.get("media_attachments") else "(no text)"
    url = status.get("url") or status.get("uri")
    created = status.get("created_at")
    try:
        return MentionIn(
            external_id=str(status["id"]),
            text=text[:40_000],
            author=Author(handle=f"@{acct}"[:256],
                          name=(author.get("display_name") or None) and
                          str(author["display_name"])[:256]),
            created_at=created if isinstance(created, datetime) else
            datetime.fromisoformat(str(created).replace("Z", "+00:00")),
            url=str(url) if url and str(url).startswith(("http://", "https://")) else None,
            language=status.get("language") or None,
            account=account,
            platform="mastodon",
            ref=PlatformRef(id=str(status["id"]), visibility=status.get("visibility")),
        )
    except (ValidationError, ValueError, KeyError):
        return None


def _order(value: Any) -> tuple[int, int, str]:
    """Mastodon ids are numeric strings (snowflakes); compare them as numbers."""
    text = str(value)
    return (len(text), int(text), text) if text.isdigit() else (0, 0, text)


@contextmanager
def translated_errors() -> Iterator[None]:
    """Mastodon.py's exceptions, as `SourceFailure`s a person can act on."""
    from mastodon import MastodonError

    try:
        yield
    except MastodonError as exc:
        raise _failure(exc) from None


def _failure(exc: MastodonError) -> SourceFailure:
    from mastodon import (
        MastodonNetworkError,
        MastodonNotFoundError,
        MastodonRatelimitError,
        MastodonServerError,
        MastodonUnauthorizedError,
    )
    from mastodon.errors import MastodonAPIError

    if isinstance(exc, MastodonUnauthorizedError):
        return SourceFailure(Reason("mastodon.token_refused"))
    if isinstance(exc, MastodonRatelimitError):
        return SourceFailure(Reason("mastodon.rate_limited"), retry_after=300)
    if isinstance(exc, MastodonNetworkError):
        return SourceFailure(_unreachable(exc))
    if isinstance(exc, MastodonServerError):
        return SourceFailure(Reason("mastodon.http_status", status=_status(exc)))
    if isinstance(exc, MastodonNotFoundError):
        return SourceFailure(Reason("mastodon.no_api"))
    if isinstance(exc, MastodonAPIError):
        return SourceFailure(Reason("mastodon.refused", status=_status(exc)))
    return SourceFailure(Reason("mastodon.other", error=type(exc).__name__))


def _status(exc: BaseException) -> str:
    args: tuple[object, ...] = tuple(exc.args)
    return str(args[1]) if len(args) > 1 else "?"


def _unreachable(exc: BaseException) -> Reason:
    text = str(exc).lower()
    if "timed out" in text or "timeout" in text:
        return Reason("mastodon.timeout")
    return Reason("mastodon.unreachable", error=type(exc).__name__)


_STATUS_PATH = re.compile(r"^/(?:@[^/]+|users/[^/]+/statuses)/(\d+)/?$")


class MastodonFetcher:
    """Reads a Mastodon post from its link, for mentions flagged from Slack.

    The post is resolved by the newsroom's own account (`/api/v2/search` with
    `resolve=true`), as Mastodon's web client does for a pasted link: it works for a post
    on any instance the newsroom's instance can reach, and the id it returns is the one
    our account can reply to.
    """

    platform = "mastodon"

    def __init__(self, clients: MastodonClients) -> None:
        self._clients = clients

    def can_fetch(self, url: str) -> bool:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(_STATUS_PATH.match(parts.path))

    def fetch(self, url: str) -> MentionIn:
        found = self._clients.any_client()
        if found is None:
            raise FetchFailed(Reason("fetch.no_account", platform="Mastodon"))
        source, client = found
        try:
            with translated_errors():
                result = client.search_v2(q=url, resolve=True, result_type="statuses")
        except SourceFailure as failure:
            raise FetchFailed(failure.reason) from None
        statuses = list(result.get("statuses") or [])
        if not statuses:
            raise FetchFailed(Reason("fetch.mastodon_not_found"))
        mention = status_to_mention(statuses[0], instance=str(source.instance), account=None)
        if mention is None:
            raise FetchFailed(Reason("fetch.unreadable"))
        return mention


# -- writing: what a failed write says, and finding what we wrote -----------------------------
# Mastodon creates the status inside the web request (PostStatusService; Sidekiq only
# distributes it afterwards). Since mastodon#37879 it does so holding a lock on the
# Idempotency-Key, which Mastodon itself lets expire after 15 minutes: it does not expect
# a creation to run longer. Once the status exists the key maps to it for an hour, so a
# resend with the same key gets that status back; while the first request still holds
# the lock, a resend is turned away (503). Older versions have no lock but record the key
# as soon as the status is saved (mastodon#21840): there, the 15 minutes are what keeps a
# resend from racing a request still at work.
#
# So on a Mastodon with the lock, a status not there at a look may be sent again at once
# (`MastodonClients.doubt`: no window): the resend either meets the first request still
# at work (503 → not sent, tried again later) or gets the status it made (→ published).
# Which release first has it could not be established: the copy of Mastodon's CHANGELOG
# that could be read is older. What was found: #37879 ("Fix race condition when
# processing statuses twice with the same idempotency key", opened 2026-02-16, merged)
# wraps PostStatusService in `with_redis_lock("idempotency:lock:status:…")`; right after
# it come a "Backport changes to stable-4.5" (#37957) and "Bump version to v4.5.7"
# (#37963), while the earliest stable-4.6 backport found is #39572. So 4.6.0 most likely
# has it (an inference, not a release note); whether 4.5.7 got it as a backport is
# unknown. Conservatively only a plain release at or above LOCKED_KEYS_SINCE counts;
# 4.5.x, pre-releases (4.6.0-beta…), other software ("2.7.2 (compatible; Pleroma …)")
# and an unknown version keep the 15 minutes.
DOUBT = Doubt("mastodon", window=timedelta(minutes=15), resend_when_absent=True)
LOCKED_KEYS_SINCE = (4, 6, 0)
_RELEASE = re.compile(r"(\d+)\.(\d+)\.(\d+)(?:\+[0-9A-Za-z.+-]*)?")  # "4.6.1", "4.6.0+glitch"


def locks_idempotency_keys(version: str | None) -> bool:
    """Whether a Mastodon reporting `version` holds a lock on the Idempotency-Key while
    it creates a status (mastodon#37879; see above why LOCKED_KEYS_SINCE)."""
    match = _RELEASE.fullmatch((version or "").strip())
    return match is not None and tuple(int(n) for n in match.groups()) >= LOCKED_KEYS_SINCE


WriteOutcome = Literal["not_sent", "answered", "lost"]


def write_outcome(exc: MastodonError) -> WriteOutcome:
    """What a failed `status_post` says about the status (the rule: `bot.connectors.doubt`).

    - `not_sent`: refused before anything happened — a connection never made, a rate
      limit, a 4xx, or 503 (the instance, or Mastodon's own lock on the Idempotency-Key
      while another request with that key runs, turned it away).
    - `answered`: another server error (500…): the request is over, and may have created
      the status before failing.
    - `lost`: no answer (timeout after sending, dropped connection) or a gateway's 502/504:
      the instance may still be working on it.
    """
    from mastodon import MastodonNetworkError, MastodonRatelimitError
    from mastodon.errors import MastodonAPIError

    if isinstance(exc, MastodonRatelimitError):
        return "not_sent"
    if isinstance(exc, MastodonNetworkError):
        return "not_sent" if never_connected(exc) else "lost"
    if isinstance(exc, MastodonAPIError):
        status = _status(exc)
        if not status.isdigit():  # an answer it could not read: over, and it may have worked
            return "answered"
        code = int(status)
        if code < 500 or code == 503:
            return "not_sent"
        return "lost" if code in (502, 504) else "answered"
    return "lost"  # anything else from the library: it may have been sent


def never_connected(exc: BaseException) -> bool:
    """Mastodon.py wraps requests' exception without `from`; it is the context. A refused
    or timed-out *connection* means nothing was sent; anything later may have been."""
    from requests.exceptions import ConnectionError as RequestsConnectionError
    from requests.exceptions import ConnectTimeout, ReadTimeout

    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, ConnectTimeout):
        return True
    if isinstance(cause, RequestsConnectionError) and not isinstance(cause, ReadTimeout):
        text = str(cause)
        return any(hint in text for hint in ("NewConnectionError", "Connection refused",
                                              "Name or service not known",
                                              "nodename nor servname", "No route to host"))
    return False


def find_status(client: Mastodon, *, text: str, since: datetime,
                in_reply_to: str | None = None) -> Any | None:
    """Our account's status with exactly `text`, created since `since` (less a margin for
    the instance's clock), replying to `in_reply_to` when given; None when every status
    since then was read and none is it. Raises `Unproven` when more were posted since
    than `FIND_PAGES` pages, and `MastodonError` when the instance cannot be asked.

    The *source* text is compared (`GET /api/v1/statuses/:id/source`, the text exactly as
    sent): the rendered HTML shortens links. A person posting the identical text by hand
    in the same minutes would be taken for ours."""
    wanted = text.strip()
    since = since - FIND_MARGIN
    me = client.me()
    max_id: str | None = None
    for _ in range(FIND_PAGES):
        page = list(client.account_statuses(me["id"], exclude_replies=in_reply_to is None,
                                            exclude_reblogs=True, limit=FIND_PAGE,
                                            max_id=max_id))
        for status in page:
            if status_created(status) < since:
                return None  # newest first: the rest is older than the attempt
            if in_reply_to is not None and str(status.get("in_reply_to_id")) != in_reply_to:
                continue
            if _source_text(client, status) == wanted:
                return status
        if len(page) < FIND_PAGE:
            return None  # the account's very first statuses
        max_id = str(page[-1]["id"])
    raise Unproven(f"more than {FIND_PAGE * FIND_PAGES} statuses since the attempt")


def status_created(status: Any) -> datetime:
    created = status.get("created_at")
    if isinstance(created, datetime):
        return created
    return datetime.fromisoformat(str(created).replace("Z", "+00:00"))


def _source_text(client: Mastodon, status: Any) -> str:
    from mastodon import MastodonNotFoundError

    try:
        return str(client.status_source(status["id"])["text"] or "").strip()
    except MastodonNotFoundError:  # before Mastodon 3.5: the rendered text will do
        return html_to_text(str(status.get("content") or "")).strip()
