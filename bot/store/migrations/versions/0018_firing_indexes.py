"""indexes for every lookup on the reminder engine's firing path: a ticket's copies by their lead follow-up, and a
subject's latest reminder

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 14:45:00
"""

from __future__ import annotations

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_follow_ups_lead", "follow_ups", ["lead_incident", "lead_number"])
    op.create_index("ix_reminders_subject", "reminders", ["incident", "kind", "subject", "id"])


def downgrade() -> None:
    op.drop_index("ix_reminders_subject", table_name="reminders")
    op.drop_index("ix_follow_ups_lead", table_name="follow_ups")
