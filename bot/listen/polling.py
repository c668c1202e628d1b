"""Polling: one scheduler job (`listen.poll`, run by the leader only) reads every source
whose turn has come, each at its own interval, and hands the mentions to intake.

Per source the database keeps its validators (ETag, Last-Modified), its cursor
(Mastodon since_id, Bluesky last seen) and its health. Failures back off exponentially
(interval × 2^n, at most an hour, at least what `Retry-After` asked), and a source that
keeps failing is reported once in its channel, then once more when it works again —
never at every poll.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import ValidationError
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from bot.clock import Clock
from bot.config import Config, Source
from bot.connectors import Fetched, PollState, SourceFailure
from bot.listen.catalog import Catalog
from bot.listen.models import OutboxKind, SourceState
from bot.listen.outbox import enqueue
from bot.logs import ContextExecutor
from bot.mentions.service import Intake, UnknownAccount
from bot.metrics import SOURCE_FAILURES
from bot.reasons import Reason

log = logging.getLogger(__name__)

Connector = Callable[[Source, PollState], Fetched]
REPORT_AFTER = 3  # consecutive failures before the channel is told
MAX_BACKOFF = timedelta(hours=1)
LAST_ERROR_LIMIT = 512  # SourceState.last_error's length


@dataclass
class PollResult:
    source_id: str
    stored: int = 0
    duplicates: int = 0
    skipped: int = 0
    error: str | None = None


@dataclass
class PollReport:
    results: list[PollResult] = field(default_factory=list)

    def of(self, source_id: str) -> PollResult:
        return next(r for r in self.results if r.source_id == source_id)


class Poller:
    def __init__(self, *, engine: Engine, config: Config, catalog: Catalog, intake: Intake,
                 clock: Clock, connectors: Mapping[str, Connector],
                 report_after: int = REPORT_AFTER, workers: int = 4) -> None:
        self._engine = engine
        self._config = config
        self._catalog = catalog
        self._intake = intake
        self._clock = clock
        self._connectors = dict(connectors)
        self._report_after = report_after
        self._workers = workers
        self._polling: dict[str, threading.Lock] = {}
        self._polling_guard = threading.Lock()

    def poll_due(self) -> PollReport:
        """Poll every enabled source whose next poll time has come (a few at once)."""
        now = self._clock.now()
        states = self.states()
        due = [
            source for source in self._catalog.sources()
            if source.polled and source.enabled and source.type in self._connectors
            and (states.get(source.id) is None or states[source.id].next_poll_at is None
                 or states[source.id].next_poll_at <= now)  # type: ignore[operator]
        ]
        report = PollReport()
        if not due:
            return report
        with ContextExecutor(max_workers=min(self._workers, len(due)),
                                thread_name_prefix="vigie-poll") as pool:
            report.results.extend(pool.map(self.poll, due))
        return report

    def poll(self, source: Source) -> PollResult:
        """Read one source now, whatever its schedule. One read of a source at a time in
        this process: "poll now" from Slack waits for the scheduled read to finish
        instead of racing it for the same cursor."""
        with self._polling_guard:
            lock = self._polling.setdefault(source.id, threading.Lock())
        with lock:
            return self._poll(source)

    def _poll(self, source: Source) -> PollResult:
        now = self._clock.now()
        state = self._state(source.id)
        result = PollResult(source.id)
        poll_state = PollState(now=now, first=state.last_ok_at is None, etag=state.etag,
                               last_modified=state.last_modified, cursor=state.cursor)
        try:
            fetched = self._connectors[source.type](source, poll_state)
        except SourceFailure as exc:
            result.error = str(exc)
            self._failed(source, state, exc, now)
            return result
        except Exception as exc:  # a connector bug must not stop the other sources
            log.exception("polling %s failed unexpectedly", source.id)
            failure = SourceFailure(Reason("source.unexpected", error=type(exc).__name__))
            result.error = str(failure)
            self._failed(source, state, failure, now)
            return result
        for mention in fetched.mentions:
            try:
                outcome = self._intake.ingest(source.id, mention)
            except (UnknownAccount, ValidationError) as exc:
                log.warning("source %s: entry %s skipped: %s", source.id, mention.external_id,
                            exc)
                result.skipped += 1
                continue
            if outcome.duplicate:
                result.duplicates += 1
            else:
                result.stored += 1
        self._succeeded(source, state, fetched, result, now)
        return result

    def states(self) -> dict[str, SourceState]:
        with Session(self._engine, expire_on_commit=False) as session:
            return {s.source_id: s for s in session.exec(select(SourceState))}

    # -- health ---------------------------------------------------------------------------
    def _state(self, source_id: str) -> SourceState:
        with Session(self._engine, expire_on_commit=False) as session:
            return session.get(SourceState, source_id) or SourceState(source_id=source_id)

    def _succeeded(self, source: Source, state: SourceState, fetched: Fetched,
                   result: PollResult, now: datetime) -> None:
        def update(session: Session, row: SourceState) -> None:
            if not fetched.not_modified:
                row.etag, row.last_modified = fetched.etag, fetched.last_modified
            if fetched.cursor is not None:
                row.cursor = fetched.cursor
            if row.reported_down:
                enqueue(session, kind=OutboxKind.SOURCE_UP, channel=self._channel(source),
                        now=now, payload={"source_id": source.id,
                                          "since": (row.failing_since or now).isoformat()})
                log.info("source %s works again", source.id)
            row.last_polled_at = row.last_ok_at = now
            row.next_poll_at = now + timedelta(seconds=source.poll_every if fetched.next_poll_in
                                               is None else fetched.next_poll_in)
            row.failures, row.failing_since, row.last_error = 0, None, None
            row.reported_down = False
            row.ingested += result.stored

        self._save_state(source.id, update)

    def _failed(self, source: Source, state: SourceState, failure: SourceFailure,
                now: datetime) -> None:
        def update(session: Session, row: SourceState) -> None:
            row.failures += 1
            row.failing_since = row.failing_since or now
            row.last_error = failure.reason.stored(LAST_ERROR_LIMIT)
            row.last_polled_at = now
            wait = min(timedelta(seconds=source.poll_every) * 2 ** (row.failures - 1),
                       MAX_BACKOFF)
            if failure.retry_after:
                wait = max(wait, timedelta(seconds=failure.retry_after))
            row.next_poll_at = now + wait
            if row.failures >= self._report_after and not row.reported_down:
                row.reported_down = True
                enqueue(session, kind=OutboxKind.SOURCE_DOWN, channel=self._channel(source),
                        now=now, payload={"source_id": source.id, "error": row.last_error,
                                          "failures": row.failures,
                                          "since": row.failing_since.isoformat()})

        row = self._save_state(source.id, update)
        wait = row.next_poll_at - now if row.next_poll_at else MAX_BACKOFF
        SOURCE_FAILURES.labels(source.id).inc()
        log.warning("source %s failed (%s in a row): %s; next try in %s", source.id,
                    row.failures, failure, wait)

    def _save_state(self, source_id: str,
                    update: Callable[[Session, SourceState], None]) -> SourceState:
        """Apply `update` to the source's state row and commit. The first read of a
        source may be racing another replica's (or a "poll now" elsewhere) to create the
        row: the loser applies its update to the row the winner made."""
        for attempt in (1, 2):
            with Session(self._engine, expire_on_commit=False) as session:
                row = session.get(SourceState, source_id) or SourceState(source_id=source_id)
                update(session, row)
                session.add(row)
                try:
                    session.commit()
                except IntegrityError:
                    session.rollback()
                    if attempt == 2:
                        raise
                    continue
                return row
        raise AssertionError("unreachable")

    def _channel(self, source: Source) -> str:
        account = self._config.account(source.account)
        return account.channel if account and account.channel else \
            self._config.channels.mentions

