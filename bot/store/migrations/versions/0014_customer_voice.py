"""the customer's voice: a headline, customer texts of asks, exact updates, bad news tied to what it is about

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.store.tables

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("headline", sa.Text(), nullable=True))
    with op.batch_alter_table("follow_ups", schema=None) as batch_op:
        batch_op.add_column(sa.Column("customer_text", sa.Text(), nullable=True))
    with op.batch_alter_table("customer_updates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("exact", sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table("bad_news", schema=None) as batch_op:
        batch_op.add_column(sa.Column("commitment", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("follow_up", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("moot_at", bot.store.tables.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("bad_news", schema=None) as batch_op:
        for column in ("moot_at", "follow_up", "commitment"):
            batch_op.drop_column(column)
    with op.batch_alter_table("customer_updates", schema=None) as batch_op:
        batch_op.drop_column("exact")
    with op.batch_alter_table("follow_ups", schema=None) as batch_op:
        batch_op.drop_column("customer_text")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_column("headline")
