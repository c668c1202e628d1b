"""Intake: every source hands mentions here to be normalised, deduplicated, routed and
stored. Relaying to Slack happens afterwards (see `relay`), so a Slack outage never
loses a mention and never slows a source down.

This is the hot path of a bad-buzz day (see `bench/ingest.py`): routing in memory, then
one statement that inserts unless the mention is a duplicate of either kind, and one
commit; the duplicate look-up only runs when nothing was inserted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import and_, bindparam, exists, literal, union_all
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, PendingRollbackError
from sqlmodel import Session, col, select

from bot import metrics
from bot.clock import Clock
from bot.config import Config, Source
from bot.logs import database_trouble
from bot.mentions.models import Mention, MentionIn, Priority, RelayState, Status
from bot.mentions.routing import Router
from bot.store import UTCDateTime
from bot.text import fingerprint

log = logging.getLogger(__name__)

REPOST_WINDOW = timedelta(minutes=10)
_TABLE = Mention.__table__  # type: ignore[attr-defined]


class UnknownAccount(ValueError):
    def __init__(self, account: str, known: list[str]) -> None:
        super().__init__(f"unknown account {account!r} (known: {', '.join(known) or 'none'})")
        self.account = account
        self.known = known


class IntakeHook(Protocol):
    """Work done on each new mention: `prepare` inside the storing transaction (the
    mention has its id), `stored` after the commit."""

    def prepare(self, session: Session, mention: Mention) -> None: ...

    def stored(self, mention_id: int) -> None: ...


class AlertPolicy(Protocol):
    """Alert words (see `bot.listen.alerts.AlertWords`)."""

    @property
    def priority(self) -> Priority: ...

    def find(self, text: str, lang: str | None) -> list[str]: ...

    def notify(self, session: Session, mention_id: int, now: datetime) -> None: ...


def database_lost(error: BaseException) -> bool:
    """A hook failed because the database is away or full, not because of the mention:
    storing it "untriaged" cannot work on that connection either (PostgreSQL restarting
    left a traceback per mention, then `PendingRollbackError`). The whole intake fails
    instead, nothing is stored, the sender is answered 503 and sends it again."""
    return isinstance(error, PendingRollbackError) or database_trouble(error) is not None


class IntakeHooks:
    """Several hooks run in order (e.g. moderation, then triage), each in its own
    savepoint: one that fails loses its own work only."""

    def __init__(self, *hooks: IntakeHook) -> None:
        self._hooks = hooks

    def prepare(self, session: Session, mention: Mention) -> None:
        for hook in self._hooks:
            try:
                with session.begin_nested():
                    hook.prepare(session, mention)
            except Exception as exc:
                if database_lost(exc):
                    raise
                log.exception("%s failed on new mention %s", type(hook).__name__, mention.id)

    def stored(self, mention_id: int) -> None:
        for hook in self._hooks:
            try:
                hook.stored(mention_id)
            except Exception:
                log.exception("%s failed after storing mention %s", type(hook).__name__,
                              mention_id)


@dataclass(frozen=True)
class IntakeResult:
    mention_id: int
    duplicate: bool
    channel: str


class Intake:
    def __init__(
        self,
        *,
        engine: Engine,
        config: Config,
        router: Router,
        clock: Clock,
        on_stored: Callable[[], None] = lambda: None,
        sources: Callable[[str], Source | None] | None = None,
        alerts: AlertPolicy | None = None,
        hook: IntakeHook | None = None,
    ) -> None:
        self._engine = engine
        self._config = config
        self._router = router
        self._clock = clock
        self._on_stored = on_stored
        self._source = sources or config.source
        self._alerts = alerts
        self._hook = hook
        self._accounts = {a.id for a in config.accounts}
        self._statements: dict[tuple[str, ...], Any] = {}
        # Redraws a card whose mention changed on its platform (`amend`); set by the app.
        self.on_amended: Callable[[int], object] = lambda mention_id: None

    def ingest(self, source_id: str, data: MentionIn) -> IntakeResult:
        """Store `data` once; a repeat (same id, or same author and text just now) is
        reported as a duplicate of the stored mention and changes nothing."""
        source = self._source(source_id)
        account = data.account or (source.account if source else None)
        if account is not None and account not in self._accounts:
            raise UnknownAccount(account, [a.id for a in self._config.accounts])

        now = self._clock.now()
        text_hash = fingerprint(data.text)
        decision = self._router.route(
            source=source_id, account=account, lang=data.lang,
            author=data.author.handle, text=data.text,
        )
        terms = self._alerts.find(data.text, data.lang) if self._alerts else []
        values = _row(source_id, account, data, text_hash, now, decision.channel,
                      decision.route)
        if terms and self._alerts is not None:
            values["priority"] = self._alerts.priority
            values["alert_terms"] = ", ".join(terms)[:512]
        statement, params = self._insert_unless_repost(values, now)
        channel = decision.channel  # a hook may send the mention elsewhere (moderation)
        try:
            # A bare connection, not an ORM session: this is the hot path.
            with self._engine.begin() as connection:
                mention_id = connection.execute(statement, params).scalar_one_or_none()
                if mention_id is not None and ((terms and self._alerts) or self._hook):
                    with Session(bind=connection) as session:
                        if terms and self._alerts is not None:
                            self._alerts.notify(session, mention_id, now)
                        if self._hook is not None:
                            channel = self._prepare(session, mention_id) or channel
                        session.flush()
        except IntegrityError:
            mention_id = None  # a concurrent insert of the same id won the race
        if mention_id is None:  # same id stored already, or a repost: say which one
            with self._engine.connect() as connection:
                found = self._find_duplicate(connection, source_id, data, text_hash, now)
            if found is None:
                raise LookupError(f"mention {data.external_id} neither stored nor found")
            metrics.DUPLICATES.labels(metrics.bounded("source", source_id)).inc()
            return IntakeResult(found[0], True, found[1])
        log.debug("mention %s stored from %s, routed to %s", mention_id, source_id, channel)
        metrics.MENTIONS.labels(metrics.bounded("source", source_id),
                                metrics.bounded("platform", data.platform)).inc()
        if self._hook is not None:
            self._hook.stored(mention_id)
        self._on_stored()
        return IntakeResult(mention_id, False, channel)

    def amend(self, source_id: str, external_id: str, *, state: str,
              text: str | None = None) -> int | None:
        """A stored mention changed on its platform: edited (`text` is the new one),
        removed, hidden, or shown again (`state` "unhidden" clears the mark). The card is
        redrawn (`on_amended`); its qualification, replies and history stay. The
        mention's id, or None when it was never stored."""
        now = self._clock.now()
        with Session(self._engine) as session:
            mention = session.exec(select(Mention).where(Mention.source_id == source_id)
                                   .where(Mention.external_id == external_id)).first()
            if mention is None or mention.id is None:
                return None
            if (mention.remote_state == state or state == "edited") \
                    and (not text or text == mention.text):
                return mention.id  # the same change again (Meta retries): nothing to do
            if state == "unhidden":
                if mention.remote_state != "hidden":
                    return mention.id
                mention.remote_state, mention.remote_state_at = None, now
            else:
                if mention.remote_state == "removed" and state != "removed":
                    return mention.id  # a late delivery does not bring it back
                mention.remote_state, mention.remote_state_at = state, now
            if text and text != mention.text:
                mention.text, mention.fingerprint = text, fingerprint(text)
            mention.version += 1
            mention_id = mention.id
            session.add(mention)
            session.commit()
        log.info("mention %s %s on its platform", mention_id, state)
        self.on_amended(mention_id)
        return mention_id

    def _prepare(self, session: Session, mention_id: int) -> str | None:
        """Run the hook in a savepoint: if it fails, the mention is stored without it
        rather than lost. Returns the channel the mention ends up routed to."""
        assert self._hook is not None
        try:
            with session.begin_nested():
                mention = session.get(Mention, mention_id)
                if mention is not None:
                    self._hook.prepare(session, mention)
                    return mention.channel_id
        except Exception as exc:
            if database_lost(exc):
                raise
            log.exception("triage of new mention %s failed; storing it untriaged", mention_id)
        return None

    def _insert_unless_repost(self, values: dict[str, Any], now: datetime
                              ) -> tuple[Any, dict[str, Any]]:
        """One round trip for the common case: INSERT … SELECT … WHERE NOT EXISTS (a
        repost) ON CONFLICT (same source and id) DO NOTHING RETURNING id. No row back
        means a duplicate of one kind or the other. Built once per column set."""
        columns = tuple(key for key, value in values.items() if value is not None)
        statement = self._statements.get(columns)
        if statement is None:
            selected = select(*[bindparam(f"v_{key}", type_=_TABLE.c[key].type)
                                for key in columns]).where(
                ~exists().where(
                    col(Mention.author_handle) == bindparam("d_author"),
                    col(Mention.fingerprint) == bindparam("d_fingerprint"),
                    col(Mention.received_at) >= bindparam("d_since", type_=UTCDateTime()),
                )
            )
            dialect = self._engine.dialect.name
            insert_ = postgresql_insert if dialect == "postgresql" else sqlite_insert
            statement = (insert_(_TABLE).from_select(list(columns), selected)
                         .on_conflict_do_nothing(index_elements=["source_id", "external_id"])
                         .returning(_TABLE.c.id))
            self._statements[columns] = statement
        params = {f"v_{key}": values[key] for key in columns}
        params.update(d_author=values["author_handle"], d_fingerprint=values["fingerprint"],
                      d_since=now - REPOST_WINDOW)
        return statement, params

    @staticmethod
    def _find_duplicate(connection: Connection, source_id: str, data: MentionIn,
                        text_hash: str, now: datetime) -> tuple[int, str] | None:
        """(id, channel) of a stored mention this one repeats: the same id at the same
        source first, else the same author with the same text within REPOST_WINDOW."""
        same_id = (
            select(col(Mention.id), col(Mention.channel_id), literal(0).label("rank"))
            .where(Mention.source_id == source_id)
            .where(Mention.external_id == data.external_id)
        )
        repost = (
            select(col(Mention.id), col(Mention.channel_id), literal(1).label("rank"))
            .where(and_(col(Mention.author_handle) == data.author.handle,
                        col(Mention.fingerprint) == text_hash,
                        col(Mention.received_at) >= now - REPOST_WINDOW))
            .limit(1)
        )
        both = union_all(same_id, repost.subquery().select()).subquery()
        row = connection.execute(
            select(both.c.id, both.c.channel_id).order_by(both.c.rank).limit(1)
        ).first()
        return (int(row[0]), str(row[1])) if row is not None else None


def _row(source_id: str, account: str | None, data: MentionIn, text_hash: str, now: datetime,
         channel: str, route: str | None) -> dict[str, Any]:
    ref = data.ref
    return {
        "source_id": source_id,
        "external_id": data.external_id,
        "platform": data.platform,
        "account_id": account,
        "author_handle": data.author.handle,
        "author_name": data.author.name,
        "text": data.text,
        "url": data.url,
        "lang": data.lang,
        "fingerprint": text_hash,
        "created_at": data.created_at,
        "received_at": now,
        "channel_id": channel,
        "route": route,
        "relay_state": RelayState.PENDING,
        "relay_attempts": 0,
        "next_relay_at": now,
        "relay_uncertain": False,
        "priority": Priority.NORMAL,
        "status": Status.OPEN,
        "version": 1,
        "platform_ref": ref.id if ref else None,
        "platform_cid": ref.cid if ref else None,
        "visibility": ref.visibility if ref else None,
        "root_ref": ref.root_id if ref else None,
        "root_cid": ref.root_cid if ref else None,
    }
