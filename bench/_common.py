"""What the benches share: the test newsroom, its secrets, settings pointing at a local
Slack-compatible server, and a percentile.

The benches are developer tools run from a checkout: they use the local servers in
`tests/support` (standard library and Vigie's own dependencies only), never pytest or
`tests.conftest`, so a plain `pip install -e .` runs them as well as the `make test`
environment does. `bench/run_all.py` checks that on every CI run.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from bot.config import Config, load_config
from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
SAMPLE_MENTIONS = FIXTURES / "mentions_labelled.jsonl"

BOT_TOKEN = "xoxb-test"  # the token the local Slack-compatible server accepts by default
SIGNING_SECRET = "bench-signing-secret-0123456789ab"
WEBHOOK_SECRET = "bench-secret-for-the-monitoring-source"
ALERTS_SECRET = "bench-secret-for-the-alerts-source"


def newsroom() -> Config:
    """The test newsroom (`tests/fixtures/newsroom.toml`)."""
    return load_config(FIXTURES / "newsroom.toml")


def environ() -> dict[str, str]:
    """The variables the test newsroom's sources name."""
    return {"VIGIE_TEST_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "VIGIE_TEST_ALERTS_SECRET": ALERTS_SECRET}


def settings(database_url: str, api_url: str = "http://127.0.0.1:9/api/") -> Settings:
    """Settings for one bench run; nothing read from `.env` or the environment."""
    return Settings(
        slack_bot_token=BOT_TOKEN,  # type: ignore[arg-type]
        slack_signing_secret=SIGNING_SECRET,  # type: ignore[arg-type]
        slack_api_url=api_url,
        database_url=database_url,
        vigie_config=FIXTURES / "newsroom.toml",
        _env_file=None,  # type: ignore[call-arg]
    )


def percentile(values: list[float], q: int) -> float:
    """The q-th percentile (1–99), interpolated; the value itself when there is one."""
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]
