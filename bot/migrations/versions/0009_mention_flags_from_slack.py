"""mention flags from slack

Revision ID: 0009
Revises: 0002
Create Date: 2026-11-22 12:45:01.348571
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import bot.store


revision = '0009'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One row per flag raised from Slack; a new table, so no defaults are needed.
    op.create_table('mention_flag',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('way', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('flagger_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('origin_channel', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('origin_ts', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('origin_thread_ts', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('permalink', sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=True),
    sa.Column('url', sqlmodel.sql.sqltypes.AutoString(length=2048), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('account_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('external_id', sqlmodel.sql.sqltypes.AutoString(length=256), nullable=False),
    sa.Column('mention_id', sa.Integer(), nullable=True),
    sa.Column('fetched_from', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('fetch_error', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True),
    sa.Column('ack_channel', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('ack_thread_ts', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('ack_attempts', sa.Integer(), nullable=False),
    sa.Column('outcome_status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('outcome_by', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('reported_status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('report_attempts', sa.Integer(), nullable=False),
    sa.Column('claimed_at', bot.store.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', bot.store.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', bot.store.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['mention_id'], ['mention.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    with op.batch_alter_table('mention_flag', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mention_flag_external_id'), ['external_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_mention_flag_mention_id'), ['mention_id'], unique=False)
        batch_op.create_index('ix_mention_flag_state_claim', ['state', 'claimed_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('mention_flag', schema=None) as batch_op:
        batch_op.drop_index('ix_mention_flag_state_claim')
        batch_op.drop_index(batch_op.f('ix_mention_flag_mention_id'))
        batch_op.drop_index(batch_op.f('ix_mention_flag_external_id'))

    op.drop_table('mention_flag')
