"""replies and reply templates

Revision ID: 0005
Revises: 0008
Create Date: 2026-11-22 13:43:07.290430
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import bot.store


revision = '0005'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Respond (issue 5): answers to mentions, and reply templates written from Slack.
    op.create_table('reply_template',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('locale', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=150), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('archived', sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column('version', sa.Integer(), nullable=False, server_default='1'),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('created_at', bot.store.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('updated_at', bot.store.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('locale', 'name', name='uq_reply_template_name')
    )
    op.create_table('reply',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('mention_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('account_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('template', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('state', sa.String(length=24), nullable=False),
    sa.Column('needs_approval', sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column('sensitive', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    sa.Column('created_at', bot.store.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', bot.store.UTCDateTime(timezone=True), nullable=False),
    sa.Column('preview_channel', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('preview_ts', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('preview_claimed_at', bot.store.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decided_by', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('decided_at', bot.store.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False, server_default='0'),
    sa.Column('attempted_at', bot.store.UTCDateTime(timezone=True), nullable=True),
    sa.Column('sent_at', bot.store.UTCDateTime(timezone=True), nullable=True),
    sa.Column('remote_id', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True),
    sa.Column('remote_url', sqlmodel.sql.sqltypes.AutoString(length=2048), nullable=True),
    sa.Column('error', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True),
    sa.Column('settled_by', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.ForeignKeyConstraint(['mention_id'], ['mention.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('reply', schema=None) as batch_op:
        batch_op.create_index('ix_reply_mention', ['mention_id', 'id'], unique=False)
        batch_op.create_index('ix_reply_preview', ['preview_channel', 'preview_ts'], unique=False)
        batch_op.create_index('ix_reply_state', ['state', 'updated_at'], unique=False)

    op.create_table('reply_template_revision',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('template_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=150), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('archived', sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column('by', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('at', bot.store.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['template_id'], ['reply_template.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('reply_template_revision', schema=None) as batch_op:
        batch_op.create_index('ix_reply_template_revision', ['template_id', 'version'], unique=False)

    # ### end Alembic commands ###


def downgrade() -> None:
    # ### commands auto generated by Alembic - please adjust! ###
    with op.batch_alter_table('reply_template_revision', schema=None) as batch_op:
        batch_op.drop_index('ix_reply_template_revision')

    op.drop_table('reply_template_revision')
    with op.batch_alter_table('reply', schema=None) as batch_op:
        batch_op.drop_index('ix_reply_state')
        batch_op.drop_index('ix_reply_preview')
        batch_op.drop_index('ix_reply_mention')

    op.drop_table('reply')
    op.drop_table('reply_template')
    # ### end Alembic commands ###
