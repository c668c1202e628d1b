"""Publishing on Threads exactly once: a reply or a post is a container, then its
publication (`bot.platforms.meta.actions`). The container's id is stored under the
reply's (or delivery's) own key *before* it is published, so every later attempt —
after a lost answer, a restart, a person's "Send again" — publishes that same container.
Meta refuses to publish a container twice (`already_published`): the caller then finds
the post with the look-up of its doubt rule. A container that expired (24 hours) or
failed was never published, and a new one is made."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable

from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.clock import Clock
from bot.platforms.meta.actions import (
    container_status,
    publish_container,
    threads_container,
)
from bot.platforms.meta.graph import GraphClient, GraphFailure
from bot.platforms.threads.models import ThreadsContainer

NEVER_PUBLISHED = ("ERROR", "EXPIRED")


def container_key(key: str, text: str) -> str:
    """What a container is kept under: the send's key *and* its text, so a post edited
    after a failed attempt gets a container with its new text."""
    return hashlib.sha256(f"{key}\0{text}".encode()).hexdigest()


class Containers:
    """Container ids by `container_key`: in the database, or (no engine: `vigie check`,
    unit tests of declarations) in memory."""

    def __init__(self, engine: Engine | None, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock
        self._memory: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        if self._engine is None:
            with self._lock:
                return self._memory.get(key)
        with Session(self._engine) as session:
            row = session.get(ThreadsContainer, key)
            return row.container_id if row else None

    def keep(self, key: str, container_id: str) -> None:
        if self._engine is None:
            with self._lock:
                self._memory[key] = container_id
            return
        with Session(self._engine) as session:
            row = session.get(ThreadsContainer, key)
            if row is None:
                row = ThreadsContainer(key=key, container_id=container_id,
                                       created_at=self._clock.now())
            row.container_id, row.created_at = container_id, self._clock.now()
            session.add(row)
            session.commit()

    def forget(self, key: str) -> None:
        if self._engine is None:
            with self._lock:
                self._memory.pop(key, None)
            return
        with Session(self._engine) as session:
            row = session.get(ThreadsContainer, key)
            if row is not None:
                session.delete(row)
                session.commit()


class ContainerStep(Exception):
    """Making the container failed: nothing can have been published (a container is
    not a post until it is published), whatever the failure's outcome says."""

    def __init__(self, failure: GraphFailure) -> None:
        super().__init__(str(failure))
        self.failure = failure


def publish_once(client: GraphClient, user_id: str, containers: Containers, *, key: str,
                 text: str, reply_to: str | None = None,
                 sleep: Callable[[float], None] | None = None) -> str:
    """The published media's id. Raises `ContainerStep` (nothing published) or the
    publication's `GraphFailure` (its `outcome` says whether it may have happened; kind
    `already_published`: an earlier attempt did)."""
    kept = container_key(key, text)
    container = containers.get(kept)
    if container is None:
        try:
            container = threads_container(client, user_id, text, reply_to=reply_to)
        except GraphFailure as failure:
            raise ContainerStep(failure) from None
        containers.keep(kept, container)
    try:
        return publish_container(client, user_id, container, platform="threads", sleep=sleep)
    except GraphFailure as failure:
        if failure.reason.key == "meta.container_failed":
            containers.forget(kept)  # expired or failed: never published, make a new one
        raise


def published(client: GraphClient, containers: Containers, key: str, text: str
              ) -> bool | None:
    """Whether the send's container was published: None when no container was kept
    (then only a look-up by text can tell)."""
    container = containers.get(container_key(key, text))
    if container is None:
        return None
    status = container_status(client, container, platform="threads")
    return status == "PUBLISHED"


def permalink(client: GraphClient, media_id: str) -> str | None:
    """The post's link, for the card; None if Meta does not give it now."""
    try:
        answer = client.get(media_id, {"fields": "permalink"})
    except GraphFailure:
        return None
    link = answer.get("permalink")
    return str(link) if link else None
