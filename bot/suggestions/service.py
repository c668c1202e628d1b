"""Suggestions off the intake path: a background worker embeds new mentions in batches,
stores each vector once, asks the active model for its hints, stores them, and has the
card redrawn. Intake only wakes it (`wake`), so the webhook's answer and the intake
throughput do not change (`bench/suggestions.py`).

The card is posted without waiting: it shows the hints once they are stored. If the
card was being posted while the hints were stored, the relay's `after_relay` redraws it.

numpy, the model and the classifiers are imported when first needed, never at start-up.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.clock import Clock
from bot.config import Suggestions as SuggestionRules
from bot.mentions.models import Mention
from bot.suggestions.embedder import Embedder
from bot.suggestions.models import MentionEmbedding, MentionSuggestion
from bot.suggestions.models import SuggestionModel as ModelRow

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from bot.suggestions.model import Hints, SuggestionModel
    from bot.suggestions.training import Trained

log = logging.getLogger(__name__)

BATCH = 16
MAX_BACKOFF = 300.0
CHUNK = 64  # mentions embedded (and stored) at a time when training needs many
RECENT = timedelta(days=2)  # older mentions get hints only when someone trains or asks
TRAIN_JOB = "suggestions.train"


class Suggestions:
    def __init__(self, *, engine: Engine, clock: Clock, rules: SuggestionRules,
                 embedder: Embedder | None) -> None:
        self.engine = self._engine = engine
        self._clock = clock
        self.rules = rules
        self.embedder = embedder
        self._model: tuple[int, SuggestionModel] | None = None
        self._model_lock = threading.Lock()
        # Set by the app: redraw a mention's card (`Qualifier.refresh_card`).
        self.on_hints: Callable[[int], None] = lambda mention_id: None
        # Set by the app: the newsroom rule that marks a mention urgent from its hint.
        self.apply_urgent: Callable[[int], None] = lambda mention_id: None

    @property
    def enabled(self) -> bool:
        return self.embedder is not None and self.rules.enabled

    # -- the card -----------------------------------------------------------------------------
    def card_hints(self, mention_id: int) -> dict[str, tuple[str, float]]:
        """What the card shows: field → (hint, confidence); empty until the worker ran."""
        with Session(self._engine) as session:
            row = session.get(MentionSuggestion, mention_id)
        if row is None:
            return {}
        return {"sentiment": (row.sentiment, row.sentiment_confidence),
                "category": (row.category, row.category_confidence),
                "priority": (row.priority, row.priority_confidence)}

    def after_relay(self, mention_id: int) -> None:
        """The card was just posted: redraw it if its hints arrived while it was being
        drawn (stored after the relay claimed it)."""
        with Session(self._engine) as session:
            row = session.get(MentionSuggestion, mention_id)
            mention = session.get(Mention, mention_id)
        if row is None or mention is None:
            return
        claimed = mention.relay_claimed_at or mention.relayed_at
        if claimed is None or row.created_at >= claimed:
            self.on_hints(mention_id)

    # -- the worker's round ---------------------------------------------------------------------
    def run_due(self, batch: int = BATCH) -> int:
        """Hints for up to `batch` recent mentions that have none; how many got some."""
        if not self.enabled:
            return 0
        since = self._clock.now() - RECENT
        with Session(self._engine) as session:
            pending = list(session.exec(
                select(Mention.id, Mention.text)
                .outerjoin(MentionSuggestion,
                           col(MentionSuggestion.mention_id) == col(Mention.id))
                .where(col(MentionSuggestion.mention_id).is_(None))
                .where(col(Mention.received_at) >= since)
                .order_by(col(Mention.id).desc()).limit(batch)).all())
        if not pending:
            return 0
        ids = [int(mention_id) for mention_id, _ in pending if mention_id is not None]
        vectors = self.vectors(ids, {int(i): t for i, t in pending if i is not None})
        stored = self.store_hints(ids, vectors)
        for mention_id in stored:
            self._after_hints(mention_id)
        return len(pending)

    def _after_hints(self, mention_id: int) -> None:
        try:
            if self.rules.apply_urgent_from is not None:
                self.apply_urgent(mention_id)
            self.on_hints(mention_id)
        except Exception:
            log.exception("could not show the hints of mention %s", mention_id)

    # -- embeddings ---------------------------------------------------------------------------
    def vectors(self, mention_ids: Sequence[int], texts: dict[int, str] | None = None
                ) -> npt.NDArray[np.float32]:
        """The mentions' vectors, in order: stored ones read, missing ones computed (in one
        batch) and stored. Needs the embedder for the missing ones."""
        import numpy as np

        embedder = self._require_embedder()
        found = self._stored_vectors(mention_ids, embedder.name)
        missing = [i for i in mention_ids if i not in found]
        if missing:
            if texts is None or any(i not in texts for i in missing):
                texts = {}
                with Session(self._engine) as session:
                    for start in range(0, len(missing), 500):
                        texts.update({int(i or 0): text for i, text in session.exec(
                            select(Mention.id, Mention.text)
                            .where(col(Mention.id).in_(missing[start:start + 500])))})
            for start in range(0, len(missing), CHUNK):  # training may need thousands
                ids = missing[start:start + CHUNK]
                computed = embedder.embed([texts[i] for i in ids])
                self._store_vectors(dict(zip(ids, computed, strict=True)), embedder.name)
                found.update(zip(ids, computed, strict=True))
        if not mention_ids:
            return np.zeros((0, embedder.dimensions), dtype=np.float32)
        return np.stack([found[i] for i in mention_ids]).astype(np.float32)

    def _require_embedder(self) -> Embedder:
        if self.embedder is None:
            raise RuntimeError("the suggestion model is not installed: "
                               "pip install 'vigie[suggestions]'")
        return self.embedder

    def _stored_vectors(self, mention_ids: Sequence[int], model: str
                        ) -> dict[int, npt.NDArray[np.float32]]:
        import numpy as np

        found: dict[int, npt.NDArray[np.float32]] = {}
        with Session(self._engine) as session:
            for start in range(0, len(mention_ids), 500):
                rows = session.exec(select(MentionEmbedding).where(
                    col(MentionEmbedding.mention_id).in_(mention_ids[start:start + 500]))
                    .where(col(MentionEmbedding.model) == model)).all()
                for row in rows:
                    found[row.mention_id] = np.frombuffer(row.vector, dtype=np.float32)
        return found

    def _store_vectors(self, vectors: dict[int, npt.NDArray[np.float32]], model: str) -> None:
        """Once per mention: a vector another process stored meanwhile wins; one made by
        another embedder is replaced. One transaction for the batch; row by row only
        when another process got in first."""
        import numpy as np

        now = self._clock.now()
        blobs = {i: np.asarray(v, dtype=np.float32).tobytes() for i, v in vectors.items()}
        for batch in ([list(blobs)], [[i] for i in blobs]):
            try:
                for ids in batch:
                    self._write_vectors({i: blobs[i] for i in ids}, model, now)
                return
            except IntegrityError:
                continue

    def _write_vectors(self, blobs: dict[int, bytes], model: str, now: datetime) -> None:
        with Session(self._engine) as session:
            existing = {row.mention_id: row for row in session.exec(
                select(MentionEmbedding).where(col(MentionEmbedding.mention_id).in_(blobs)))}
            for mention_id, blob in blobs.items():
                row = existing.get(mention_id)
                if row is not None and row.model == model:
                    continue
                if row is None:
                    row = MentionEmbedding(mention_id=mention_id, model=model, vector=blob,
                                           created_at=now)
                else:
                    row.model, row.vector, row.created_at = model, blob, now
                session.add(row)
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                if len(blobs) > 1:
                    raise  # the caller goes row by row

    # -- hints --------------------------------------------------------------------------------
    def store_hints(self, mention_ids: Sequence[int], vectors: npt.NDArray[np.float32]
                    ) -> list[int]:
        """Store the active model's hints; the ids this call stored (not another
        process)."""
        model_id, model = self.active_model()
        now = self._clock.now()
        pairs = list(zip(mention_ids, model.hints(vectors), strict=True))
        with Session(self._engine) as session:  # the whole batch at once, usually
            session.add_all([_suggestion_row(i, model_id, hints, now) for i, hints in pairs])
            try:
                session.commit()
                return list(mention_ids)
            except IntegrityError:
                session.rollback()
        stored: list[int] = []
        for mention_id, hints in pairs:  # another process stored some: shown once, kept
            with Session(self._engine) as session:
                session.add(_suggestion_row(mention_id, model_id, hints, now))
                try:
                    session.commit()
                    stored.append(mention_id)
                except IntegrityError:
                    session.rollback()
        return stored

    def hints(self, vectors: npt.NDArray[np.float32]) -> list[Hints]:
        return self.active_model()[1].hints(vectors)

    def active_model(self) -> tuple[int, SuggestionModel]:
        """The model the cards use, loaded once per version; the first is trained from
        the shipped sample (a second or two) when none exists yet."""
        from bot.suggestions.model import SuggestionModel

        with Session(self._engine) as session:
            active = session.exec(select(ModelRow.id).where(col(ModelRow.active).is_(True))
                                  .order_by(col(ModelRow.id))).first()
        if active is None:
            from bot.suggestions.training import first_model

            active = first_model(self._engine, self._clock)
        with self._model_lock:
            if self._model is None or self._model[0] != active:
                with Session(self._engine) as session:
                    row = session.get(ModelRow, active)
                    assert row is not None
                    self._model = (active, SuggestionModel.from_bytes(row.weights))
            return self._model

    # -- training and measuring ------------------------------------------------------------------
    def train(self) -> Trained:
        """`vigie suggestions train` and the weekly job (see `bot.suggestions.training`)."""
        from bot.suggestions import training

        self._require_embedder()
        with Session(self._engine) as session:
            active = session.exec(select(ModelRow.id).where(col(ModelRow.active).is_(True))
                                  ).first()
        current = self.active_model()[1] if active is not None else None
        return training.train(self._engine, self._clock, self.vectors, current)

    def held_out_figures(self) -> tuple[int, dict[str, Any], str]:
        """The model in use: its id, the figures stored when it was trained, its outcome."""
        model_id, _ = self.active_model()
        with Session(self._engine) as session:
            row = session.get(ModelRow, model_id)
            assert row is not None
            return model_id, figures_of(row), row.outcome

    def measure_file(self, path: Path) -> tuple[int, dict[str, Any], int]:
        """The model in use on a labelled JSONL file: (model id, figures, how many of the
        file's mentions were left out because the model trained on them)."""
        from bot.suggestions import training
        from bot.suggestions.model import evaluate
        from bot.suggestions.sample import read_jsonl

        rows = read_jsonl(path)
        model_id, model = self.active_model()
        seen_texts = {" ".join(r.text.split()) for r in training.training_rows(self._engine)}
        unseen = [r for r in rows if " ".join(r.text.split()) not in seen_texts]
        embedder = self._require_embedder()
        vectors = embedder.embed([r.text for r in unseen])
        return model_id, evaluate(model, unseen, vectors), len(rows) - len(unseen)

    def model_rows(self) -> list[ModelRow]:
        with Session(self._engine) as session:
            return list(session.exec(select(ModelRow).order_by(col(ModelRow.id))))

    def activate(self, model_id: int) -> None:
        """Make `model_id` the one the cards use (and no other)."""
        with Session(self._engine) as session:
            session.execute(update(ModelRow).where(col(ModelRow.id) != model_id)
                            .values(active=False))
            session.execute(update(ModelRow).where(col(ModelRow.id) == model_id)
                            .values(active=True))
            session.commit()


def _suggestion_row(mention_id: int, model_id: int, hints: Hints, now: datetime
                    ) -> MentionSuggestion:
    return MentionSuggestion(
        mention_id=mention_id, model_id=model_id, created_at=now,
        sentiment=hints.sentiment.label, sentiment_confidence=hints.sentiment.confidence,
        category=hints.category.label, category_confidence=hints.category.confidence,
        priority=hints.priority.label, priority_confidence=hints.priority.confidence)


def figures_of(row: ModelRow) -> dict[str, Any]:
    figures: dict[str, Any] = json.loads(row.figures)
    return figures


class SuggestionWorker:
    """The background thread: woken by intake, otherwise looking every `idle` seconds
    (mentions stored by other replicas, or left over by a restart)."""

    def __init__(self, suggestions: Suggestions, *, idle: float = 5.0) -> None:
        self._suggestions = suggestions
        self._idle = idle
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if not self._suggestions.enabled:
            return
        self._thread = threading.Thread(target=self._loop, name="vigie-suggest", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout)

    def wake(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        _lower_priority()
        failures = 0
        while not self._stop.is_set():
            self._wake.clear()
            try:
                if self._suggestions.run_due():
                    failures = 0
                    continue
                failures = 0
            except (ImportError, OSError):
                # The model is missing or broken (an upgrade half done?): say it once,
                # keep the rule-based hint; a restart tries again.
                log.exception("the sentence model cannot be loaded: no more hints until "
                              "Vigie restarts (pip install 'vigie[suggestions]')")
                return
            except Exception:
                failures += 1
                log.exception("suggestion round failed (%s in a row); retrying", failures)
            # Failing again and again (a database outage): wait longer each time, at most
            # five minutes, so the log is not flooded.
            self._wake.wait(min(self._idle * 2 ** min(failures, 10), MAX_BACKOFF)
                            if failures else self._idle)


NICENESS = 10


def _lower_priority() -> None:
    """On Linux a thread is a task with its own niceness: this one (and the model's
    work, done on it) yields the CPU to intake, the relay and Slack's requests when the
    cores are busy, and takes whatever is left otherwise (bench/suggestions.py)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICENESS)
    except (AttributeError, OSError):  # not Linux, or not allowed: same priority then
        log.debug("could not lower the suggestion worker's priority", exc_info=True)
