"""Reply latency, end to end: Reply click → ack and → modal ready; template picked → ack
and → modal redrawn; Send → ack, → the status on the Mastodon-compatible server (the real
Mastodon.py client), → the card redrawn with the answer. Plus the cost of rendering and
of checking a template.

Everything runs in this process (Vigie over HTTP on SQLite, the fake Slack, the fake
Mastodon), so the driver and the app share one interpreter: the figures are an upper
bound of what a dedicated server does.

    python bench/reply.py [--replies 60]
    python bench/reply.py --quick      # 3 replies: does it run?

Target (issue 5): acks well under Slack's 3 s (p99 < 100 ms); the answer on the platform
and on the card within a second of Send.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import (  # noqa: E402
    SIGNING_SECRET,
    WEBHOOK_SECRET,
    environ,
    newsroom,
    settings,
)
from bot.app import build  # noqa: E402
from bot.clock import SystemClock  # noqa: E402
from bot.config import Source  # noqa: E402
from bot.paths import templates_dir  # noqa: E402
from bot.replies.messages import ModalState  # noqa: E402
from bot.replies.templates import read_shipped, render, validate  # noqa: E402
from bot.replies.variables import sample_contexts  # noqa: E402
from bot.sandbox.driver import SlackDriver  # noqa: E402
from bot.sandbox.mastodon import FakeMastodon  # noqa: E402
from bot.sandbox.slack import FakeSlack  # noqa: E402
from bot.store import make_engine, upgrade  # noqa: E402
from tests.support.harness import RunningVigie  # noqa: E402

STAFF = "U0STAFF1"


def wait(predicate: Callable[[], Any], timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("bench step did not finish")
        time.sleep(0.001)


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    cut = statistics.quantiles(ordered, n=100, method="inclusive")
    return f"p50 {cut[49] * 1000:6.1f} ms   p95 {cut[94] * 1000:6.1f} ms   " \
           f"p99 {cut[98] * 1000:6.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replies", type=int, default=60)
    parser.add_argument("--quick", action="store_true",
                        help="3 replies, fewer template renders: checks the bench runs")
    args = parser.parse_args()
    rounds = 200
    if args.quick:
        args.replies, rounds = 3, 20
    logging.basicConfig(level=logging.WARNING)
    config = newsroom()

    # -- templates alone ---------------------------------------------------------------------
    shipped = list(read_shipped(templates_dir() / "replies").values())
    contexts = {locale: sample_contexts(config, locale) for locale in ("fr", "en")}
    started = time.perf_counter()
    for _ in range(rounds):
        for template in shipped:
            render(template.body, contexts[template.locale][0], locale=template.locale,
                   timezone="Europe/Paris")
    per_render = (time.perf_counter() - started) / (rounds * len(shipped))
    started = time.perf_counter()
    for template in shipped * (rounds // 20):
        validate(template.body, locale=template.locale, timezone="Europe/Paris",
                 samples=contexts[template.locale])
    per_check = (time.perf_counter() - started) / (len(shipped) * (rounds // 20))

    # -- the flow ------------------------------------------------------------------------------
    steps: dict[str, list[float]] = {name: [] for name in (
        "Reply click → ack", "Reply click → modal ready", "template → ack",
        "template → modal redrawn", "Send → ack", "Send → status on Mastodon",
        "Send → card shows the answer")}
    with tempfile.TemporaryDirectory() as tmp, FakeSlack() as slack, \
            FakeMastodon(tokens={"token-matinale": "matinale"}) as mastodon:
        slack.add_user(STAFF, "marie", real_name="Marie Dupont")
        url = f"sqlite:///{tmp}/bench.db"
        upgrade(make_engine(url))
        source = Source.model_validate({"id": "masto", "type": "mastodon",
                                        "account": "matinale", "instance": mastodon.url,
                                        "token_env": "MASTO", "interval": 3600})
        # A bench posts a card a moment: no spike mode, no pacing between cards.
        bursts = config.bursts.model_copy(update={"threshold": 100_000, "pace": 0.01})
        desk = config.model_copy(update={"sources": [*config.sources, source],
                                         "bursts": bursts})
        variables = {**environ(), "MASTO": "token-matinale"}
        vigie = RunningVigie(build(settings(url, slack.base_url), desk,
                                   clock=SystemClock(), environ=variables)).start()
        driver = SlackDriver(f"{vigie.url}/slack/events", SIGNING_SECRET, fake=slack)
        def one_reply(index: int) -> None:
            status = mastodon.mention("matinale", by=f"fan{index}", text="Bravo !")
            body = {"external_id": f"b{index}", "text": "Bravo !",
                    "author": {"handle": f"@fan{index}@mamot.example"},
                    "created_at": "2026-11-02T07:00:00Z", "platform": "mastodon",
                    "account": "matinale", "ref": {"id": status["id"]}}
            mention_id = vigie.post_mention("monitoring", body,
                                            secret=WEBHOOK_SECRET).json()["id"]

            def card_ts() -> str | None:
                mention = vigie.vigie.qualifier.get(mention_id)
                return mention.slack_ts if mention else None

            ts = wait(card_ts)
            before = {v["id"] for v in slack.views_for(STAFF)}

            def form(block: int) -> dict[str, Any] | None:
                return next((v for v in slack.views_for(STAFF) if v["id"] not in before
                             and any(b.get("block_id") == f"text-{block}"
                                     for b in v["blocks"])), None)

            def card_answered() -> bool:
                card = slack.message("C0MENTIONS", ts) or {}
                return "Répondu sur Mastodon" in json.dumps(card.get("blocks"),
                                                             ensure_ascii=False)

            clicked = time.monotonic()
            driver.click(STAFF, "reply.open", message={"ts": ts}, channel_id="C0MENTIONS")
            steps["Reply click → ack"].append(time.monotonic() - clicked)
            view = wait(lambda: form(1))
            steps["Reply click → modal ready"].append(time.monotonic() - clicked)

            picked = time.monotonic()
            driver.select(STAFF, "reply.template", "fr/thanks", view=view)
            steps["template → ack"].append(time.monotonic() - picked)
            view = wait(lambda: form(2))
            steps["template → modal redrawn"].append(time.monotonic() - picked)

            posted = len(mastodon.posted)
            sent = time.monotonic()
            state = ModalState.load(view["private_metadata"])
            driver.view_submission(user_id=STAFF, view=view, values={
                state.text_block: {"reply.text": f"Merci fan{index} !"}})
            steps["Send → ack"].append(time.monotonic() - sent)
            wait(lambda: len(mastodon.posted) > posted)
            steps["Send → status on Mastodon"].append(time.monotonic() - sent)
            wait(card_answered)
            steps["Send → card shows the answer"].append(time.monotonic() - sent)

        try:
            for index in range(args.replies):
                one_reply(index)
        finally:
            driver.close()
            vigie.stop()

    print(f"{args.replies} replies, in-process (SQLite, fake Slack, fake Mastodon)")
    for name, values in steps.items():
        print(f"  {name:<30} {percentiles(values)}")
    print(f"  render a shipped template      {per_render * 1e6:6.0f} µs")
    print(f"  check a template before saving {per_check * 1000:6.2f} ms (3 sample renders)")


if __name__ == "__main__":
    main()
