"""post_notice: notes about posts (authors' DMs, approval-thread lines) kept until sent

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-22 17:00:00

They were queued in memory only, so a crash or Slack being down lost them.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import bot.store

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'post_notice',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('post_id', sa.Integer(), nullable=False),
        sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('event', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('params', sa.Text(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('uncertain', sa.Boolean(), nullable=False),
        sa.Column('claimed_at', bot.store.UTCDateTime(), nullable=True),
        sa.Column('next_attempt_at', bot.store.UTCDateTime(), nullable=False),
        sa.Column('created_at', bot.store.UTCDateTime(), nullable=False),
        sa.Column('error', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True),
        sa.ForeignKeyConstraint(['post_id'], ['post.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('post_notice') as batch:
        batch.create_index('ix_post_notice_due', ['state', 'next_attempt_at'], unique=False)
        batch.create_index(batch.f('ix_post_notice_post_id'), ['post_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('post_notice') as batch:
        batch.drop_index(batch.f('ix_post_notice_post_id'))
        batch.drop_index('ix_post_notice_due')
    op.drop_table('post_notice')
