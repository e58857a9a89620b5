"""a ladder bounded in time: the first due time kept across slips, the slips counted, the last climb, and how long
the ladder may take to reach its top rung

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-09 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.store.tables

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("follow_ups", schema=None) as batch_op:
        batch_op.add_column(sa.Column("first_due", bot.store.tables.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("slips", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("climbed_at", bot.store.tables.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("reach_top_seconds", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("reach_top_business_days", sa.Integer(), server_default="3", nullable=False))
    # A follow-up asked before this knew only its current due time: that is the first one it can show.
    op.execute("UPDATE follow_ups SET first_due = due")
    with op.batch_alter_table("follow_ups", schema=None) as batch_op:
        batch_op.alter_column("first_due", existing_type=bot.store.tables.UTCDateTime(timezone=True), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("follow_ups", schema=None) as batch_op:
        for column in ("reach_top_business_days", "reach_top_seconds", "climbed_at", "slips", "first_due"):
            batch_op.drop_column(column)
