"""Shared fixtures: a migrated database per test (SQLite, or PostgreSQL when
VIGIE_TEST_DATABASE_URL is set), the newsroom config, settings and a frozen clock."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, make_url, text
from sqlalchemy.engine import Engine

from bot.clock import FrozenClock
from bot.config import Config
from bot.store import make_engine, upgrade
from tests.support.newsroom import (  # re-exported: tests import them from here
    ALERTS_SECRET,
    BOT_TOKEN,
    FIXTURES,
    SIGNING_SECRET,
    WEBHOOK_SECRET,
    make_settings,
    newsroom,
    newsroom_environ,
)

__all__ = ["ALERTS_SECRET", "BOT_TOKEN", "FIXTURES", "SIGNING_SECRET", "WEBHOOK_SECRET",
           "make_settings"]

PG_URL = os.environ.get("VIGIE_TEST_DATABASE_URL", "")

# The PostgreSQL pass runs the tests that use the suite's database, and only those: the
# rule is "requests the `database_url` fixture", directly or through another fixture
# (`engine`, `vigie`, `edge`…), the one way a test gets that database. The others (text,
# templates, i18n, the classifier, fakes…) would only run a second time as they did on
# SQLite. `_database_only_through_its_fixture` below keeps the rule honest: a test that
# opens a database connection without that fixture fails, in either pass.
DATABASE_FIXTURE = "database_url"
OWN_DATABASE = "own_database"


def uses_the_database(item: pytest.Item) -> bool:
    return DATABASE_FIXTURE in getattr(item, "fixturenames", ())


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{OWN_DATABASE}: connects to a database of its own (a SQLite file it "
        "makes) rather than the suite's: allowed without the database_url fixture, and "
        "not run by the PostgreSQL pass")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On PostgreSQL, leave out the tests that never touch the suite's database."""
    if not PG_URL:
        return
    database_free = [item for item in items if not uses_the_database(item)]
    if database_free:
        config.hook.pytest_deselected(items=database_free)
        items[:] = [item for item in items if uses_the_database(item)]


@pytest.fixture(autouse=True)
def _database_only_through_its_fixture(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test that connects to a database without `database_url`: the PostgreSQL
    pass would leave it out. Connections made by threads already running when the test
    started (a previous test's leftovers) are not its own and are not counted."""
    if uses_the_database(request.node) or request.node.get_closest_marker(OWN_DATABASE):
        yield
        return
    before = {thread.ident for thread in threading.enumerate()} - {threading.get_ident()}
    opened: list[str] = []

    def connected(connection: object) -> None:
        if threading.get_ident() not in before:
            opened.append(str(getattr(connection, "engine", connection)))

    event.listen(Engine, "engine_connect", connected)
    try:
        yield
    finally:
        event.remove(Engine, "engine_connect", connected)
    if opened:
        pytest.fail(f"connected to a database ({opened[0]}) without the {DATABASE_FIXTURE} "
                    "fixture, so the PostgreSQL pass would leave this test out: request "
                    f"{DATABASE_FIXTURE} (or `engine`), or mark it "
                    f"@pytest.mark.{OWN_DATABASE} if its database is its own by design",
                    pytrace=False)


def _worker_database(url: str) -> str:
    """Under pytest-xdist, each worker gets its own database beside the one given
    (test → test_gw0, test_gw1…), created on first use, so workers never share tables
    or advisory locks."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return url
    parsed = make_url(url)
    name = f"{parsed.database}_{worker}"
    admin = create_engine(parsed, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        exists = connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :name"),
                                    {"name": name}).scalar()
        if not exists:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return parsed.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def _migrated_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Migrate once per session: a SQLite file to copy, or the PostgreSQL database."""
    if PG_URL:
        url = _worker_database(PG_URL)
        engine = make_engine(url)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        upgrade(engine)
        engine.dispose()
        return url
    path = tmp_path_factory.mktemp("db") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return str(path)


@pytest.fixture(scope="session")
def _cleaner(_migrated_template: str) -> Iterator[Engine | None]:
    """One engine for the whole session to empty the PostgreSQL database between tests
    (a new engine and connection per test cost more than the emptying itself)."""
    if not PG_URL:
        yield None
        return
    engine = make_engine(_migrated_template)
    yield engine
    engine.dispose()


# Every table of the schema holding at least one row: one round trip, instead of a
# TRUNCATE of every table, which on PostgreSQL costs a new file per table and index (about
# a second per test on a busy machine, most of the PostgreSQL suite's extra time).
_NON_EMPTY = """
SELECT format('%I', tablename) FROM pg_tables
WHERE schemaname = 'public' AND tablename <> 'alembic_version'
"""
# Sequences used since their last reset start again, as in a freshly migrated database,
# including those of tables emptied by a test itself or whose insert was rolled back.
_RESTART_SEQUENCES = """
SELECT setval(format('%I.%I', schemaname, sequencename)::regclass, start_value, false)
FROM pg_sequences WHERE schemaname = 'public' AND last_value IS NOT NULL
"""


def _empty_postgres(engine: Engine) -> None:
    """Empty every table a test wrote to (the scheduler's job store and any table created
    at run time included) and restart every used sequence: what a fresh copy of the
    migrated template gives on SQLite."""
    with engine.begin() as connection:
        tables = connection.execute(text(_NON_EMPTY)).scalars().all()
        if tables:
            probe = " UNION ALL ".join(
                f"SELECT '{name}' WHERE EXISTS (SELECT 1 FROM {name})" for name in tables)
            written = connection.execute(text(probe)).scalars().all()
            if written:
                connection.execute(text(f"TRUNCATE {', '.join(written)} "
                                        "RESTART IDENTITY CASCADE"))
        connection.execute(text(_RESTART_SEQUENCES))


@pytest.fixture
def database_url(_migrated_template: str, _cleaner: Engine | None, tmp_path: Path
                 ) -> Iterator[str]:
    """A fresh, migrated, empty database for one test."""
    if _cleaner is not None:
        _empty_postgres(_cleaner)
        yield _migrated_template
        return
    path = tmp_path / "vigie.db"
    shutil.copy(_migrated_template, path)
    yield f"sqlite:///{path}"


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


# Slack's pace (`bursts.pace`) in the newsroom the in-process tests build: 50 ms between
# two messages in a channel rather than the real second, which made a test posting ten
# cards wait ten seconds for nothing (the fake Slack limits nothing unless told to). The
# real pace, against a Slack limiting each channel as Slack does, is proven where it is
# the point: tests/e2e/test_pacing_flow.py (which takes the newsroom as it is) and
# tests/e2e/test_posts_multiprocess.py; the pacer itself in tests/unit/test_pacing.py.
TEST_PACE = 0.05


@pytest.fixture
def config() -> Config:
    real = newsroom()
    return real.model_copy(update={"bursts": real.bursts.model_copy(update={"pace": TEST_PACE})})


@pytest.fixture
def environ() -> dict[str, str]:
    return newsroom_environ()


@pytest.fixture(autouse=True)
def _no_sentence_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Apps built in tests run without the real sentence model (55 ms a mention, and a
    second card update per mention) unless a test hands `build` an embedder: see
    tests/support/embedder.py, and tests/e2e/test_suggestions_flow.py for the real one."""
    monkeypatch.setattr("bot.app.available", lambda: False)
