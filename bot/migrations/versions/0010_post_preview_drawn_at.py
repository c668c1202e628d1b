"""post.preview_drawn_at: when the approval preview last showed the post's state

Revision ID: 0010
Revises: 0005
Create Date: 2026-11-22 16:15:00

Preview updates are sent by a worker after the database changes; one lost in a crash
left the preview on an old state. The sweep now redraws previews drawn before the
post's last change.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.store

revision = '0010'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('post') as batch:
        batch.add_column(sa.Column('preview_drawn_at', bot.store.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('post') as batch:
        batch.drop_column('preview_drawn_at')
