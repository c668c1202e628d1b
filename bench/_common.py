"""What the benches share: the test newsroom, its secrets, settings pointing at a local
Slack-compatible server, and a percentile.

The benches are developer tools run from a checkout: they use the local servers in
`tests/support` (standard library and Vigie's own dependencies only), never pytest or
`tests.conftest`, so a plain `pip install -e .` runs them as well as the `make test`
environment does. `bench/run_all.py` checks that on every CI run.
"""

from __future__ import annotations

import statistics

from tests.support.newsroom import (
    BOT_TOKEN,
    FIXTURES,
    SIGNING_SECRET,
    WEBHOOK_SECRET,
    make_settings,
    newsroom,
    newsroom_environ,
)

__all__ = ["BOT_TOKEN", "SAMPLE_MENTIONS", "SIGNING_SECRET", "WEBHOOK_SECRET", "environ",
           "newsroom", "percentile", "settings"]

SAMPLE_MENTIONS = FIXTURES / "mentions_labelled.jsonl"
settings = make_settings  # settings(database_url, api_url) for one bench run
environ = newsroom_environ


def percentile(values: list[float], q: int) -> float:
    """The q-th percentile (1–99), interpolated; the value itself when there is one."""
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]
