"""Training and measuring: the shipped sample plus the desk's own qualifications.

Every time a person sets or corrects a mention's sentiment, category or priority (the
audit log says who), the value it ends with is a label; values set by rules or the SLA
are not. A fifth of the desk's labelled mentions (by a hash of their id) and the sample's
held-out part (`data/holdout.txt`) are never trained on: each new model is measured on
them, beside the active one, and replaces it only if it measures at least as well.
Every model is stored with its figures, kept or not.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.clock import Clock
from bot.mentions.models import Mention
from bot.mentions.qualify_models import AuditEntry
from bot.suggestions import model as suggestion_model
from bot.suggestions import sample
from bot.suggestions.model import LABELS, TASKS, SuggestionModel
from bot.suggestions.models import SuggestionModel as ModelRow
from bot.suggestions.sample import Labelled

DESK_HOLDOUT = 5  # one desk-labelled mention in five is kept for measuring


@dataclass(frozen=True)
class Dataset:
    rows: list[Labelled]
    vectors: npt.NDArray[np.float32]

    def part(self, keep: Sequence[bool]) -> Dataset:
        picked = [i for i, k in enumerate(keep) if k]
        return Dataset([self.rows[i] for i in picked], self.vectors[picked])

    def __add__(self, other: Dataset) -> Dataset:
        if not other.rows:
            return self
        if not self.rows:
            return other
        return Dataset(self.rows + other.rows, np.vstack([self.vectors, other.vectors]))


@dataclass(frozen=True)
class Trained:
    model_id: int
    kept: bool  # the new model is now the active one
    outcome: str
    figures: dict[str, Any]
    previous: dict[str, Any] | None  # the active model's figures on the same mentions


def sample_parts() -> tuple[Dataset, Dataset]:
    """The shipped sample: (training part, held-out part)."""
    everything = Dataset(list(sample.sample()), sample.sample_vectors())
    held = sample.holdout_keys()
    return (everything.part([r.key not in held for r in everything.rows]),
            everything.part([r.key in held for r in everything.rows]))


def desk_held_out(mention_id: int) -> bool:
    digest = hashlib.sha256(f"vigie-holdout:{mention_id}".encode()).digest()
    return digest[0] % DESK_HOLDOUT == 0


def desk_labels(engine: Engine) -> list[Labelled]:
    """Mentions whose sentiment, category or priority was last set by a person."""
    last: dict[tuple[int, str], AuditEntry] = {}
    with Session(engine) as session:
        for entry in session.exec(select(AuditEntry).where(col(AuditEntry.field).in_(TASKS))
                                  .order_by(col(AuditEntry.at), col(AuditEntry.id))):
            last[(entry.mention_id, entry.field)] = entry
        labels: dict[int, dict[str, str]] = {}
        for (mention_id, task), entry in last.items():
            if entry.actor_id and entry.new_value in LABELS[task]:
                labels.setdefault(mention_id, {})[task] = entry.new_value
        mentions: dict[int | None, Mention] = {}
        ids = list(labels)
        for start in range(0, len(ids), 500):
            mentions.update({m.id: m for m in session.exec(
                select(Mention).where(col(Mention.id).in_(ids[start:start + 500])))})
    return [Labelled(f"mention:{mention_id}", mentions[mention_id].text,
                     mentions[mention_id].lang or "?", found)
            for mention_id, found in sorted(labels.items()) if mention_id in mentions]


def training_rows(engine: Engine) -> list[Labelled]:
    """Every mention a model trained now would learn from (for `report FILE`: a line
    seen in training is in-sample)."""
    train, _ = sample_parts()
    desk = [r for r in desk_labels(engine) if not desk_held_out(int(r.key.split(":")[1]))]
    return train.rows + desk


def desk_dataset(engine: Engine, vectors_of: Any) -> tuple[Dataset, Dataset]:
    """The desk's labelled mentions: (training part, held-out part)."""
    rows = desk_labels(engine)
    if not rows:
        empty = Dataset([], np.zeros((0, 384), dtype=np.float32))
        return empty, empty
    ids = [int(row.key.split(":")[1]) for row in rows]
    everything = Dataset(rows, vectors_of(ids))
    held = [desk_held_out(i) for i in ids]
    return everything.part([not h for h in held]), everything.part(held)


def first_model(engine: Engine, clock: Clock) -> int:
    """Train on the shipped sample's training part, store it active; its id. When two
    processes do it at once, the older row wins."""
    model, figures = _sample_model()
    model_id = _store(engine, clock, model, figures, active=True,
                      outcome="first model: the shipped sample")
    with Session(engine) as session:
        oldest = session.exec(select(ModelRow.id).where(col(ModelRow.active).is_(True))
                              .order_by(col(ModelRow.id))).first()
        session.execute(update(ModelRow).where(col(ModelRow.active).is_(True))
                        .where(col(ModelRow.id) != oldest).values(active=False))
        session.commit()
    return int(oldest or model_id)


@cache
def _sample_model() -> tuple[SuggestionModel, dict[str, Any]]:
    """The sample's model and its figures: the fit is deterministic, so once a process."""
    train, held = sample_parts()
    model = suggestion_model.train(train.rows, train.vectors, {"origin": "sample"})
    return model, _figures(model, held, desk=None, train=train)


def train(engine: Engine, clock: Clock, vectors_of: Any, active: SuggestionModel | None
          ) -> Trained:
    """Train on the sample's and the desk's training parts; keep the new model only if
    it measures at least as well as `active` on both held-out parts."""
    sample_train, sample_held = sample_parts()
    desk_train, desk_held = desk_dataset(engine, vectors_of)
    training = sample_train + desk_train
    measured = sample_held + desk_held
    model = suggestion_model.train(training.rows, training.vectors,
                                   {"origin": "sample+desk" if desk_train.rows else "sample"})
    figures = _figures(model, measured, desk=desk_held, train=training)
    previous = None
    kept = True
    outcome = "first model"
    if active is not None:
        previous = suggestion_model.evaluate(active, measured.rows, measured.vectors)
        new_score, old_score = figures["score"], suggestion_model.score(previous)
        kept = new_score >= old_score
        outcome = (f"kept: measures {new_score:.3f} vs {old_score:.3f} for the previous one"
                   if kept else f"not used: measures {new_score:.3f}, the model in use "
                   f"{old_score:.3f}")
        figures["previous_score"] = old_score
    model_id = _store(engine, clock, model, figures, active=False, outcome=outcome)
    if kept:
        with Session(engine) as session:
            session.execute(update(ModelRow).where(col(ModelRow.id) != model_id)
                            .values(active=False))
            session.execute(update(ModelRow).where(col(ModelRow.id) == model_id)
                            .values(active=True))
            session.commit()
    return Trained(model_id, kept, outcome, figures, previous)


def _figures(model: SuggestionModel, measured: Dataset, *, desk: Dataset | None,
             train: Dataset) -> dict[str, Any]:
    held = suggestion_model.evaluate(model, measured.rows, measured.vectors)
    result: dict[str, Any] = {
        "held_out": held, "score": suggestion_model.score(held),
        "trained_on": {"sample": sum(r.key.startswith("sample:") for r in train.rows),
                       "desk": sum(r.key.startswith("mention:") for r in train.rows)},
        "measured_on": {"sample": sum(r.key.startswith("sample:") for r in measured.rows),
                        "desk": sum(r.key.startswith("mention:") for r in measured.rows)},
    }
    if desk is not None and desk.rows:
        result["desk_held_out"] = suggestion_model.evaluate(model, desk.rows, desk.vectors)
    return result


def _store(engine: Engine, clock: Clock, model: SuggestionModel, figures: dict[str, Any], *,
           active: bool, outcome: str) -> int:
    row = ModelRow(created_at=clock.now(), embedder=sample.vectors_model(), active=active,
                   weights=model.to_bytes(), figures=json.dumps(figures), outcome=outcome[:256])
    with Session(engine) as session:
        session.add(row)
        session.commit()
        session.refresh(row)
        assert row.id is not None
        return row.id
