"""X, through `XApi`: each account's credentials, its mentions read by polling, and what
every billed call costs.

Reading is `GET /2/users/:id/mentions`, newest first, with `since_id` = the newest
mention already read (kept by the poller as the cursor), `expansions=author_id` so each
page names its authors, and the page size the budget allows. A page is paid per post and
per author it returns, so nothing is ever read twice: when more than a page is new,
older pages follow with `pagination_token`; when the budget or a rate limit stops
that halfway, the cursor remembers where (`{"since", "until", "newest"}`) and the next
poll reads only the gap, then jumps to the newest. X keeps the 800 most recent mentions
in this timeline: polling often enough that fewer arrive between two polls loses none.

A post becomes a mention with its id, its author's user id (`ref.cid`, for mute and
block) and its conversation id (`ref.root_id`, for hiding a reply).
"""

from __future__ import annotations

import html
import json
import logging
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from bot.clock import Clock
from bot.config import Source
from bot.connectors import Fetched, PollState, SourceFailure
from bot.connectors.doubt import Unproven
from bot.mentions.models import Author, MentionIn, PlatformRef
from bot.platforms.x.api import Credentials, XApi, XFailure
from bot.platforms.x.settings import XSettings
from bot.platforms.x.spend import Budget, BudgetSpent, Pace, Purpose, dollars, micros
from bot.reasons import Reason

log = logging.getLogger(__name__)

MENTIONS = "GET /2/users/:id/mentions"
MAX_PAGES = 8  # 800 mentions: all the timeline keeps
MIN_RESULTS = 5  # X's smallest page
FIRST_POLL_REACH = timedelta(hours=24)
TWEET_FIELDS = "created_at,lang,conversation_id,in_reply_to_user_id,author_id"
FIND_PAGE = 20
FIND_PAGES = 5
FIND_MARGIN = timedelta(minutes=5)
KEYS = ("api_key_env", "api_secret_env", "token_env", "token_secret_env")


def budget_failure(spent: BudgetSpent, *, purpose: str) -> Reason:
    return Reason("x.budget_spent", spent=dollars(spent.spent), budget=dollars(spent.budget),
                  purpose=purpose, resumes=spent.resumes.strftime("%Y-%m-%d"))


@dataclass(frozen=True)
class Me:
    id: str
    username: str


class XClients:
    """One `XApi` per account (rebuilt when its credentials change), who each account is,
    and the budget every call is paid from."""

    def __init__(self, environ: Mapping[str, str], settings: XSettings, budget: Budget, *,
                 clock: Clock, timeout: float = 10.0,
                 sources: Callable[[], tuple[Source, ...]] | None = None) -> None:
        self.environ = environ
        self.settings = settings
        self.budget = budget
        self.clock = clock
        self._timeout = timeout
        self._sources = sources
        self._lock = threading.Lock()
        self._apis: dict[str, tuple[Credentials, XApi]] = {}
        self._me: dict[str, tuple[Credentials, Me]] = {}

    @property
    def prices(self) -> Any:
        return self.settings.prices

    def credentials(self, source: Source) -> Credentials:
        values = []
        for key in KEYS:
            name = source.setting(key)
            value = self.environ.get(name or "", "")
            if not value:
                raise SourceFailure(Reason("source.variable_not_set", variable=name or key))
            values.append(value)
        return Credentials(*values)

    def api(self, source: Source) -> XApi:
        credentials = self.credentials(source)
        with self._lock:
            cached = self._apis.get(source.id)
            if cached and cached[0] == credentials:
                return cached[1]
            api = XApi(credentials, base_url=self.settings.api_url, timeout=self._timeout)
            self._apis[source.id] = (credentials, api)
            return api

    def me(self, source: Source) -> Me:
        """Who the source's token is (`GET /2/users/me`, one user read), remembered."""
        credentials = self.credentials(source)
        with self._lock:
            known = self._me.get(source.id)
        if known and known[0] == credentials:
            return known[1]
        api = self.api(source)
        price = micros(self.prices.user_read)
        try:
            with self.budget.spend(account=source.id, purpose=Purpose.ACCOUNT,
                                   most=price) as record:
                data = api.call("GET", "/2/users/me", endpoint="GET /2/users/me"
                                ).get("data") or {}
                record(1, price)
        except BudgetSpent as spent:
            raise SourceFailure(budget_failure(spent, purpose="listen"),
                                retry_after=_until(spent.resumes, self.clock)) from None
        except XFailure as failure:
            raise SourceFailure(failure.reason, retry_after=failure.retry_after) from None
        me = Me(str(data.get("id") or source.setting("account_id") or ""),
                str(data.get("username") or ""))
        if not me.id:
            raise SourceFailure(Reason("x.unreadable"))
        with self._lock:
            self._me[source.id] = (credentials, me)
        return me

    def user_id(self, source: Source) -> str:
        """The account's X user id: `account_id` when the source gives it, else asked."""
        given = source.setting("account_id")
        return str(given) if given else self.me(source).id

    def for_account(self, account_id: str) -> Source | None:
        """The enabled X source that speaks as the newsroom account `account_id`."""
        return next((s for s in self._sources() if s.type == "x" and s.enabled
                     and s.account == account_id), None) if self._sources else None


# -- polling --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Cursor:
    """Where reading stands: `since` (newest read), and, when a read stopped halfway,
    `until` (the oldest read of it) and `newest` (where to jump once the gap is read)."""

    since: str | None
    until: str | None = None
    newest: str | None = None

    @classmethod
    def load(cls, stored: str | None) -> Cursor:
        if not stored:
            return cls(None)
        if stored.startswith("{"):
            try:
                data = json.loads(stored)
                return cls(data.get("since"), data.get("until"), data.get("newest"))
            except (ValueError, AttributeError):
                return cls(None)
        return cls(stored)

    def dump(self) -> str | None:
        if self.until is None:
            return self.since
        return json.dumps({"since": self.since, "until": self.until, "newest": self.newest})


class XConnector:
    """`(Source, PollState) -> Fetched` for X sources (the poller's job calls it)."""

    def __init__(self, clients: XClients) -> None:
        self._clients = clients
        self._last_read: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def __call__(self, source: Source, state: PollState) -> Fetched:
        clients = self._clients
        standing = clients.budget.standing()
        if standing.pace is Pace.STOPPED:
            raise self._stopped()
        if standing.pace is Pace.SLOW and self._too_soon(source, state.now):
            return Fetched(not_modified=True)  # slowed down: X is not called
        api = clients.api(source)
        user_id = clients.user_id(source)
        cursor = Cursor.load(state.cursor)
        per_item = micros(clients.prices.post_read) + micros(clients.prices.user_read)
        mentions: list[MentionIn] = []
        newest = cursor.newest
        oldest: str | None = cursor.until
        token: str | None = None
        finished = stopped = False
        for _ in range(MAX_PAGES):
            room = clients.budget.room(Purpose.LISTEN)
            size = min(clients.settings.max_results, room // per_item if per_item else 100)
            if size < MIN_RESULTS:
                stopped = True
                break
            params: dict[str, Any] = {"max_results": size, "expansions": "author_id",
                                      "tweet.fields": TWEET_FIELDS,
                                      "user.fields": "name,username"}
            if cursor.since:
                params["since_id"] = cursor.since
            else:  # nothing read yet: the last day only (every post read is paid)
                params["start_time"] = _iso(state.now - FIRST_POLL_REACH)
            if cursor.until:
                params["until_id"] = cursor.until  # the gap a stopped read left
            if token:
                params["pagination_token"] = token
            try:
                page = self._page(source, api, user_id, params, size * per_item)
            except BudgetSpent:
                stopped = True
                break
            except XFailure as failure:
                if not mentions:
                    raise SourceFailure(failure.reason,
                                        retry_after=failure.retry_after) from None
                break  # keep what was read; the cursor says where the gap is
            data = [p for p in page.get("data") or [] if isinstance(p, dict)]
            meta = page.get("meta") or {}
            if newest is None and meta.get("newest_id"):
                newest = str(meta["newest_id"])
            users = {str(u.get("id")): u for u in (page.get("includes") or {}).get("users") or []
                     if isinstance(u, dict)}
            for post in data:
                mention = post_to_mention(post, users, account=source.account)
                if mention is not None:
                    mentions.append(mention)
            if meta.get("oldest_id"):
                oldest = str(meta["oldest_id"])
            token = meta.get("next_token")
            if not token:
                finished = True
                break
        if stopped and newest is None and oldest == cursor.until:  # not one page was affordable
            raise self._stopped()
        with self._lock:
            self._last_read[source.id] = state.now
        if finished:
            done = Cursor(newest or cursor.since)
        elif newest is None and oldest == cursor.until:
            done = cursor  # nothing could be read this time
        else:
            done = Cursor(cursor.since, oldest, newest)
        mentions.sort(key=lambda m: _order(m.external_id))
        return Fetched(mentions=mentions, cursor=done.dump())

    def _stopped(self) -> SourceFailure:
        """Polling's share of the month is spent: said in the source's health, retried
        hourly (a raised budget takes effect at once), nothing read meanwhile."""
        standing = self._clients.budget.standing()
        return SourceFailure(Reason("x.polling_stopped", spent=dollars(standing.spent),
                                    budget=dollars(standing.budget),
                                    resumes=standing.resumes.strftime("%Y-%m-%d")),
                             retry_after=min(_until(standing.resumes, self._clients.clock),
                                             3600))

    def _page(self, source: Source, api: XApi, user_id: str, params: dict[str, Any],
              most: int) -> dict[str, Any]:
        prices = self._clients.prices
        with self._clients.budget.spend(account=source.id, purpose=Purpose.LISTEN,
                                        most=most) as record:
            page = api.call("GET", f"/2/users/{user_id}/mentions", endpoint=MENTIONS,
                            params=params)
            posts = len(page.get("data") or [])
            users = len((page.get("includes") or {}).get("users") or [])
            if posts or users:
                record(posts + users, posts * micros(prices.post_read) +
                       users * micros(prices.user_read))
            return page

    def _too_soon(self, source: Source, now: datetime) -> bool:
        with self._lock:
            last = self._last_read.get(source.id)
        factor = self._clients.settings.slow_factor
        return last is not None and now - last < timedelta(seconds=source.poll_every * factor)


_NOT_LANGUAGES = {"und", "zxx", "art"}


def post_to_mention(post: Mapping[str, Any], users: Mapping[str, Mapping[str, Any]], *,
                    account: str | None) -> MentionIn | None:
    author_id = str(post.get("author_id") or "")
    author = users.get(author_id) or {}
    username = str(author.get("username") or author_id or "unknown")
    post_id = str(post.get("id") or "")
    language = str(post.get("lang") or "")
    if language in _NOT_LANGUAGES or language.startswith("q"):
        language = ""
    try:
        return MentionIn(
            external_id=post_id,
            text=html.unescape(str(post.get("text") or "")).strip()[:40_000] or "(media)",
            author=Author(handle=f"@{username}"[:256],
                          name=(author.get("name") or None) and str(author["name"])[:256]),
            created_at=datetime.fromisoformat(str(post.get("created_at")).replace("Z",
                                                                                  "+00:00")),
            url=f"https://x.com/{username}/status/{post_id}",
            language=language or None,
            account=account,
            platform="x",
            ref=PlatformRef(id=post_id, cid=author_id or None,
                            root_id=str(post.get("conversation_id") or "") or None),
        )
    except (ValidationError, ValueError, TypeError):
        return None


def _order(value: str) -> tuple[int, str]:
    """X ids are snowflakes: compare them as numbers."""
    return (len(value), value)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _until(moment: datetime, clock: Clock) -> float:
    return max((moment - clock.now()).total_seconds(), 60.0)


# -- looking for what Vigie posted --------------------------------------------------------------
_LINK = re.compile(r"https?://\S+")
_LEADING_MENTIONS = re.compile(r"^(?:@\w+\s+)+")


def comparable(text: str) -> str:
    """A post's text as X gives it back, made comparable to what was sent: entities
    unescaped, links (X wraps them in t.co) and the leading @names of a reply set aside."""
    text = html.unescape(text).strip()
    text = _LEADING_MENTIONS.sub("", text)
    return " ".join(_LINK.sub("<link>", text).split())


def find_own_post(clients: XClients, source: Source, *, text: str, since: datetime,
                  in_reply_to: str | None = None) -> dict[str, Any] | None:
    """The account's post with `text` (replying to `in_reply_to` when given), posted since
    `since`; None when every post since then was read and none is it. Raises `Unproven`
    when more were posted since than it reads, `XFailure` or `BudgetSpent` when X cannot
    be asked. Reads the account's own timeline (owned reads), newest first."""
    api = clients.api(source)
    user_id = clients.user_id(source)
    wanted = comparable(text)
    price = micros(clients.prices.owned_read)
    params: dict[str, Any] = {"max_results": FIND_PAGE,
                              "tweet.fields": "created_at,referenced_tweets"}
    if in_reply_to:
        params["since_id"] = in_reply_to  # a reply is newer than what it answers
    else:
        params["start_time"] = _iso(since - FIND_MARGIN)
    for _ in range(FIND_PAGES):
        with clients.budget.spend(account=source.id, purpose=Purpose.LOOKUP,
                                  most=FIND_PAGE * price) as record:
            page = api.call("GET", f"/2/users/{user_id}/tweets",
                            endpoint="GET /2/users/:id/tweets", params=params)
            posts = [p for p in page.get("data") or [] if isinstance(p, dict)]
            if posts:
                record(len(posts), len(posts) * price)
        for post in posts:
            if in_reply_to and not any(
                    ref.get("type") == "replied_to" and str(ref.get("id")) == in_reply_to
                    for ref in post.get("referenced_tweets") or []):
                continue
            if comparable(str(post.get("text") or "")) == wanted:
                return post
        token = (page.get("meta") or {}).get("next_token")
        if not token:
            return None
        params["pagination_token"] = token
    raise Unproven(f"more than {FIND_PAGE * FIND_PAGES} posts since the attempt")


def iter_sources(sources: Callable[[], tuple[Source, ...]] | None) -> Iterator[Source]:
    for source in sources() if sources else ():
        if source.type == "x" and source.enabled:
            yield source
