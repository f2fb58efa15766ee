"""ops tables: the webhook delivery log

Revision ID: 0001_ops
Revises:
Create Date: 2026-12-03 06:10:00

The ``ops`` branch has its own base; ``core.db.migrate`` upgrades every head.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_ops"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("ops",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ops_webhook_deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(32), nullable=False),
        sa.Column("event_type", sa.String(40), nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(500), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ops_webhook_deliveries")),
    )
    for column in ("event_id", "status", "created_at"):
        op.create_index(
            op.f(f"ix_ops_webhook_deliveries_{column}"), "ops_webhook_deliveries", [column]
        )


def downgrade() -> None:
    op.drop_table("ops_webhook_deliveries")
