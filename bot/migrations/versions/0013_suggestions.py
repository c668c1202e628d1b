"""mention_embedding, mention_suggestion, suggestion_model: hints from a sentence model

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 18:00:00

Sentiment, category and priority hints learnt from the desk (bot.suggestions).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.store

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'suggestion_model',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('created_at', bot.store.UTCDateTime(), nullable=False),
        sa.Column('embedder', sa.String(length=80), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('weights', sa.LargeBinary(), nullable=False),
        sa.Column('figures', sa.Text(), nullable=False),
        sa.Column('outcome', sa.String(length=256), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_table(
        'mention_embedding',
        sa.Column('mention_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('model', sa.String(length=80), nullable=False),
        sa.Column('vector', sa.LargeBinary(), nullable=False),
        sa.Column('created_at', bot.store.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['mention_id'], ['mention.id']),
        sa.PrimaryKeyConstraint('mention_id'),
    )
    op.create_table(
        'mention_suggestion',
        sa.Column('mention_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('model_id', sa.Integer(), nullable=False),
        sa.Column('sentiment', sa.String(length=16), nullable=False),
        sa.Column('sentiment_confidence', sa.Float(), nullable=False),
        sa.Column('category', sa.String(length=16), nullable=False),
        sa.Column('category_confidence', sa.Float(), nullable=False),
        sa.Column('priority', sa.String(length=16), nullable=False),
        sa.Column('priority_confidence', sa.Float(), nullable=False),
        sa.Column('created_at', bot.store.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['mention_id'], ['mention.id']),
        sa.ForeignKeyConstraint(['model_id'], ['suggestion_model.id']),
        sa.PrimaryKeyConstraint('mention_id'),
    )
    op.create_index('ix_mention_suggestion_created', 'mention_suggestion', ['created_at'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_mention_suggestion_created', table_name='mention_suggestion')
    op.drop_table('mention_suggestion')
    op.drop_table('mention_embedding')
    op.drop_table('suggestion_model')
