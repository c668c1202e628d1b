"""post_delivery.creatable_until, reply.checks/next_check_at/creatable_until: looking again
for a post or reply whose outcome is unknown

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-24 10:00:00

A lost answer was looked up once and then left to a person, even when the platform
created the post later or certainly never did (bot.connectors.doubt).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.store

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('post_delivery') as batch:
        batch.add_column(sa.Column('creatable_until', bot.store.UTCDateTime(), nullable=True))
    with op.batch_alter_table('reply') as batch:
        batch.add_column(sa.Column('checks', sa.Integer(), nullable=False,
                                   server_default='0'))
        batch.add_column(sa.Column('next_check_at', bot.store.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column('creatable_until', bot.store.UTCDateTime(), nullable=True))
        batch.create_index('ix_reply_next_check', ['state', 'next_check_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('reply') as batch:
        batch.drop_index('ix_reply_next_check')
        batch.drop_column('creatable_until')
        batch.drop_column('next_check_at')
        batch.drop_column('checks')
    with op.batch_alter_table('post_delivery') as batch:
        batch.drop_column('creatable_until')
