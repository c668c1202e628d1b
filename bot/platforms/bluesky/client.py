"""Bluesky, through the `atproto` SDK: read each account's mentions, replies and quotes,
read a post from its bsky.app link, and write replies and posts as an account.

`BlueskyClients` is the one place that logs in. Each account (a `type = "bluesky"`
source: handle, app password read from the environment variable it names, PDS address)
gets one `atproto.Client` whose session is created once with
com.atproto.server.createSession and then reused: the SDK refreshes it shortly before
the access token's `exp`, and when the PDS still answers `ExpiredToken` (a clock off, a
token revoked) `call` refreshes it with the refresh token, or logs in again when that
is refused too, and retries the call once. Neither the password nor the tokens are
ever logged or put in a message: errors say what the PDS said (`ExpiredToken`,
`AuthenticationRequired`…), never what was sent.

Reading uses app.bsky.notification.listNotifications filtered to the reasons `mention`,
`reply` and `quote`, newest first, paged with the AppView's cursor down to what the
previous poll had seen. "Seen up to" (the newest notification's indexedAt and URI) is
the cursor the poller keeps in the database. Every post keeps its URI and CID and its
thread root's, so the answer can go back as a reply with correct root/parent refs.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar
from urllib.parse import urlsplit

from pydantic import ValidationError

from bot.clock import Clock, SystemClock
from bot.config import Source
from bot.connectors import Fetched, PollState, SourceFailure
from bot.connectors.doubt import Doubt
from bot.connectors.fetchers import FetchFailed
from bot.mentions.models import Author, MentionIn, PlatformRef
from bot.platforms.bluesky.text import MAX_BYTES, MAX_GRAPHEMES, grapheme_length
from bot.reasons import Reason

if TYPE_CHECKING:  # the atproto SDK (~1 s to import) is loaded when an account is first used
    from atproto import Client
    from atproto_client.exceptions import RequestErrorBase

log = logging.getLogger(__name__)

PAGE = 50
MAX_PAGES = 20  # 1,000 notifications between two polls before the oldest are skipped
FIRST_POLL_REACH = timedelta(hours=24)
REASONS = ("mention", "reply", "quote")
POST = "app.bsky.feed.post"
PUBLIC_APPVIEW = "https://public.api.bsky.app"  # Bluesky's AppView for signed-out reads
USER_AGENT = "Vigie/0.1 (newsroom listening; atproto SDK)"
REFUSED_LOGIN_PAUSE = 300.0  # seconds before the same refused password is tried again
_RENEW_ERRORS = frozenset({"ExpiredToken", "InvalidToken", "AuthenticationRequired",
                           "AuthMissing"})

T = TypeVar("T")


class BlueskyFailure(SourceFailure):
    """A call that did not work. `transient`: trying later may work (network, 5xx, rate
    limit). `unconfirmed`: the request may have been carried out (a server error, a
    timeout after sending, a gateway error), so a write must not simply be resent.
    `answered`: the service answered (a server error), so the request is over; otherwise
    it may still be carried out later (`bot.connectors.doubt`)."""

    def __init__(self, reason: Reason, *, retry_after: float | None = None,
                 transient: bool = False, unconfirmed: bool = False,
                 answered: bool = False, refused_login: bool = False) -> None:
        super().__init__(reason, retry_after=retry_after)
        self.transient = transient or unconfirmed or retry_after is not None
        self.unconfirmed = unconfirmed
        self.answered = answered
        self.refused_login = refused_login


@dataclass
class _Login:
    signature: tuple[str, str, str]
    client: Client
    did: str
    handle: str
    lock: threading.Lock
    generation: int = 0


class BlueskyClients:
    """One logged-in `atproto.Client` per account, rebuilt if the handle, the service or
    the password changes; `call` runs a request on it with session renewal and errors
    that a person can act on."""

    def __init__(self, environ: Mapping[str, str], *, timeout: float = 10.0,
                 sources: Callable[[], tuple[Source, ...]] | None = None) -> None:
        self.environ = environ
        self._timeout = timeout
        self._sources = sources
        self._lock = threading.Lock()
        self._logins: dict[str, _Login] = {}
        self._login_locks: dict[str, threading.Lock] = {}
        # createSession is rate limited per account (30 per 5 min at bsky.social): a
        # refused password is not tried again at every poll or click until it changes.
        self._refused: dict[str, tuple[tuple[str, str, str], BlueskyFailure, float]] = {}

    # -- which account ------------------------------------------------------------------------
    def for_account(self, account_id: str) -> Source | None:
        """The enabled Bluesky source that speaks as `account_id`, for replies and posts."""
        return next((s for s in self._enabled() if s.account == account_id), None)

    def any_source(self) -> Source | None:
        """An enabled Bluesky account with its password set, to read public posts."""
        return next((s for s in self._enabled()
                     if self.environ.get(s.password_env or "")), None)

    def known_accounts(self) -> list[tuple[Source, str | None]]:
        """Each enabled account with its DID when a session already told it."""
        with self._lock:
            return [(s, self._logins[s.id].did if s.id in self._logins else None)
                    for s in self._enabled()]

    def _enabled(self) -> Iterable[Source]:
        return (s for s in (self._sources() if self._sources else ())
                if s.type == "bluesky" and s.enabled)

    # -- sessions -------------------------------------------------------------------------------
    def login(self, source: Source) -> _Login:
        """The account's session, created on first use (com.atproto.server.createSession)."""
        if source.type != "bluesky" or not source.handle or not source.password_env:
            raise BlueskyFailure(Reason("source.not_bluesky", source=source.id))
        password = self.environ.get(source.password_env, "")
        if not password:
            raise BlueskyFailure(Reason("source.variable_not_set", variable=source.password_env))
        handle = source.handle.removeprefix("@")
        signature = (source.service, handle.lower(),
                     hashlib.sha256(password.encode()).hexdigest())
        with self._lock:
            lock = self._login_locks.setdefault(source.id, threading.Lock())
        with lock:  # one createSession per account at a time, other accounts not held up
            with self._lock:
                current = self._logins.get(source.id)
            if current is not None and current.signature == signature:
                return current
            refused = self._refused.get(source.id)
            if refused and refused[0] == signature and \
                    time.monotonic() - refused[2] < REFUSED_LOGIN_PAUSE:
                raise refused[1]
            from atproto import Client, Session
            from atproto_client.request import Request
            from atproto_core.exceptions import AtProtocolError

            request = Request(timeout=self._timeout)
            request.add_additional_header("User-Agent", USER_AGENT)
            client = Client(base_url=source.service, request=request)
            try:
                client.login(handle, password, fetch_bsky_profile=False)
            except AtProtocolError as exc:
                failure = _failure(exc, _host(source.service), login=True,
                                   password_env=source.password_env)
                if failure.refused_login:
                    self._refused[source.id] = (signature, failure, time.monotonic())
                request.close()
                raise failure from None
            self._refused.pop(source.id, None)
            session = Session.decode(client.export_session_string())
            made = _Login(signature, client, session.did, session.handle, threading.Lock())
            with self._lock:
                self._logins[source.id] = made
            if current is not None:
                current.client.request.close()
            log.info("Bluesky session created for @%s on %s", session.handle,
                     _host(source.service))
            return made

    def call(self, source: Source, action: Callable[[Client, str], T]) -> T:
        """`action(client, did)` as the account; an expired session is renewed and the
        action retried once. Raises `BlueskyFailure`."""
        from atproto_client.exceptions import BadRequestError, UnauthorizedError
        from atproto_core.exceptions import AtProtocolError

        for attempt in (1, 2):
            login = self.login(source)
            generation = login.generation
            try:
                return action(login.client, login.did)
            except (BadRequestError, UnauthorizedError) as exc:
                if attempt == 2 or _xrpc_error(exc) not in _RENEW_ERRORS:
                    raise _failure(exc, _host(source.service)) from None
                self._renew(source, login, generation)
            except AtProtocolError as exc:
                raise _failure(exc, _host(source.service)) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _renew(self, source: Source, login: _Login, generation: int) -> None:
        from atproto_core.exceptions import AtProtocolError

        with login.lock:
            if login.generation != generation:  # another thread renewed it meanwhile
                return
            try:
                # What the SDK itself calls before `exp`: refreshSession with the refresh
                # token, which the PDS rotates.
                login.client._refresh_and_set_session()
                login.generation += 1
                log.info("Bluesky session of %s refreshed", source.id)
            except AtProtocolError as exc:
                log.info("Bluesky session of %s could not be refreshed (%s); logging in "
                         "again", source.id, _xrpc_error(exc) or type(exc).__name__)
                with self._lock:
                    if self._logins.get(source.id) is login:
                        del self._logins[source.id]


# -- reading mentions ---------------------------------------------------------------------------
class BlueskyConnector:
    """The poller's connector for `type = "bluesky"` sources."""

    def __init__(self, clients: BlueskyClients) -> None:
        self._clients = clients

    def __call__(self, source: Source, state: PollState) -> Fetched:
        floor = _parse_seen(state.cursor) or (state.now - FIRST_POLL_REACH, "")
        collected: list[Any] = []
        page_cursor: str | None = None
        for _ in range(MAX_PAGES):
            page = self._clients.call(source, partial(_list_notifications, cursor=page_cursor))
            collected.extend(page.notifications)
            page_cursor = page.cursor
            if not page.notifications or not page_cursor:
                break
            if min(_seen_key(n) for n in page.notifications) <= floor:
                break
        else:
            log.warning("source %s: more than %s notifications since the last poll; the "
                        "oldest of them are skipped (poll it more often)", source.id,
                        PAGE * MAX_PAGES)
        fresh = sorted((n for n in collected if _seen_key(n) > floor), key=_seen_key)
        mentions = []
        for notification in fresh:
            if notification.reason not in REASONS:
                continue
            mention = post_to_mention(uri=notification.uri, cid=notification.cid,
                                      author=notification.author, record=notification.record,
                                      indexed_at=notification.indexed_at,
                                      account=source.account)
            if mention is not None:
                mentions.append(mention)
        cursor = state.cursor
        if fresh:
            newest = _seen_key(fresh[-1])
            cursor = f"{newest[0].isoformat()}|{newest[1]}"
        return Fetched(mentions=mentions, cursor=cursor)


def _list_notifications(client: Client, _did: str, *, cursor: str | None) -> Any:
    params: dict[str, Any] = {"limit": PAGE, "reasons": list(REASONS)}
    if cursor:
        params["cursor"] = cursor
    return client.app.bsky.notification.list_notifications(params=params)


def _seen_key(notification: Any) -> tuple[datetime, str]:
    return _parse_time(notification.indexed_at) or datetime.min.replace(tzinfo=UTC), \
        str(notification.uri)


def _parse_seen(cursor: str | None) -> tuple[datetime, str] | None:
    if not cursor:
        return None
    at, _, uri = cursor.partition("|")
    moment = _parse_time(at)
    return (moment, uri) if moment else None


def _parse_time(value: object) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def post_to_mention(*, uri: str, cid: str, author: Any, record: Any, indexed_at: str,
                    account: str | None) -> MentionIn | None:
    """A post (from a notification or a post view) as a mention: text with its links
    expanded, `@handle`, bsky.app link, and the refs a reply needs."""
    from atproto import models

    if not isinstance(record, models.AppBskyFeedPost.Record):
        return None
    text = expanded_text(record.text or "", record.facets).strip()
    quoted = _quoted_uri(record.embed)
    if quoted:
        text = f"{text}\n↪ {bsky_url(quoted)}" if text else f"↪ {bsky_url(quoted)}"
    if not text:
        text = "(media)" if record.embed else "(no text)"
    indexed = _parse_time(indexed_at)
    created = _parse_time(record.created_at) or indexed
    if created is None:
        return None
    if indexed is not None and created > indexed:  # the client's clock is only a claim
        created = indexed
    reply = record.reply
    root_uri, root_cid = (reply.root.uri, reply.root.cid) if reply else (uri, cid)
    lang = (record.langs or [None])[0]
    lang = lang.split("-")[0].lower() if lang and re.match(r"^[A-Za-z]{2,3}\b", lang) else None
    handle = str(author.handle)
    try:
        return MentionIn(
            external_id=uri,
            text=text[:40_000],
            author=Author(handle=f"@{handle}"[:256],
                          name=(author.display_name or None) and str(author.display_name)[:256]),
            created_at=created,
            url=bsky_url(uri, handle=handle),
            language=lang,
            account=account,
            platform="bluesky",
            ref=PlatformRef(id=uri, cid=cid, root_id=root_uri, root_cid=root_cid),
        )
    except ValidationError:
        log.warning("Bluesky post %s could not be read as a mention", uri, exc_info=True)
        return None


def expanded_text(text: str, facets: Iterable[Any] | None) -> str:
    """The text with each link facet's full address in place of the shortened label the
    Bluesky app writes ("example.com/artic…"). Facet indexes are UTF-8 byte offsets."""
    from atproto import models

    data = text.encode()
    links = []
    for facet in facets or ():
        for feature in facet.features:
            if isinstance(feature, models.AppBskyRichtextFacet.Link):
                start, end = facet.index.byte_start, facet.index.byte_end
                if 0 <= start < end <= len(data):
                    links.append((start, end, feature.uri))
    for start, end, uri in sorted(links, reverse=True):
        if any(s < end and start < e for s, e, _ in links if (s, e) != (start, end)):
            continue  # overlapping facets: leave the text as written
        data = data[:start] + uri.encode() + data[end:]
    return data.decode(errors="replace")


def _quoted_uri(embed: Any) -> str | None:
    from atproto import models

    if isinstance(embed, models.AppBskyEmbedRecordWithMedia.Main):
        embed = embed.record
    if isinstance(embed, models.AppBskyEmbedRecord.Main):
        uri = str(embed.record.uri)
        return uri if f"/{POST}/" in uri else None
    return None


_AT_POST = re.compile(r"^at://([^/]+)/app\.bsky\.feed\.post/([^/]+)$")


def bsky_url(uri: str, *, handle: str | None = None) -> str | None:
    """The post's address on bsky.app (by handle when it is a real one, else by DID)."""
    match = _AT_POST.match(uri)
    if not match:
        return None
    actor = handle if handle and handle != "handle.invalid" else match.group(1)
    return f"https://bsky.app/profile/{actor}/post/{match.group(2)}"


# -- reading one post from its link -------------------------------------------------------------
_POST_LINK = re.compile(r"^/profile/([^/]+)/post/([A-Za-z0-9._~:-]{1,512})/?$")
_LINK_HOSTS = frozenset({"bsky.app", "www.bsky.app"})


class BlueskyFetcher:
    """Reads a post from its `https://bsky.app/profile/<handle-or-did>/post/<rkey>` link,
    for mentions flagged from Slack: the handle is resolved to a DID
    (com.atproto.identity.resolveHandle), then the post read with app.bsky.feed.getPosts,
    through the newsroom's own account when one is configured, else through Bluesky's
    public AppView (`public_service`; None to never read signed out)."""

    platform = "bluesky"

    def __init__(self, clients: BlueskyClients, *, public_service: str | None = PUBLIC_APPVIEW,
                 timeout: float = 10.0) -> None:
        self._clients = clients
        self._public_service = public_service
        self._timeout = timeout
        self._public: Client | None = None

    def can_fetch(self, url: str) -> bool:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and (parts.hostname or "") in _LINK_HOSTS \
            and bool(_POST_LINK.match(parts.path))

    def fetch(self, url: str) -> MentionIn:
        match = _POST_LINK.match(urlsplit(url).path)
        if match is None:
            raise FetchFailed(Reason("fetch.bluesky_not_a_link"))
        actor, rkey = match.group(1), match.group(2)
        source = self._clients.any_source()
        view = None
        failure: SourceFailure | None = None
        if source is not None:
            try:
                view = self._clients.call(source, lambda client, _did: _read(client, actor, rkey))
            except SourceFailure as exc:  # our session failed; the post may still be public
                failure = exc
        if view is None and self._public_service:
            from atproto_core.exceptions import AtProtocolError

            try:
                view = _read(self._public_client(), actor, rkey)
            except AtProtocolError as exc:
                failure = failure or _failure(exc, _host(self._public_service))
        if view is None:
            raise FetchFailed(failure.reason if failure else
                              Reason("fetch.no_account", platform="Bluesky"))
        mention = post_to_mention(uri=view.uri, cid=view.cid, author=view.author,
                                  record=view.record, indexed_at=view.indexed_at,
                                  account=self._addressed_to(view))
        if mention is None:
            raise FetchFailed(Reason("fetch.unreadable"))
        return mention

    def _public_client(self) -> Client:
        if self._public is None:
            from atproto import Client
            from atproto_client.request import Request

            request = Request(timeout=self._timeout)
            request.add_additional_header("User-Agent", USER_AGENT)
            self._public = Client(base_url=self._public_service, request=request)
        return self._public

    def _addressed_to(self, view: Any) -> str | None:
        """The newsroom account the post mentions or answers, when we can tell offline."""
        from atproto import models

        record = view.record
        text = str(getattr(record, "text", "") or "").lower()
        mentioned = {f.did for facet in (getattr(record, "facets", None) or ())
                     for f in facet.features
                     if isinstance(f, models.AppBskyRichtextFacet.Mention)}
        reply = getattr(record, "reply", None)
        answered = {str(ref.uri).split("/")[2] for ref in ((reply.parent, reply.root)
                                                            if reply else ())}
        for source, did in self._clients.known_accounts():
            handle = (source.handle or "").removeprefix("@").lower()
            if (did and (did in mentioned or did in answered)) or \
                    (handle and re.search(rf"(?<![\w.])@{re.escape(handle)}\b", text)):
                return source.account
        return None


def _read(client: Client, actor: str, rkey: str) -> Any:
    from atproto_client.exceptions import BadRequestError

    if actor.startswith("did:"):
        did = actor
    else:
        try:
            did = client.com.atproto.identity.resolve_handle(params={"handle": actor}).did
        except BadRequestError:
            raise FetchFailed(Reason("fetch.bluesky_not_a_handle", handle=actor)) from None
    try:
        posts = client.app.bsky.feed.get_posts(
            params={"uris": [f"at://{did}/{POST}/{rkey}"]}).posts
    except BadRequestError as exc:
        raise FetchFailed(Reason("fetch.bluesky_refused",
                                 error=_xrpc_error(exc) or "HTTP 400")) from None
    if not posts:
        raise FetchFailed(Reason("fetch.bluesky_not_found"))
    return posts[0]


# -- writing: replies and posts -----------------------------------------------------------------
# The PDS writes the record into the repo inside com.atproto.repo.createRecord; a resend
# uses the same record key, which a repo holds once: the late original and the resend
# cannot both be written. The window only decides how soon Vigie sends again.
DOUBT = Doubt("bluesky", window=timedelta(minutes=2), resend_when_absent=True)


class Published(NamedTuple):
    uri: str
    cid: str
    url: str


class PublishFailed(Exception):
    """Nothing was posted. `reason` is for staff; `retryable` when trying later may work."""

    def __init__(self, reason: Reason, *, retryable: bool = True) -> None:
        super().__init__(str(reason))
        self.reason = reason
        self.retryable = retryable


class PublishUnconfirmed(PublishFailed):
    """The post may or may not be on Bluesky (a server error, a timeout after sending):
    never resend it blindly. With an `rkey`, `BlueskyPublisher.find` tells later.
    `answered`: the PDS answered, so the request is over."""

    def __init__(self, reason: Reason, *, answered: bool = False) -> None:
        super().__init__(reason, retryable=False)
        self.answered = answered


class TextTooLong(PublishFailed):
    """Over Bluesky's limit; refused before anything is sent."""

    def __init__(self, length: int, limit: int, unit: str = "characters") -> None:
        reason = (Reason("publish.bluesky_too_many_bytes", limit=limit, length=length,
                         excess=length - limit) if unit == "bytes"
                  else Reason("publish.bluesky_too_long", limit=limit, length=length,
                              excess=length - limit))
        super().__init__(reason, retryable=False)
        self.length = length
        self.limit = limit


def check_length(text: str) -> None:
    """Raise `TextTooLong` if Bluesky would refuse the text."""
    length = grapheme_length(text)
    if length > MAX_GRAPHEMES:
        raise TextTooLong(length, MAX_GRAPHEMES)
    size = len(text.encode())
    if size > MAX_BYTES:
        raise TextTooLong(size, MAX_BYTES, "bytes")


def record_key(at: datetime, salt: str) -> str:
    """A record key (TID) fixed by the caller, e.g. from a reply's creation time and id.

    Sending again with the same key cannot make a second post: the PDS refuses an
    existing key, and `post`/`reply` then hand back the post already there."""
    micros = int(at.timestamp() * 1_000_000)
    clock_id = int.from_bytes(hashlib.sha256(salt.encode()).digest()[:2], "big") & 0x3FF
    value = ((micros & ((1 << 53) - 1)) << 10) | clock_id
    alphabet = "234567abcdefghijklmnopqrstuvwxyz"
    return "".join(alphabet[(value >> (5 * i)) & 31] for i in reversed(range(13)))


class BlueskyPublisher:
    """Replies and posts as one of the newsroom's accounts (issues 5 and 6).

    Links, #tags and @handles in the text become facets (the SDK's detection; handles
    that do not resolve stay plain text). Languages are only declared when given.
    """

    def __init__(self, clients: BlueskyClients, *, clock: Clock | None = None) -> None:
        self._clients = clients
        self._clock = clock or SystemClock()

    def reply(self, account_id: str, text: str, parent_uri: str, parent_cid: str,
              root_uri: str, root_cid: str, *, langs: list[str] | None = None,
              rkey: str | None = None) -> Published:
        """Answer the post `parent_*` in the thread whose first post is `root_*` (the
        mention's own refs when it starts the thread)."""
        from atproto import models

        reply = models.AppBskyFeedPost.ReplyRef(
            parent=models.ComAtprotoRepoStrongRef.Main(uri=parent_uri, cid=parent_cid),
            root=models.ComAtprotoRepoStrongRef.Main(uri=root_uri, cid=root_cid))
        return self._create(account_id, text, reply=reply, langs=langs, rkey=rkey)

    def post(self, account_id: str, text: str, *, langs: list[str] | None = None,
             rkey: str | None = None) -> Published:
        return self._create(account_id, text, reply=None, langs=langs, rkey=rkey)

    def find(self, account_id: str, rkey: str) -> Published | None:
        """The account's post with this record key, if it exists (to settle an
        unconfirmed send)."""
        found = self._lookup(account_id, rkey)
        return found[0] if found else None

    def _lookup(self, account_id: str, rkey: str) -> tuple[Published, str] | None:
        source = self._source(account_id)

        def read(client: Client, did: str) -> tuple[Published, str] | None:
            from atproto_client.exceptions import BadRequestError

            try:
                found = client.com.atproto.repo.get_record(
                    params={"repo": did, "collection": POST, "rkey": rkey})
            except BadRequestError as exc:
                if _xrpc_error(exc) == "RecordNotFound":
                    return None
                raise
            text = str(getattr(found.value, "text", "") or "")
            return self._published(found.uri, str(found.cid), source), text

        try:
            return self._clients.call(source, read)
        except BlueskyFailure as failure:
            raise PublishFailed(failure.reason, retryable=failure.transient) from None

    def _create(self, account_id: str, text: str, *, reply: Any, langs: list[str] | None,
                rkey: str | None) -> Published:
        text = text.strip()
        if not text:
            raise PublishFailed(Reason("publish.empty"), retryable=False)
        check_length(text)
        source = self._source(account_id)
        created_at = self._clock.now().astimezone(UTC).isoformat(timespec="milliseconds")
        created_at = created_at.replace("+00:00", "Z")

        def create(client: Client, did: str) -> Published:
            from atproto import models

            record = models.AppBskyFeedPost.Record(
                created_at=created_at, text=text, reply=reply, langs=langs or None,
                facets=client.detect_facets(text) or None)
            data = models.ComAtprotoRepoCreateRecord.Data(repo=did, collection=POST,
                                                         record=record, rkey=rkey)
            made = client.com.atproto.repo.create_record(data=data)
            return self._published(made.uri, str(made.cid), source)

        try:
            return self._clients.call(source, create)
        except BlueskyFailure as failure:
            # With a fixed key, a refusal may be "this key exists": our earlier send landed.
            if rkey is not None and (failure.unconfirmed or not failure.transient):
                existing = self._settle(account_id, rkey)
                if existing is not None and existing[1] == text:
                    return existing[0]
            if failure.unconfirmed:
                raise PublishUnconfirmed(failure.reason, answered=failure.answered) from None
            raise PublishFailed(failure.reason, retryable=failure.transient) from None

    def _settle(self, account_id: str, rkey: str) -> tuple[Published, str] | None:
        try:
            return self._lookup(account_id, rkey)
        except PublishFailed:
            return None

    def _source(self, account_id: str) -> Source:
        source = self._clients.for_account(account_id)
        if source is None:
            raise PublishFailed(Reason("publish.bluesky_no_account", account=account_id),
                                retryable=False)
        return source

    def _published(self, uri: str, cid: str, source: Source) -> Published:
        handle = (source.handle or "").removeprefix("@")
        return Published(uri, cid, bsky_url(uri, handle=handle) or uri)


# -- errors -------------------------------------------------------------------------------------
def _host(url: str) -> str:
    return urlsplit(url).hostname or url


def _xrpc_error(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    content = getattr(response, "content", None)
    error = getattr(content, "error", None)
    return str(error) if error else None


def _status(exc: RequestErrorBase) -> int | None:
    return exc.response.status_code if exc.response is not None else None


def _failure(exc: BaseException, host: str, *, login: bool = False,
             password_env: str | None = None) -> BlueskyFailure:
    """The SDK's exception as a `BlueskyFailure` a person can act on (no secret in it)."""
    import httpx
    from atproto_client.exceptions import (
        BadRequestError,
        InvokeTimeoutError,
        LoginRequiredError,
        ModelError,
        NetworkError,
        RateLimitExceededError,
        RequestErrorBase,
        UnauthorizedError,
    )

    error = _xrpc_error(exc)
    status = _status(exc) if isinstance(exc, RequestErrorBase) else None
    if login and isinstance(exc, UnauthorizedError | BadRequestError) and error in (
            "AuthenticationRequired", "InvalidPassword", None):
        return BlueskyFailure(Reason("bluesky.login_refused", host=host,
                                     detail=f"{status} {error or ''}".strip(),
                                     variable=password_env or "?"), refused_login=True)
    if error in ("AccountTakedown", "AccountDeactivated", "AccountSuspended"):
        return BlueskyFailure(Reason("bluesky.inactive", host=host, error=error))
    if isinstance(exc, RateLimitExceededError):
        wait = exc.retry_after
        if wait is None and exc.reset_at is not None:
            wait = max((exc.reset_at - datetime.now(UTC)).total_seconds(), 0.0)
        return BlueskyFailure(Reason("bluesky.rate_limited", host=host), retry_after=wait or 300)
    if isinstance(exc, InvokeTimeoutError):
        sent = not isinstance(exc.__cause__, httpx.ConnectTimeout)
        return BlueskyFailure(Reason("bluesky.timeout", host=host), transient=True,
                              unconfirmed=sent)
    if isinstance(exc, NetworkError) and status is None:
        cause = exc.__cause__
        sent = not isinstance(cause, httpx.ConnectError)
        reason = type(cause or exc).__name__
        return BlueskyFailure(Reason("bluesky.unreachable", host=host, error=reason),
                              transient=True, unconfirmed=sent)
    if isinstance(exc, UnauthorizedError):
        return BlueskyFailure(Reason("bluesky.session_refused", host=host,
                                     detail=f"{status} {error or ''}".strip()))
    if isinstance(exc, BadRequestError):
        message = getattr(getattr(exc.response, "content", None), "message", None)
        detail = f"{error}: {message}" if error and message else (error or "HTTP 400")
        return BlueskyFailure(Reason("bluesky.refused", host=host, detail=str(detail)[:200]))
    if isinstance(exc, RequestErrorBase) and status is not None:
        # A 5xx may come after the record was written (a PDS answers 500 when a commit
        # fails after the write, or when the record key is already taken); 503 is a
        # refusal; a gateway's 502/504 means the PDS may still be at work.
        return BlueskyFailure(Reason("bluesky.http_status", host=host, status=status),
                              transient=status >= 500,
                              unconfirmed=status >= 500 and status != 503,
                              answered=status not in (502, 504))
    if isinstance(exc, ModelError):
        return BlueskyFailure(Reason("bluesky.unreadable_answer", host=host))
    if isinstance(exc, LoginRequiredError):
        return BlueskyFailure(Reason("bluesky.not_logged_in", host=host))
    return BlueskyFailure(Reason("bluesky.other", error=type(exc).__name__))
