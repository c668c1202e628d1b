"""moderate: abusive mentions, watchlist, actions, log, desks, saved, draws

Revision ID: 0008
Revises: 0004
Create Date: 2026-11-22 13:32:10.654229
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import bot.store


revision = '0008'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Abusive mentions and the watchlist, moderation actions and log, delegations to
    # desks, saved mentions, contest draws.
    op.create_table('contest_draw',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', bot.store.UTCDateTime(timezone=True), nullable=False),
    sa.Column('by', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('channel_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('query', sqlmodel.sql.sqltypes.AutoString(length=256), nullable=False),
    sa.Column('since', bot.store.UTCDateTime(timezone=True), nullable=False),
    sa.Column('until', bot.store.UTCDateTime(timezone=True), nullable=False),
    sa.Column('wanted', sa.Integer(), nullable=False),
    sa.Column('participants', sa.Text(), nullable=False),
    sa.Column('excluded', sa.Text(), nullable=False),
    sa.Column('seed', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('method', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('winners', sa.Text(), nullable=False),
    sa.Column('message_ts', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('offender',
    sa.Column('author_key', sqlmodel.sql.sqltypes.AutoString(length=256), nullable=False),
    sa.Column('handle', sqlmodel.sql.sqltypes.AutoString(length=256), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=256), nullable=True),
    sa.Column('platform', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('abusive_count', sa.Integer(), nullable=False, server_default='0'),
    sa.Column('last_abusive_at', bot.store.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_mention_id', sa.Integer(), nullable=True),
    sa.Column('counted_from', bot.store.UTCDateTime(timezone=True), nullable=True),
    sa.Column('watch_since', bot.store.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('author_key')
    )
    with op.batch_alter_table('offender', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_offender_watch_since'), ['watch_since'], unique=False)

    op.create_table('delegation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('mention_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('desk_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('desk_channel', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('by', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('at', bot.store.UTCDateTime(timezone=True), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('desk_ts', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('post_attempts', sa.Integer(), nullable=False, server_default='0'),
    sa.Column('taken_by', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('taken_at', bot.store.UTCDateTime(timezone=True), nullable=True),
    sa.Column('answered_by', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('answered_at', bot.store.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reminder_state', sa.String(length=16), nullable=False, server_default='pending'),
    sa.Column('nudge_at', bot.store.UTCDateTime(timezone=True), nullable=True),
    sa.Column('escalate_at', bot.store.UTCDateTime(timezone=True), nullable=True),
    sa.Column('nudged_at', bot.store.UTCDateTime(timezone=True), nullable=True),
    sa.Column('escalated_at', bot.store.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['mention_id'], ['mention.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('delegation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_delegation_mention_id'), ['mention_id'], unique=False)
        batch_op.create_index('ix_delegation_reminder', ['reminder_state', 'nudge_at'], unique=False)

    op.create_table('mention_moderation',
    sa.Column('mention_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('author_key', sqlmodel.sql.sqltypes.AutoString(length=256), nullable=False),
    sa.Column('abusive', sa.Boolean(), nullable=False, server_default=sa.true()),
    sa.Column('kinds', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('terms', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('marked_by', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('marked_at', bot.store.UTCDateTime(timezone=True), nullable=False),
    sa.Column('offender_routed', sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.ForeignKeyConstraint(['mention_id'], ['mention.id'], ),
    sa.PrimaryKeyConstraint('mention_id')
    )
    with op.batch_alter_table('mention_moderation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mention_moderation_author_key'), ['author_key'], unique=False)

    op.create_table('moderation_action',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('mention_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('author_key', sqlmodel.sql.sqltypes.AutoString(length=256), nullable=False),
    sa.Column('platform', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('account_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('target', sqlmodel.sql.sqltypes.AutoString(length=256), nullable=True),
    sa.Column('remote_ref', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('by', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('at', bot.store.UTCDateTime(timezone=True), nullable=False),
    sa.Column('undone_by', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('undone_at', bot.store.UTCDateTime(timezone=True), nullable=True),
    sa.Column('error', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True),
    sa.ForeignKeyConstraint(['mention_id'], ['mention.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('moderation_action', schema=None) as batch_op:
        batch_op.create_index('ix_moderation_action_author', ['author_key', 'state'], unique=False)
        batch_op.create_index(batch_op.f('ix_moderation_action_mention_id'), ['mention_id'], unique=False)

    op.create_table('moderation_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', bot.store.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('mention_id', sa.Integer(), autoincrement=False, nullable=True),
    sa.Column('author_key', sqlmodel.sql.sqltypes.AutoString(length=256), nullable=True),
    sa.Column('detail', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True),
    sa.ForeignKeyConstraint(['mention_id'], ['mention.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('moderation_log', schema=None) as batch_op:
        batch_op.create_index('ix_moderation_log_action_at', ['action', 'at'], unique=False)
        batch_op.create_index(batch_op.f('ix_moderation_log_mention_id'), ['mention_id'], unique=False)

    op.create_table('saved_mention',
    sa.Column('mention_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('by', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('at', bot.store.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['mention_id'], ['mention.id'], ),
    sa.PrimaryKeyConstraint('mention_id')
    )
    with op.batch_alter_table('saved_mention', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_saved_mention_at'), ['at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('saved_mention', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_saved_mention_at'))

    op.drop_table('saved_mention')
    with op.batch_alter_table('moderation_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_moderation_log_mention_id'))
        batch_op.drop_index('ix_moderation_log_action_at')

    op.drop_table('moderation_log')
    with op.batch_alter_table('moderation_action', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_moderation_action_mention_id'))
        batch_op.drop_index('ix_moderation_action_author')

    op.drop_table('moderation_action')
    with op.batch_alter_table('mention_moderation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mention_moderation_author_key'))

    op.drop_table('mention_moderation')
    with op.batch_alter_table('delegation', schema=None) as batch_op:
        batch_op.drop_index('ix_delegation_reminder')
        batch_op.drop_index(batch_op.f('ix_delegation_mention_id'))

    op.drop_table('delegation')
    with op.batch_alter_table('offender', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_offender_watch_since'))

    op.drop_table('offender')
    op.drop_table('contest_draw')
