"""The suggestion model: four classifiers on one embedding, trained and measured.

- sentiment (positive, neutral, negative) and category (question, complaint, praise,
  crisis, spam, other): one softmax regression each;
- priority: "urgent" when the urgent classifier (trained on urgent or crisis mentions:
  a threat, a legal matter, a safety issue, a crisis) gives at least `URGENT_FROM`,
  otherwise the likeliest of low, normal, high. The low threshold favours recall: a
  missed crisis costs more than a hint staff wave away.

Every figure is measured on mentions the model did not train on (`evaluate`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from bot.mentions.models import Category, Priority, Sentiment
from bot.suggestions import classifier
from bot.suggestions.classifier import Classifier
from bot.suggestions.sample import Labelled

URGENT_FROM = 0.3  # chosen by cross-validation on the training part of the sample
# Sentiment's own fit settings, chosen by `python -m bot.suggestions.select` (cross-validation
# on the training part only); the other classifiers use classifier.fit's defaults.
FIT_SETTINGS: dict[str, dict[str, Any]] = {"sentiment": {"l2": 100.0, "balanced": False}}
LABELS: dict[str, tuple[str, ...]] = {
    "sentiment": tuple(Sentiment), "category": tuple(Category), "priority": tuple(Priority),
    "urgent": ("urgent", "not_urgent"),
}
TASKS = ("sentiment", "category", "priority")


@dataclass(frozen=True)
class Hint:
    label: str
    confidence: float  # 0 … 1


@dataclass(frozen=True)
class Hints:
    sentiment: Hint
    category: Hint
    priority: Hint

    def get(self, task: str) -> Hint:
        hint: Hint = getattr(self, task)
        return hint


@dataclass
class SuggestionModel:
    classifiers: dict[str, Classifier]
    meta: dict[str, Any] = field(default_factory=dict)

    def hints(self, vectors: npt.NDArray[np.float32]) -> list[Hints]:
        if len(vectors) == 0:
            return []
        found = {task: self.classifiers[task].probabilities(vectors) for task in LABELS}
        result: list[Hints] = []
        for row in range(len(vectors)):
            picked = {task: _best(self.classifiers[task].labels, found[task][row])
                      for task in ("sentiment", "category")}
            urgent = float(found["urgent"][row][self.classifiers["urgent"].labels.index("urgent")])
            if urgent >= URGENT_FROM:
                priority = Hint("urgent", urgent)
            else:
                labels = self.classifiers["priority"].labels
                scores = found["priority"][row].copy()
                scores[labels.index("urgent")] = 0.0
                priority = _best(labels, scores / scores.sum())
            result.append(Hints(picked["sentiment"], picked["category"], priority))
        return result

    def to_bytes(self) -> bytes:
        return classifier.save(self.classifiers, self.meta)

    @staticmethod
    def from_bytes(blob: bytes) -> SuggestionModel:
        classifiers, meta = classifier.load(blob)
        return SuggestionModel(classifiers, meta)


def _best(labels: Sequence[str], probabilities: npt.NDArray[np.float64]) -> Hint:
    index = int(np.argmax(probabilities))
    return Hint(labels[index], round(float(probabilities[index]), 3))


def targets(row: Labelled, task: str) -> str | None:
    """What `row` teaches `task`, or None when its labels say nothing about it."""
    if task != "urgent":
        return row.labels.get(task)
    priority, category = row.labels.get("priority"), row.labels.get("category")
    if priority == "urgent" or category == "crisis":
        return "urgent"
    return "not_urgent" if priority or category else None


def train(rows: Sequence[Labelled], vectors: npt.NDArray[np.float32],
          meta: dict[str, Any] | None = None) -> SuggestionModel:
    """One classifier per task, each on the rows that carry its label."""
    classifiers: dict[str, Classifier] = {}
    counts: dict[str, int] = {}
    for task, labels in LABELS.items():
        picked = [(i, targets(row, task)) for i, row in enumerate(rows)]
        kept = [(i, label) for i, label in picked if label in labels]
        if len({label for _, label in kept}) < 2:
            raise ValueError(f"not enough labelled mentions to learn {task}")
        classifiers[task] = classifier.fit(vectors[[i for i, _ in kept]],
                                           [label for _, label in kept], labels,
                                           **FIT_SETTINGS.get(task, {}))
        counts[task] = len(kept)
    return SuggestionModel(classifiers, {**(meta or {}), "trained_on": counts})


def evaluate(model: SuggestionModel, rows: Sequence[Labelled],
             vectors: npt.NDArray[np.float32]) -> dict[str, Any]:
    """Figures per task (accuracy, macro-F1, per label, per language) on `rows`."""
    hints = model.hints(vectors)
    result: dict[str, Any] = {"n": len(rows)}
    for task in TASKS:
        picked = [i for i, row in enumerate(rows) if row.labels.get(task) in LABELS[task]]
        result[task] = classifier.figures(
            [rows[i].labels[task] for i in picked], [hints[i].get(task).label for i in picked],
            [rows[i].lang for i in picked], LABELS[task])
    return result


def score(figures: dict[str, Any]) -> float:
    """One number to compare two models on the same mentions: the mean of sentiment
    macro-F1, category macro-F1 and urgent recall (the three targets)."""
    return (float(figures["sentiment"]["macro_f1"]) + float(figures["category"]["macro_f1"])
            + urgent_recall(figures)) / 3


def urgent_recall(figures: dict[str, Any]) -> float:
    return float(figures["priority"]["labels"]["urgent"]["recall"])
