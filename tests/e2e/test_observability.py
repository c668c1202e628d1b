"""What an IT team watches: `/metrics` counts the work as it happens, `/readyz` says what
is degraded and when to take a replica out, and every request has its id."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from bot.metrics import CONTENT_TYPE
from bot.sandbox.slack import FakeSlack
from tests.conftest import WEBHOOK_SECRET
from tests.e2e.test_webhook_flow import a_mention, wait_for_cards
from tests.support.harness import RunningVigie

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(vigie: RunningVigie) -> Samples:
    response = vigie.http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == CONTENT_TYPE
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_mentions_cards_and_slack_calls(vigie: RunningVigie,
                                                      slack: FakeSlack) -> None:
    """Two mentions and a repeat: two received (by source and platform), one duplicate,
    two cards posted, and Slack's chat.postMessage counted; nothing waits afterwards."""
    before = scrape(vigie)
    for mention in (a_mention("obs-1"), a_mention("obs-2", text="Et la suite ?"),
                    a_mention("obs-1")):
        assert vigie.post_mention("monitoring", mention, secret=WEBHOOK_SECRET).status_code \
            in (200, 201)
    wait_for_cards(slack, "C0MENTIONS", 2)

    def settled() -> Samples | None:
        after = scrape(vigie)
        return after if value(after, "vigie_cards_pending") == 0 and value(
            after, "vigie_cards_total", outcome="posted") - value(
            before, "vigie_cards_total", outcome="posted") == 2 else None

    after = slack.wait_for(settled, timeout=30)
    assert after is not None

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("vigie_mentions_received_total", source="monitoring", platform="mastodon") == 2
    assert grew("vigie_mentions_duplicate_total", source="monitoring") == 1
    assert grew("vigie_slack_calls_total", method="chat.postMessage", outcome="ok") >= 2
    assert grew("vigie_http_requests_total", route="/ingest/{source}", status="201") + grew(
        "vigie_http_requests_total", route="/ingest/{source}", status="200") == 3
    assert value(after, "vigie_cards_pending_oldest_seconds") == 0
    assert value(after, "vigie_database_up") == 1
    assert value(after, "vigie_db_pool_connections", state="in_use") >= 0


def test_cards_waiting_for_slack_show_as_pending_with_their_age(vigie: RunningVigie,
                                                                slack: FakeSlack) -> None:
    """Slack down: the mention waits, and the gauges say how many and since when; Slack's
    refusals are counted by method; `/readyz` still takes traffic."""
    slack.set_down(True)
    assert vigie.post_mention("monitoring", a_mention("down-1"),
                              secret=WEBHOOK_SECRET).status_code in (200, 201)

    def waiting() -> Samples | None:
        samples = scrape(vigie)
        return samples if value(samples, "vigie_cards_pending") == 1 and value(
            samples, "vigie_slack_calls_total", method="chat.postMessage",
            outcome="unknown") >= 1 and value(
            samples, "vigie_cards_pending_oldest_seconds") > 0 else None

    assert slack.wait_for(waiting, timeout=30) is not None
    ready = vigie.http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["cards_pending"] == 1
    slack.set_down(False)


def test_readiness_names_what_keeps_a_replica_out(vigie: RunningVigie) -> None:
    """Ready with a current schema; 503 naming `schema` when the database is at another
    revision, and `stopping` once the replica drains; liveness stays 200 throughout."""
    ready = vigie.http.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["ready"] is True and ready.json()["schema"] == "current"
    assert ready.headers["x-request-id"]

    with vigie.vigie.engine.begin() as connection:
        (revision,) = connection.execute(text("SELECT version_num FROM alembic_version")).one()
        connection.execute(text("UPDATE alembic_version SET version_num = 'f00'"))
    try:
        answer = vigie.http.get("/readyz")
        assert answer.status_code == 503
        assert answer.json()["not_ready"] == ["schema"]
        assert vigie.http.get("/healthz").status_code == 200
    finally:
        with vigie.vigie.engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = :r"),
                               {"r": revision})

    vigie.vigie.draining.set()
    answer = vigie.http.get("/readyz")
    assert answer.status_code == 503 and answer.json()["not_ready"] == ["stopping"]
    assert value(scrape(vigie), "vigie_draining") == 1
    assert vigie.http.get("/healthz").status_code == 200


def test_a_request_id_from_the_proxy_is_kept_and_a_bad_one_replaced(
        vigie: RunningVigie) -> None:
    kept = vigie.http.get("/healthz", headers={"X-Request-Id": "haproxy-01ab"})
    assert kept.headers["x-request-id"] == "haproxy-01ab"
    replaced = vigie.http.get("/healthz", headers={"X-Request-Id": "a b\tc" + "x" * 80})
    assert replaced.headers["x-request-id"].startswith("req-")


def test_the_webhook_says_503_when_the_database_fails_mid_request(
        vigie: RunningVigie, monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL restarting under a request: 503 with Retry-After (send it again), one
    warning line, no 500."""
    def unavailable(*args: object) -> None:
        raise OperationalError("INSERT …", {}, Exception("server closed the connection"))

    monkeypatch.setattr(vigie.vigie.intake, "ingest", unavailable)
    answer = vigie.post_mention("monitoring", a_mention("db-down"), secret=WEBHOOK_SECRET)
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "5"
    assert "send it again" in answer.json()["error"]
