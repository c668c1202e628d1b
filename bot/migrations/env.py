"""Alembic environment: runs against the engine Vigie hands over (see bot.store)."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import engine_from_config, pool

from bot.models import metadata
from bot.scheduler import JOBSTORE_TABLE

config = context.config
engine = config.attributes.get("engine")


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """APScheduler owns its job table; migrations leave it alone."""
    return not (type_ == "table" and name == JOBSTORE_TABLE)


def run() -> None:
    connectable = engine
    if connectable is None:  # plain `alembic` command line: read DATABASE_URL
        url = os.environ.get("DATABASE_URL", "sqlite:///vigie.db")
        connectable = engine_from_config(
            {"sqlalchemy.url": url}, prefix="sqlalchemy.", poolclass=pool.NullPool
        )
    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            include_name=include_name,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run()
