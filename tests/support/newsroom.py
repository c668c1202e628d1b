"""The test newsroom and the settings that point Vigie at local servers: shared by the
suite (`tests/conftest.py`) and the benches, which must not import pytest."""

from __future__ import annotations

from pathlib import Path

from bot.config import Config, load_config
from bot.settings import Settings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
WEBHOOK_SECRET = "s3cr3t-for-the-monitoring-source"
ALERTS_SECRET = "another-secret-for-alerts-source"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-test"  # the token the local Slack-compatible server accepts by default


def newsroom() -> Config:
    """The test newsroom (`tests/fixtures/newsroom.toml`)."""
    return load_config(FIXTURES / "newsroom.toml")


def newsroom_environ() -> dict[str, str]:
    """The variables the test newsroom's sources name."""
    return {"VIGIE_TEST_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "VIGIE_TEST_ALERTS_SECRET": ALERTS_SECRET}


def make_settings(database_url: str, api_url: str = "http://127.0.0.1:9/api/") -> Settings:
    """Settings for the test newsroom; nothing read from `.env` or the environment."""
    return Settings(
        slack_bot_token=BOT_TOKEN,  # type: ignore[arg-type]
        slack_signing_secret=SIGNING_SECRET,  # type: ignore[arg-type]
        slack_api_url=api_url,
        database_url=database_url,
        vigie_config=FIXTURES / "newsroom.toml",
        _env_file=None,  # type: ignore[call-arg]
    )
