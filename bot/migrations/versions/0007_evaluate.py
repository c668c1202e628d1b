"""evaluate: weekly report runs, Home pages, trends, and the indexes reports need

- ix_mention_report (received_at, sentiment, category, source_id, account_id,
  first_response_at, answered_by): the report's range scans read the index only;
- ix_mention_open_queue (status, channel_id, assignee_id, received_at, id): open mentions
  per channel read from the index alone (id: PostgreSQL's join needs it in the index);
- ix_mention_assignee_open (assignee_id, status, received_at): one person's queue;
- ix_mention_account_received: per-account reports and trend baselines.
See bench/report.py for the figures with and without them.

Revision ID: 0007
Revises: 0008
Create Date: 2026-11-22 13:54:42.221435
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import bot.store


revision = '0007'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('home_state',
    sa.Column('user_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('page', sa.Integer(), nullable=False),
    sa.Column('updated_at', bot.store.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('user_id')
    )
    op.create_table('report_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('started_at', bot.store.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', bot.store.UTCDateTime(timezone=True), nullable=True),
    sa.Column('summary_ts', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('summary_uncertain', sa.Boolean(), nullable=False),
    sa.Column('charts_done', sa.Boolean(), nullable=False),
    sa.Column('charts_uncertain', sa.Boolean(), nullable=False),
    sa.Column('error', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    op.create_table('trend',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('account_key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('hour', bot.store.UTCDateTime(timezone=True), nullable=False),
    sa.Column('window_start', bot.store.UTCDateTime(timezone=True), nullable=False),
    sa.Column('window_end', bot.store.UTCDateTime(timezone=True), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('usual', sa.Float(), nullable=False),
    sa.Column('weeks', sa.Integer(), nullable=False),
    sa.Column('negative_share', sa.Float(), nullable=False),
    sa.Column('top_terms', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
    sa.Column('samples', sqlmodel.sql.sqltypes.AutoString(length=256), nullable=False),
    sa.Column('channel_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('detected_at', bot.store.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('account_key', 'hour', name='uq_trend_account_hour')
    )
    with op.batch_alter_table('trend', schema=None) as batch_op:
        batch_op.create_index('ix_trend_account_detected', ['account_key', 'detected_at'], unique=False)

    with op.batch_alter_table('mention', schema=None) as batch_op:
        batch_op.create_index('ix_mention_account_received', ['account_id', 'received_at'], unique=False)
        batch_op.create_index('ix_mention_assignee_open', ['assignee_id', 'status', 'received_at'], unique=False)
        batch_op.create_index('ix_mention_open_queue', ['status', 'channel_id', 'assignee_id', 'received_at', 'id'], unique=False)
        batch_op.create_index('ix_mention_report', ['received_at', 'sentiment', 'category', 'source_id', 'account_id', 'first_response_at', 'answered_by'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('mention', schema=None) as batch_op:
        batch_op.drop_index('ix_mention_report')
        batch_op.drop_index('ix_mention_open_queue')
        batch_op.drop_index('ix_mention_assignee_open')
        batch_op.drop_index('ix_mention_account_received')

    with op.batch_alter_table('trend', schema=None) as batch_op:
        batch_op.drop_index('ix_trend_account_detected')

    op.drop_table('trend')
    op.drop_table('report_run')
    op.drop_table('home_state')
