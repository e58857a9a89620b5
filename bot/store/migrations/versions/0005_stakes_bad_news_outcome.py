"""stakes that change, numbered bad news with their drafts, promises that need follow-ups, honest close

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 19:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("doing", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("outcome", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("unresolved_reason", sa.Text(), nullable=True))
    with op.batch_alter_table("bad_news", schema=None) as batch_op:
        batch_op.add_column(sa.Column("number", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("tell", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("draft", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("repeats", sa.Integer(), server_default="0", nullable=False))
    # Bad news told before this release: number it B1, B2, … per incident in the order it was raised.
    op.execute(
        "UPDATE bad_news SET number = (SELECT COUNT(*) FROM bad_news AS b2 WHERE b2.incident = bad_news.incident"
        " AND (b2.at < bad_news.at OR (b2.at = bad_news.at AND b2.id <= bad_news.id)))"
    )
    op.execute("UPDATE bad_news SET tell = what")
    with op.batch_alter_table("bad_news", schema=None) as batch_op:
        batch_op.alter_column("number", existing_type=sa.Integer(), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_bad_news_incident"), ["incident", "number"])
    with op.batch_alter_table("commitments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("needs", sa.Text(), server_default="[]", nullable=False))
    with op.batch_alter_table("follow_ups", schema=None) as batch_op:
        batch_op.add_column(sa.Column("customer_name", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("follow_ups", schema=None) as batch_op:
        batch_op.drop_column("customer_name")
    with op.batch_alter_table("commitments", schema=None) as batch_op:
        batch_op.drop_column("needs")
    with op.batch_alter_table("bad_news", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_bad_news_incident"), type_="unique")
        for column in ("repeats", "draft", "tell", "number"):
            batch_op.drop_column(column)
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        for column in ("unresolved_reason", "outcome", "doing"):
            batch_op.drop_column(column)
