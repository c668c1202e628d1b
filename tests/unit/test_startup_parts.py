"""The pieces start-up rests on: where variables are read, the schema check without
Alembic, Slack's reachability, the health report, and the version."""

from __future__ import annotations

import threading
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from bot.health import Health, SlackWatch
from bot.settings import read_environ
from bot.slack import SlackGateway, SlackRejected, SlackUnavailable
from bot.store import at_head, code_head, make_engine, revisions


def test_dotenv_is_read_and_the_environment_wins(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A variable only in `.env` is read from it; one in both is the environment's; an
    empty one counts as unset."""
    env_file = tmp_path / ".env"
    env_file.write_text('ONLY_IN_FILE=from-file\nIN_BOTH="file-value"\nEMPTY_HERE=file\n'
                        "BLANK_IN_FILE=\n")
    monkeypatch.setenv("IN_BOTH", "environment-value")
    monkeypatch.setenv("EMPTY_HERE", "")
    monkeypatch.delenv("ONLY_IN_FILE", raising=False)
    monkeypatch.delenv("BLANK_IN_FILE", raising=False)
    environ = read_environ(env_file)
    assert environ["ONLY_IN_FILE"] == "from-file"
    assert environ["IN_BOTH"] == "environment-value"
    assert environ["EMPTY_HERE"] == "file"
    assert "BLANK_IN_FILE" not in environ


def test_without_a_dotenv_file_the_environment_alone_is_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No `.env` is no error: the environment's variables are all there."""
    monkeypatch.setenv("VIGIE_SOMETHING", "x")
    assert read_environ(tmp_path / "missing.env")["VIGIE_SOMETHING"] == "x"


def test_the_quick_schema_check_agrees_with_alembic(engine: Engine, tmp_path: Path) -> None:
    """The head read from the migration files is Alembic's, a migrated database is at it,
    and an empty one is not."""
    current, head = revisions(engine)
    assert code_head() == head == current
    assert at_head(engine)
    empty = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        assert not at_head(empty)
    finally:
        empty.dispose()


@pytest.mark.parametrize("prefix", ["@camille@mastodon.example ", "@a_b9@x.social ", "@solo ",
                                    "@Zoé@x.fr ", "@u@sub.inst-ance.org ", ""])
def test_room_left_after_the_handle_is_counted_as_mastodon_does(prefix: str) -> None:
    """What a reply may still hold once "@author " is put in front is Mastodon.py's count,
    whether or not Mastodon.py had to be loaded for it."""
    from mastodon import Mastodon

    from bot.replies.models import ReplyKind
    from bot.replies.platforms import Target

    target = Target(ReplyKind.MASTODON, "Mastodon", 500, prefix=prefix)
    assert target.remaining() == 500 - Mastodon.get_status_length(prefix)


class ScriptedSlack(SlackGateway):
    """`auth.test` answers from a script, then keeps giving the last answer."""

    def __init__(self, answers: list[Exception | dict[str, Any]]) -> None:
        self.answers = answers
        self.calls = 0

    def auth_test(self) -> dict[str, Any]:
        answer = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        if isinstance(answer, Exception):
            raise answer
        return answer


def wait(condition: Any, timeout: float = 30) -> None:
    event = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        event.wait(0.01)
    raise AssertionError("condition not met")


def test_slack_unreachable_is_degraded_then_reachable_again() -> None:
    """While Slack cannot be reached the health says so and Slack is asked again; once it
    answers, nothing is degraded."""
    health = Health()
    refused: list[str] = []
    slack = ScriptedSlack([SlackUnavailable("auth.test: refused"),
                           SlackRejected("auth.test", "fatal_error"),
                           {"team": "T", "user": "vigie"}])
    watch = SlackWatch(slack, health, on_refused=refused.append, first=0.01, last=0.02,
                       recheck=60)
    watch.start()
    try:
        assert watch.wait_first(30)
        wait(lambda: slack.calls >= 3 and health.report() == ({"slack": "reachable"}, []))
    finally:
        watch.stop()
    assert refused == []


def test_a_token_slack_refuses_for_good_stops_the_watch_once() -> None:
    """`invalid_auth` is reported once and never asked again."""
    health = Health()
    refused: list[str] = []
    slack = ScriptedSlack([SlackRejected("auth.test", "invalid_auth")])
    watch = SlackWatch(slack, health, on_refused=refused.append, first=0.01, last=0.01)
    watch.start()
    assert watch.wait_first(30)
    watch.stop()
    assert refused == ["invalid_auth"] and slack.calls == 1
    assert health.report()[1] == ["slack"]


def test_healthz_names_what_is_degraded_and_stays_200_without_slack(
        database_url: str, config: Any, environ: dict[str, str]) -> None:
    """/healthz is 200 with `"degraded": ["slack"]` while only Slack is missing."""
    from bot.app import build
    from tests.conftest import make_settings
    from tests.support.harness import RunningVigie

    vigie = build(make_settings(database_url), config, environ=environ)
    vigie.health.set("slack", "unreachable", ok=False)
    app = RunningVigie(vigie).start(background=False)
    try:
        response = app.http.get("/healthz")
    finally:
        app.stop()
    assert response.status_code == 200
    assert response.json() == {"ok": True, "database": "reachable", "slack": "unreachable",
                               "degraded": ["slack"]}


def test_version_is_the_installed_package_version() -> None:
    """`vigie --version` prints the version the package was installed with."""
    from bot.cli import cli

    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"vigie {version('vigie')}"
