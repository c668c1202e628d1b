"""Doubles for the posts subject: a recording timer, recorded notices, editors, and a
publisher that follows a script of outcomes (and remembers what really went out)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from bot.clock import Clock
from bot.config import Config, PostTarget
from bot.connectors.doubt import SLACK, Doubt
from bot.connectors.publishers import (
    Outgoing,
    Published,
    PublishError,
    Publishers,
)
from bot.posts import service as posts_service
from bot.posts.jobs import Publishing
from bot.posts.models import DraftIn, Post
from bot.posts.service import PostDesk
from bot.reasons import Reason

if TYPE_CHECKING:
    from bot.app import Vigie

EDITOR = "U0EDITOR"
EDITOR2 = "U0EDITOR2"
AUTHOR = "U0CM"
STRANGER = "U0INTERN"


class RecordingTimer:
    """Stands for the scheduler: remembers the jobs it was asked to run, and when."""

    def __init__(self) -> None:
        self.jobs: dict[str, tuple[str, datetime, tuple[Any, ...], timedelta | None]] = {}
        self.cancelled: list[str] = []

    def at(self, name: str, job_id: str, when: datetime, *args: Any,
           grace: timedelta | None = None) -> None:
        self.jobs[job_id] = (name, when, args, grace)

    def cancel(self, job_id: str) -> bool:
        self.cancelled.append(job_id)
        return self.jobs.pop(job_id, None) is not None

    def when(self, job_id: str) -> datetime | None:
        job = self.jobs.get(job_id)
        return job[1] if job else None


class RecordedNotices:
    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        self._lock = threading.Lock()

    def _add(self, *event: Any) -> None:
        with self._lock:
            self.events.append(event)

    def refresh(self, post_id: int) -> None:
        self._add("refresh", post_id)

    def to_author(self, post_id: int, event: str, **params: Any) -> None:
        self._add("author", post_id, event)

    def in_thread(self, post_id: int, event: str, **params: Any) -> None:
        self._add("thread", post_id, event)

    def report(self, post_id: int, delivery_ids: Any) -> None:
        self._add("report", post_id, tuple(delivery_ids))

    def catch_up(self) -> None:
        """Recorded notes are never lost: nothing to catch up."""

    def told_author(self, post_id: int) -> list[str]:
        return [e[2] for e in self.events if e[0] == "author" and e[1] == post_id]

    def in_threads(self, post_id: int) -> list[str]:
        return [e[2] for e in self.events if e[0] == "thread" and e[1] == post_id]


class Editors:
    def __init__(self, *users: str) -> None:
        self.users = set(users or (EDITOR, EDITOR2))

    def is_editor(self, user_id: str) -> bool:
        return user_id in self.users


@dataclass
class Sent:
    key: str
    text: str
    target: str


@dataclass
class ScriptedPublisher:
    """Publishes to a list; `script[target_id]` lists outcomes to play first: an exception
    to raise (with `.delivered = True` it went out anyway), or None for success.
    `doubt`: how unknown outcomes are settled (Slack's by default: never resent)."""

    kind: str = "slack"
    max_length: int = 3000
    doubt: Doubt = SLACK
    script: dict[str, list[BaseException | None]] = field(default_factory=dict)
    sent: list[Sent] = field(default_factory=list)
    find_fails: bool = False
    find_gate: threading.Event | None = None  # `find` waits for it (then is counted)
    find_entered: threading.Event = field(default_factory=threading.Event)
    find_crash: BaseException | None = None  # raised by `find`, as a process dying
    finds: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def limit(self, target: PostTarget) -> int:
        return self.max_length

    def length(self, text: str) -> int:
        return len(text)

    def serves(self, target: PostTarget) -> bool:
        return True

    def publish(self, outgoing: Outgoing) -> Published:
        with self.lock:
            queue = self.script.get(outgoing.target.id) or []
            outcome = queue.pop(0) if queue else None
            if outcome is None or getattr(outcome, "delivered", False):
                self.sent.append(Sent(outgoing.key, outgoing.text, outgoing.target.id))
            count = len(self.sent)
        if outcome is not None:
            raise outcome
        return Published(external_id=f"m{count}", url=f"https://example.test/{count}")

    def find(self, outgoing: Outgoing) -> Published | None:
        self.find_entered.set()
        if self.find_gate is not None:
            self.find_gate.wait(30)
        if self.find_crash is not None:
            raise self.find_crash
        with self.lock:
            self.finds += 1
            if self.find_fails:
                raise PublishError(Reason("publish.lookup_failed", error="cannot look right now"))
            for index, sent in enumerate(self.sent, 1):
                if sent.key == outgoing.key:
                    return Published(external_id=f"m{index}", url=f"https://example.test/{index}")
        return None

    def sends_to(self, target_id: str) -> int:
        return sum(1 for s in self.sent if s.target == target_id)


Failure = TypeVar("Failure", bound=BaseException)


def delivered(error: Failure) -> Failure:
    error.delivered = True  # type: ignore[attr-defined]
    return error


@dataclass
class Desk:
    desk: PostDesk
    publishing: Publishing
    timer: RecordingTimer
    notices: RecordedNotices
    publisher: ScriptedPublisher
    clock: Any

    def run_due_jobs(self) -> None:
        """Run every job whose time has come, like the scheduler would."""
        now = self.clock.now()
        for job_id, (_, when, args, _) in list(self.timer.jobs.items()):
            if when <= now:
                self.timer.jobs.pop(job_id, None)
                self.publishing.run_due(*args)


def make_desk(engine: Engine, config: Config, clock: Clock, *,
              publisher: ScriptedPublisher | None = None, editors: Editors | None = None,
              timer: RecordingTimer | None = None) -> Desk:
    publishers = Publishers()
    publisher = publisher or ScriptedPublisher()
    publishers.register(publisher)
    timer = timer or RecordingTimer()
    notices = RecordedNotices()
    desk = PostDesk(engine=engine, config=config, clock=clock, publishers=publishers,
                    timer=timer, notices=notices, roles=editors or Editors())
    publishing = Publishing(engine=engine, config=config, clock=clock, publishers=publishers,
                            timer=timer, notices=notices)
    return Desk(desk, publishing, timer, notices, publisher, clock)


def a_draft(publish_at: datetime | None, *, text: str = "Ce soir, le grand débat.",
            targets: tuple[str, ...] = ("annonces",), **extra: Any) -> DraftIn:
    return DraftIn(text=text, targets=targets, publish_at=publish_at, **extra)


def due_together(vigie: Vigie, ids: list[int], when: datetime) -> None:
    """Move every post to the same instant, as if they had been planned for it."""
    with Session(vigie.engine) as session:
        session.execute(update(Post).where(col(Post.id).in_(ids)).values(publish_at=when))
        session.commit()
    for post_id in ids:
        vigie.scheduler.at(posts_service.JOB, posts_service.job_id(post_id), when, post_id,
                           grace=vigie.posts.publishing.stale_after)
