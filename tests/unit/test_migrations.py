from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

from bot.models import metadata
from bot.scheduler import JOBSTORE_TABLE
from bot.settings import ConfigurationError
from bot.store import make_engine, require_current_schema, revisions, schema_problems


def test_migrations_build_exactly_the_models(engine: Engine) -> None:
    """The migrated schema matches the SQLModel tables: no change left to migrate."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={
            "include_name": lambda name, kind, _: not (kind == "table" and name == JOBSTORE_TABLE)
        })
        diff = compare_metadata(context, metadata)
    assert diff == []


@pytest.mark.own_database
def test_start_is_refused_on_a_database_that_is_behind(tmp_path: object) -> None:
    """An empty database stops start-up with the command that upgrades it."""
    engine = make_engine("sqlite://")
    current, head = revisions(engine)
    assert current is None and head
    [problem] = schema_problems(engine)
    assert problem.fix == "run: vigie db upgrade"
    try:
        require_current_schema(engine)
    except ConfigurationError as exc:
        assert "schema is empty" in str(exc)
    else:
        raise AssertionError("start-up was not refused")


def test_migrated_database_is_current(engine: Engine) -> None:
    """After `vigie db upgrade` the database is at the code's head revision."""
    current, head = revisions(engine)
    assert current == head
    require_current_schema(engine)
