"""replica + claimed_by: claims owned by a process whose heartbeat says it is alive

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 00:30:00

A send in flight (a post's delivery, a reply, a card, an outbox message, a post's
notice) records which process claimed it, and a post's delivery whether its platform
may have been called yet (`calling_at`); `replica` holds each process's heartbeat, so a
claim of a killed replica is taken back within seconds instead of at the end of its
lease (bot.replicas). Branch `leases`: renumber on merge if another 0017 lands first.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.store

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

OWNED = (('post_delivery', 'claimed_by'), ('reply', 'claimed_by'),
         ('post_notice', 'claimed_by'), ('outbox', 'claimed_by'),
         ('mention', 'relay_claimed_by'))


def upgrade() -> None:
    op.create_table(
        'replica',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('started_at', bot.store.UTCDateTime(), nullable=False),
        sa.Column('heartbeat_at', bot.store.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    for table, column in OWNED:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column(column, sa.String(length=64), nullable=True))
    with op.batch_alter_table('post_delivery') as batch:
        batch.add_column(sa.Column('calling_at', bot.store.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('post_delivery') as batch:
        batch.drop_column('calling_at')
    for table, column in reversed(OWNED):
        with op.batch_alter_table(table) as batch:
            batch.drop_column(column)
    op.drop_table('replica')
