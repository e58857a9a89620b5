"""a webhook subscription added with `--allow-private` is delivered to this machine or its network without the
WARROOM_WEBHOOKS_ALLOW_PRIVATE switch, which opens it for every subscription

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 18:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_subscriptions") as batch:
        batch.add_column(sa.Column("allow_private", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("webhook_subscriptions") as batch:
        batch.drop_column("allow_private")
