"""vendor follow-ups and durable reminders

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 23:00:30.207724
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.store.tables

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "follow_ups",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("incident", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("vendor", sa.String(length=200), nullable=False),
        sa.Column("known_vendor", sa.Boolean(), nullable=False),
        sa.Column("ask", sa.Text(), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("owner_id", sa.String(length=128), nullable=False),
        sa.Column("owner_name", sa.String(length=200), nullable=False),
        sa.Column("due", bot.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("asked_at", bot.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ladder", sa.Text(), nullable=False),
        sa.Column("plan_b", sa.Text(), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("business_hours", sa.Text(), nullable=True),
        sa.Column("remind_every_seconds", sa.Integer(), nullable=False),
        sa.Column("escalate_after", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("chases", sa.Integer(), nullable=False),
        sa.Column("unanswered", sa.Integer(), nullable=False),
        sa.Column("rung", sa.Integer(), nullable=False),
        sa.Column("escalations", sa.Integer(), nullable=False),
        sa.Column("heard_at", bot.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_heard_at", bot.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("received_at", bot.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_note", sa.Text(), nullable=True),
        sa.Column("closed_at", bot.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("plan_b_at", bot.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident"], ["incidents.number"], name=op.f("fk_follow_ups_incident_incidents"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_follow_ups")),
        sa.UniqueConstraint("incident", "number", name=op.f("uq_follow_ups_incident")),
    )
    with op.batch_alter_table("follow_ups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_follow_ups_vendor"), ["vendor"], unique=False)

    op.create_table(
        "reminders",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("incident", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.Integer(), nullable=False),
        sa.Column("due_at", bot.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", bot.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", bot.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("fired_at", bot.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident"], ["incidents.number"], name=op.f("fk_reminders_incident_incidents"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminders")),
    )
    with op.batch_alter_table("reminders", schema=None) as batch_op:
        batch_op.create_index(
            "ix_reminders_pending_due",
            ["due_at"],
            unique=False,
            postgresql_where=sa.text("state = 'pending'"),
            sqlite_where=sa.text("state = 'pending'"),
        )
        batch_op.create_index(
            "uq_reminders_pending_subject",
            ["incident", "kind", "subject"],
            unique=True,
            postgresql_where=sa.text("state = 'pending'"),
            sqlite_where=sa.text("state = 'pending'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("reminders", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_reminders_pending_subject",
            postgresql_where=sa.text("state = 'pending'"),
            sqlite_where=sa.text("state = 'pending'"),
        )
        batch_op.drop_index(
            "ix_reminders_pending_due",
            postgresql_where=sa.text("state = 'pending'"),
            sqlite_where=sa.text("state = 'pending'"),
        )

    op.drop_table("reminders")
    with op.batch_alter_table("follow_ups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_follow_ups_vendor"))

    op.drop_table("follow_ups")
