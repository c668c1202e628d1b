"""Telling people: the preview in the approvals channel, its thread, the author's DMs.

These Slack calls are not on the publishing path: a worker thread makes them after the
database has changed, so a slow or rate-limited approvals channel never delays a post.
Each message waits for its channel's slot (`bot.slack.PacedSlack`): redraws of previews
take none and go before the notes waiting in line, and a note whose channel is booked
too far ahead goes back to the database and is tried again when its turn comes.
Each preview update re-reads the post, so updates that arrive late or coalesce still show
the current state. The database stays the truth: the sweep posts a missing preview again,
redraws one drawn before the post's last change (`preview_drawn_at`), and sends the notes
(`PostNotice`, kept until Slack takes them) that a crash or an outage held back. Notes
are drawn when sent: a round's report that waited leaves out the deliveries a later
report lists, or it would repeat that report's lines in the thread.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.claims import ClaimColumns, Claims
from bot.clock import Clock
from bot.config import Config
from bot.i18n import Locale
from bot.posts import messages
from bot.posts.models import NoticeState, Post, PostNotice
from bot.posts.service import PostView, view_of
from bot.replicas import Heartbeat
from bot.slack import (
    SlackError,
    SlackGateway,
    SlackOutcomeUnknown,
    SlackRateLimited,
    SlackRejected,
    SlackUnavailable,
)
from bot.slack_format import Message

log = logging.getLogger(__name__)

PREVIEW_LEASE = timedelta(minutes=2)
MAX_YIELD = 30.0  # seconds notices wait at most for publishing to pause
AUTHOR, THREAD, REPORT = "author", "thread", "report"
NOTICE_GRACE = timedelta(minutes=1)  # a fresh note belongs to the worker it was handed to
NOTICE_LEASE = timedelta(minutes=2)
NOTICE_ATTEMPTS = 8
NOTICE_CLAIMS = ClaimColumns(model=PostNotice, state="state", claimed_at="claimed_at",
                             attempts="attempts", uncertain="uncertain",
                             next_at="next_attempt_at", pending=NoticeState.PENDING,
                             sending=NoticeState.SENDING, owner="claimed_by")


class SlackNotices:
    """`Notices` over Slack, run by one background thread (or inline, for tests)."""

    def __init__(self, *, engine: Engine, config: Config, clock: Clock, slack: SlackGateway,
                 locale: Locale, locale_for: Callable[[str], Locale],
                 background: bool = True, heartbeat: Heartbeat | None = None) -> None:
        self._engine = engine
        self._config = config
        self._clock = clock
        self._slack = slack
        self._locale = locale
        self._locale_for = locale_for
        self._background = background
        self._queue = _Lanes()
        self._pending_refresh: set[int] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._claims = Claims(engine, NOTICE_CLAIMS, lease=NOTICE_LEASE, heartbeat=heartbeat)
        self.yield_to: Callable[[], bool] = lambda: False
        # Told the id of every post whose preview is redrawn, i.e. that changed.
        self.changed: list[Callable[[int], None]] = []
        # Told the reactions on a preview found after a lost answer (channel, ts, Slack's
        # `reactions`): editors may have reacted before Vigie knew the preview was there.
        self.found_preview: list[Callable[[str, str, list[dict[str, Any]]], None]] = []

    # -- life cycle ---------------------------------------------------------------------
    def start(self) -> None:
        if self._background and self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="vigie-post-notices",
                                            daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        if self._thread is not None:
            self._queue.put(None, first=False)
            self._thread.join(timeout)
            self._thread = None

    def drain(self, timeout: float = 10.0) -> None:
        """Wait until every queued note is sent (tests and the benchmark)."""
        done = threading.Event()
        self._submit(done.set)
        done.wait(timeout)

    # -- Notices ------------------------------------------------------------------------
    def refresh(self, post_id: int) -> None:
        for listener in self.changed:  # e.g. the App Homes that list the post
            try:
                listener(post_id)
            except Exception:
                log.exception("post change listener failed on post %s", post_id)
        with self._lock:
            if post_id in self._pending_refresh:
                return  # a refresh already queued will read the latest state
            self._pending_refresh.add(post_id)

        def run() -> None:
            with self._lock:
                self._pending_refresh.discard(post_id)
            self._refresh(post_id)

        self._submit(run, first=True)

    def to_author(self, post_id: int, event: str, **params: Any) -> None:
        self._note(post_id, AUTHOR, event, params)

    def in_thread(self, post_id: int, event: str, **params: Any) -> None:
        self._note(post_id, THREAD, event, params)

    def report(self, post_id: int, delivery_ids: Sequence[int]) -> None:
        self._note(post_id, REPORT, "report", {"deliveries": list(delivery_ids)})

    def catch_up(self) -> None:
        """Send the notes a crash or an outage left behind (called by the sweep); the
        fresh ones are left to the worker that was handed them."""
        now = self._clock.now()
        self._claims.release_stale(now)
        with Session(self._engine) as session:
            due = session.exec(
                select(PostNotice.id).where(col(PostNotice.state) == NoticeState.PENDING)
                .where(col(PostNotice.next_attempt_at) <= now)
                .where(col(PostNotice.created_at) <= now - NOTICE_GRACE)
                .order_by(col(PostNotice.id)).limit(50)
            ).all()
        for notice_id in due:
            self._submit(functools.partial(self._send, int(notice_id or 0)))

    def resolve(self, channel: str, ts: str, text: str) -> None:
        """Replace a thread question's buttons by who answered."""
        self._submit(lambda: self._slack.update_message(channel, ts, messages.resolved(text)),
                     first=True)

    # -- work ---------------------------------------------------------------------------
    def _submit(self, task: Callable[[], None], *, first: bool = False) -> None:
        """`first`: a redraw of what people are looking at, done before the notes queued
        so far (a note may wait for its channel's slot; a redraw takes none)."""
        if self._background and self._thread is not None:
            self._queue.put(task, first=first)
        else:
            self._run(task)

    def _loop(self) -> None:
        while True:
            task = self._queue.get()
            if task is None:
                return
            self._wait_for_publishing()
            self._run(task)

    def _wait_for_publishing(self) -> None:
        """Posts first: while platform calls are under way (a burst of posts due at the
        same time), notices wait, so they never take the CPU from a post due now."""
        waited = 0.0
        while self.yield_to() and waited < MAX_YIELD:
            time.sleep(0.005)
            waited += 0.005

    @staticmethod
    def _run(task: Callable[[], None]) -> None:
        try:
            task()
        except SlackError as exc:
            log.warning("could not tell Slack about a post: %s", exc)
        except Exception:
            log.exception("post notice failed")

    def _refresh(self, post_id: int) -> None:
        read_at = self._clock.now()  # what is drawn is the state as of now, or later
        current = self._current(post_id)
        if current is None:
            return
        view, last = current
        channel = self._config.channels.approvals
        if channel is None:
            return
        message = messages.preview(view, config=self._config, locale=self._locale, last=last)
        post = view.post
        if post.preview_ts and post.preview_channel:
            try:
                self._slack.update_message(post.preview_channel, post.preview_ts, message)
            except SlackRejected as exc:  # deleted, or no longer ours: retrying cannot help
                log.warning("preview of post %s cannot be updated: %s", post_id, exc)
            except SlackRateLimited as exc:
                self._later(exc.retry_after, lambda: self.refresh(post_id))
                raise
            self._drawn(post.preview_channel, post.preview_ts, read_at)
            return
        claimed, previous = self._claim_preview(view.id)
        if not claimed:
            return
        # An earlier post of this preview may have arrived with its answer lost: look
        # before posting, or the editors would get two previews (and a ✅ on the first
        # would count for nothing).
        seen: list[dict[str, Any]] = []  # the preview as Slack shows it, when looked up
        ts = self._find_preview(channel, view.id, since=previous - PREVIEW_LEASE, seen=seen) \
            if previous is not None else None
        found = ts is not None
        if not found:
            try:
                ts = self._slack.post_message(channel, message).ts
            except SlackOutcomeUnknown as exc:
                ts = self._find_preview(channel, view.id, since=read_at - PREVIEW_LEASE,
                                        seen=seen)
                if ts is None and not exc.answered:
                    # Slack may still post it: the claim stays until its window is over,
                    # then the sweep looks again before posting (Slack's rule in
                    # bot.connectors.doubt: a message is never sent twice on a doubt).
                    log.warning("preview of post %s may not have arrived (%s): looked for "
                                "it, absent; looking again later", post_id, exc)
                    return
                if ts is None:
                    self._release_preview(view.id)
                    raise
            except SlackError as exc:
                self._release_preview(view.id)
                if isinstance(exc, SlackRateLimited):
                    self._later(exc.retry_after, lambda: self.refresh(post_id))
                raise
        assert ts is not None
        with Session(self._engine) as session:
            session.execute(update(Post).where(col(Post.id) == view.id)
                            .values(preview_channel=channel, preview_ts=ts))
            session.commit()
        reactions = [r for item in seen for r in item.get("reactions") or []]
        if reactions:
            for listener in self.found_preview:
                try:
                    listener(channel, ts, reactions)
                except Exception:
                    log.exception("reactions on the preview of post %s not counted", post_id)
            read_at = self._clock.now()  # the approvals changed the post: draw it now
            message = self._message_now(post_id) or message
            found = True
        if found:  # it shows the post as it was then: draw it as it is now
            try:
                self._slack.update_message(channel, ts, message)
            except SlackError as exc:  # left undrawn: the sweep redraws it
                log.warning("preview of post %s found, not redrawn: %s", post_id, exc)
                return
        self._drawn(channel, ts, read_at)

    def _message_now(self, post_id: int) -> Message | None:
        current = self._current(post_id)
        if current is None:
            return None
        view, last = current
        return messages.preview(view, config=self._config, locale=self._locale, last=last)

    def _find_preview(self, channel: str, post_id: int, *, since: datetime,
                      seen: list[dict[str, Any]]) -> str | None:
        """The ts of the post's preview already in `channel`, if Slack shows one (the
        message itself added to `seen`)."""
        def ours(item: dict[str, Any]) -> bool:
            metadata = item.get("metadata") or {}
            mine = bool(metadata.get("event_type") == messages.PREVIEW_EVENT_TYPE
                        and (metadata.get("event_payload") or {}).get("post_id") == post_id)
            if mine:
                seen.append(item)
            return mine

        try:
            return self._slack.find_message(channel, since=since, matches=ours)
        except SlackError as exc:
            log.warning("could not look for the preview of post %s: %s", post_id, exc)
            return None

    def _drawn(self, channel: str, ts: str, read_at: datetime) -> None:
        """The preview now shows every occurrence it stands for as of `read_at`; one
        changed since (or whose update was lost in a crash) is redrawn by the sweep."""
        with Session(self._engine) as session:
            session.execute(
                update(Post).where(col(Post.preview_channel) == channel)
                .where(col(Post.preview_ts) == ts)
                .where(col(Post.updated_at) <= read_at)
                .values(preview_drawn_at=read_at)
            )
            session.commit()

    def _current(self, post_id: int) -> tuple[PostView, PostView | None] | None:
        """The occurrence a preview shows (the latest of a series) and the one before."""
        with Session(self._engine) as session:
            post = session.get(Post, post_id)
            if post is None:
                return None
            if post.preview_ts:
                latest = session.exec(
                    select(Post).where(col(Post.preview_channel) == post.preview_channel)
                    .where(col(Post.preview_ts) == post.preview_ts)
                    .order_by(col(Post.id).desc())).first()
                post = latest or post
            view = view_of(session, post)
            last = None
            if post.previous_id is not None:
                previous = session.get(Post, post.previous_id)
                last = view_of(session, previous) if previous else None
            return view, last

    def _claim_preview(self, post_id: int) -> tuple[bool, datetime | None]:
        """Claim the posting of a post's first preview; with the earlier claim's time,
        when there was one (its post may have arrived)."""
        now = self._clock.now()
        with Session(self._engine) as session:
            post = session.get(Post, post_id)
            previous = post.preview_claimed_at if post is not None else None
            changed = session.execute(
                update(Post).where(col(Post.id) == post_id).where(col(Post.preview_ts).is_(None))
                .where(or_(col(Post.preview_claimed_at).is_(None),
                           col(Post.preview_claimed_at) < now - PREVIEW_LEASE))
                .values(preview_claimed_at=now)
            )
            session.commit()
        return int(changed.rowcount) == 1, previous  # type: ignore[attr-defined]

    def _release_preview(self, post_id: int) -> None:
        with Session(self._engine) as session:
            session.execute(update(Post).where(col(Post.id) == post_id)
                            .values(preview_claimed_at=None))
            session.commit()

    def _note(self, post_id: int, kind: str, event: str, params: dict[str, Any]) -> None:
        """Keep the note in the database first, then hand it to the worker."""
        now = self._clock.now()
        with Session(self._engine) as session:
            notice = PostNotice(post_id=post_id, kind=kind, event=event,
                                params=_encoded(params), next_attempt_at=now, created_at=now)
            session.add(notice)
            session.commit()
            notice_id = int(notice.id or 0)
        self._submit(lambda: self._send(notice_id))

    def _send(self, notice_id: int) -> None:
        """Send one note, once: claimed first; a note whose answer was lost is not sent
        again (a duplicate would be worse than a missing line); Slack down: later."""
        now = self._clock.now()
        notice = self._claims.claim(notice_id, now)
        if notice is None:
            return  # sent, or another worker has it
        if notice.uncertain:
            self._claims.finish(notice, state=NoticeState.UNCONFIRMED)
            return
        params = _decoded(notice.params)
        deliveries = self._not_reported_later(notice, params) if notice.kind == REPORT else []
        if notice.kind == REPORT and not deliveries:
            log.info("report %s about post %s: a later report shows its deliveries",
                     notice_id, notice.post_id)
            self._claims.finish(notice, state=NoticeState.SUPERSEDED, error=None)
            return
        try:
            if notice.kind == AUTHOR:
                self._to_author(notice.post_id, notice.event, params)
            elif notice.kind == THREAD:
                self._in_thread(notice.post_id, notice.event, params)
            else:
                self._report(notice.post_id, deliveries)
        except SlackOutcomeUnknown as exc:
            if _nothing_posted(exc):
                self._retry(notice, exc)
                return
            # No answer, or a server error Slack can give after posting (500, 502, 504):
            # it may be there, and Vigie cannot read DMs (no im:history) to check. A
            # duplicate would be worse than a missing line (the preview shows the state).
            log.warning("note %s about post %s may have gone out (%s): not sent again",
                        notice_id, notice.post_id, exc)
            self._claims.finish(notice, state=NoticeState.UNCONFIRMED, error=str(exc)[:512])
        except SlackRateLimited as exc:  # nothing was sent: not an attempt
            self._retry(notice, exc, seconds=exc.retry_after, counts=False)
        except SlackUnavailable as exc:
            self._retry(notice, exc)
        except Exception as exc:  # refused by Slack, or a bug: not worth retrying
            log.warning("note %s about post %s failed", notice_id, notice.post_id,
                        exc_info=not isinstance(exc, SlackError))
            self._claims.finish(notice, state=NoticeState.FAILED, error=str(exc)[:512])
        else:
            self._claims.finish(notice, state=NoticeState.SENT, error=None)

    def _not_reported_later(self, notice: PostNotice, params: dict[str, Any]) -> list[int]:
        """The deliveries of a report that no later report of the same post lists.

        A report is drawn when it is sent, from the deliveries as they are then. One held
        back (Slack busy or down, its channel's pace, a queue behind a burst of posts)
        until a later round handled the same delivery again (the look that found it after
        a lost answer, a resend) would draw that delivery's line exactly as the later
        report does: the same line twice in the thread. The later report shows it (or will,
        as it is then); this one keeps the others. A later report Slack refused for good
        shows nothing, so it covers nothing."""
        listed = [int(i) for i in params.get("deliveries", [])]
        with Session(self._engine) as session:
            later = session.exec(
                select(PostNotice.params).where(col(PostNotice.post_id) == notice.post_id)
                .where(col(PostNotice.kind) == REPORT)
                .where(col(PostNotice.id) > notice.id)
                .where(col(PostNotice.state) != NoticeState.FAILED)
            ).all()
        covered = {int(i) for text in later for i in _decoded(text).get("deliveries", [])}
        return [i for i in listed if i not in covered]

    def _retry(self, notice: PostNotice, exc: SlackError, *,
               seconds: float | None = None, counts: bool = True) -> None:
        """Slack was down or busy: try again later (the sweep will), a few times, 2 s,
        4 s, 8 s… apart unless Slack said how long to wait. One that was only held back
        (a 429, its channel booked) uses no attempt, and is tried again right then."""
        if seconds is None:
            seconds = 2 ** min(notice.attempts, 9)
        attempts = notice.attempts if counts else notice.attempts - 1
        again = attempts < NOTICE_ATTEMPTS
        self._claims.finish(notice, state=NoticeState.PENDING if again else NoticeState.FAILED,
                            next_attempt_at=self._clock.now() + timedelta(seconds=seconds),
                            error=str(exc)[:512], attempts=attempts)
        log.warning("note %s about post %s not sent (%s)%s", notice.id, notice.post_id, exc,
                    "; will retry" if again else "; giving up")
        if again and not counts:
            self._later(seconds, functools.partial(self._send, int(notice.id or 0)))

    def _later(self, seconds: float, task: Callable[[], None]) -> None:
        """Hand `task` to the worker in `seconds` (if this process dies first, the sweep's
        catch-up does it; without a worker thread, only the sweep)."""
        if self._thread is None:
            return
        timer = threading.Timer(max(seconds, 0.0), self._submit, args=(task,))
        timer.daemon = True
        timer.start()

    def _to_author(self, post_id: int, event: str, params: dict[str, Any]) -> None:
        view = self._view(post_id)
        if view is None:
            return
        post = view.post
        url = None
        if post.preview_channel and post.preview_ts:
            try:
                url = self._slack.permalink(post.preview_channel, post.preview_ts)
            except SlackError:
                url = None
        locale = self._locale_for(post.author_id)
        message = messages.author_note(view, event, params, config=self._config, locale=locale,
                                       preview_url=url)
        self._slack.direct_message(post.author_id, message)

    def _in_thread(self, post_id: int, event: str, params: dict[str, Any]) -> None:
        view = self._view(post_id)
        if view is None or not (view.post.preview_channel and view.post.preview_ts):
            return
        message = messages.thread_note(view, event, params, config=self._config,
                                       locale=self._locale)
        self._slack.post_message(view.post.preview_channel, message,
                                 thread_ts=view.post.preview_ts)

    def _report(self, post_id: int, delivery_ids: list[int]) -> None:
        view = self._view(post_id)
        if view is None or not (view.post.preview_channel and view.post.preview_ts):
            return
        message = messages.report_note(view, delivery_ids, config=self._config,
                                       locale=self._locale)
        self._slack.post_message(view.post.preview_channel, message,
                                 thread_ts=view.post.preview_ts)

    def _view(self, post_id: int) -> PostView | None:
        with Session(self._engine) as session:
            post = session.get(Post, post_id)
            return view_of(session, post) if post else None


class _Lanes:
    """The worker's queue: redraws first, then notes, each in the order they came."""

    def __init__(self) -> None:
        self._ready = threading.Condition()
        self._first: deque[Callable[[], None] | None] = deque()
        self._then: deque[Callable[[], None] | None] = deque()

    def put(self, task: Callable[[], None] | None, *, first: bool) -> None:
        with self._ready:
            (self._first if first else self._then).append(task)
            self._ready.notify()

    def get(self) -> Callable[[], None] | None:
        with self._ready:
            self._ready.wait_for(lambda: bool(self._first or self._then))
            return self._first.popleft() if self._first else self._then.popleft()


def _encoded(params: dict[str, Any]) -> str:
    """A note's params as JSON (datetimes tagged, to come back as datetimes)."""
    return json.dumps({name: {"$datetime": value.isoformat()} if isinstance(value, datetime)
                       else value for name, value in params.items()})


def _decoded(text: str) -> dict[str, Any]:
    params = dict(json.loads(text or "{}"))
    return {name: datetime.fromisoformat(value["$datetime"])
            if isinstance(value, dict) and "$datetime" in value else value
            for name, value in params.items()}


def _nothing_posted(exc: SlackOutcomeUnknown) -> bool:
    """Slack answered in a way that says no message was posted: a 503 (its front door
    refusing the request), or a failure of a call that posts nothing (opening the DM)."""
    return exc.answered and (exc.status == 503 or exc.method not in (None, "chat.postMessage"))
