"""posts continued in a thread, posts refused by the platform, and what a form was opened with

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.store.tables

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("thread_of", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("form", sa.String(length=8), server_default="full", nullable=False))
    op.create_table(
        "form_drafts",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", bot.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_form_drafts")),
    )
    with op.batch_alter_table("form_drafts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_form_drafts_created_at"), ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_table("form_drafts")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("form")
        batch_op.drop_column("thread_of")
