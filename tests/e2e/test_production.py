"""`vigie serve` as a container runs it: JSON logs with a work id and no secret, and a
SIGTERM that drains, finishes the card in flight and exits cleanly."""

from __future__ import annotations

import json
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, select

from bot.mentions.models import Mention, RelayState
from bot.sandbox.slack import FakeSlack
from bot.store import make_engine
from tests.conftest import BOT_TOKEN, FIXTURES, SIGNING_SECRET
from tests.e2e.test_startup import post_mention
from tests.support.processes import VigieProcess, clean_environ, free_port

pytestmark = pytest.mark.timeout(300)  # real processes on a loaded machine

WEBHOOK_SECRET = "monitoring-webhook-secret-7f3a9c"
ALERTS_SECRET = "alerts-webhook-secret-41d2e8b0"
MASTODON_TOKEN = "mastodon-token-9b8c7d6e5f"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


def start(tmp_path: Path, database_url: str, slack: FakeSlack, **env: str
          ) -> tuple[VigieProcess, int]:
    shutil.copy(FIXTURES / "newsroom.toml", tmp_path / "vigie.toml")
    port = free_port()
    process = VigieProcess(["serve", "--port", str(port)], cwd=tmp_path, env=clean_environ(
        SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.base_url, DATABASE_URL=database_url, VIGIE_CONFIG="vigie.toml",
        VIGIE_TEST_WEBHOOK_SECRET=WEBHOOK_SECRET, VIGIE_TEST_ALERTS_SECRET=ALERTS_SECRET,
        MASTODON_TOKEN=MASTODON_TOKEN, **env))
    process.wait_until(lambda: "Vigie ready" in process.output, "ready")
    return process, port


def test_json_logs_carry_the_work_id_and_never_a_secret(tmp_path: Path, database_url: str,
                                                        slack: FakeSlack) -> None:
    """Work that logs (a mention stored and relayed at DEBUG, a forged webhook, a Slack
    outage on the card) writes one JSON object per line; the request's lines carry the
    proxy's request id; none holds the token, the signing secret or a source's secret."""
    process, port = start(tmp_path, database_url, slack, VIGIE_LOG_FORMAT="json",
                          VIGIE_LOG_LEVEL="DEBUG")
    try:
        stored = httpx.post(f"http://127.0.0.1:{port}/ingest/monitoring", timeout=30,
                            content=b"{}", headers={"X-Request-Id": "proxy-req-42"})
        assert stored.status_code == 401  # unsigned
        slack.fail_next("chat.postMessage", status=503)
        answer = post_mention(port, "monitoring", WEBHOOK_SECRET, "json-1")
        assert answer.status_code == 201, answer.text
        forged = post_mention(port, "alerts", WEBHOOK_SECRET, "json-2")
        assert forged.status_code == 401
        slack.wait_for(lambda: slack.messages("C0MENTIONS"), timeout=60)
    finally:
        assert process.stop() == 0
    lines = [line for line in process.lines if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line is JSON
    assert {"ts", "level", "logger", "message"} <= set(entries[0])
    assert any(e.get("work") == "proxy-req-42" for e in entries)
    assert any(str(e.get("work", "")).startswith("relay-") for e in entries)
    assert any("json-1" in e["message"] or "stored" in e["message"] for e in entries)
    for secret in (BOT_TOKEN, SIGNING_SECRET, WEBHOOK_SECRET, ALERTS_SECRET, MASTODON_TOKEN):
        assert secret not in process.output


def test_sigterm_drains_then_finishes_the_card_in_flight(tmp_path: Path, database_url: str,
                                                         slack: FakeSlack) -> None:
    """SIGTERM while the card's post is under way: /readyz turns 503 during the drain,
    the card still goes out once and is recorded as relayed, and the exit code is 0."""
    process, port = start(tmp_path, database_url, slack, VIGIE_DRAIN_SECONDS="3")
    slack.hang_next("chat.postMessage", 3.0)  # Slack slow to answer; the card does arrive
    assert post_mention(port, "monitoring", WEBHOOK_SECRET, "term-1").status_code == 201
    slack.wait_for(lambda: slack.calls_to("chat.postMessage"), timeout=60)
    process._process.send_signal(signal.SIGTERM)

    def not_ready() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 503
        except httpx.TransportError:
            return False

    process.wait_until(not_ready, "/readyz says 503 while draining")
    assert process.wait_exit() == 0, process.output
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            [mention] = session.exec(select(Mention)).all()
    finally:
        engine.dispose()
    assert mention.relay_state == RelayState.RELAYED and mention.slack_ts
    assert len([m for m in slack.messages("C0MENTIONS") if m.get("metadata")]) == 1
    assert "stopping" in process.output and "Traceback" not in process.output
