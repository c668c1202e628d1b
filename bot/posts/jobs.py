"""Publishing: the scheduled job that sends an approved post, exactly once, and the sweep.

Exactly once, whatever runs it — the scheduled job, the sweep, a second replica, a
restarted process, a job APScheduler fires twice:

1. The post is *claimed* with `UPDATE post SET state='publishing' WHERE state='approved'`
   before any platform is called. One runner's update changes the row; every other one
   changes nothing and stops. For a recurring post the next occurrence is created in the
   same transaction (a unique `previous_id` forbids a second one).
2. Each target (`PostDelivery`) is claimed the same way (`queued`/due `failed` →
   `sending`) just before its publisher is called, so a retry round never resends a
   target that went out, and a runner killed mid-round leaves the targets it had not
   reached `queued` (certainly not sent: the sweep sends them), not in doubt. The claim
   records the process that made it (`bot.replicas`): one whose heartbeat stopped is
   taken back at once; `SENDING_LEASE` remains for a process alive but stuck. A claim
   taken back is in doubt only if the platform may have been called (`calling_at`):
   the publisher's client is built before the claim (Mastodon.py takes seconds to
   import on a cold start), and a wait for the channel's Slack slot clears it.
3. A definite failure is retried with backoff (only that target). An unknown outcome
   (a server error, a lost answer) is looked for on the platform, at once and then on
   the publisher's schedule while the platform may still create the post
   (`bot.connectors.doubt`): found → published with its link; certainly absent once the
   platform can no longer create it → retried like a failure, with the same
   Idempotency-Key / record key, so the platform itself refuses a second post; where no
   such key exists (Slack), or the looks cannot tell → *unconfirmed*, for a human.
   Each look is claimed like a send (`checks`, and a lease on `next_attempt_at`).

Timing: the job is scheduled at the post's time with `misfire_grace_time` =
`posts.stale_after_minutes`. A post missed by a short downtime still goes out when the
scheduler comes back; one missed by more is not sent but marked *stale*, and a human
chooses in the approval thread. The sweep re-reads the database every
`posts.sweep_seconds`: the database, not the job store, is the truth, so a lost job
(dropped misfire, crash between commit and scheduling) only delays a post by a sweep.
Messages to Slack channels are paced (`bot.slack.PacedSlack`): a target whose channel is
booked more than a few seconds ahead stays queued, with no attempt spent and nothing
reported, and its job runs again when the channel is free.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.clock import Clock
from bot.config import Config
from bot.connectors.doubt import LOOK_LEASE, Doubt, Look, Step, Unproven
from bot.connectors.publishers import (
    Outgoing,
    Published,
    PublishError,
    Publishers,
    PublishOutcomeUnknown,
    PublishRateLimited,
    PublishRejected,
    PublishUnavailable,
)
from bot.metrics import PUBLICATIONS
from bot.posts.models import (
    ERROR_LENGTH,
    DeliveryState,
    Post,
    PostApproval,
    PostDelivery,
    PostState,
    Recurrence,
)
from bot.posts.service import JOB, Notices, Timer, job_id
from bot.posts.when import next_occurrence
from bot.reasons import Reason
from bot.replicas import Heartbeat

log = logging.getLogger(__name__)

SWEEP_MARGIN = timedelta(seconds=5)  # the precise job goes first; the sweep catches the rest
SENDING_LEASE = timedelta(minutes=5)  # longer than any publisher's own timeout
MAX_BACKOFF = timedelta(minutes=30)
SWEEP_BATCH = 200
PREVIEW_GRACE = timedelta(minutes=1)  # a preview update is normally sent within seconds
PREVIEW_CATCH_UP = timedelta(days=7)  # older posts' previews are left as they are


def backoff(attempts: int) -> timedelta:
    """2 s, 4 s, 8 s… capped at 30 minutes (8 attempts span about four minutes)."""
    return min(timedelta(seconds=2 ** max(1, min(attempts, 16))), MAX_BACKOFF)


def delivery_key(post_id: int, target_id: str) -> str:
    return f"post-{post_id}-{target_id}"


@dataclass(frozen=True)
class _Settled:
    state: str
    gave_up: bool
    next_attempt_at: datetime | None


@dataclass(frozen=True)
class Claimed:
    delivery: PostDelivery
    claimed_at: datetime


class Publishing:
    def __init__(self, *, engine: Engine, config: Config, clock: Clock,
                 publishers: Publishers, timer: Timer, notices: Notices,
                 heartbeat: Heartbeat | None = None) -> None:
        self._engine = engine
        self._heartbeat = heartbeat or Heartbeat(engine=engine, clock=clock)
        self._config = config
        self._clock = clock
        self._publishers = publishers
        self._timer = timer
        self._notices = notices
        self._busy = 0
        self._busy_lock = threading.Lock()
        self._sending = threading.local()  # the claim this thread is sending (`resting`)

    @property
    def stale_after(self) -> timedelta:
        return timedelta(minutes=self._config.posts.stale_after_minutes)

    # -- the scheduled job ---------------------------------------------------------------
    def run_due(self, post_id: int) -> None:
        """Whatever is due for this post now: expire it, mark it stale, publish it, or
        retry the targets whose turn has come. Safe to call any number of times."""
        now = self._clock.now()
        post = self._get(post_id)
        if post is None:
            return
        if post.state == PostState.PENDING:
            if post.publish_at is not None and post.publish_at <= now:
                self._expire(post_id, now)
            elif post.publish_at is not None:
                self._schedule(post_id, post.publish_at)  # fired early (clock skew)
            return
        if post.state == PostState.APPROVED:
            if post.publish_at is None or post.publish_at > now:
                if post.publish_at is not None:
                    self._schedule(post_id, post.publish_at)
                return
            if now - post.publish_at > self.stale_after:
                self._mark_stale(post_id, now)
                return
            targets = self._claim(post, now)
            if targets is None:
                return  # someone else has it
            self._send_round(post, targets, complete=True)
        elif post.state == PostState.PUBLISHING:
            self._deliver_due(post)

    def sweep(self) -> None:
        """Catch up with the database: lost jobs, crashed runners, missing or outdated
        previews, notes not sent yet."""
        now = self._clock.now()
        self._release_stuck(now)
        with Session(self._engine) as session:
            overdue = session.exec(
                select(Post.id).where(or_(
                    and_(col(Post.state) == PostState.PENDING, col(Post.publish_at) <= now),
                    and_(col(Post.state) == PostState.APPROVED,
                         col(Post.publish_at) <= now - SWEEP_MARGIN),
                )).order_by(col(Post.publish_at)).limit(SWEEP_BATCH)
            ).all()
            retrying = session.exec(
                select(PostDelivery.post_id).distinct()
                .join(Post, col(Post.id) == col(PostDelivery.post_id))
                .where(col(Post.state) == PostState.PUBLISHING)
                .where(or_(
                    and_(_queued(now), col(Post.claimed_at) <= now - SWEEP_MARGIN),
                    and_(col(PostDelivery.state).in_((DeliveryState.FAILED,
                                                      DeliveryState.UNCONFIRMED)),
                         col(PostDelivery.gave_up).is_(False),
                         col(PostDelivery.next_attempt_at) <= now),
                )).limit(SWEEP_BATCH)
            ).all()
            stalled = session.exec(  # e.g. a runner died between its round and the finish
                select(Post.id).where(col(Post.state) == PostState.PUBLISHING)
                .where(col(Post.updated_at) < now - SENDING_LEASE).limit(SWEEP_BATCH)
            ).all()
            no_preview = session.exec(
                select(Post.id).where(col(Post.preview_ts).is_(None))
                .where(col(Post.previous_id).is_(None))
                .where(col(Post.created_at) <= now - timedelta(minutes=1))
                # Expired or stale too: editors can still approve those (it sends them
                # now), which they cannot do without ever seeing the preview.
                .where(col(Post.state).in_((PostState.PENDING, PostState.APPROVED,
                                            PostState.EXPIRED, PostState.STALE)))
                .limit(20)
            ).all()
            outdated = session.exec(  # its preview update was lost (a crash, Slack down)
                select(Post.id).where(col(Post.preview_ts).is_not(None))
                .where(or_(col(Post.preview_drawn_at).is_(None),
                           col(Post.preview_drawn_at) < col(Post.updated_at)))
                .where(col(Post.updated_at) <= now - PREVIEW_GRACE)
                .where(col(Post.updated_at) >= now - PREVIEW_CATCH_UP)
                .order_by(col(Post.updated_at)).limit(20)
            ).all()
        for post_id in dict.fromkeys([*overdue, *retrying, *stalled]):
            try:
                self.run_due(int(post_id or 0))
            except Exception:
                log.exception("sweep could not handle post %s", post_id)
        for post_id in dict.fromkeys([*no_preview, *outdated]):
            self._notices.refresh(int(post_id or 0))
        self._notices.catch_up()

    # -- state changes ------------------------------------------------------------------
    def _expire(self, post_id: int, now: datetime) -> None:
        with Session(self._engine) as session:
            changed = session.execute(
                update(Post).where(col(Post.id) == post_id)
                .where(col(Post.state) == PostState.PENDING).where(col(Post.publish_at) <= now)
                .values(state=PostState.EXPIRED, updated_at=now)
            )
            session.commit()
        if _count(changed) == 1:
            log.info("post %s expired unapproved", post_id)
            self._notices.refresh(post_id)
            self._notices.to_author(post_id, "expired")
            self._notices.in_thread(post_id, "expired")

    def _mark_stale(self, post_id: int, now: datetime) -> None:
        with Session(self._engine) as session:
            changed = session.execute(
                update(Post).where(col(Post.id) == post_id)
                .where(col(Post.state) == PostState.APPROVED)
                .where(col(Post.publish_at) < now - self.stale_after)
                .values(state=PostState.STALE, updated_at=now)
            )
            session.commit()
        if _count(changed) == 1:
            log.warning("post %s missed its time by more than %s: asking a human", post_id,
                        self.stale_after)
            self._notices.refresh(post_id)
            self._notices.in_thread(post_id, "stale")
            self._notices.to_author(post_id, "stale")

    def _claim(self, post: Post, now: datetime) -> list[PostDelivery] | None:
        """Take the post for publishing and list its targets, in one transaction; for a
        series, create the next occurrence in it too. None: someone else has it. Each
        target is claimed on its own, just before its call (`_send_round`)."""
        post_id = int(post.id or 0)
        with Session(self._engine, expire_on_commit=False) as session:
            changed = session.execute(
                update(Post).where(col(Post.id) == post_id)
                .where(col(Post.state) == PostState.APPROVED)
                .where(col(Post.version) == post.version)
                .where(col(Post.publish_at) <= now)
                .values(state=PostState.PUBLISHING, claimed_at=now, updated_at=now)
            )
            if _count(changed) != 1:
                session.rollback()
                return None
            deliveries = session.exec(
                select(PostDelivery).where(col(PostDelivery.post_id) == post_id)
                .where(col(PostDelivery.state) == DeliveryState.QUEUED)
                .order_by(col(PostDelivery.id))
            ).all()
            successor = self._next_occurrence(session, post, now)
            session.commit()
        if successor is not None:
            self._schedule(successor[0], successor[1])
        return list(deliveries)

    def _next_occurrence(self, session: Session, post: Post, now: datetime
                         ) -> tuple[int, datetime] | None:
        if not post.recurrence or post.publish_at is None:
            return None
        try:
            when = next_occurrence(Recurrence(post.recurrence), post.cron, post.publish_at,
                                   after=now, timezone=self._config.newsroom.timezone)
        except ValueError:
            log.warning("post %s: recurrence %s has no next time", post.id, post.recurrence)
            return None
        successor = Post(
            author_id=post.author_id, text=post.text, note=post.note, publish_at=when,
            recurrence=post.recurrence, cron=post.cron, previous_id=post.id,
            state=PostState.APPROVED, version=post.version, created_at=now, updated_at=now,
            preview_channel=post.preview_channel, preview_ts=post.preview_ts,
        )
        session.add(successor)
        session.flush()
        new_id = int(successor.id or 0)
        targets = session.exec(select(PostDelivery.target_id, PostDelivery.kind)
                               .where(col(PostDelivery.post_id) == post.id)).all()
        for target_id, kind in targets:
            session.add(PostDelivery(post_id=new_id, target_id=target_id, kind=kind))
        approvals = session.exec(select(PostApproval).where(col(PostApproval.post_id) == post.id)
                                 .where(col(PostApproval.version) == post.version)).all()
        for approval in approvals:  # the series was approved as a whole
            session.add(PostApproval(post_id=new_id, editor_id=approval.editor_id,
                                     version=approval.version, via=approval.via, at=approval.at))
        return new_id, when

    # -- deliveries ---------------------------------------------------------------------
    def _deliver_due(self, post: Post) -> None:
        """A later round: the targets whose retry (or re-check) time has come."""
        post_id = int(post.id or 0)
        now = self._clock.now()
        with Session(self._engine) as session:
            due = session.exec(
                select(PostDelivery).where(col(PostDelivery.post_id) == post_id)
                .where(or_(
                    _queued(now),
                    and_(col(PostDelivery.state).in_((DeliveryState.FAILED,
                                                      DeliveryState.UNCONFIRMED)),
                         col(PostDelivery.gave_up).is_(False),
                         col(PostDelivery.next_attempt_at) <= now),
                )).order_by(col(PostDelivery.id))
            ).all()
        sending: list[PostDelivery] = []
        rechecked: list[int] = []
        for delivery in due:
            if delivery.state == DeliveryState.UNCONFIRMED:
                if self._recheck(post, delivery, now):
                    rechecked.append(int(delivery.id or 0))
                continue
            sending.append(delivery)
        self._send_round(post, sending, rechecked)

    def _get_ready(self, delivery: PostDelivery) -> None:
        """Have the publisher build its client for the target before the claim, not
        inside it: a process killed meanwhile leaves the target queued, not in doubt."""
        target = self._config.posts.target(delivery.target_id)
        if target is None or not self._publishers.has(delivery.kind):
            return
        try:
            self._publishers.get(delivery.kind).serves(target)
        except Exception:  # the publish call itself says what is wrong
            log.debug("publisher %s not ready for %s", delivery.kind, delivery.target_id,
                      exc_info=True)

    def _claim_delivery(self, delivery: PostDelivery, now: datetime) -> Claimed | None:
        with Session(self._engine) as session:
            changed = session.execute(
                update(PostDelivery).where(col(PostDelivery.id) == delivery.id)
                .where(or_(
                    _queued(now),
                    and_(col(PostDelivery.state) == DeliveryState.FAILED,
                         col(PostDelivery.gave_up).is_(False),
                         col(PostDelivery.next_attempt_at) <= now),
                ))
                .values(state=DeliveryState.SENDING, claimed_at=now, calling_at=now,
                        checks=0, claimed_by=self._heartbeat.id, creatable_until=None,
                        attempts=col(PostDelivery.attempts) + 1)
            )
            session.commit()
        if _count(changed) != 1:
            return None
        delivery.attempts += 1
        return Claimed(delivery, now)

    def _send_round(self, post: Post, due: Sequence[PostDelivery],
                    rechecked: Sequence[int] = (), *, complete: bool = False) -> None:
        """Claim each target just before calling its publisher, then record the round. A
        target another runner claimed first is its to tell: the round is not `complete`."""
        results: list[tuple[Claimed, dict[str, Any]]] = []
        with self._busy_lock:
            self._busy += 1
        try:
            for delivery in due:
                self._get_ready(delivery)
                taken = self._claim_delivery(delivery, self._clock.now())
                if taken is None:
                    complete = False
                    continue
                self._sending.claimed = taken
                try:
                    results.append((taken, self._outcome(post, taken)))
                finally:
                    self._sending.claimed = None
        finally:
            with self._busy_lock:
                self._busy -= 1
        for item, result in results:
            count_publication(item.delivery.target_id, result)
        # A target still queued (waiting for its channel's turn) was not attempted: no
        # report about it.
        handled = [int(item.delivery.id or 0) for item, result in results
                   if result["state"] != DeliveryState.QUEUED] + list(rechecked)
        self._finish(int(post.id or 0), results, handled, complete=complete)

    def busy(self) -> bool:
        """Is a platform call under way? (Notices wait: the post first, the telling after.)"""
        return self._busy > 0

    @contextmanager
    def resting(self) -> Iterator[None]:
        """A publisher waiting for its channel's slot uses no CPU: not busy meanwhile. Nor
        is it calling the platform: the delivery says so while it waits, so that a process
        killed then leaves it certainly not sent. If that cannot be undone after the wait,
        the call is not made (PublishUnavailable: retried later)."""
        claimed: Claimed | None = getattr(self._sending, "claimed", None)
        if claimed is not None:
            self._calling(claimed, None)
        with self._busy_lock:
            self._busy -= 1
        try:
            yield
        finally:
            with self._busy_lock:
                self._busy += 1
        if claimed is not None and not self._calling(claimed, self._clock.now()):
            raise PublishUnavailable(Reason("publish.not_recorded"))

    def _calling(self, claimed: Claimed, since: datetime | None) -> bool:
        """Record whether the claimed delivery's platform may be called from now on."""
        try:
            with Session(self._engine) as session:
                changed = session.execute(
                    update(PostDelivery).where(col(PostDelivery.id) == claimed.delivery.id)
                    .where(col(PostDelivery.state) == DeliveryState.SENDING)
                    .where(col(PostDelivery.claimed_at) == claimed.claimed_at)
                    .values(calling_at=since))
                session.commit()
        except Exception:
            log.warning("post %s → %s: could not record the call's state",
                        claimed.delivery.post_id, claimed.delivery.target_id, exc_info=True)
            return False
        return _count(changed) == 1

    def _outcome(self, post: Post, claimed: Claimed) -> dict[str, Any]:
        """Publish one claimed delivery; what to record about it."""
        delivery = claimed.delivery
        outgoing = self._outgoing(post, delivery, claimed.claimed_at)
        max_attempts = self._config.posts.max_attempts
        try:
            if outgoing is None:
                raise PublishRejected(Reason("publish.target_gone", target=delivery.target_id),
                                      permanent=True)
            published = self._publishers.get(delivery.kind).publish(outgoing)
        except PublishRateLimited as exc:
            if exc.paced:  # its channel is booked: still queued, for the slot it was told
                return {"state": DeliveryState.QUEUED, "attempts": delivery.attempts - 1,
                        "next_attempt_at": self._clock.now() + timedelta(
                            seconds=exc.retry_after)}
            # Refused before anything happened: wait it out, without using up an attempt.
            return {"state": DeliveryState.FAILED, "error": _stored(exc.reason),
                    "next_attempt_at": self._clock.now() + timedelta(seconds=exc.retry_after),
                    "attempts": delivery.attempts - 1}
        except PublishOutcomeUnknown as exc:
            return self._unknown(post, claimed, outgoing, exc)
        except PublishRejected as exc:
            return self._failed(claimed, exc.reason, exc.permanent or
                                delivery.attempts >= max_attempts)
        except PublishError as exc:  # unavailable: certainly not sent
            return self._failed(claimed, exc.reason, delivery.attempts >= max_attempts)
        except Exception as exc:  # a publisher bug: it may have sent; never resend blindly
            log.exception("publisher %s crashed on post %s", delivery.kind, post.id)
            return {"state": DeliveryState.UNCONFIRMED, "gave_up": True,
                    "error": _stored(Reason("publish.crashed", error=type(exc).__name__))}
        return self._published(published)

    def _unknown(self, post: Post, claimed: Claimed, outgoing: Outgoing | None,
                 error: PublishOutcomeUnknown) -> dict[str, Any]:
        """It may have gone out: look at once, then as the platform's `doubt` says."""
        delivery = claimed.delivery
        doubt = self._doubt(delivery)
        until = doubt.creatable_until(claimed.claimed_at, answered=error.answered)
        look, found = self._look(post, delivery, outgoing)
        log.warning("post %s → %s: %s; looked for it: %s", post.id, delivery.target_id,
                    error, look.value)
        return {"error": _stored(error.reason), "creatable_until": until, "checks": 1,
                **self._after_look(doubt, look, found, delivery, sent_at=claimed.claimed_at,
                                   until=until)}

    def _recheck(self, post: Post, delivery: PostDelivery, now: datetime) -> bool:
        """Look again for a delivery in doubt (never sends: a resend goes through a later
        claim). True when it is settled, or due to be sent again (worth a report)."""
        with Session(self._engine) as session:
            changed = session.execute(  # the look is ours, for LOOK_LEASE
                update(PostDelivery).where(col(PostDelivery.id) == delivery.id)
                .where(col(PostDelivery.state) == DeliveryState.UNCONFIRMED)
                .where(col(PostDelivery.gave_up).is_(False))
                .where(col(PostDelivery.checks) == delivery.checks)
                .where(col(PostDelivery.next_attempt_at) <= now)
                .values(checks=col(PostDelivery.checks) + 1, next_attempt_at=now + LOOK_LEASE)
            )
            session.commit()
        if _count(changed) != 1:
            return False
        sent_at = delivery.claimed_at or now
        values: dict[str, Any]
        if self._publishers.has(delivery.kind):
            doubt = self._doubt(delivery)
            until = delivery.creatable_until or doubt.creatable_until(sent_at, answered=False)
            look, found = self._look(post, delivery, self._outgoing(post, delivery, sent_at))
            values = {"creatable_until": until,
                      **self._after_look(doubt, look, found, delivery, sent_at=sent_at,
                                         until=until)}
            log.info("post %s → %s: look %s after an unknown outcome: %s", post.id,
                     delivery.target_id, delivery.checks + 1, look.value)
        else:
            values = {"gave_up": True, "next_attempt_at": None}
        count_publication(delivery.target_id, values)
        with Session(self._engine) as session:
            written = session.execute(
                update(PostDelivery).where(col(PostDelivery.id) == delivery.id)
                .where(col(PostDelivery.state) == DeliveryState.UNCONFIRMED)
                .where(col(PostDelivery.checks) == delivery.checks + 1)
                .values(**values))
            session.commit()
        looking_again = values.get("state") == DeliveryState.UNCONFIRMED \
            and not values.get("gave_up")
        return _count(written) == 1 and not looking_again

    def _doubt(self, delivery: PostDelivery) -> Doubt:
        """How the delivery's platform settles an unknown outcome, for its account."""
        target = self._config.posts.target(delivery.target_id)
        return self._publishers.get(delivery.kind).doubt.for_account(
            target.account if target else None)

    def _look(self, post: Post, delivery: PostDelivery, outgoing: Outgoing | None
              ) -> tuple[Look, Published | None]:
        """Is the attempt's post on the platform? (`find`, its failures sorted.)"""
        if outgoing is None:  # the target is no longer configured: nothing to ask
            return Look.UNPROVEN, None
        try:
            found = self._publishers.get(delivery.kind).find(outgoing)
        except Unproven as exc:
            log.warning("post %s → %s: the look cannot tell: %s", post.id,
                        delivery.target_id, exc)
            return Look.UNPROVEN, None
        except PublishError as exc:
            log.warning("post %s → %s: could not look for it: %s", post.id,
                        delivery.target_id, exc)
            return Look.UNREACHABLE, None
        except Exception:  # a publisher bug: as if the platform could not be asked
            log.exception("publisher %s crashed looking for post %s", delivery.kind, post.id)
            return Look.UNREACHABLE, None
        return (Look.FOUND, found) if found is not None else (Look.ABSENT, None)

    def _after_look(self, doubt: Doubt, look: Look, found: Published | None,
                    delivery: PostDelivery, *, sent_at: datetime, until: datetime
                    ) -> dict[str, Any]:
        """The delivery's new state after a look (see `bot.connectors.doubt`)."""
        now = self._clock.now()
        step = doubt.next(look, sent_at=sent_at, creatable_until=until, now=now)
        if step.step is Step.PUBLISHED and found is not None:
            log.info("post %s had reached %s despite the error", delivery.post_id,
                     delivery.target_id)
            return self._published(found)
        if step.step is Step.LOOK:
            return {"state": DeliveryState.UNCONFIRMED, "gave_up": False,
                    "next_attempt_at": step.at}
        if step.step is Step.RESEND:
            gave_up = delivery.attempts >= self._config.posts.max_attempts
            log.warning("post %s → %s: certainly not published; %s", delivery.post_id,
                        delivery.target_id, "out of attempts" if gave_up else "sending again")
            return {"state": DeliveryState.FAILED, "gave_up": gave_up,
                    "next_attempt_at": None if gave_up
                    else now + backoff(delivery.attempts)}
        return {"state": DeliveryState.UNCONFIRMED, "gave_up": True, "next_attempt_at": None}

    def _published(self, published: Published) -> dict[str, Any]:
        return {"state": DeliveryState.PUBLISHED, "external_id": published.external_id,
                "url": published.url, "published_at": self._clock.now(), "error": None,
                "next_attempt_at": None}

    def _failed(self, claimed: Claimed, error: Reason, gave_up: bool) -> dict[str, Any]:
        log.warning("post %s → %s failed (attempt %s): %s", claimed.delivery.post_id,
                    claimed.delivery.target_id, claimed.delivery.attempts, error)
        return {"state": DeliveryState.FAILED, "error": _stored(error), "gave_up": gave_up,
                "next_attempt_at": None if gave_up
                else self._clock.now() + backoff(claimed.delivery.attempts)}

    def _finish(self, post_id: int, results: Sequence[tuple[Claimed, dict[str, Any]]],
                handled: Sequence[int], *, complete: bool = False) -> None:
        """Record this round's results and, when every target is settled, the post's
        final state — one transaction, holding the post row so that two runners finishing
        different targets at once cannot both miss the last one. A `complete` round (the
        first, which claimed every target) knows the outcome from its own results."""
        now = self._clock.now()
        final: PostState | None = None
        changed = 0
        with Session(self._engine, expire_on_commit=False) as session:
            held = None if complete else session.execute(
                update(Post).where(col(Post.id) == post_id)
                .where(col(Post.state) == PostState.PUBLISHING).values(updated_at=now)
            )
            for claimed, values in results:
                session.execute(  # only while this runner still holds the delivery's claim
                    update(PostDelivery).where(col(PostDelivery.id) == claimed.delivery.id)
                    .where(col(PostDelivery.state) == DeliveryState.SENDING)
                    .where(col(PostDelivery.claimed_at) == claimed.claimed_at)
                    .values(**values)
                )
            if complete:
                settled = [_Settled(v["state"], bool(v.get("gave_up")), v.get("next_attempt_at"))
                           for _, v in results]
            else:
                settled = [_Settled(d.state, d.gave_up, d.next_attempt_at) for d in session.exec(
                    select(PostDelivery).where(col(PostDelivery.post_id) == post_id)).all()]
            waiting = [d for d in settled if d.state in (DeliveryState.QUEUED,
                                                         DeliveryState.SENDING)
                       or (d.state in (DeliveryState.FAILED, DeliveryState.UNCONFIRMED)
                           and not d.gave_up and d.next_attempt_at is not None)]
            if complete or _count(held) == 1:
                if settled and all(d.state == DeliveryState.PUBLISHED for d in settled):
                    final = PostState.PUBLISHED
                elif not waiting:
                    final = PostState.FAILED
                if final is not None:
                    changed = _count(session.execute(
                        update(Post).where(col(Post.id) == post_id)
                        .where(col(Post.state) == PostState.PUBLISHING)
                        .values(state=final, finished_at=now, updated_at=now)))
            session.commit()
        if handled:
            self._notices.report(post_id, handled)
        if final is not None and changed == 1:
            self._notices.to_author(post_id, final.value)
        if final is not None or handled:
            self._notices.refresh(post_id)
        retry_times = [d.next_attempt_at for d in waiting if d.next_attempt_at is not None]
        if final is None and retry_times:
            self._schedule(post_id, max(min(retry_times), now))

    def _release_stuck(self, now: datetime) -> None:
        """A runner that died mid-call left a delivery `sending`: it may have gone out, so
        it is looked for on the platform before anything is sent again. Taken back once
        its process stopped beating (`bot.replicas`), or at the end of the lease."""
        claimed_at = col(PostDelivery.claimed_at)
        with Session(self._engine) as session:
            stuck = session.exec(
                select(PostDelivery.id, PostDelivery.post_id, PostDelivery.claimed_at,
                       PostDelivery.calling_at)
                .where(col(PostDelivery.state) == DeliveryState.SENDING)
                .where(or_(claimed_at < now - SENDING_LEASE, self._heartbeat.abandoned(
                    col(PostDelivery.claimed_by), claimed_at, now)))
            ).all()
            for delivery_id, _, claimed, calling in stuck:
                values: dict[str, Any] = {
                    "state": DeliveryState.UNCONFIRMED, "next_attempt_at": now, "checks": 0,
                    "gave_up": False, "creatable_until": None,
                    "error": _stored(Reason("publish.interrupted"))}
                if calling is None:  # stopped before calling: certainly not sent
                    values = {"state": DeliveryState.QUEUED, "next_attempt_at": None,
                              "attempts": col(PostDelivery.attempts) - 1}
                session.execute(
                    update(PostDelivery).where(col(PostDelivery.id) == delivery_id)
                    .where(col(PostDelivery.state) == DeliveryState.SENDING)
                    .where(claimed_at == claimed).values(**values)
                )
            session.commit()
        for _, post_id, _, calling in stuck:
            log.warning("post %s: a delivery was interrupted %s", post_id,
                        "mid-call; checking it" if calling else "before its call; sending it")

    # -- helpers ------------------------------------------------------------------------
    def _outgoing(self, post: Post, delivery: PostDelivery, started: datetime) -> Outgoing | None:
        target = self._config.posts.target(delivery.target_id)
        if target is None:
            return None
        return Outgoing(post_id=int(post.id or 0), target=target, text=post.text,
                        key=delivery_key(int(post.id or 0), delivery.target_id),
                        attempt_started=started, first_started=post.claimed_at)

    def _schedule(self, post_id: int, when: datetime) -> None:
        self._timer.at(JOB, job_id(post_id), when, post_id, grace=self.stale_after)

    def _get(self, post_id: int) -> Post | None:
        with Session(self._engine, expire_on_commit=False) as session:
            return session.get(Post, post_id)

    def next_due(self) -> datetime | None:
        """The earliest time anything is due (for figures and tests)."""
        with Session(self._engine) as session:
            return session.exec(select(func.min(Post.publish_at))
                                .where(col(Post.state) == PostState.APPROVED)).one()


def count_publication(target: str, values: dict[str, Any]) -> None:
    """`vigie_publications` for one attempt or look: published, failed (to be retried),
    gave_up (failed for good), unconfirmed (maybe out, being looked for). A target only
    waiting for its channel's turn, or a look that changed nothing, is not counted."""
    state = values.get("state")
    if state is None or state == DeliveryState.QUEUED:
        return
    outcome = "gave_up" if values.get("gave_up") and state == DeliveryState.FAILED else \
        str(getattr(state, "value", state))
    PUBLICATIONS.labels(target, outcome).inc()


def _queued(now: datetime) -> Any:
    """A queued target whose turn has come (one waiting for its channel's slot has a time)."""
    return and_(col(PostDelivery.state) == DeliveryState.QUEUED,
                or_(col(PostDelivery.next_attempt_at).is_(None),
                    col(PostDelivery.next_attempt_at) <= now))


def _count(result: Any) -> int:
    return int(result.rowcount)


def _stored(reason: Reason) -> str:
    """What `PostDelivery.error` keeps: the reason, rendered in the reader's language."""
    return reason.stored(ERROR_LENGTH)
