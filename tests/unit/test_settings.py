from __future__ import annotations

import pytest

from bot.settings import ConfigurationError, load_settings, problems_for_mode


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "SLACK_API_URL",
                 "DATABASE_URL", "VIGIE_CONFIG", "VIGIE_LOCALE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(str(tmp_path))  # no stray .env


def test_missing_token_names_the_variable_and_where_to_get_it() -> None:
    """Without SLACK_BOT_TOKEN the problem names it and points to the Slack app page."""
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    [problem] = caught.value.problems
    assert problem.where == "SLACK_BOT_TOKEN"
    assert problem.message == "is not set"
    assert "OAuth & Permissions" in problem.fix


def test_wrong_values_are_all_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """A user token, a bad URL and an old postgres scheme are reported together."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxp-user-token")
    monkeypatch.setenv("SLACK_API_URL", "slack.local")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h/db")
    monkeypatch.setenv("VIGIE_LOCALE", "de")
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    found = {p.where: p.message for p in caught.value.problems}
    assert found["SLACK_BOT_TOKEN"] == "a bot token starts with xoxb-"
    assert "http" in found["SLACK_API_URL"]
    assert "postgresql+psycopg://" in found["DATABASE_URL"]
    assert "VIGIE_LOCALE" in found
    assert "xoxp-user-token" not in str(caught.value)


def test_modes_say_what_they_need(monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTP mode needs the signing secret, Socket Mode the app token."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    settings = load_settings()
    assert [p.where for p in problems_for_mode(settings, "http")] == ["SLACK_SIGNING_SECRET"]
    assert [p.where for p in problems_for_mode(settings, "socket")] == ["SLACK_APP_TOKEN"]
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.database_url == "sqlite:///vigie.db"


def test_secrets_are_hidden_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    """Printing the settings (e.g. in a log) never shows a secret."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-very-secret")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "signing-very-secret")
    text = repr(load_settings())
    assert "very-secret" not in text


def test_empty_variables_count_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """`SLACK_APP_TOKEN=` (as in .env.example) means not set, not an invalid token."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("SLACK_APP_TOKEN", "")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "")
    settings = load_settings()
    assert settings.slack_app_token is None and settings.slack_signing_secret is None
