"""The database edge: engine, sessions, the UTC datetime column type and migrations.

One engine is built per process (by the app factory) and passed to services; nothing
here reads settings by itself. The schema is owned by Alembic: the app refuses to
start on a database that is behind and says which command upgrades it. That check reads
the code's head revision from the migration files' `revision`/`down_revision` lines and
the database's from `alembic_version`, so a start on an up-to-date database does not load
Alembic (a quarter of a second); anything else goes through Alembic itself.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import DateTime, event
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, create_engine

from bot.settings import ConfigurationError, Problem

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

MIGRATIONS = Path(__file__).parent / "migrations"
_REVISION_LINE = re.compile(r"^(revision|down_revision)\s*(?::[^=]*)?=\s*(.+?)\s*$", re.M)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend.

    SQLite keeps no offset, so values are stored as naive UTC and handed back aware;
    PostgreSQL gets `timestamptz`. Services never see a naive datetime.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """Build the engine for `url`, tuned so threads of one process share SQLite safely."""
    kwargs: dict[str, Any] = {"echo": echo}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        if url in ("sqlite://", "sqlite:///:memory:"):
            kwargs["poolclass"] = StaticPool
    else:
        kwargs.update(pool_pre_ping=True, pool_size=10, max_overflow=10)
    engine = create_engine(url, **kwargs)
    if url.startswith("sqlite"):
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session committed on success and rolled back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def alembic_config(engine: Engine) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


MIGRATION_LOCK_KEY = 0x56494D47  # "VIMG": one migration at a time on PostgreSQL


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations. On PostgreSQL an advisory lock makes a second `vigie db upgrade`
    (or a second replica started with `--migrate`) wait for the first, then find the
    schema current and do nothing, instead of running the same migration twice."""
    from alembic import command

    if engine.dialect.name != "postgresql":
        command.upgrade(alembic_config(engine), revision)
        return
    with engine.connect() as lock:
        lock.exec_driver_sql(f"SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})")
        lock.commit()
        try:
            command.upgrade(alembic_config(engine), revision)
        finally:
            lock.exec_driver_sql(f"SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})")
            lock.commit()


def revisions(engine: Engine) -> tuple[str | None, str | None]:
    """(current revision of the database, head revision of the code)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    return current, head


def code_head() -> str | None:
    """The head revision read from the migration files, or None when they are not the
    plain chain this reading understands (then Alembic is asked)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        found = dict((name, value) for name, value in
                     _REVISION_LINE.findall(path.read_text("utf-8")))
        try:
            revision = ast.literal_eval(found["revision"])
            parent = ast.literal_eval(found["down_revision"])
        except (KeyError, ValueError, SyntaxError):
            return None
        if not isinstance(revision, str) or not (parent is None or isinstance(parent, str)):
            return None
        revisions.add(revision)
        if parent is not None:
            parents.add(parent)
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def at_head(engine: Engine) -> bool:
    """True when the database is certainly at the code's head revision, read without
    Alembic; False means "ask Alembic" (behind, empty, or a shape not read here)."""
    head = code_head()
    if head is None:
        return False
    try:
        with engine.connect() as connection:
            rows = connection.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    except Exception:  # no table yet, or no database: Alembic says which
        return False
    return [row[0] for row in rows] == [head]


def schema_problems(engine: Engine) -> list[Problem]:
    if at_head(engine):
        return []
    current, head = revisions(engine)
    if current == head:
        return []
    state = "empty" if current is None else f"at revision {current}"
    return [
        Problem(
            "database",
            f"schema is {state}, the code needs {head}",
            "run: vigie db upgrade",
        )
    ]


def require_current_schema(engine: Engine) -> None:
    problems = schema_problems(engine)
    if problems:
        raise ConfigurationError(problems)


def backup_sqlite(engine: Engine, target: str | Path) -> int:
    """Copy the SQLite database to `target` with SQLite's online backup: a consistent copy
    taken page by page while other connections keep writing. Returns the pages copied."""
    import sqlite3

    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        raise ValueError("only a SQLite database file can be copied this way")
    path = Path(target)
    if path.exists():
        raise FileExistsError(f"{path} exists; choose a new file")
    pages = 0

    def progress(status: int, remaining: int, total: int) -> None:
        nonlocal pages
        pages = total

    with closing(sqlite3.connect(database)) as source, closing(sqlite3.connect(path)) as copy:
        source.backup(copy, pages=256, progress=progress)
    return pages


def is_reachable(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
        return True
    except Exception:
        return False
