"""the customer's private page: links kept as the hash of their token, when each was last opened, and the times
of the questions asked from it (the rate limit)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 14:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.store.tables

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customer_links",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("incident", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", bot.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.String(length=200), nullable=False),
        sa.Column("created_by_name", sa.String(length=200), nullable=False),
        sa.Column("emailed_to", sa.Text(), nullable=False),
        sa.Column("revoked_at", bot.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_opened_at", bot.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("opens", sa.Integer(), server_default="0", nullable=False),
        sa.Column("days", sa.Integer(), server_default="30", nullable=False),
        sa.Column("asked", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident"],
            ["incidents.number"],
            name=op.f("fk_customer_links_incident_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_links")),
        sa.UniqueConstraint("incident", "number", name=op.f("uq_customer_links_incident")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_customer_links_token_hash")),
    )
    with op.batch_alter_table("customer_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_customer_links_incident"), ["incident"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("customer_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_links_incident"))
    op.drop_table("customer_links")
