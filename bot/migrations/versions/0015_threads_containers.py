"""threads_container: the Threads container of each reply or post, kept before publishing

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 19:00:00

A Threads reply or post is a container, then its publication. Keeping the container's id
before publishing lets a retry after a lost answer publish the same container, which
Meta refuses to publish twice (bot.platforms.threads.containers).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.store

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'threads_container',
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('container_id', sa.String(length=64), nullable=False),
        sa.Column('created_at', bot.store.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('key'),
    )


def downgrade() -> None:
    op.drop_table('threads_container')
