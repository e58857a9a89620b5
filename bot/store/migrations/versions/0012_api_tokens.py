"""the HTTP API: bearer tokens (kept hashed) and the Idempotency-Keys of its POSTs

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.store.tables

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", bot.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", bot.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", bot.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("name", name=op.f("uq_api_tokens_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_table(
        "api_requests",
        sa.Column("token", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("incident", sa.Integer(), nullable=True),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("created_at", bot.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["token"], ["api_tokens.id"], name=op.f("fk_api_requests_token_api_tokens"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("token", "key", name=op.f("pk_api_requests")),
    )
    with op.batch_alter_table("api_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_requests_created_at"), ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("api_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_requests_created_at"))
    op.drop_table("api_requests")
    op.drop_table("api_tokens")
