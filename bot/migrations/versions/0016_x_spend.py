"""x_spend: what Vigie spent on X, per UTC day, account and purpose

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 19:00:00

X bills per call: the month's spend must survive restarts and be the same for every
replica, so the budget of `[x]` is kept (bot.platforms.x.spend).
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'x_spend',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('account', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('purpose', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('calls', sa.Integer(), nullable=False),
        sa.Column('resources', sa.Integer(), nullable=False),
        sa.Column('micros', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('day', 'account', 'purpose',
                            name='uq_x_spend_day_account_purpose'),
    )
    with op.batch_alter_table('x_spend') as batch:
        batch.create_index(batch.f('ix_x_spend_day'), ['day'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('x_spend') as batch:
        batch.drop_index(batch.f('ix_x_spend_day'))
    op.drop_table('x_spend')
