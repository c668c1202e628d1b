"""Sources and routes as they stand now: the TOML file seeds them, staff edit them from
Slack, and every change is audited and seen by every replica without a restart.

Readers (`Router`, `Intake`, the poller, the webhook) call `routes()` / `source()` on
each use. The answer is cached and re-read only when the audit log has grown (checked
at most every `ttl` seconds), so the hot path costs nothing while a change made on any
replica takes effect within a second or two.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pydantic import ValidationError
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.clock import Clock
from bot.config import Config, Route, Source
from bot.listen.models import ConfigChange, RouteRow, SourceRow

log = logging.getLogger(__name__)

TTL_SECONDS = 1.0


class CatalogError(ValueError):
    """A change that cannot be made as asked; the message says why (shown to staff)."""


@dataclass(frozen=True)
class StoredRoute:
    id: int
    position: int
    rule: Route


@dataclass(frozen=True)
class Snapshot:
    revision: int
    sources: tuple[Source, ...]
    routes: tuple[StoredRoute, ...]

    @property
    def rules(self) -> tuple[Route, ...]:
        return tuple(r.rule for r in self.routes)


class Catalog:
    def __init__(self, *, engine: Engine, config: Config, clock: Clock,
                 ttl: float = TTL_SECONDS, monotonic: Callable[[], float] = time.monotonic
                 ) -> None:
        self._engine = engine
        self._config = config
        self._clock = clock
        self._ttl = ttl
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._checked = 0.0
        self._seeded = False
        self._seed_lock = threading.Lock()

    @property
    def config(self) -> Config:
        return self._config

    # -- reading ------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        now = self._monotonic()
        current = self._snapshot
        if current is not None and now - self._checked < self._ttl:
            return current
        if not self._seeded:
            self.seed()  # on first use, not at build time: building touches no database
        with self._lock:
            if self._snapshot is not None and now - self._checked < self._ttl:
                return self._snapshot
            revision = self._revision()
            if self._snapshot is None or self._snapshot.revision != revision:
                self._snapshot = self._load(revision)
            self._checked = now
            return self._snapshot

    def sources(self) -> tuple[Source, ...]:
        return self.snapshot().sources

    def source(self, source_id: str) -> Source | None:
        return next((s for s in self.snapshot().sources if s.id == source_id), None)

    def routes(self) -> tuple[Route, ...]:
        return self.snapshot().rules

    def stored_routes(self) -> tuple[StoredRoute, ...]:
        return self.snapshot().routes

    def history(self, limit: int = 10) -> list[ConfigChange]:
        with Session(self._engine) as session:
            return list(session.exec(
                select(ConfigChange).order_by(col(ConfigChange.id).desc()).limit(limit)
            ))

    def _revision(self) -> int:
        with Session(self._engine) as session:
            latest = session.exec(select(func.max(ConfigChange.id))).one()
            return int(latest or 0)

    def _load(self, revision: int) -> Snapshot:
        with Session(self._engine) as session:
            source_rows = list(session.exec(
                select(SourceRow).order_by(col(SourceRow.position), col(SourceRow.id))
            ))
            route_rows = list(session.exec(
                select(RouteRow).where(col(RouteRow.deleted).is_(False))
                .order_by(col(RouteRow.position), col(RouteRow.id))
            ))
        stored_ids = {row.id for row in source_rows}
        sources: list[Source] = []
        for row in source_rows:
            if not row.deleted:
                sources.append(Source.model_validate_json(row.definition))
        # Sources added to the TOML file after the first start join the list.
        sources.extend(s for s in self._config.sources if s.id not in stored_ids)
        routes = tuple(
            StoredRoute(int(row.id or 0), row.position, Route.model_validate_json(row.definition))
            for row in route_rows
        )
        return Snapshot(revision, tuple(sources), routes)

    def _invalidate(self) -> None:
        with self._lock:
            self._checked = 0.0

    # -- seeding --------------------------------------------------------------------------
    def seed(self) -> None:
        """Copy the TOML sources and routes into the database the first time.

        Afterwards the database is what counts: a source added to the file later is
        added, but nothing edited or deleted from Slack is overwritten or brought back.
        """
        now = self._clock.now()
        with self._seed_lock, Session(self._engine) as session:
            if self._seeded:
                return
            known = set(session.exec(select(SourceRow.id)).all())
            has_routes = session.exec(select(func.count()).select_from(RouteRow)).one()
            for position, source in enumerate(self._config.sources):
                if source.id not in known:
                    session.add(SourceRow(id=source.id, position=position,
                                          definition=_dump(source), updated_at=now))
            if not has_routes:
                for position, route in enumerate(self._config.routes):
                    session.add(RouteRow(position=position * 10, definition=_dump(route),
                                         updated_at=now))
            try:
                session.commit()
            except IntegrityError:  # another replica seeded at the same moment
                session.rollback()
        self._seeded = True
        self._invalidate()

    # -- changing (from Slack; every change is audited) ------------------------------------
    def save_route(self, user_id: str, route: Route, route_id: int | None = None) -> int:
        self._check_route(route)
        now = self._clock.now()
        with Session(self._engine) as session:
            if route_id is None:
                last = session.exec(select(func.max(RouteRow.position))).one()
                row = RouteRow(position=(last or 0) + 10, definition=_dump(route),
                               updated_at=now, updated_by=user_id)
                session.add(row)
                session.flush()
                self._audit(session, user_id, "route", str(row.id), "add", None, row.definition)
            else:
                row = self._route_row(session, route_id)
                before = row.definition
                row.definition, row.updated_at, row.updated_by = _dump(route), now, user_id
                session.add(row)
                self._audit(session, user_id, "route", str(route_id), "edit", before,
                            row.definition)
            session.commit()
            saved = int(row.id or 0)
        self._invalidate()
        return saved

    def delete_route(self, user_id: str, route_id: int) -> None:
        with Session(self._engine) as session:
            row = self._route_row(session, route_id)
            row.deleted, row.updated_at, row.updated_by = True, self._clock.now(), user_id
            session.add(row)
            self._audit(session, user_id, "route", str(route_id), "delete", row.definition, None)
            session.commit()
        self._invalidate()

    def move_route(self, user_id: str, route_id: int, step: int) -> None:
        """Swap a route with its neighbour above (step -1) or below (+1)."""
        with Session(self._engine) as session:
            rows = list(session.exec(
                select(RouteRow).where(col(RouteRow.deleted).is_(False))
                .order_by(col(RouteRow.position), col(RouteRow.id))
            ))
            index = next((i for i, r in enumerate(rows) if r.id == route_id), None)
            if index is None:
                raise CatalogError("route_gone")
            other = index + step
            if not 0 <= other < len(rows):
                return
            order = [r for r in rows]
            order[index], order[other] = order[other], order[index]
            now = self._clock.now()
            for position, row in enumerate(order):
                if row.position != position * 10:
                    row.position, row.updated_at, row.updated_by = position * 10, now, user_id
                    session.add(row)
            self._audit(session, user_id, "route", str(route_id), "move",
                        str(index + 1), str(other + 1))
            session.commit()
        self._invalidate()

    def save_source(self, user_id: str, source: Source, *, new: bool) -> None:
        self._check_source(source)
        now = self._clock.now()
        with Session(self._engine) as session:
            row = session.get(SourceRow, source.id)
            if new:
                if row is not None and not row.deleted:
                    raise CatalogError("source_exists")
                if row is None and self._config.source(source.id) is not None:
                    raise CatalogError("source_exists")
                last = session.exec(select(func.max(SourceRow.position))).one()
                before = row.definition if row else None
                row = row or SourceRow(id=source.id, definition="", updated_at=now)
                row.position, row.deleted = (last or 0) + 1, False
                action = "add"
            else:
                if row is None:
                    row = self._materialise(session, source.id)
                before = row.definition
                previous = Source.model_validate_json(before)
                action = ("enable" if source.enabled and not previous.enabled
                          else "disable" if previous.enabled and not source.enabled else "edit")
            row.definition, row.updated_at, row.updated_by = _dump(source), now, user_id
            session.add(row)
            self._audit(session, user_id, "source", source.id, action, before, row.definition)
            session.commit()
        self._invalidate()

    def delete_source(self, user_id: str, source_id: str) -> None:
        with Session(self._engine) as session:
            row = session.get(SourceRow, source_id) or self._materialise(session, source_id)
            if row.deleted:
                raise CatalogError("source_gone")
            used = [r.rule.label for r in self.stored_routes() if source_id in r.rule.sources]
            if used:
                raise CatalogError("source_in_use")
            row.deleted, row.updated_at, row.updated_by = True, self._clock.now(), user_id
            session.add(row)
            self._audit(session, user_id, "source", source_id, "delete", row.definition, None)
            session.commit()
        self._invalidate()

    # -- helpers ----------------------------------------------------------------------------
    def _materialise(self, session: Session, source_id: str) -> SourceRow:
        configured = self._config.source(source_id)
        if configured is None:
            raise CatalogError("source_gone")
        row = SourceRow(id=source_id, definition=_dump(configured),
                        updated_at=self._clock.now())
        session.add(row)
        return row

    @staticmethod
    def _route_row(session: Session, route_id: int) -> RouteRow:
        row = session.get(RouteRow, route_id)
        if row is None or row.deleted:
            raise CatalogError("route_gone")
        return row

    def _check_route(self, route: Route) -> None:
        accounts = {a.id for a in self._config.accounts}
        sources = {s.id for s in self.sources()}
        if set(route.accounts) - accounts:
            raise CatalogError("unknown_account")
        if set(route.sources) - sources:
            raise CatalogError("unknown_source")

    def _check_source(self, source: Source) -> None:
        if source.account and self._config.account(source.account) is None:
            raise CatalogError("unknown_account")

    def _audit(self, session: Session, user_id: str, subject: str, subject_id: str,
               action: str, before: str | None, after: str | None) -> None:
        session.add(ConfigChange(at=self._clock.now(), user_id=user_id, subject=subject,
                                 subject_id=subject_id, action=action, before=before,
                                 after=after))
        log.info("%s %s %s by %s", subject, subject_id, action, user_id)


def _dump(model: Source | Route) -> str:
    return json.dumps(model.model_dump(mode="json", exclude_defaults=True), ensure_ascii=False,
                      sort_keys=True)


def parse_source(data: dict[str, object]) -> Source:
    """A `Source` from form data, or `CatalogError` listing what is wrong."""
    try:
        return Source.model_validate(data)
    except ValidationError as exc:
        raise CatalogError("; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'source'}: "
            f"{e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )) from None


def split_list(text: str | None) -> list[str]:
    """'a, b ,c' → ['a', 'b', 'c'] (commas or new lines)."""
    if not text:
        return []
    return [w.strip() for w in text.replace("\n", ",").split(",") if w.strip()]


def route_ids(routes: Sequence[StoredRoute]) -> list[int]:
    return [r.id for r in routes]
