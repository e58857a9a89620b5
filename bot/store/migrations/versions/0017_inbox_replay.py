"""the inbox keeps the signature a command came with, unique: accepting a command is one INSERT … ON CONFLICT DO
NOTHING that recognises a double submit (its key) and a replayed request (its signature) at once

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 14:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("replay", sa.String(length=200), nullable=True))
        batch_op.create_index("ix_inbox_replay", ["replay"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.drop_index("ix_inbox_replay")
        batch_op.drop_column("replay")
