""""Answer like last time": the reply template staff used for the already-answered
mentions most like this one, from the stored embeddings (no model run: the worker
embedded both when they arrived).

The five nearest answered mentions (cosine similarity) each vote for the template of
their latest answer. e5's similarities sit close together (0.75–0.95 for any two
mentions of a show), so a vote weighs exp(20 × (similarity − best)): the nearest
mention leads, and a template used for several almost-as-near ones can overtake it.
The winner goes first in the Reply form's menu. A mention without a vector yet, or a
desk that never answered with a template, gets no suggestion: the menu stays as it was.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.replies.models import Reply, ReplyState
from bot.suggestions.models import MentionEmbedding

NEIGHBOURS = 5
SHARPNESS = 20.0
WINDOW = 5000  # the most recent answers looked at
ANSWERED = (ReplyState.SENT, ReplyState.BY_HAND)


def like_last_time(engine: Engine, mention_id: int, *, model: str,
                   neighbours: int = NEIGHBOURS) -> list[str]:
    """Template keys ("fr/thanks"), best first; empty when there is nothing to go on."""
    import numpy as np

    with Session(engine) as session:
        own = session.get(MentionEmbedding, mention_id)
        if own is None or own.model != model:
            return []
        rows = session.exec(
            select(Reply.mention_id, Reply.template, MentionEmbedding.vector)
            .join(MentionEmbedding, col(MentionEmbedding.mention_id) == col(Reply.mention_id))
            .where(col(Reply.template).is_not(None))
            .where(col(Reply.state).in_(ANSWERED))
            .where(col(Reply.mention_id) != mention_id)
            .where(col(MentionEmbedding.model) == model)
            .order_by(col(Reply.id).desc()).limit(WINDOW)).all()
    latest: dict[int, tuple[str, bytes]] = {}
    for answered, template, vector in rows:  # newest first: keep each mention's last answer
        if template and answered not in latest:
            latest[answered] = (template, vector)
    if not latest:
        return []
    templates = [template for template, _ in latest.values()]
    matrix = np.stack([np.frombuffer(vector, dtype=np.float32) for _, vector in latest.values()])
    similarity = matrix @ np.frombuffer(own.vector, dtype=np.float32)
    votes: dict[str, float] = defaultdict(float)
    nearest = np.argsort(-similarity)[:neighbours]
    best = float(similarity[nearest[0]])
    for index in nearest:
        votes[templates[int(index)]] += float(np.exp(SHARPNESS * (similarity[index] - best)))
    return sorted(votes, key=lambda key: -votes[key])
