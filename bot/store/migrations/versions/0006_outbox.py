"""the outbox: messages owed to rooms, delivered outside the transaction that decided them

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 20:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.store.tables

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("incident", sa.Integer(), nullable=True),
        sa.Column("room_id", sa.String(length=256), nullable=False),
        sa.Column("room_name", sa.String(length=256), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", bot.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", bot.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", bot.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", bot.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("message_id", sa.String(length=256), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("maybe_posted", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("batch_key", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("key", name=op.f("uq_outbox_key")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_incident"), ["incident"], unique=False)
        batch_op.create_index(
            "ix_outbox_pending_next",
            ["next_attempt_at"],
            unique=False,
            postgresql_where=sa.text("state = 'pending'"),
            sqlite_where=sa.text("state = 'pending'"),
        )


def downgrade() -> None:
    op.drop_table("outbox")
