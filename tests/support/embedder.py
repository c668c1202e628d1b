"""A stand-in for the sentence model: the shipped sample's texts get their precomputed
vectors (what the real model gives them, `bot/suggestions/data/sample_vectors.npy`), any
other text a fixed pseudo-random unit vector. So tests see the real model's hints on
sample mentions without running it."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from bot.suggestions import sample
from bot.suggestions.embedder import DIMENSIONS


def _key(text: str) -> str:
    return " ".join(text.split())


class SampleEmbedder:
    name = sample.vectors_model()
    dimensions = DIMENSIONS

    def __init__(self) -> None:
        vectors = sample.sample_vectors()
        self._known = {_key(row.text): vectors[i] for i, row in enumerate(sample.sample())}
        self.calls: list[int] = []  # batch sizes, to see the worker batching

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.calls.append(len(texts))
        rows = [self._known.get(_key(text)) for text in texts]
        return np.array([row if row is not None else _random(text) for row, text
                         in zip(rows, texts, strict=True)],
                        dtype=np.float32).reshape(len(texts), DIMENSIONS)


def _random(text: str) -> npt.NDArray[np.float32]:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")
    vector = np.random.default_rng(seed).standard_normal(DIMENSIONS).astype(np.float32)
    result: npt.NDArray[np.float32] = vector / np.linalg.norm(vector)
    return result


def sample_row(mention_id: str) -> sample.Labelled:
    """A sample mention by its id in the file ("m0042")."""
    return next(row for row in sample.sample() if row.key == f"sample:{mention_id}")


def held_out_rows() -> list[sample.Labelled]:
    keys = sample.holdout_keys()
    return [row for row in sample.sample() if row.key in keys]
