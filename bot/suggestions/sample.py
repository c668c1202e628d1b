"""The labelled sample shipped with Vigie, its held-out part, and its embeddings.

`data/sample.jsonl`: 240 French and English mentions of four shows, labelled by a
community manager (the project's shared sample, see README "Suggestions").
`data/holdout.txt`: the ids of the 78 mentions no training, threshold or word list ever
sees (a third of each language × category × sentiment × urgent group, picked by the
SHA-256 of their id); every figure the README gives is measured on them.
`data/sample_vectors.npy`: the sample's embeddings (float16, in file order), so training
needs no model run; `data/sample_vectors.json` says which model made them.

Regenerate the vectors after changing the model or the sample (about 15 s):

    python -m bot.suggestions.sample
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

DATA = Path(__file__).parent / "data"
SAMPLE = DATA / "sample.jsonl"
HOLDOUT = DATA / "holdout.txt"
VECTORS = DATA / "sample_vectors.npy"
VECTORS_INFO = DATA / "sample_vectors.json"
TASKS = ("sentiment", "category", "priority")


@dataclass(frozen=True)
class Labelled:
    """One labelled mention: the shipped sample's lines, a file given to `report`, or a
    mention staff qualified."""

    key: str  # "sample:m0001", "file:…", "mention:42"
    text: str
    lang: str
    labels: dict[str, str]  # task → label, only the tasks known for this mention


def read_jsonl(path: Path, prefix: str = "file") -> list[Labelled]:
    """Mentions in the shared sample's format (`text`, `lang`, `labels {…}`); a line that
    does not fit raises ValueError naming the line."""
    rows: list[Labelled] = []
    for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            labels = {task: str(data["labels"][task]) for task in TASKS
                      if data.get("labels", {}).get(task)}
            text = str(data["text"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"{path}:{number}: not a labelled mention ({exc})") from None
        if not labels:
            raise ValueError(f"{path}:{number}: no sentiment, category or priority label")
        key = str(data.get("id") or number)
        rows.append(Labelled(f"{prefix}:{key}", text, str(data.get("lang") or "?"), labels))
    return rows


@cache
def sample() -> tuple[Labelled, ...]:
    return tuple(read_jsonl(SAMPLE, "sample"))


@cache
def holdout_keys() -> frozenset[str]:
    return frozenset(f"sample:{line.strip()}" for line in HOLDOUT.read_text("utf-8").split()
                     if line.strip())


def sample_vectors() -> npt.NDArray[np.float32]:
    import numpy as np

    vectors: npt.NDArray[np.float32] = np.load(VECTORS).astype(np.float32)
    if len(vectors) != len(sample()):
        raise RuntimeError(f"{VECTORS} has {len(vectors)} rows for {len(sample())} mentions: "
                           "run python -m bot.suggestions.sample")
    return vectors


def vectors_model() -> str:
    return str(json.loads(VECTORS_INFO.read_text("utf-8"))["model"])


def choose_holdout(rows: Iterable[dict[str, Any]]) -> list[str]:
    """How `holdout.txt` was drawn: a third (rounded) of each language × category ×
    sentiment × urgent group, the ids with the smallest SHA-256. Kept to be re-run on
    a new sample, never to re-draw this one."""
    groups: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for row in rows:
        labels = row["labels"]
        groups[(row["lang"], labels["category"], labels["sentiment"],
                str(labels["priority"] == "urgent"))].append(row["id"])
    chosen: list[str] = []
    for ids in groups.values():
        ids.sort(key=lambda i: hashlib.sha256(i.encode()).hexdigest())
        chosen += ids[:math.floor(len(ids) / 3 + 0.5)]
    return sorted(chosen)


def regenerate() -> None:
    """Embed the sample with the installed model and write the vectors beside it."""
    import numpy as np

    from bot.suggestions.embedder import E5Embedder

    embedder = E5Embedder()
    vectors = embedder.embed([row.text for row in sample()])
    np.save(VECTORS, vectors.astype(np.float16))
    VECTORS_INFO.write_text(json.dumps({"model": embedder.name, "rows": len(vectors)}) + "\n",
                            "utf-8")
    print(f"{len(vectors)} vectors written to {VECTORS} ({embedder.name})")


if __name__ == "__main__":
    if sys.argv[1:] == ["--check-holdout"]:
        drawn = choose_holdout(json.loads(line) for line in SAMPLE.read_text("utf-8").splitlines())
        print("holdout.txt matches the drawing" if {f"sample:{i}" for i in drawn} == holdout_keys()
              else "holdout.txt differs from the drawing")
    else:
        regenerate()
