"""commitments, customer updates, bad news

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 23:08:32.445101
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.store.tables

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bad_news",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("incident", sa.Integer(), nullable=False),
        sa.Column("trigger", sa.String(length=32), nullable=False),
        sa.Column("what", sa.Text(), nullable=False),
        sa.Column("at", bot.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("answered_at", bot.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("update_number", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident"], ["incidents.number"], name=op.f("fk_bad_news_incident_incidents"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bad_news")),
    )
    with op.batch_alter_table("bad_news", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bad_news_incident"), ["incident"], unique=False)

    op.create_table(
        "commitments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("incident", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("promise", sa.Text(), nullable=False),
        sa.Column("due", bot.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("author_id", sa.String(length=128), nullable=False),
        sa.Column("author_name", sa.String(length=200), nullable=False),
        sa.Column("made_at", bot.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("at_risk_at", bot.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", bot.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident"], ["incidents.number"], name=op.f("fk_commitments_incident_incidents"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commitments")),
        sa.UniqueConstraint("incident", "number", name=op.f("uq_commitments_incident")),
    )
    op.create_table(
        "customer_updates",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("incident", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("author_id", sa.String(length=128), nullable=False),
        sa.Column("author_name", sa.String(length=200), nullable=False),
        sa.Column("at", bot.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("next_due", bot.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident"], ["incidents.number"], name=op.f("fk_customer_updates_incident_incidents"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_updates")),
        sa.UniqueConstraint("incident", "number", name=op.f("uq_customer_updates_incident")),
    )
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("update_prompts", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_column("update_prompts")

    op.drop_table("customer_updates")
    op.drop_table("commitments")
    with op.batch_alter_table("bad_news", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bad_news_incident"))

    op.drop_table("bad_news")
