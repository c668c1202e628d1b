"""mention.remote_state/remote_state_at: a mention edited, removed or hidden on its platform

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 19:00:00

Facebook and Instagram say by webhook when a comment is edited, removed or hidden; the
card says so (bot.mentions.service.Intake.amend). 0013 is another branch's: renumber on
merge.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.store

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('mention') as batch:
        batch.add_column(sa.Column('remote_state', sa.String(length=16), nullable=True))
        batch.add_column(sa.Column('remote_state_at', bot.store.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('mention') as batch:
        batch.drop_column('remote_state_at')
        batch.drop_column('remote_state')
