"""The one wrapper around the Slack Web API: intent-named calls, typed failures.

Nothing else touches `WebClient`. Failures are sorted by what they mean for a caller that
must never lose nor duplicate a message:
- `SlackRateLimited`: Slack refused before doing anything; wait `retry_after` seconds.
  `SlackPaced`, one of them, is Vigie's own pacing holding a message back (see
  `PacedSlack`): Slack was not even called.
- `SlackUnavailable`: the request certainly did not arrive (connection refused…).
- `SlackOutcomeUnknown`: it may have arrived (timeout, 5xx, dropped connection); look
  before trying again.
- `SlackRejected`: Slack answered `ok: false` with an error code.
"""

from __future__ import annotations

import functools
import http.client
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar
from urllib.error import URLError
from urllib.parse import urlsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot.clock import Clock
from bot.metrics import slack_call
from bot.slack_format import Message

log = logging.getLogger(__name__)

T = TypeVar("T")
# Methods whose 429 `PacedSlack` must see (to hold the channel for everyone), so no client
# waits them out by itself.
PACED_METHODS = frozenset({"chat.postMessage", "chat.update"})
# The key a 429 on chat.update holds: that method's limit (Tier 3) is per workspace.
UPDATES = "*chat.update"


class SlackError(Exception):
    """A Web API call that did not succeed."""


class SlackRateLimited(SlackError):
    def __init__(self, method: str, retry_after: float) -> None:
        super().__init__(f"{method}: rate limited, retry after {retry_after:g} s")
        self.retry_after = retry_after


class SlackPaced(SlackRateLimited):
    """Held back by Vigie's own pacing, Slack not called: `channel` is booked for the next
    `retry_after` seconds, longer than this sender may wait."""

    def __init__(self, method: str, channel: str, retry_after: float) -> None:
        super().__init__(method, retry_after)
        self.args = (f"{method}: {channel} is booked for the next {retry_after:.1f} s",)
        self.channel = channel


class SlackUnavailable(SlackError):
    """The call certainly did not reach Slack."""


class SlackOutcomeUnknown(SlackError):
    """The call may or may not have taken effect. `answered`: Slack answered with a server
    error (it most likely did nothing), rather than no answer at all (a timeout after
    sending: it most likely did)."""

    def __init__(self, message: str, *, answered: bool = False, method: str | None = None,
                 status: int | None = None) -> None:
        super().__init__(message)
        self.answered = answered
        self.method = method  # the Web API method that failed, when known
        self.status = status  # the HTTP status Slack answered, if it answered


class SlackRejected(SlackError):
    def __init__(self, method: str, error: str) -> None:
        super().__init__(f"{method}: {error}")
        self.error = error


@dataclass(frozen=True)
class Posted:
    channel: str
    ts: str


@dataclass(frozen=True)
class Upload:
    """One file for `SlackGateway.upload_files`: a chart, an export."""

    filename: str
    content: bytes
    title: str
    alt_text: str | None = None


@dataclass(frozen=True)
class Slot:
    """A channel's slot (`bot.mentions.pacing`). `booked`: the sender may post at `at`;
    otherwise the channel is booked until `at`."""

    at: datetime
    booked: bool


class Pacer(Protocol):
    """What `PacedSlack` needs from the shared pacer (`bot.mentions.pacing.ChannelPacer`)."""

    def reserve(self, channel: str, now: datetime, *, within: timedelta) -> Slot: ...

    def block(self, channel: str, until: datetime) -> None: ...

    def free_at(self, channel: str) -> datetime | None: ...


class _RateLimitRetry(RateLimitErrorRetryHandler):
    """slack-sdk's 429 wait-and-retry, except on the paced methods."""

    def _can_retry(self, *, state: RetryState, request: HttpRequest,
                   response: HttpResponse | None = None,
                   error: Exception | None = None) -> bool:
        method = urlsplit(request.url).path.rsplit("/", 1)[-1]
        return method not in PACED_METHODS and bool(
            super()._can_retry(state=state, request=request, response=response, error=error))


def make_client(token: str, base_url: str, *, timeout: int = 10,
                retry_rate_limits: bool = False) -> WebClient:
    """A `WebClient` that never retries on its own unless asked to wait out 429s.

    slack-sdk's default connection-error retry could resend a message that did arrive;
    callers that post decide themselves, with the typed errors below. Even when asked,
    it leaves the 429s of `PACED_METHODS` to `PacedSlack`.
    """
    handlers: list[RetryHandler] = (
        [_RateLimitRetry(max_retry_count=2)] if retry_rate_limits else []
    )
    return WebClient(token=token, base_url=base_url, timeout=timeout, retry_handlers=handlers)


class SlackGateway:
    def __init__(self, client: WebClient) -> None:
        self.client = client
        self._workspace_url: str | None = None
        self._dm_channels: dict[str, str] = {}

    # -- messages -----------------------------------------------------------------------
    def post_message(self, channel: str, message: Message, *, thread_ts: str | None = None,
                     broadcast: bool = False) -> Posted:
        """Post `message`; in a thread with `thread_ts`, also shown in the channel with
        `broadcast`."""
        kwargs: dict[str, Any] = {
            "channel": channel,
            "text": message.text,
            "blocks": message.blocks,
            "unfurl_links": False,
            "unfurl_media": False,
        }
        if message.metadata:
            kwargs["metadata"] = message.metadata
        if thread_ts:
            kwargs["thread_ts"] = thread_ts
            if broadcast:
                kwargs["reply_broadcast"] = True
        with _translated("chat.postMessage"):
            response = self.client.chat_postMessage(**kwargs)
        return Posted(channel=str(response["channel"]), ts=str(response["ts"]))

    def update_message(self, channel: str, ts: str, message: Message) -> None:
        with _translated("chat.update"):
            self.client.chat_update(
                channel=channel, ts=ts, text=message.text, blocks=message.blocks
            )

    def find_message(self, channel: str, *, since: datetime,
                     matches: Callable[[dict[str, Any]], bool], pages: int = 5) -> str | None:
        """The `ts` of a message posted in `channel` since `since` that `matches`, if any.

        Used after an unknown outcome: the metadata we attach to every card says which
        mention it belongs to, so we can tell whether the earlier attempt went through.
        """
        cursor: str | None = None
        for _ in range(pages):
            with _translated("conversations.history"):
                response = self.client.conversations_history(
                    channel=channel,
                    oldest=f"{since.timestamp():.6f}",
                    include_all_metadata=True,
                    limit=200,
                    cursor=cursor,
                )
            messages: list[dict[str, Any]] = response.get("messages") or []
            for item in messages:
                if matches(item):
                    return str(item["ts"])
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return None
        return None

    def permalink(self, channel: str, ts: str) -> str:
        """A message's link. Built from the workspace URL (one `auth.test`, remembered) in
        the shape `chat.getPermalink` returns, which saves a rate-limited call per message."""
        if self._workspace_url is None:
            with suppress(SlackError):
                self._workspace_url = str(self.auth_test().get("url") or "")
        if self._workspace_url:
            return f"{self._workspace_url.rstrip('/')}/archives/{channel}/p{ts.replace('.', '')}"
        with _translated("chat.getPermalink"):
            return str(self.client.chat_getPermalink(channel=channel, message_ts=ts)["permalink"])

    def thread_parent(self, channel: str, thread_ts: str) -> dict[str, Any] | None:
        """The message that starts the thread `thread_ts`, as Slack's history shows it."""
        with _translated("conversations.replies"):
            response = self.client.conversations_replies(channel=channel, ts=thread_ts, limit=1)
        messages: list[dict[str, Any]] = response.get("messages") or []
        return next((m for m in messages if m.get("ts") == thread_ts), None)

    def post_ephemeral(self, channel: str, user: str, message: Message) -> None:
        with _translated("chat.postEphemeral"):
            self.client.chat_postEphemeral(
                channel=channel, user=user, text=message.text, blocks=message.blocks
            )

    def direct_message(self, user: str, message: Message) -> Posted:
        return self.post_message(self.open_dm(user), message)

    def open_dm(self, user: str) -> str:
        """The id of the bot's direct-message channel with `user` (asked once, remembered:
        a DM's id never changes)."""
        channel = self._dm_channels.get(user)
        if channel is None:
            with _translated("conversations.open"):
                channel = str(self.client.conversations_open(users=user)["channel"]["id"])
            self._dm_channels[user] = channel
        return channel

    # -- files --------------------------------------------------------------------------
    def upload_files(self, channel: str, files: Sequence[Upload], *,
                     comment: str | None = None, thread_ts: str | None = None) -> list[str]:
        """Share `files` in `channel` as one message (files_upload_v2: an upload URL per
        file, the bytes, then one completion that posts them); their ids.

        A failed byte upload means nothing was shared: `SlackUnavailable`, safe to retry.
        """
        uploads = [{"filename": f.filename, "content": f.content, "title": f.title,
                    **({"alt_txt": f.alt_text} if f.alt_text else {})} for f in files]
        with _translated("files.upload_v2"):
            try:
                response = self.client.files_upload_v2(
                    file_uploads=uploads, channel=channel, initial_comment=comment,
                    thread_ts=thread_ts)
            except SlackRequestError as exc:
                raise SlackUnavailable(f"files.upload_v2: {exc}") from None
        return [str(item["id"]) for item in response.get("files") or []]

    # -- surfaces -----------------------------------------------------------------------
    def open_modal(self, trigger_id: str, view: dict[str, Any]) -> str:
        with _translated("views.open"):
            return str(self.client.views_open(trigger_id=trigger_id, view=view)["view"]["id"])

    def push_modal(self, trigger_id: str, view: dict[str, Any]) -> str:
        with _translated("views.push"):
            return str(self.client.views_push(trigger_id=trigger_id, view=view)["view"]["id"])

    def update_modal(self, view_id: str, view: dict[str, Any], *,
                     hash: str | None = None) -> None:
        """Replace a modal; with the `hash` of the view a payload showed, Slack refuses
        (`hash_conflict`) when the modal changed since, so a late update never wins."""
        with _translated("views.update"):
            self.client.views_update(view_id=view_id, view=view, hash=hash)

    def publish_home(self, user: str, view: dict[str, Any]) -> None:
        with _translated("views.publish"):
            self.client.views_publish(user_id=user, view=view)

    # -- directory ----------------------------------------------------------------------
    def user_info(self, user: str) -> dict[str, Any]:
        with _translated("users.info"):
            return dict(self.client.users_info(user=user, include_locale=True)["user"])

    def usergroup_members(self, usergroup: str) -> list[str]:
        with _translated("usergroups.users.list"):
            return list(self.client.usergroups_users_list(usergroup=usergroup)["users"])

    def channel_members(self, channel: str, pages: int = 20) -> list[str]:
        """Every member of `channel` (conversations.members, followed page by page)."""
        members: list[str] = []
        cursor: str | None = None
        for _ in range(pages):
            with _translated("conversations.members"):
                response = self.client.conversations_members(channel=channel, limit=1000,
                                                             cursor=cursor)
            members.extend(response.get("members") or [])
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                break
        return members

    def channel_name(self, channel: str) -> str | None:
        """The channel's name (conversations.info), or None for a DM."""
        with _translated("conversations.info"):
            info = self.client.conversations_info(channel=channel)["channel"]
        name = info.get("name")
        return str(name) if name else None

    def is_member(self, channel: str) -> bool:
        """Whether the bot is in `channel` (conversations.info). With `chat:write.public` it
        may post in a public channel it is not in, but not read its history or share files
        there."""
        with _translated("conversations.info"):
            info = self.client.conversations_info(channel=channel)["channel"]
        return bool(info.get("is_member", True) or info.get("is_im"))

    def auth_test(self) -> dict[str, Any]:
        with _translated("auth.test"):
            return dict(self.client.auth_test().data)  # type: ignore[arg-type]


class PacedSlack(SlackGateway):
    """The gateway with every message paced per channel, through the database, so that
    all senders of all replicas together stay within Slack's one message per second
    per channel.

    - `post_message` and `upload_files` (whose comment is a message) book their channel's
      next slot and wait for it; `direct_message` books the DM channel's. A sender waits at
      most `max_wait` seconds: when its channel is booked further ahead, `SlackPaced` is
      raised and Slack is not called, so a caller with a queue puts the message back.
    - A 429 pushes the channel's slot to `Retry-After` for everyone; this sender waits it
      out and tries once more if that fits in `max_wait` (a 429 means nothing was posted).
    - `update_message` takes no slot: chat.update has its own limit (Tier 3, about 50 a
      minute per workspace, bursts welcome), not the posting rate, and a card redrawn
      after a click must change at once. After a 429 on it, every update of every replica
      waits for `Retry-After`.
    - Ephemeral messages, modals and App Home views are not channel messages: not paced.

    Waiting is the clock's (`Clock.sleep_until`): real time in production, and holding no
    database transaction (booking a slot is one short one).
    """

    def __init__(self, client: WebClient, *, pacer: Pacer, clock: Clock,
                 max_wait: float = 20.0) -> None:
        super().__init__(client)
        self.pacer = pacer
        self.clock = clock
        self.max_wait = timedelta(seconds=max_wait)
        # Entered while waiting for a slot: the publishing job says it is resting then,
        # so the notices waiting for it to finish go on (`bot.posts.jobs.Publishing.busy`).
        self.resting: Callable[[], AbstractContextManager[object]] = nullcontext

    def post_message(self, channel: str, message: Message, *, thread_ts: str | None = None,
                     broadcast: bool = False) -> Posted:
        send = functools.partial(super().post_message, channel, message, thread_ts=thread_ts,
                                 broadcast=broadcast)
        return self._paced("chat.postMessage", channel, send, book=True)

    def upload_files(self, channel: str, files: Sequence[Upload], *,
                     comment: str | None = None, thread_ts: str | None = None) -> list[str]:
        send = functools.partial(super().upload_files, channel, files, comment=comment,
                                 thread_ts=thread_ts)
        return self._paced("files.upload_v2", channel, send, book=True, hold_on_429=False)

    def update_message(self, channel: str, ts: str, message: Message) -> None:
        send = functools.partial(super().update_message, channel, ts, message)
        self._paced("chat.update", UPDATES, send, book=False)

    def _paced(self, method: str, key: str, send: Callable[[], T], *, book: bool,
               hold_on_429: bool = True) -> T:
        deadline = self.clock.now() + self.max_wait
        not_before = self.clock.now()
        for attempt in range(2):
            now = self.clock.now()
            if book:
                slot = self.pacer.reserve(key, now, within=max(deadline - now, timedelta(0)))
            else:  # only waits while a 429 holds the key
                free = self.pacer.free_at(key)
                slot = Slot(max(free or now, now), booked=free is None or free <= deadline)
            if not slot.booked:
                raise SlackPaced(method, key, (slot.at - now).total_seconds())
            with self.resting():
                self.clock.sleep_until(max(slot.at, not_before))
            try:
                return send()
            except SlackRateLimited as exc:
                until = not_before = self.clock.now() + timedelta(seconds=exc.retry_after)
                if hold_on_429:
                    self.pacer.block(key, until)
                log.warning("Slack said wait %g s before the next %s in %s", exc.retry_after,
                            method, key)
                if attempt == 1 or until > deadline:
                    raise
        raise AssertionError("unreachable")


@contextmanager
def _translated(method: str) -> Iterator[None]:
    """slack-sdk's failures as the typed errors above; every call counted and timed by
    method and outcome (`bot.metrics.slack_call`)."""
    with slack_call(method):
        yield from _translating(method)


def _translating(method: str) -> Iterator[None]:
    try:
        yield
    except SlackApiError as exc:
        status = exc.response.status_code
        if status == 429:
            raw = exc.response.headers.get("Retry-After") or exc.response.headers.get(
                "retry-after"
            )
            retry_after = _seconds(raw[0] if isinstance(raw, list) else raw)
            raise SlackRateLimited(method, retry_after) from None
        if status >= 500:
            raise SlackOutcomeUnknown(f"{method}: HTTP {status}", answered=True, method=method,
                                      status=status) from None
        error = exc.response.get("error") if isinstance(exc.response.data, dict) else None
        raise SlackRejected(method, str(error or f"HTTP {status}")) from None
    except json.JSONDecodeError:
        raise SlackOutcomeUnknown(f"{method}: answer was not JSON") from None
    except (TimeoutError, http.client.HTTPException, ConnectionResetError) as exc:
        raise SlackOutcomeUnknown(f"{method}: {type(exc).__name__}") from None
    except URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise SlackOutcomeUnknown(f"{method}: timeout") from None
        raise SlackUnavailable(f"{method}: {exc.reason}") from None
    except (ConnectionRefusedError, OSError) as exc:
        raise SlackUnavailable(f"{method}: {exc}") from None


def _seconds(value: str | None) -> float:
    try:
        return max(0.0, float(value)) if value is not None else 1.0
    except ValueError:
        return 1.0
