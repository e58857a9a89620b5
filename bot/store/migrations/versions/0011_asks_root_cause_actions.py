"""every ask on its own clock: the kind of ask, business-day cadences, one vendor ticket shared by several
incidents, root-cause pushes; action items that are done or still open

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.store.tables

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("follow_ups", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=16), server_default="vendor", nullable=False))
        batch_op.add_column(sa.Column("every_business_days", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("lead_incident", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("lead_number", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("pushes", sa.Text(), server_default="[]", nullable=False))
        batch_op.create_index(batch_op.f("ix_follow_ups_reference"), ["reference"], unique=False)
    with op.batch_alter_table("action_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("state", sa.String(length=16), server_default="open", nullable=False))
        batch_op.add_column(sa.Column("done_at", bot.store.tables.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("action_items", schema=None) as batch_op:
        batch_op.drop_column("done_at")
        batch_op.drop_column("state")
    with op.batch_alter_table("follow_ups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_follow_ups_reference"))
        for column in ("pushes", "lead_number", "lead_incident", "every_business_days", "kind"):
            batch_op.drop_column(column)
