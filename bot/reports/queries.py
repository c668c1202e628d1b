"""The figures of reports and of the App Home, read from the database.

The database does the counting (GROUP BY over an index range on `received_at`), Python
only what must be the same on SQLite and PostgreSQL: medians and percentiles of
first-response times, and the mapping of UTC hours to the newsroom's local days. Counts
are grouped by UTC hour in SQL and summed into local days here, so days follow the
newsroom's time zone (DST included) with no time-zone support needed from SQLite; zones
whose offset is not a whole number of hours would be rounded to the hour.

See `bench/report.py` and migration 0007 for the indexes these queries rely on.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, Integer, String, and_, case, cast, func
from sqlalchemy import select as sql_select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from bot.mentions.models import Category, Mention, Sentiment, Status
from bot.mentions.qualify_models import MentionTriage, SlaState
from bot.reports.stats import median, percentile

OPEN = (Status.OPEN, Status.ASSIGNED, Status.ESCALATED)  # waiting for someone
RUNNING = (SlaState.PENDING, SlaState.NUDGED, SlaState.ESCALATED)  # SLA clock not stopped
UNQUALIFIED = "unqualified"
SENTIMENTS = (Sentiment.POSITIVE.value, Sentiment.NEUTRAL.value, Sentiment.NEGATIVE.value,
              UNQUALIFIED)
CATEGORIES = (*(c.value for c in Category), UNQUALIFIED)


@dataclass(frozen=True)
class Scope:
    """What a report covers: [start, end) in UTC, optionally one account or channel."""

    start: datetime
    end: datetime
    account: str | None = None
    channel: str | None = None

    def filter(self, statement: Any) -> Any:
        statement = statement.where(col(Mention.received_at) >= self.start) \
            .where(col(Mention.received_at) < self.end)
        return self.narrow(statement)

    def narrow(self, statement: Any) -> Any:
        if self.account is not None:
            statement = statement.where(col(Mention.account_id) == self.account)
        if self.channel is not None:
            statement = statement.where(col(Mention.channel_id) == self.channel)
        return statement

    def shifted(self, delta: timedelta) -> Scope:
        return Scope(self.start + delta, self.end + delta, self.account, self.channel)


# -- time buckets --------------------------------------------------------------------------
def hour_key(dialect: str) -> ColumnElement[Any]:
    """'YYYY-MM-DD HH' of `received_at` in UTC, as a string, on either backend."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", col(Mention.received_at)), "YYYY-MM-DD HH24")
    # SQLite stores UTCDateTime as 'YYYY-MM-DD HH:MM:SS.ffffff'.
    return func.substr(col(Mention.received_at), 1, 13)


@lru_cache(maxsize=20_000)
def _local_day(key: str, zone: str) -> date:
    moment = datetime.strptime(key, "%Y-%m-%d %H").replace(tzinfo=UTC)
    return moment.astimezone(ZoneInfo(zone)).date()


def local_days(start: datetime, end: datetime, zone: str) -> list[date]:
    """Every local day touched by [start, end)."""
    tz = ZoneInfo(zone)
    first = start.astimezone(tz).date()
    last = (end - timedelta(microseconds=1)).astimezone(tz).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def local_midnight(day: date, zone: str) -> datetime:
    return datetime.combine(day, datetime.min.time(), ZoneInfo(zone)).astimezone(UTC)


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


# -- volume --------------------------------------------------------------------------------
@dataclass
class Volume:
    days: list[date]
    total: int = 0
    by_sentiment: dict[str, list[int]] = field(default_factory=dict)
    by_category: dict[str, list[int]] = field(default_factory=dict)
    by_source: dict[str, list[int]] = field(default_factory=dict)
    by_account: Counter[str] = field(default_factory=Counter)

    def totals(self, series: dict[str, list[int]]) -> dict[str, int]:
        return {key: sum(values) for key, values in series.items()}


def volume(session: Session, scope: Scope, zone: str) -> Volume:
    """Mentions received per local day, split by sentiment, category and source.

    One small GROUP BY per split (UTC hour × value) rather than one over every
    combination: a few hundred rows each instead of thousands.
    """
    key = hour_key(_dialect(session))
    days = local_days(scope.start, scope.end, zone)
    index = {day: n for n, day in enumerate(days)}
    result = Volume(days=days)
    splits = {"sentiment": (col(Mention.sentiment), dict.fromkeys(SENTIMENTS)),
              "category": (col(Mention.category), dict.fromkeys(CATEGORIES)),
              "source": (col(Mention.source_id), {})}
    series: dict[str, dict[str, list[int]]] = {}
    for name, (column, known) in splits.items():
        found: dict[str, list[int]] = {value: [0] * len(days) for value in known}
        rows = session.connection().execute(scope.filter(
            sql_select(key, column, func.count())).group_by(key, column)).all()
        for hour, value, count in rows:
            position = index.get(_local_day(str(hour), zone))
            if position is not None:
                found.setdefault(str(value or UNQUALIFIED), [0] * len(days))[position] += count
        series[name] = found
    result.by_sentiment = series["sentiment"]
    result.by_category = series["category"]
    result.by_source = dict(sorted(series["source"].items(), key=lambda item: -sum(item[1])))
    result.total = sum(sum(values) for values in result.by_sentiment.values())
    accounts = session.connection().execute(scope.filter(
        sql_select(col(Mention.account_id), func.count())).group_by(col(Mention.account_id)))
    result.by_account = Counter({str(account or ""): int(count) for account, count in accounts})
    return result


def count_received(session: Session, scope: Scope) -> int:
    return int(session.exec(scope.filter(select(func.count()).select_from(Mention))).one())


# -- first response ------------------------------------------------------------------------
@dataclass(frozen=True)
class Spread:
    """Median and 90th percentile of first-response times, in seconds."""

    count: int
    median: float | None
    p90: float | None

    @staticmethod
    def of(values: Sequence[float]) -> Spread:
        ordered = sorted(values)
        return Spread(len(ordered), median(ordered, is_sorted=True),
                      percentile(ordered, 0.9, is_sorted=True))


@dataclass
class FirstResponse:
    overall: Spread
    weeks: list[tuple[date, Spread]]  # Monday of each local week, oldest first
    people: list[tuple[str, Spread]]  # who answered first, most answers first


def waited(dialect: str) -> ColumnElement[Any]:
    """Seconds from reception to first response, computed by the database."""
    first, received = col(Mention.first_response_at), col(Mention.received_at)
    if dialect == "postgresql":
        return func.extract("epoch", first - received)
    return (func.julianday(first) - func.julianday(received)) * 86400.0


@dataclass(frozen=True)
class Answered:
    """First-response delays (whole seconds) of mentions received the same local day,
    answered first by the same person."""

    day: date
    by: str | None
    in_period: bool  # received in the report's own period (not only the weekly chart's)
    seconds: list[int]


def answered(session: Session, scope: Scope, *, zone: str,
             period_start: datetime | None = None) -> list[Answered]:
    """Mentions received in `scope` that got a first response, with their delays.

    Delays are computed and concatenated by the database, one row per UTC hour and
    person: eight weeks of a busy desk are a few hundred thousand mentions, and building
    a Python row for each would cost more than the query.
    """
    dialect = _dialect(session)
    since = scope.start if period_start is None else period_start
    rounded = func.round(waited(dialect))
    if dialect == "postgresql":
        delays = func.string_agg(cast(cast(rounded, BigInteger), String), ",")
    else:
        delays = func.group_concat(cast(rounded, Integer), ",")
    hour = hour_key(dialect)
    inside = case((col(Mention.received_at) >= since, 1), else_=0)
    rows = session.connection().execute(scope.filter(
        sql_select(hour, col(Mention.answered_by), inside, delays)
        .where(col(Mention.first_response_at).is_not(None))
    ).group_by(hour, col(Mention.answered_by), inside)).all()
    found: dict[tuple[date, str | None, bool], Answered] = {}
    for key, by, flag, values in rows:
        day = _local_day(str(key), zone)
        group = found.get((day, by, bool(flag)))
        if group is None:
            group = found[(day, by, bool(flag))] = Answered(day, by, bool(flag), [])
        group.seconds.extend(max(0, int(v)) for v in str(values).split(","))
    return list(found.values())


def first_response(rows: Iterable[Answered], scope: Scope, *, zone: str,
                   weeks_from: datetime) -> FirstResponse:
    """Spread overall and per person over `scope`, per local week since `weeks_from`."""
    tz = ZoneInfo(zone)
    in_period: list[float] = []
    per_person: dict[str, list[float]] = defaultdict(list)
    per_week: dict[date, list[float]] = defaultdict(list)
    for row in rows:
        per_week[week_start(row.day)].extend(row.seconds)
        if row.in_period:
            in_period.extend(row.seconds)
            if row.by:
                per_person[row.by].extend(row.seconds)
    first = week_start(weeks_from.astimezone(tz).date())
    last = week_start((scope.end - timedelta(microseconds=1)).astimezone(tz).date())
    weeks = [first + timedelta(weeks=n) for n in range((last - first).days // 7 + 1)]
    people = sorted(((user, Spread.of(values)) for user, values in per_person.items()),
                    key=lambda item: (-item[1].count, item[0]))
    return FirstResponse(overall=Spread.of(in_period),
                         weeks=[(week, Spread.of(per_week.get(week, []))) for week in weeks],
                         people=people)


# -- workload ------------------------------------------------------------------------------
@dataclass
class Load:
    user: str
    assigned: int = 0  # mentions of the period assigned to them now
    still_open: int = 0  # of those, still waiting
    answered: int = 0  # mentions of the period they answered first


def workload(session: Session, scope: Scope, rows: Iterable[Answered]) -> list[Load]:
    counts = session.exec(scope.filter(
        select(Mention.assignee_id, Mention.status, func.count())
        .where(col(Mention.assignee_id).is_not(None))
    ).group_by(col(Mention.assignee_id), col(Mention.status))).all()
    people: dict[str, Load] = {}
    for user, status, count in counts:
        load = people.setdefault(str(user), Load(str(user)))
        load.assigned += int(count)
        if status in OPEN:
            load.still_open += int(count)
    for row in rows:
        if row.by and row.in_period:
            people.setdefault(row.by, Load(row.by)).answered += len(row.seconds)
    return sorted(people.values(), key=lambda load: (-(load.assigned + load.answered),
                                                     load.user))


# -- open queue ----------------------------------------------------------------------------
def _breached(now: datetime) -> ColumnElement[bool]:
    return and_(col(MentionTriage.sla_state).in_(RUNNING), col(MentionTriage.nudge_at) <= now)


@dataclass(frozen=True)
class ChannelQueue:
    channel: str
    open: int
    unassigned: int
    breached: int
    oldest: datetime | None


def open_queue(session: Session, now: datetime, scope: Scope | None = None
               ) -> list[ChannelQueue]:
    """Mentions waiting for someone, per channel: most past their SLA first.

    Two index-only reads rather than one join: the open mentions through
    ix_mention_open_queue, and the breached ones from the triage rows still running
    (ix_mention_triage_sla), joined to those open mentions only. Grouped by an expression
    rather than the bare column: SQLite would otherwise walk the whole (channel_id,
    received_at) index to skip a sort instead of seeking the few open rows.
    """
    channel = func.coalesce(col(Mention.channel_id), "")
    unassigned = func.sum(case((col(Mention.assignee_id).is_(None), 1), else_=0))
    waiting = (sql_select(channel, func.count(), unassigned, func.min(col(Mention.received_at)))
               .where(col(Mention.status).in_(OPEN)))
    late = (sql_select(channel, func.count())
            .select_from(MentionTriage)
            .join(Mention, col(Mention.id) == col(MentionTriage.mention_id))
            .where(col(MentionTriage.sla_state).in_(RUNNING))
            .where(col(MentionTriage.nudge_at) <= now)
            .where(col(Mention.status).in_(OPEN)))
    if scope is not None:
        waiting, late = scope.narrow(waiting), scope.narrow(late)
    breached = {str(key): int(count)
                for key, count in session.execute(late.group_by(channel)).all()}
    rows = session.execute(waiting.group_by(channel)).all()
    queues = [ChannelQueue(str(key), int(total), int(free or 0), int(breached.get(key, 0)),
                           oldest) for key, total, free, oldest in rows]
    return sorted(queues, key=lambda q: (-q.breached, -q.open, q.channel))


@dataclass(frozen=True)
class QueueItem:
    mention: Mention
    breached: bool


def person_queue(session: Session, user: str, now: datetime, *, offset: int, limit: int
                 ) -> tuple[int, list[QueueItem]]:
    """How many mentions wait for `user`, and one page of them, oldest first."""
    mine = (col(Mention.assignee_id) == user, col(Mention.status).in_(OPEN))
    total = session.exec(select(func.count()).select_from(Mention).where(*mine)).one()
    rows = session.exec(
        select(Mention, case((_breached(now), True), else_=False))
        .join(MentionTriage, col(MentionTriage.mention_id) == col(Mention.id), isouter=True)
        .where(*mine)
        .order_by(col(Mention.received_at), col(Mention.id))
        .offset(offset).limit(limit)
    ).all()
    return int(total), [QueueItem(mention, bool(late)) for mention, late in rows]


# -- the last days at a glance -------------------------------------------------------------
@dataclass(frozen=True)
class Glance:
    total: int
    sentiments: dict[str, int]
    response: Spread
    yours: Spread  # the viewer's own first responses


def glance(session: Session, scope: Scope) -> Glance:
    counts = session.exec(scope.filter(
        select(Mention.sentiment, func.count())).group_by(col(Mention.sentiment))).all()
    sentiments = dict.fromkeys(SENTIMENTS, 0)
    for sentiment, count in counts:
        sentiments[str(sentiment or UNQUALIFIED)] += int(count)
    response = Spread.of([s for r in answered(session, scope, zone="UTC") for s in r.seconds])
    return Glance(total=sum(sentiments.values()), sentiments=sentiments, response=response,
                  yours=Spread(0, None, None))


def answered_spread(session: Session, scope: Scope, user: str) -> Spread:
    """First responses `user` gave to mentions received in `scope`."""
    seconds = session.execute(scope.filter(
        sql_select(waited(_dialect(session)))
        .where(col(Mention.answered_by) == user)
        .where(col(Mention.first_response_at).is_not(None)))).scalars().all()
    return Spread.of([max(0.0, float(value)) for value in seconds])
