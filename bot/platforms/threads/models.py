"""The one table Threads needs: the container made for each reply or post, kept before
it is published so that a retry publishes the same container (which Meta refuses to
publish twice) instead of making a second one."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from bot.store import UTCDateTime


class ThreadsContainer(SQLModel, table=True):
    """`key`: the send's own key (`Reply.key`, `Outgoing.key`) hashed with its text
    (`containers.container_key`)."""

    __tablename__ = "threads_container"

    key: str = Field(primary_key=True, max_length=64)
    container_id: str = Field(max_length=64)
    created_at: datetime = Field(sa_type=UTCDateTime)
