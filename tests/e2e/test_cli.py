"""The `vigie` command as an IT person uses it: check, db upgrade, serve."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from bot.cli import cli
from bot.sandbox.slack import FakeSlack
from tests.conftest import BOT_TOKEN, FIXTURES, SIGNING_SECRET, WEBHOOK_SECRET
from tests.support.processes import CAP

VARIABLES = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "SLACK_API_URL",
             "DATABASE_URL", "VIGIE_CONFIG", "VIGIE_LOCALE")


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory and an environment without Vigie settings."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


def good_env(slack: FakeSlack, database_url: str) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.base_url,
        "DATABASE_URL": database_url,
        "VIGIE_CONFIG": str(FIXTURES / "newsroom.toml"),
        "VIGIE_TEST_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "VIGIE_TEST_ALERTS_SECRET": WEBHOOK_SECRET,
    }


def test_check_lists_every_problem_with_its_fix_and_no_traceback(workdir: Path) -> None:
    """On a bare machine, `vigie check` names the token and the config file, exit 1."""
    result = CliRunner().invoke(cli, ["check"])
    assert result.exit_code == 1
    assert "SLACK_BOT_TOKEN: is not set" in result.output
    assert "OAuth & Permissions" in result.output
    assert "vigie.toml: file not found" in result.output
    assert "Traceback" not in result.output


def test_check_passes_on_a_good_setup(workdir: Path, slack: FakeSlack, database_url: str
                                      ) -> None:
    """With settings, config, a migrated database and a valid token: all green."""
    result = CliRunner().invoke(cli, ["check"], env=good_env(slack, database_url))
    assert result.exit_code == 0, result.output
    assert "connected to Vigie Test as vigie" in result.output
    assert "Everything looks right." in result.output


def test_check_reports_a_refused_token_and_a_missing_source_secret(
    workdir: Path, slack: FakeSlack, database_url: str
) -> None:
    """A revoked token and an unset webhook secret are both reported, secrets unprinted."""
    env = good_env(slack, database_url) | {"SLACK_BOT_TOKEN": "xoxb-revoked",
                                           "VIGIE_TEST_ALERTS_SECRET": ""}
    result = CliRunner().invoke(cli, ["check"], env=env)
    assert result.exit_code == 1
    assert "Slack refused the token (invalid_auth)" in result.output
    assert "VIGIE_TEST_ALERTS_SECRET: is not set; source 'alerts'" in result.output
    assert WEBHOOK_SECRET not in result.output and "xoxb-revoked" not in result.output


def test_check_names_the_channels_vigie_is_not_in(workdir: Path, slack: FakeSlack,
                                                  database_url: str) -> None:
    """A public channel Vigie was not invited to and a private one it cannot see are both
    named, with where the newsroom file uses them and the /invite to type."""
    slack.add_channel("C0LEGAL", "juridique", is_member=False)
    slack.add_channel("C0BREVES", "breves", is_private=True, is_member=False)
    result = CliRunner().invoke(cli, ["check"], env=good_env(slack, database_url))
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert "vigie.toml: routes[0].channel: Vigie is not a member of C0LEGAL" in output
    assert "/invite @Vigie in <#C0LEGAL>" in output
    assert "vigie.toml: posts.targets[1].channel: Slack cannot show C0BREVES to Vigie " \
        "(channel_not_found)" in output
    assert "C0MENTIONS" not in output


@pytest.mark.own_database
def test_db_upgrade_then_current(workdir: Path) -> None:
    """`vigie db upgrade` brings an empty database to the code's revision."""
    runner = CliRunner()
    env = {"DATABASE_URL": f"sqlite:///{workdir / 'fresh.db'}"}
    behind = runner.invoke(cli, ["db", "current"], env=env)
    assert behind.exit_code == 1 and "database: empty" in behind.output
    upgraded = runner.invoke(cli, ["db", "upgrade"], env=env)
    assert upgraded.exit_code == 0 and "Database at revision" in upgraded.output
    assert runner.invoke(cli, ["db", "current"], env=env).exit_code == 0


@pytest.mark.own_database
def test_serve_refuses_to_start_on_a_database_that_is_behind(
    workdir: Path, slack: FakeSlack
) -> None:
    """Starting on an unmigrated database stops with the command that fixes it."""
    env = good_env(slack, f"sqlite:///{workdir / 'empty.db'}")
    result = CliRunner().invoke(cli, ["serve", "--port", "0"], env=env)
    assert result.exit_code == 2
    assert "run: vigie db upgrade" in result.output and "Nothing was started" in result.output


@pytest.mark.own_database
def test_with_json_logs_a_refused_start_says_why_in_json_lines(
    workdir: Path, slack: FakeSlack
) -> None:
    """A replica started before `vigie db upgrade` (compose without ordering): the log
    collector gets JSON lines naming the problem and the fix, not plain text."""
    env = {**good_env(slack, f"sqlite:///{workdir / 'empty.db'}"), "VIGIE_LOG_FORMAT": "json"}
    result = CliRunner().invoke(cli, ["serve", "--port", "0"], env=env)
    assert result.exit_code == 2
    lines = [json.loads(line) for line in result.output.splitlines() if line.strip()]
    assert {line["level"] for line in lines} == {"error"}
    assert any("run: vigie db upgrade" in line["message"] for line in lines)
    assert "Nothing was started" in lines[-1]["message"]


def test_serve_needs_the_signing_secret(workdir: Path, slack: FakeSlack,
                                        database_url: str) -> None:
    """HTTP mode without SLACK_SIGNING_SECRET says so, and where to find it."""
    env = good_env(slack, database_url) | {"SLACK_SIGNING_SECRET": ""}
    result = CliRunner().invoke(cli, ["serve"], env=env)
    assert result.exit_code == 2
    assert "SLACK_SIGNING_SECRET" in result.output and "Signing Secret" in result.output


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(port: int, process: subprocess.Popen[str], timeout: float = CAP) -> None:
    """Until /healthz answers 200, for as long as the process lives (a loaded machine only
    makes it slower); the cap is for a start that hangs."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        assert time.monotonic() < deadline, "vigie did not come up"
        time.sleep(0.1)


@pytest.mark.timeout(300)
def test_vigie_serve_process_relays_a_webhook_mention(workdir: Path, slack: FakeSlack,
                                                      database_url: str) -> None:
    """The installed `vigie serve` command, as a real process, turns a webhook into a card."""
    port = free_port()
    executable = shutil.which("vigie", path=str(Path(sys.executable).parent)) or "vigie"
    process = subprocess.Popen(
        [executable, "serve", "--port", str(port)],
        env={**os.environ, **good_env(slack, database_url)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        wait_healthy(port, process)
        body = json.dumps({"external_id": "cli-1", "text": "Bravo pour l'émission",
                           "author": {"handle": "@fan@x.example"},
                           "created_at": "2026-11-02T07:00:00Z"}).encode()
        sent_at = int(time.time())
        from bot.platforms.webhook.receiver import sign

        response = httpx.post(f"http://127.0.0.1:{port}/ingest/monitoring", content=body,
                              headers={"X-Vigie-Timestamp": str(sent_at),
                                       "X-Vigie-Signature": sign(WEBHOOK_SECRET, sent_at, body)})
        assert response.status_code == 201, response.text
        slack.wait_for(lambda: slack.messages("C0MENTIONS"), timeout=60)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(10)


@pytest.mark.timeout(300)
def test_vigie_run_answers_slack_over_socket_mode(workdir: Path, database_url: str) -> None:
    """`vigie run` connects over Socket Mode, acks a slash command with its answer, and
    still serves the webhook on its HTTP port."""
    from tests.support.socket_mode_server import SocketModeServer

    socket_server = SocketModeServer().start()
    port = free_port()
    with FakeSlack(extra_tokens=["xapp-1-test"]) as slack:
        slack.socket_mode_url = socket_server.url
        env = good_env(slack, database_url) | {"SLACK_APP_TOKEN": "xapp-1-test",
                                               "SLACK_SIGNING_SECRET": ""}
        executable = shutil.which("vigie", path=str(Path(sys.executable).parent)) or "vigie"
        process = subprocess.Popen([executable, "run", "--http-port", str(port)],
                                   env={**os.environ, **env}, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + CAP
            while not socket_server.connected.wait(0.1):
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                assert time.monotonic() < deadline, "no Socket Mode connection"
            envelope = socket_server.send("slash_commands", {
                "token": "x", "team_id": "T0001", "team_domain": "vigie-test",
                "channel_id": "C0MENTIONS", "channel_name": "mentions", "user_id": "U0STAFF",
                "user_name": "staff", "command": "/vigie", "text": "help",
                "api_app_id": "A0001", "is_enterprise_install": "false",
                "response_url": "https://hooks.slack.com/commands/T0001/1/x",
                "trigger_id": "1.2.3",
            }, accepts_response_payload=True)
            ack = socket_server.ack_for(envelope, timeout=60)
            assert ack["payload"]["response_type"] == "ephemeral"
            assert "/vigie help" in ack["payload"]["text"]
            wait_healthy(port, process)
            assert httpx.post(f"http://127.0.0.1:{port}/slack/events").status_code == 404
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
            socket_server.stop()
