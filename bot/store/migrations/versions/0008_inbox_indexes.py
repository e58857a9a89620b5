"""the inbox's queries by index: commands still owed (claimed every few seconds), done ones past their keep

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 22:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_inbox_owed",
            ["platform", "id"],
            unique=False,
            postgresql_where=sa.text("state != 'done'"),
            sqlite_where=sa.text("state != 'done'"),
        )
        batch_op.create_index(
            "ix_inbox_done_at",
            ["done_at"],
            unique=False,
            postgresql_where=sa.text("state = 'done'"),
            sqlite_where=sa.text("state = 'done'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.drop_index("ix_inbox_done_at")
        batch_op.drop_index("ix_inbox_owed")
