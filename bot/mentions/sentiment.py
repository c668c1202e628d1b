"""A sentiment *suggestion* for French and English mentions, shown on the card and never
applied by itself: staff confirm or correct it.

Why this and not a model: no maintained French sentiment model installs from PyPI and
runs offline (the transformer ones download their weights at run time, and the French
VADER port scored 48% on our labelled sample). So:
- English uses VADER (`vaderSentiment`, MIT, lexicon bundled in the wheel), the
  standard rule-based analyser for social-media text;
- French uses the same method (valences from -4 to +4, negation, intensifiers, VADER's
  normalisation) over a hand-written lexicon kept in `lexicon/fr.tsv`;
- both share emoji valences and two cues that matter for audience mail: a question with
  no strong feeling is neutral, and a correction request leans negative.
It is transparent (every score can be explained from the lexicon) and measured:
`python -m bot.mentions.sentiment` prints accuracy per label on a JSONL sample.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from bot.text import fold

LEXICON_DIR = Path(__file__).parent / "lexicon"
THRESHOLD = 0.2  # |compound| below this is neutral
QUESTION_NEUTRAL = 0.5  # a question is neutral unless its feeling is at least this strong
NEGATIONS = {
    "fr": {"pas", "jamais", "plus", "rien", "aucun", "aucune", "sans", "ni", "guere"},
    "en": set(),  # VADER handles English negation itself
}
INTENSIFIERS = {"tres", "trop", "vraiment", "tellement", "super", "hyper", "grave", "si"}
EMOJI = {
    "❤": 2.5, "😍": 2.8, "🥰": 2.8, "👏": 2.2, "🙌": 2.0, "😊": 2.0, "🙂": 1.0, "👍": 1.8,
    "🎉": 2.0, "💪": 1.5, "✨": 1.0, "🔥": 0.5, "😂": 0.6, "🤣": 0.6, "🤞": 1.0, "🙏": 0.5,
    "😡": -3.0, "🤬": -3.2, "😤": -2.0, "🙄": -2.2, "👎": -2.5, "😠": -2.5, "😞": -2.0,
    "😢": -1.5, "😭": -1.5, "🤮": -3.0, "💩": -2.5, "😒": -2.0, "🤦": -2.0, "😩": -2.0,
}
# Audience mail that asks for a fix is a complaint, even when it is polite.
CORRECTION_CUES = re.compile(
    r"\b(au lieu de|instead of|toujours pas|still not|encore une fois|once again|"
    r"une correction|rectificatif|please fix|merci de corriger|on attend|we expect)\b"
)
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class Suggestion:
    label: str  # "positive" | "neutral" | "negative"
    score: float  # VADER-style compound, -1 … 1


@dataclass(frozen=True)
class _Lexicon:
    words: dict[str, float]
    prefixes: tuple[tuple[str, float], ...]
    phrases: tuple[tuple[re.Pattern[str], float], ...]

    def valence(self, word: str) -> float | None:
        if word in self.words:
            return self.words[word]
        for prefix, value in self.prefixes:
            if word.startswith(prefix):
                return value
        return None


@cache
def _french() -> _Lexicon:
    words: dict[str, float] = {}
    prefixes: list[tuple[str, float]] = []
    phrases: list[tuple[re.Pattern[str], float]] = []
    for line in (LEXICON_DIR / "fr.tsv").read_text("utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        term, value = line.rsplit("\t", 1)
        term, valence = fold(term.strip()), float(value)
        if " " in term or "'" in term:
            phrases.append((re.compile(rf"\b{re.escape(term)}\b"), valence))
        elif term.endswith("*"):
            prefixes.append((term[:-1], valence))
        else:
            words[term] = valence
    prefixes.sort(key=lambda item: -len(item[0]))
    return _Lexicon(words, tuple(prefixes), tuple(phrases))


@cache
def _vader() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def _normalise(total: float, alpha: float = 15.0) -> float:
    return max(-1.0, min(1.0, total / math.sqrt(total * total + alpha)))


def _french_total(folded: str) -> float:
    lexicon = _french()
    total = 0.0
    for pattern, valence in lexicon.phrases:
        total += valence * len(pattern.findall(folded))
    words = _WORD.findall(folded)
    for index, word in enumerate(words):
        found = lexicon.valence(word)
        if found is None:
            continue
        valence = found
        before = words[max(0, index - 3):index]
        if any(w in INTENSIFIERS for w in before[-1:]):
            valence *= 1.3
        after = words[index + 1:index + 3]
        negated = any(w in NEGATIONS["fr"] for w in before) or (
            any(w in ("n", "ne") for w in before[-2:]) and any(w == "pas" for w in after)
        ) or (after[:1] == ["pas"])
        if negated:
            valence *= -0.74
        total += valence
    return total


def guess_language(text: str) -> str:
    """'fr' or 'en' from frequent short words, for mentions whose source gives none."""
    words = _WORD.findall(fold(text))
    french = sum(w in {"le", "la", "les", "de", "des", "et", "est", "vous", "pas", "un",
                       "une", "que", "pour", "sur", "je", "c", "j", "qui"} for w in words)
    english = sum(w in {"the", "and", "is", "you", "to", "of", "a", "it", "for", "on",
                        "this", "that", "i", "my", "your", "not"} for w in words)
    return "en" if english > french else "fr"


def suggest(text: str, lang: str | None) -> Suggestion:
    language = lang if lang in ("fr", "en") else guess_language(text)
    folded = fold(text)
    emoji = sum(value * text.count(symbol) for symbol, value in EMOJI.items())
    cues = -1.5 if CORRECTION_CUES.search(folded) else 0.0
    if language == "en":
        total = _vader().polarity_scores(text)["compound"]
        compound = _normalise(_denormalise(total) + cues)
    else:
        compound = _normalise(_french_total(folded) + emoji + cues)
    if "?" in text and "??" not in text and abs(compound) < QUESTION_NEUTRAL:
        return Suggestion("neutral", round(compound, 3))
    if compound >= THRESHOLD:
        return Suggestion("positive", round(compound, 3))
    if compound <= -THRESHOLD:
        return Suggestion("negative", round(compound, 3))
    return Suggestion("neutral", round(compound, 3))


def _denormalise(compound: float, alpha: float = 15.0) -> float:
    """VADER's total before normalisation, so cues add on the same scale."""
    compound = max(-0.9999, min(0.9999, compound))
    return compound * math.sqrt(alpha / (1 - compound * compound))


def evaluate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Accuracy overall, per language, and recall/precision per label."""
    confusion: Counter[tuple[str, str]] = Counter()
    by_lang: Counter[tuple[str, bool]] = Counter()
    for row in rows:
        gold = row["labels"]["sentiment"]
        guess = suggest(row["text"], row.get("lang")).label
        confusion[(gold, guess)] += 1
        by_lang[(row.get("lang") or "?", gold == guess)] += 1
    total = sum(confusion.values())
    right = sum(n for (gold, guess), n in confusion.items() if gold == guess)
    labels: dict[str, dict[str, float]] = {}
    for label in ("positive", "neutral", "negative"):
        gold = sum(n for (g, _), n in confusion.items() if g == label)
        said = sum(n for (_, s), n in confusion.items() if s == label)
        hit = confusion[(label, label)]
        labels[label] = {"support": gold, "recall": hit / gold if gold else 0.0,
                         "precision": hit / said if said else 0.0}
    languages = {lang: by_lang[(lang, True)] / (by_lang[(lang, True)] + by_lang[(lang, False)])
                 for lang in sorted({lang for lang, _ in by_lang})}
    return {"n": total, "accuracy": right / total if total else 0.0, "labels": labels,
            "languages": languages}


def main(argv: list[str]) -> None:
    """python -m bot.mentions.sentiment mentions.jsonl [--split even|odd]"""
    path = Path(argv[0])
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    if "--split" in argv:
        parity = 0 if argv[argv.index("--split") + 1] == "even" else 1
        rows = [r for i, r in enumerate(rows) if i % 2 == parity]
    report = evaluate(rows)
    print(f"{report['n']} mentions, accuracy {report['accuracy']:.1%} "
          + " ".join(f"{k}={v:.1%}" for k, v in report["languages"].items()))
    for label, figures in report["labels"].items():
        print(f"  {label:9} support {figures['support']:3}  recall {figures['recall']:.1%}  "
              f"precision {figures['precision']:.1%}")


if __name__ == "__main__":
    main(sys.argv[1:])
