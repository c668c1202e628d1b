"""The sentiment suggestion: measured on the labelled sample, explainable by examples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.mentions.sentiment import evaluate, guess_language, suggest

SAMPLE = Path(__file__).parents[1] / "fixtures" / "mentions_labelled.jsonl"  # shared/data copy


@pytest.mark.parametrize(("text", "lang", "label"), [
    ("Bravo pour l'émission de ce matin, magnifique 👏", "fr", "positive"),
    ("C'est nul, vraiment honteux de couper l'invité", "fr", "negative"),
    ("Ce n'est pas génial du tout", "fr", "negative"),
    ("À quelle heure passe la revue de presse ?", "fr", "neutral"),
    ("Loved the interview this morning, great job!", "en", "positive"),
    ("Terrible sound on the live stream again, awful", "en", "negative"),
    ("Where can I find the podcast feed?", "en", "neutral"),
    ("Vous avez donné 24-17 au lieu de 27-17, une correction s'impose", "fr", "negative"),
])
def test_suggestions_on_clear_cases(text: str, lang: str, label: str) -> None:
    """Praise, insults, negation, plain questions and correction requests land right."""
    assert suggest(text, lang).label == label


def test_language_is_guessed_when_the_source_gives_none() -> None:
    """French and English are told apart by their frequent short words."""
    assert guess_language("Je ne suis pas d'accord avec vous") == "fr"
    assert guess_language("I do not agree with you on this") == "en"
    assert suggest("I love this show, it is wonderful", None).label == "positive"


def test_accuracy_on_the_labelled_sample_stays_at_its_measured_level() -> None:
    """Guard against regressions: 67% overall on the 240 labelled mentions (63% on the
    half not used to write the lexicon); each label's recall above 50%."""
    rows = [json.loads(line) for line in SAMPLE.read_text("utf-8").splitlines() if line]
    report = evaluate(rows)
    assert report["accuracy"] >= 0.65
    held_out = evaluate([r for i, r in enumerate(rows) if i % 2 == 1])
    assert held_out["accuracy"] >= 0.6
    assert all(figures["recall"] >= 0.5 for figures in report["labels"].values())
