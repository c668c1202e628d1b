"""Prometheus metrics: what `/metrics` shows, one replica at a time.

Each replica exposes its own figures; Prometheus scrapes every replica and sums them
(the dashboard and alert rules in `deploy/` do). Two kinds:
- counters and histograms of work done by this process (mentions stored, Slack calls,
  publications…), kept in memory in `REGISTRY` and incremented where the work happens;
- gauges read when scraped (`StateCollector`): cards waiting for Slack and the age of the
  oldest, sources failing and for how long, who leads the scheduler, the database pool.
  They come from the shared database or from this process, in two indexed queries, so a
  scrape stays cheap (`bench/metrics_scrape.py` measures it: well under 10 ms).

Every label takes its values from the newsroom file or from a short fixed list, never
from what a user typed; `bounded` caps the few that come from a payload (a mention's
platform) so a signed but odd source cannot make the series grow without end.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import text
from sqlalchemy.engine import Engine

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# No `*_created` series: they double every counter's series and no rule here uses them.
disable_created_metrics()  # type: ignore[no-untyped-call]

REGISTRY = CollectorRegistry(auto_describe=False)

MENTIONS = Counter(
    "vigie_mentions_received", "Mentions stored (duplicates not counted), by source and "
    "platform.", ["source", "platform"], registry=REGISTRY)
DUPLICATES = Counter(
    "vigie_mentions_duplicate", "Mentions received again and not stored, by source.",
    ["source"], registry=REGISTRY)
CARDS = Counter(
    "vigie_cards", "Mention cards: posted to Slack, or put back to wait (rate limit, "
    "Slack unreachable or refusing, outcome unknown).", ["outcome"], registry=REGISTRY)
SLACK_CALLS = Counter(
    "vigie_slack_calls", "Slack Web API calls by method and outcome (ok, rate_limited, "
    "rejected, unavailable, unknown).", ["method", "outcome"], registry=REGISTRY)
SLACK_RATE_LIMITED = Counter(
    "vigie_slack_rate_limited", "Slack's 429 answers, by method.", ["method"],
    registry=REGISTRY)
SLACK_SECONDS = Histogram(
    "vigie_slack_call_seconds", "Time Slack took to answer, by method.", ["method"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=REGISTRY)
PUBLICATIONS = Counter(
    "vigie_publications", "Scheduled posts' deliveries by target and outcome (published, "
    "failed, gave_up, unconfirmed).", ["target", "outcome"], registry=REGISTRY)
REPLIES = Counter(
    "vigie_replies", "Replies sent on the mention's platform, by platform and outcome "
    "(sent, failed, unconfirmed).", ["platform", "outcome"], registry=REGISTRY)
SLA_BREACHES = Counter(
    "vigie_sla_breaches", "Mentions past their response time: nudge (first reminder) or "
    "escalation (on-call told).", ["stage"], registry=REGISTRY)
SOURCE_FAILURES = Counter(
    "vigie_source_failures", "Failed polls of a source.", ["source"], registry=REGISTRY)
JOBS = Counter(
    "vigie_jobs", "Scheduled jobs run by this replica, by job and outcome (ok, error).",
    ["job", "outcome"], registry=REGISTRY)
HTTP_REQUESTS = Counter(
    "vigie_http_requests", "HTTP requests answered, by route and status.",
    ["route", "status"], registry=REGISTRY)
HTTP_SECONDS = Histogram(
    "vigie_http_request_seconds", "Time to answer an HTTP request, by route.", ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5), registry=REGISTRY)

OTHER = "other"
_MAX_VALUES = 32  # distinct values a payload-fed label may take before `other`
_seen: dict[str, set[str]] = {}
_seen_lock = threading.Lock()


def bounded(label: str, value: str) -> str:
    """`value`, or `other` once `label` has had `_MAX_VALUES` distinct values."""
    with _seen_lock:
        values = _seen.setdefault(label, set())
        if value in values:
            return value
        if len(values) >= _MAX_VALUES:
            return OTHER
        values.add(value)
        return value


@contextmanager
def slack_call(method: str) -> Iterator[None]:
    """Count and time one Web API call; the outcome is read from the error it raises
    (`bot.slack`'s typed errors, by class name, so this module imports nothing of it)."""
    started = time.perf_counter()
    outcome = "ok"
    try:
        yield
    except Exception as exc:
        outcome = _SLACK_OUTCOMES.get(type(exc).__name__, "error")
        if outcome == "rate_limited":
            SLACK_RATE_LIMITED.labels(method).inc()
        raise
    finally:
        SLACK_CALLS.labels(method, outcome).inc()
        SLACK_SECONDS.labels(method).observe(time.perf_counter() - started)


_SLACK_OUTCOMES = {"SlackRateLimited": "rate_limited", "SlackRejected": "rejected",
                   "SlackUnavailable": "unavailable", "SlackOutcomeUnknown": "unknown"}


def _version() -> str:
    try:
        return version("vigie")
    except PackageNotFoundError:  # pragma: no cover - a checkout run without install
        return "unknown"


class StateCollector(Collector):
    """The gauges read at scrape time, for one running Vigie."""

    def __init__(self, *, engine: Engine, now: Callable[[], datetime],
                 is_leader: Callable[[], bool], draining: Callable[[], bool]) -> None:
        self._engine = engine
        self._now = now
        self._is_leader = is_leader
        self._draining = draining

    def collect(self) -> Iterable[Metric]:
        info = GaugeMetricFamily("vigie_build_info", "Always 1; the version runs as a label.",
                                 labels=["version"])
        info.add_metric([_version()], 1)
        yield info
        yield GaugeMetricFamily("vigie_scheduler_leader", "1 on the replica that runs "
                                "scheduled jobs, 0 on the others.",
                                value=1 if self._is_leader() else 0)
        yield GaugeMetricFamily("vigie_draining", "1 while this replica stops (SIGTERM): it "
                                "finishes its work and takes no more.",
                                value=1 if self._draining() else 0)
        yield from self._pool()
        yield from self._database()

    def _pool(self) -> Iterator[Metric]:
        pool: Any = self._engine.pool
        connections = GaugeMetricFamily("vigie_db_pool_connections", "Database connections "
                                        "of this replica's pool, in use or idle.",
                                        labels=["state"])
        for state, read in (("in_use", "checkedout"), ("idle", "checkedin")):
            if hasattr(pool, read):
                connections.add_metric([state], float(getattr(pool, read)()))
        yield connections
        if hasattr(pool, "size"):
            yield GaugeMetricFamily("vigie_db_pool_size", "Connections the pool keeps open "
                                    "(more may be opened briefly, up to its overflow).",
                                    value=float(pool.size()))

    def _database(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("vigie_database_up", "1 when the scrape could read the "
                               "database.", value=0)
        pending = GaugeMetricFamily("vigie_cards_pending", "Mentions stored whose card is "
                                    "not in Slack yet (all replicas).")
        oldest = GaugeMetricFamily("vigie_cards_pending_oldest_seconds", "Age of the oldest "
                                   "mention waiting for its card, 0 when none waits.")
        failing = GaugeMetricFamily("vigie_source_failing_seconds", "How long a source's "
                                    "polls have been failing (sources that fail only).",
                                    labels=["source"])
        now = self._now()
        try:
            with self._engine.connect() as connection:
                count, since = connection.execute(_PENDING).one()
                sources = connection.execute(_FAILING).all()
        except Exception:
            yield up
            return
        up.samples.clear()
        up.add_metric([], 1)
        pending.add_metric([], float(count or 0))
        oldest.add_metric([], max(0.0, (now - _utc(since)).total_seconds()) if since else 0.0)
        for source_id, failing_since in sources:
            failing.add_metric([str(source_id)],
                               max(0.0, (now - _utc(failing_since)).total_seconds()))
        yield from (up, pending, oldest, failing)


# Both read through indexes: the relay's (relay_state, next_relay_at) and source_state's
# primary key (a handful of rows).
_PENDING = text("SELECT count(*), min(received_at) FROM mention "
                "WHERE relay_state IN ('pending', 'posting')")
_FAILING = text("SELECT source_id, failing_since FROM source_state "
                "WHERE failing_since IS NOT NULL")


def _utc(value: Any) -> datetime:
    from bot.clock import as_utc

    if isinstance(value, str):  # SQLite hands back text from a bare statement
        value = datetime.fromisoformat(value)
    return as_utc(value)


def exposition(state: CollectorRegistry | None) -> bytes:
    """The `/metrics` body: this process's counters, then `state`'s gauges."""
    body = generate_latest(REGISTRY)
    return body + generate_latest(state) if state is not None else body


def state_registry(collector: StateCollector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry
