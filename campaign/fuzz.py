"""Fuzz every edge that takes input from outside, and count.

    python -m campaign.fuzz            # 1,000 inputs per edge, a fresh random seed
    python -m campaign.fuzz --quick    # 25 per edge, derandomized (CI)
    python -m campaign.fuzz --examples 5000 --seed 42

The edges: `/slack/events` (events, clicks, view submissions, slash commands, options,
as Slack sends them, mutated; and random signed bytes), `/ingest/{source}` (the signed
mention webhook) and every platform webhook the app mounts (`/webhooks/facebook`,
`/webhooks/instagram`, `/webhooks/threads`). Strategies and invariants are the suite's
(`tests.support.fuzzing`): never a 5xx or a traceback, a refused request stores nothing,
every stored mention renders a card Slack accepts. A broken invariant is shrunk by
Hypothesis to its smallest example, printed, and makes the run exit 1.

Runs on a fresh SQLite database (or `--database-url`, an empty migrated one) against
the local Slack-compatible server; nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from bot.sandbox.driver import sign
from bot.sandbox.slack import FakeSlack
from campaign._report import Figures, summary, table
from tests.support.edge import Edge
from tests.support.fuzzing import (
    JSON,
    TRIGGER,
    USER,
    Tally,
    check_answer,
    content_types,
    extra_headers,
    fresh_database,
    json_bodies,
    meta_seeds,
    mostly,
    open_edge,
    send_meta,
    send_slack,
    send_webhook,
    signings,
    slack_bodies,
    slack_seeds,
)
from tests.support.fuzzing import MENTION as WEBHOOK_MENTION
from tests.support.newsroom import SIGNING_SECRET

QUICK_EXAMPLES = 25
FULL_EXAMPLES = 1000


@dataclass
class EdgeRun:
    name: str
    tally: Tally = field(default_factory=Tally)
    clicks: int = 0
    seconds: float = 0.0
    failure: str | None = None


def _edges(edge: Edge, slack: FakeSlack, runs: dict[str, EdgeRun]
           ) -> dict[str, Callable[..., None]]:
    """One Hypothesis property per edge (not yet decorated with settings)."""
    seeds = slack_seeds()
    meta = meta_seeds()

    @given(body=slack_bodies(seeds), content_type=content_types, signing=signings,
           extra=extra_headers)
    def slack_requests(body: tuple[bytes, str, bool], content_type: str | None,
                       signing: str, extra: dict[str, str]) -> None:
        raw, own_type, _ = body
        raw = raw.replace(TRIGGER.encode(), slack.new_trigger_id(user_id=USER).encode())
        run = runs["/slack/events"]
        answer = send_slack(edge, raw, own_type if content_type is None else content_type,
                            signing, extra, run.tally)
        run.clicks += answer.parsed and b"block_actions" in raw

    @given(raw=st.binary(max_size=2000), content_type=content_types)
    def slack_bytes(raw: bytes, content_type: str | None) -> None:
        stamp = str(int(time.time()))
        answer = edge.post("/slack/events", raw, {
            "Content-Type": content_type or JSON, "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": sign(SIGNING_SECRET, stamp, raw)})
        check_answer(edge, answer, tally=runs["/slack/events (random bytes)"].tally)

    @given(raw=json_bodies([WEBHOOK_MENTION]),
           source=mostly(st.just("monitoring"), st.sampled_from(["alerts", "nope", "%00"])),
           content_type=content_types, signing=signings, extra=extra_headers)
    def ingest(raw: bytes, source: str, content_type: str | None, signing: str,
               extra: dict[str, str]) -> None:
        send_webhook(edge, raw, source, content_type, signing, extra,
                     runs["/ingest/{source}"].tally)

    properties: dict[str, Callable[..., None]] = {
        "/slack/events": slack_requests, "/slack/events (random bytes)": slack_bytes,
        "/ingest/{source}": ingest}
    for path in sorted(meta):
        properties[path] = _meta_property(edge, path, meta[path], runs)
    return properties


def _meta_property(edge: Edge, path: str, seeds: list[Any], runs: dict[str, EdgeRun]
                   ) -> Callable[..., None]:
    @given(raw=json_bodies(seeds), content_type=content_types, signing=signings,
           extra=extra_headers)
    def deliveries(raw: bytes, content_type: str | None, signing: str,
                   extra: dict[str, str]) -> None:
        send_meta(edge, path, raw, content_type, signing, extra, runs[path].tally)

    return deliveries


def run(*, examples: int, quick: bool, seed_value: int | None, database_url: str | None,
        out: Any = sys.stdout) -> tuple[Figures, list[EdgeRun]]:
    """Fuzz every edge with `examples` inputs each; the figures and each edge's run."""
    logging.getLogger("hypothesis").setLevel(logging.WARNING)
    runs: dict[str, EdgeRun] = {}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="vigie-fuzz-") as directory, FakeSlack() as slack:
        url = database_url or fresh_database(Path(directory))
        with open_edge(url, slack) as edge:
            mounted = {route.path for route in edge.vigie.web_routes}
            properties = _edges(edge, slack, runs)
            for name in properties:
                runs[name] = EdgeRun(name)
            unfuzzed = mounted - {"/ingest/{source_id}", *properties}
            if unfuzzed:  # a platform added a webhook without seeds here: say so, loudly
                raise SystemExit(f"no fuzzing for {sorted(unfuzzed)}: add seeds to "
                                 "tests/support/fuzzing.py")
            for name, prop in properties.items():
                configured = settings(
                    max_examples=examples, deadline=None, database=None, derandomize=quick,
                    phases=[Phase.generate, Phase.shrink], print_blob=True,
                    suppress_health_check=list(HealthCheck))(prop)
                if seed_value is not None and not quick:
                    configured = seed(seed_value)(configured)
                began = time.monotonic()
                try:
                    configured()
                except Exception:  # an invariant broke: Hypothesis printed the example
                    runs[name].failure = traceback.format_exc(limit=-3)
                runs[name].seconds = time.monotonic() - began
                print(f"{name}: {runs[name].tally.inputs} inputs, "
                      f"{'FAILED' if runs[name].failure else 'ok'}", file=out, flush=True)
    tallies = [r.tally for r in runs.values()]
    figures = Figures(
        part="fuzzing", inputs=sum(t.inputs for t in tallies),
        seconds=time.monotonic() - started, mentions=sum(t.mentions for t in tallies),
        clicks=sum(r.clicks for r in runs.values()),
        failures=sum(1 for r in runs.values() if r.failure))
    return figures, list(runs.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m campaign.fuzz", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_EXAMPLES} inputs per edge, derandomized (CI)")
    parser.add_argument("--examples", type=int, help=f"inputs per edge ({FULL_EXAMPLES})")
    parser.add_argument("--seed", type=int, help="Hypothesis seed, to replay a run")
    parser.add_argument("--database-url", help="an empty, migrated database (default: "
                        "a fresh SQLite file)")
    args = parser.parse_args(argv)
    examples = args.examples or (QUICK_EXAMPLES if args.quick else FULL_EXAMPLES)
    seed_value = args.seed
    if seed_value is None and not args.quick:
        seed_value = int(time.time())
    print(f"fuzzing every edge, {examples} inputs each"
          + (f", seed {seed_value}" if seed_value is not None else ", derandomized"),
          flush=True)
    figures, runs = run(examples=examples, quick=args.quick, seed_value=seed_value,
                        database_url=args.database_url)
    print()
    print(table(["edge", "inputs", "accepted", "refused", "mentions stored (cards valid)",
                 "duration (s)", "invariants"],
                [[r.name, r.tally.inputs, r.tally.accepted, r.tally.refused,
                  r.tally.mentions, r.seconds, "BROKEN" if r.failure else "held"]
                 for r in runs]))
    print()
    print(summary([figures]))
    for r in runs:
        if r.failure:
            print(f"\n{r.name}:\n{r.failure}")
    return 1 if figures.failures else 0


if __name__ == "__main__":
    sys.exit(main())
