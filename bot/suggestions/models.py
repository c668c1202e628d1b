"""Tables of the suggestions: each mention's embedding (computed once, reused by every
classifier and by "answer like last time"), the hints shown on its card, and every
model trained, with its figures.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlmodel import Field, SQLModel

from bot.store import UTCDateTime


class MentionEmbedding(SQLModel, table=True):
    """One mention's sentence embedding: float32 bytes, unit length."""

    __tablename__ = "mention_embedding"

    mention_id: int = Field(sa_column=Column(Integer, ForeignKey("mention.id"),
                                             primary_key=True, autoincrement=False))
    model: str = Field(max_length=80, description="embedder that made it (bot.suggestions)")
    vector: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(sa_type=UTCDateTime)


class MentionSuggestion(SQLModel, table=True):
    """The hints a model gave for one mention, as the card showed them: kept so the
    weekly report can say how often staff agreed."""

    __tablename__ = "mention_suggestion"
    __table_args__ = (Index("ix_mention_suggestion_created", "created_at"),)

    mention_id: int = Field(sa_column=Column(Integer, ForeignKey("mention.id"),
                                             primary_key=True, autoincrement=False))
    model_id: int = Field(sa_column=Column(Integer, ForeignKey("suggestion_model.id"),
                                           nullable=False))
    sentiment: str = Field(sa_type=String(16))
    sentiment_confidence: float
    category: str = Field(sa_type=String(16))
    category_confidence: float
    priority: str = Field(sa_type=String(16))
    priority_confidence: float
    created_at: datetime = Field(sa_type=UTCDateTime)


class SuggestionModel(SQLModel, table=True):
    """A trained model (weights as a numpy `.npz`, no pickle) and what it measured.
    Exactly one row is `active`: the one the cards use."""

    __tablename__ = "suggestion_model"

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    embedder: str = Field(max_length=80)
    active: bool = False
    weights: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    figures: str = Field(sa_column=Column(Text, nullable=False),
                         description="JSON: held-out figures, training counts")
    outcome: str = Field(max_length=256, description="kept or not, and why")
