"""The editorial desk: drafts, editors' decisions, edits and cancellations.

Every decision is one atomic, conditional `UPDATE` on the post row (`WHERE state IN …
AND version = …`), so a click, a reaction, an edit and the publishing job can race
without ever leaving a post in two states at once: whoever changes the row first wins,
the others are told what happened instead. Slack is told afterwards, by `Notices`,
from what the database says.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import delete, func, or_, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.clock import Clock
from bot.config import Config, PostTarget
from bot.connectors.publishers import KIND_NAMES, Publishers
from bot.posts.models import (
    CANCELLABLE,
    EDITABLE,
    DeliveryState,
    DraftForm,
    DraftIn,
    Post,
    PostApproval,
    PostDelivery,
    PostState,
    Recurrence,
)
from bot.posts.when import cron_trigger, first_cron_time, parse_when

log = logging.getLogger(__name__)

JOB = "posts.due"
SWEEP_JOB = "posts.sweep"


def job_id(post_id: int) -> str:
    return f"post-{post_id}"


class Timer(Protocol):
    """What the desk needs from the scheduler (bot.scheduler.Scheduler fits)."""

    def at(self, name: str, job_id: str, when: datetime, *args: Any,
           grace: timedelta | None = None) -> None: ...

    def cancel(self, job_id: str) -> bool: ...


class Notices(Protocol):
    """How people hear about a post: its preview, its thread, its author's DMs."""

    def refresh(self, post_id: int) -> None:
        """Post the preview if it is missing, else update it to the current state."""
        ...

    def to_author(self, post_id: int, event: str, **params: Any) -> None: ...

    def in_thread(self, post_id: int, event: str, **params: Any) -> None: ...

    def report(self, post_id: int, delivery_ids: Sequence[int]) -> None:
        """Say in the thread how these deliveries went (with buttons where a human decides)."""
        ...

    def catch_up(self) -> None:
        """Send what a crash or an outage left unsaid (called by the sweep)."""
        ...


class Roles(Protocol):
    def is_editor(self, user_id: str) -> bool: ...


@dataclass(frozen=True)
class Outcome:
    """What happened to a request; `code` names the text shown to the person who asked."""

    ok: bool
    code: str
    post_id: int | None = None

    @staticmethod
    def done(code: str, post_id: int | None = None) -> Outcome:
        return Outcome(True, code, post_id)

    @staticmethod
    def refused(code: str, post_id: int | None = None) -> Outcome:
        return Outcome(False, code, post_id)


@dataclass
class PostView:
    """A post with its deliveries and the approvals of its current version."""

    post: Post
    deliveries: list[PostDelivery] = field(default_factory=list)
    approvers: list[str] = field(default_factory=list)

    @property
    def id(self) -> int:
        return int(self.post.id or 0)


FieldErrors = dict[str, tuple[str, dict[str, Any]]]  # field → (text key, parameters)


class PostDesk:
    def __init__(self, *, engine: Engine, config: Config, clock: Clock,
                 publishers: Publishers, timer: Timer, notices: Notices, roles: Roles) -> None:
        self._engine = engine
        self._config = config
        self._clock = clock
        self._publishers = publishers
        self._timer = timer
        self.notices = notices
        self._roles = roles

    @property
    def settings(self) -> Any:
        return self._config.posts

    @property
    def timezone(self) -> str:
        return self._config.newsroom.timezone

    def targets(self) -> list[PostTarget]:
        return list(self._config.posts.targets)

    def is_editor(self, user_id: str) -> bool:
        return self._roles.is_editor(user_id)

    # -- checking a draft --------------------------------------------------------------
    def check(self, form: DraftForm) -> DraftIn | FieldErrors:
        """A draft ready to store, or what is wrong with each field (nothing is changed)."""
        errors: FieldErrors = {}
        now = self._clock.now()
        text = form.text.strip()
        if not text:
            errors["text"] = ("posts.errors.empty_text", {})
        targets = [self._config.posts.target(t) for t in form.targets]
        known = [t for t in targets if t is not None]
        if not form.targets:
            errors["targets"] = ("posts.errors.no_target", {})
        elif len(known) != len(form.targets):
            errors["targets"] = ("posts.errors.unknown_target", {})
        else:
            unplugged = [t for t in known if not self._publishers.serves(t)]
            if unplugged:
                errors["targets"] = ("posts.errors.no_publisher", {
                    "targets": ", ".join(t.label for t in unplugged),
                    "kind": KIND_NAMES.get(unplugged[0].kind, unplugged[0].kind)})
        for target in known:  # each platform's limit, counted as that platform counts
            limit = self._publishers.limit(target)
            length = self._publishers.length(target.kind, text)
            if length > limit and "text" not in errors:
                errors["text"] = ("posts.errors.too_long", {
                    "target": target.label, "limit": limit, "length": length})

        publish_at: datetime | None = None
        if form.when_text and form.when_text.strip():
            publish_at = parse_when(form.when_text, now=now, timezone=self.timezone)
            if publish_at is None:
                errors["when_text"] = ("posts.errors.unreadable_time",
                                       {"text": form.when_text.strip()})
        elif form.when_picked is not None:
            publish_at = form.when_picked.replace(microsecond=0)
        if publish_at is not None and publish_at < now:
            field_name = "when_text" if form.when_text and form.when_text.strip() else "when_picker"
            errors[field_name] = ("posts.errors.past_time", {"when": publish_at})

        recurrence: Recurrence | None = None
        cron = (form.cron or "").strip() or None
        if form.recurrence and form.recurrence != "none":
            try:
                recurrence = Recurrence(form.recurrence)
            except ValueError:
                errors["recurrence"] = ("posts.errors.bad_recurrence", {})
        if cron:
            if recurrence not in (None, Recurrence.CRON):
                errors["cron"] = ("posts.errors.cron_and_recurrence", {})
            else:
                recurrence = Recurrence.CRON
                try:
                    cron_trigger(cron, self.timezone)
                except ValueError as exc:
                    errors["cron"] = ("posts.errors.bad_cron", {"error": str(exc)})
        elif recurrence is Recurrence.CRON:
            errors["cron"] = ("posts.errors.cron_missing", {})
        if recurrence in (Recurrence.DAILY, Recurrence.WEEKLY) and publish_at is None \
                and "when_text" not in errors:
            errors["when_text"] = ("posts.errors.recurrence_needs_time", {})
        if recurrence is Recurrence.CRON and cron and publish_at is None and "cron" not in errors:
            publish_at = first_cron_time(cron, now=now, timezone=self.timezone)
        if errors:
            return errors
        note = (form.note or "").strip() or None
        return DraftIn(text=text, targets=tuple(dict.fromkeys(form.targets)),
                       publish_at=publish_at, recurrence=recurrence,
                       cron=cron if recurrence is Recurrence.CRON else None, note=note)

    # -- drafting and editing -----------------------------------------------------------
    def draft(self, author_id: str, draft: DraftIn) -> Post:
        """Store a draft, plan its expiry, and put it in front of the editors."""
        now = self._clock.now()
        with Session(self._engine, expire_on_commit=False) as session:
            post = Post(author_id=author_id, text=draft.text, note=draft.note,
                        publish_at=draft.publish_at,
                        recurrence=draft.recurrence.value if draft.recurrence else None,
                        cron=draft.cron, state=PostState.PENDING, created_at=now, updated_at=now)
            session.add(post)
            session.flush()
            self._add_deliveries(session, int(post.id or 0), draft.targets)
            session.commit()
        post_id = int(post.id or 0)
        self._plan(post_id, post.publish_at)
        self.notices.refresh(post_id)
        self.notices.to_author(post_id, "drafted")
        return post

    def edit(self, post_id: int, user_id: str, draft: DraftIn, *, seen_version: int) -> Outcome:
        """Change a post not yet out; it goes back to the editors (approvals start over)."""
        post = self._get(post_id)
        if post is None:
            return Outcome.refused("posts.outcome.unknown")
        if user_id != post.author_id and not self.is_editor(user_id):
            return Outcome.refused("posts.outcome.not_author_or_editor", post_id)
        now = self._clock.now()
        with Session(self._engine) as session:
            changed = session.execute(
                update(Post)
                .where(col(Post.id) == post_id)
                .where(col(Post.state).in_(EDITABLE))
                .where(col(Post.version) == seen_version)
                .values(text=draft.text, note=draft.note, publish_at=draft.publish_at,
                        recurrence=draft.recurrence.value if draft.recurrence else None,
                        cron=draft.cron, state=PostState.PENDING,
                        version=col(Post.version) + 1, updated_at=now, decided_by=None,
                        reason=None)
            )
            if _count(changed) != 1:
                session.rollback()
                return Outcome.refused(self._why_not(post_id, seen_version), post_id)
            session.execute(delete(PostDelivery).where(col(PostDelivery.post_id) == post_id))
            self._add_deliveries(session, post_id, draft.targets)
            session.commit()
        self._plan(post_id, draft.publish_at)
        self.notices.refresh(post_id)
        self.notices.in_thread(post_id, "edited", user=user_id)
        if user_id != post.author_id:
            self.notices.to_author(post_id, "edited", user=user_id)
        return Outcome.done("posts.outcome.edited", post_id)

    # -- editors' decisions -------------------------------------------------------------
    def approve(self, post_id: int, editor_id: str, *, via: str) -> Outcome:
        if not self.is_editor(editor_id):
            return Outcome.refused("posts.outcome.not_editor", post_id)
        post = self._get(post_id)
        if post is None:
            return Outcome.refused("posts.outcome.unknown")
        if post.author_id == editor_id and not self._config.posts.self_approval:
            return Outcome.refused("posts.outcome.own_post", post_id)
        now = self._clock.now()
        required = self._config.posts.approvals_required
        approvable = (PostState.PENDING, PostState.APPROVED, PostState.EXPIRED)
        with Session(self._engine) as session:
            # Touch the row first: it is then locked until commit, so the publishing
            # claim, an edit or a rejection cannot slip between our count and our update.
            if not _touch(session, post_id, approvable, post.version, now):
                session.rollback()
                return Outcome.refused(self._why_not(post_id, post.version), post_id)
            session.add(PostApproval(post_id=post_id, editor_id=editor_id, version=post.version,
                                     via=via, at=now))
            try:
                session.flush()
            except IntegrityError:
                session.rollback()
                return Outcome.done("posts.outcome.already_approved", post_id)
            current = session.get(Post, post_id)  # re-read under the row lock
            assert current is not None
            count = _approvals(session, post_id, post.version)
            becomes_approved = count >= required and current.state != PostState.APPROVED
            when = current.publish_at
            if becomes_approved:
                if current.state == PostState.EXPIRED or when is None or when <= now:
                    when = now
                session.execute(
                    update(Post).where(col(Post.id) == post_id)
                    .values(state=PostState.APPROVED, publish_at=when, updated_at=now)
                )
            session.commit()
        if becomes_approved and when is not None:
            self._plan(post_id, when)
            self.notices.to_author(post_id, "approved", user=editor_id, when=when,
                                   now=when <= now)
        self.notices.refresh(post_id)
        return Outcome.done("posts.outcome.approved" if becomes_approved
                            else "posts.outcome.approval_counted", post_id)

    def withdraw(self, post_id: int, editor_id: str) -> Outcome:
        """An editor takes back an approval (e.g. removes their ✅) before publication."""
        if not self.is_editor(editor_id):
            return Outcome.refused("posts.outcome.not_editor", post_id)
        post = self._get(post_id)
        if post is None:
            return Outcome.refused("posts.outcome.unknown")
        now = self._clock.now()
        required = self._config.posts.approvals_required
        open_states = (PostState.PENDING, PostState.APPROVED, PostState.EXPIRED)
        with Session(self._engine) as session:
            if not _touch(session, post_id, open_states, post.version, now):
                session.rollback()
                return Outcome.refused(self._why_not(post_id, post.version), post_id)
            removed = session.execute(
                delete(PostApproval)
                .where(col(PostApproval.post_id) == post_id)
                .where(col(PostApproval.editor_id) == editor_id)
                .where(col(PostApproval.version) == post.version)
            )
            if _count(removed) == 0:
                session.rollback()
                return Outcome.done("posts.outcome.nothing_to_withdraw", post_id)
            current = session.get(Post, post_id)  # re-read under the row lock
            assert current is not None
            back_to_pending = (current.state == PostState.APPROVED
                               and _approvals(session, post_id, post.version) < required)
            if back_to_pending:
                session.execute(update(Post).where(col(Post.id) == post_id)
                                .values(state=PostState.PENDING, updated_at=now))
            session.commit()
        if back_to_pending:
            self.notices.to_author(post_id, "withdrawn", user=editor_id)
            self.notices.in_thread(post_id, "withdrawn", user=editor_id)
        self.notices.refresh(post_id)
        return Outcome.done("posts.outcome.withdrawn", post_id)

    def reject(self, post_id: int, editor_id: str, reason: str | None) -> Outcome:
        if not self.is_editor(editor_id):
            return Outcome.refused("posts.outcome.not_editor", post_id)
        now = self._clock.now()
        reason = (reason or "").strip()[:1000] or None
        rejectable = (PostState.PENDING, PostState.APPROVED, PostState.EXPIRED, PostState.STALE)
        with Session(self._engine) as session:
            changed = session.execute(
                update(Post).where(col(Post.id) == post_id).where(col(Post.state).in_(rejectable))
                .values(state=PostState.REJECTED, decided_by=editor_id, reason=reason,
                        updated_at=now)
            )
            session.commit()
        if _count(changed) != 1:
            return Outcome.refused(self._why_not(post_id, None), post_id)
        self._timer.cancel(job_id(post_id))
        self.notices.refresh(post_id)
        self.notices.to_author(post_id, "rejected", user=editor_id, reason=reason)
        self.notices.in_thread(post_id, "rejected", user=editor_id, reason=reason)
        return Outcome.done("posts.outcome.rejected", post_id)

    def cancel(self, post_id: int, user_id: str) -> Outcome:
        post = self._get(post_id)
        if post is None:
            return Outcome.refused("posts.outcome.unknown")
        if user_id != post.author_id and not self.is_editor(user_id):
            return Outcome.refused("posts.outcome.not_author_or_editor", post_id)
        now = self._clock.now()
        with Session(self._engine) as session:
            changed = session.execute(
                update(Post).where(col(Post.id) == post_id).where(col(Post.state).in_(CANCELLABLE))
                .values(state=PostState.CANCELLED, decided_by=user_id, updated_at=now)
            )
            session.commit()
        if _count(changed) != 1:
            return Outcome.refused(self._why_not(post_id, None), post_id)
        self._timer.cancel(job_id(post_id))
        self.notices.refresh(post_id)
        self.notices.in_thread(post_id, "cancelled", user=user_id)
        if user_id != post.author_id:
            self.notices.to_author(post_id, "cancelled", user=user_id)
        return Outcome.done("posts.outcome.cancelled", post_id)

    def publish_now(self, post_id: int, editor_id: str) -> Outcome:
        """A human's answer to a stale post: send it now after all."""
        if not self.is_editor(editor_id):
            return Outcome.refused("posts.outcome.not_editor", post_id)
        now = self._clock.now()
        with Session(self._engine) as session:
            changed = session.execute(
                update(Post).where(col(Post.id) == post_id)
                .where(col(Post.state) == PostState.STALE)
                .values(state=PostState.APPROVED, publish_at=now, updated_at=now)
            )
            session.commit()
        if _count(changed) != 1:
            return Outcome.refused(self._why_not(post_id, None), post_id)
        self._plan(post_id, now)
        self.notices.in_thread(post_id, "publish_now", user=editor_id)
        self.notices.refresh(post_id)
        return Outcome.done("posts.outcome.publishing_now", post_id)

    # -- a human settles one delivery ---------------------------------------------------
    def retry_delivery(self, delivery_id: int, user_id: str) -> Outcome:
        """Try a failed or unconfirmed target again: an explicit human decision."""
        return self._reopen(delivery_id, user_id, "retry")

    def confirm_delivery(self, delivery_id: int, user_id: str) -> Outcome:
        """A human checked: the unconfirmed post did go out."""
        return self._reopen(delivery_id, user_id, "confirm")

    def _reopen(self, delivery_id: int, user_id: str, how: str) -> Outcome:
        with Session(self._engine) as session:
            delivery = session.get(PostDelivery, delivery_id)
            post = session.get(Post, delivery.post_id) if delivery else None
        if delivery is None or post is None:
            return Outcome.refused("posts.outcome.unknown")
        post_id = int(post.id or 0)
        if user_id != post.author_id and not self.is_editor(user_id):
            return Outcome.refused("posts.outcome.not_author_or_editor", post_id)
        now = self._clock.now()
        if how == "confirm":
            values: dict[str, Any] = {"state": DeliveryState.PUBLISHED, "published_at": now,
                                      "next_attempt_at": None, "error": None, "gave_up": False}
            allowed: tuple[DeliveryState, ...] = (DeliveryState.UNCONFIRMED,)
        else:
            values = {"state": DeliveryState.QUEUED, "next_attempt_at": now, "gave_up": False,
                      "error": None, "checks": 0}
            allowed = (DeliveryState.FAILED, DeliveryState.UNCONFIRMED)
        with Session(self._engine) as session:
            changed = session.execute(
                update(PostDelivery).where(col(PostDelivery.id) == delivery_id)
                .where(col(PostDelivery.state).in_(allowed))
                .where(or_(col(PostDelivery.state) != DeliveryState.FAILED,
                           col(PostDelivery.gave_up).is_(True)))
                .values(**values)
            )
            if _count(changed) != 1:
                session.rollback()
                return Outcome.refused("posts.outcome.delivery_settled", post_id)
            session.execute(
                update(Post).where(col(Post.id) == post_id)
                .where(col(Post.state).in_((PostState.FAILED, PostState.PUBLISHING)))
                .values(state=PostState.PUBLISHING, finished_at=None, updated_at=now)
            )
            session.commit()
        self.notices.in_thread(post_id, "delivery_" + how, user=user_id,
                               target=self._label(delivery.target_id))
        self._plan(post_id, now)
        return Outcome.done("posts.outcome.delivery_" + how, post_id)

    # -- reading ------------------------------------------------------------------------
    def by_preview(self, channel: str, ts: str) -> int | None:
        """The post a preview message stands for (the latest occurrence of a series)."""
        with Session(self._engine) as session:
            found = session.exec(
                select(func.max(Post.id)).where(col(Post.preview_channel) == channel)
                .where(col(Post.preview_ts) == ts)
            ).one()
        return int(found) if found is not None else None

    def view(self, post_id: int) -> PostView | None:
        with Session(self._engine) as session:
            post = session.get(Post, post_id)
            if post is None:
                return None
            return view_of(session, post)

    def calendar(self, start: datetime, end: datetime) -> list[PostView]:
        """Posts due (or done) in [start, end), plus drafts waiting with no time yet."""
        with Session(self._engine) as session:
            posts = session.exec(
                select(Post).where(or_(
                    (col(Post.publish_at) >= start) & (col(Post.publish_at) < end),
                    col(Post.publish_at).is_(None) & (col(Post.state) == PostState.PENDING),
                )).order_by(col(Post.publish_at), col(Post.id)).limit(200)
            ).all()
            return [view_of(session, post) for post in posts]

    def editable(self, post_id: int, user_id: str) -> PostView | str:
        """The post to put in an edit modal, or the text key saying why it cannot be."""
        current = self.view(post_id)
        if current is None:
            return "posts.outcome.unknown"
        if user_id != current.post.author_id and not self.is_editor(user_id):
            return "posts.outcome.not_author_or_editor"
        if current.post.state not in EDITABLE:
            return f"posts.outcome.state.{PostState(current.post.state).value}"
        return current

    # -- helpers ------------------------------------------------------------------------
    def _plan(self, post_id: int, when: datetime | None) -> None:
        """(Re)schedule the post's one job: expiry if still pending then, else publication."""
        if when is None:
            self._timer.cancel(job_id(post_id))
            return
        grace = timedelta(minutes=self._config.posts.stale_after_minutes)
        self._timer.at(JOB, job_id(post_id), when, post_id, grace=grace)

    def _add_deliveries(self, session: Session, post_id: int, targets: Sequence[str]) -> None:
        for target_id in targets:
            target = self._config.posts.target(target_id)
            session.add(PostDelivery(post_id=post_id, target_id=target_id,
                                     kind=target.kind if target else "unknown"))

    def _get(self, post_id: int) -> Post | None:
        with Session(self._engine, expire_on_commit=False) as session:
            return session.get(Post, post_id)

    def _why_not(self, post_id: int, seen_version: int | None) -> str:
        """Why a change was refused, from the state the post is in now."""
        post = self._get(post_id)
        if post is None:
            return "posts.outcome.unknown"
        if seen_version is not None and post.version != seen_version \
                and post.state in EDITABLE:
            return "posts.outcome.changed_meanwhile"
        return f"posts.outcome.state.{PostState(post.state).value}"

    def _label(self, target_id: str) -> str:
        target = self._config.posts.target(target_id)
        return target.label if target else target_id


def _touch(session: Session, post_id: int, states: Sequence[PostState], version: int,
           now: datetime) -> bool:
    changed = session.execute(
        update(Post).where(col(Post.id) == post_id).where(col(Post.state).in_(states))
        .where(col(Post.version) == version).values(updated_at=now)
    )
    return _count(changed) == 1


def _approvals(session: Session, post_id: int, version: int) -> int:
    return int(session.exec(
        select(func.count()).select_from(PostApproval)
        .where(col(PostApproval.post_id) == post_id).where(col(PostApproval.version) == version)
    ).one())


def view_of(session: Session, post: Post) -> PostView:
    deliveries = list(session.exec(
        select(PostDelivery).where(col(PostDelivery.post_id) == post.id)
        .order_by(col(PostDelivery.id))
    ).all())
    approvers = list(session.exec(
        select(PostApproval.editor_id).where(col(PostApproval.post_id) == post.id)
        .where(col(PostApproval.version) == post.version).order_by(col(PostApproval.id))
    ).all())
    return PostView(post=post, deliveries=deliveries, approvers=approvers)


def _count(result: Any) -> int:
    return int(result.rowcount)

