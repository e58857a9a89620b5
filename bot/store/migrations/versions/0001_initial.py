"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 22:42:40.056763
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.store.tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("number", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("severity", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("customer", sa.String(length=200), nullable=True),
        sa.Column("impact", sa.Text(), nullable=True),
        sa.Column("cost_per_hour", sa.Numeric(precision=16, scale=2), nullable=True),
        sa.Column("revenue_at_risk", sa.Numeric(precision=16, scale=2), nullable=True),
        sa.Column("playbook", sa.String(length=80), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("opened_by_id", sa.String(length=128), nullable=False),
        sa.Column("opened_by_name", sa.String(length=200), nullable=False),
        sa.Column("opened_at", bot.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("room_id", sa.String(length=256), nullable=True),
        sa.Column("room_name", sa.String(length=256), nullable=True),
        sa.Column("room_opened_at", bot.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("kickoff_message_id", sa.String(length=256), nullable=True),
        sa.Column("mitigated_at", bot.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", bot.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", bot.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_incidents")),
    )
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_incidents_room_id"), ["room_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_incidents_state"), ["state"], unique=False)

    op.create_table(
        "action_items",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("incident", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("owner_id", sa.String(length=128), nullable=True),
        sa.Column("owner_name", sa.String(length=200), nullable=True),
        sa.Column("due", bot.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("author_id", sa.String(length=128), nullable=False),
        sa.Column("author_name", sa.String(length=200), nullable=False),
        sa.Column("at", bot.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident"], ["incidents.number"], name=op.f("fk_action_items_incident_incidents"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_action_items")),
        sa.UniqueConstraint("incident", "number", name=op.f("uq_action_items_incident")),
    )
    op.create_table(
        "incident_roles",
        sa.Column("incident", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=40), nullable=False),
        sa.Column("person_id", sa.String(length=128), nullable=False),
        sa.Column("person_name", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident"], ["incidents.number"], name=op.f("fk_incident_roles_incident_incidents"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("incident", "role", name=op.f("pk_incident_roles")),
    )
    op.create_table(
        "lessons",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("incident", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("author_id", sa.String(length=128), nullable=False),
        sa.Column("author_name", sa.String(length=200), nullable=False),
        sa.Column("at", bot.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident"], ["incidents.number"], name=op.f("fk_lessons_incident_incidents"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lessons")),
        sa.UniqueConstraint("incident", "number", name=op.f("uq_lessons_incident")),
    )
    op.create_table(
        "responders",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("incident", sa.Integer(), nullable=False),
        sa.Column("handle", sa.String(length=200), nullable=False),
        sa.Column("team", sa.String(length=80), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("person_id", sa.String(length=128), nullable=True),
        sa.Column("person_name", sa.String(length=200), nullable=True),
        sa.Column("invited", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident"], ["incidents.number"], name=op.f("fk_responders_incident_incidents"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_responders")),
    )
    with op.batch_alter_table("responders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_responders_incident"), ["incident"], unique=False)

    op.create_table(
        "summaries",
        sa.Column("incident", sa.Integer(), nullable=False),
        sa.Column("written_at", bot.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("markdown", sa.Text(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident"], ["incidents.number"], name=op.f("fk_summaries_incident_incidents"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("incident", name=op.f("pk_summaries")),
    )
    op.create_table(
        "timeline",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("incident", sa.Integer(), nullable=False),
        sa.Column("at", bot.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("actor_id", sa.String(length=128), nullable=True),
        sa.Column("actor_name", sa.String(length=200), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident"], ["incidents.number"], name=op.f("fk_timeline_incident_incidents"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_timeline")),
    )
    with op.batch_alter_table("timeline", schema=None) as batch_op:
        batch_op.create_index("ix_timeline_incident_at", ["incident", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("timeline", schema=None) as batch_op:
        batch_op.drop_index("ix_timeline_incident_at")

    op.drop_table("timeline")
    op.drop_table("summaries")
    with op.batch_alter_table("responders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_responders_incident"))

    op.drop_table("responders")
    op.drop_table("lessons")
    op.drop_table("incident_roles")
    op.drop_table("action_items")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incidents_state"))
        batch_op.drop_index(batch_op.f("ix_incidents_room_id"))

    op.drop_table("incidents")
