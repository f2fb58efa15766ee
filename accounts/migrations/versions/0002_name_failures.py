"""acc_name_failures: failures under unknown names, locked like an account's

Revision ID: 0002_name_failures
Revises: 0001_accounts
Create Date: 2026-12-03 06:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_name_failures"
down_revision: str | Sequence[str] | None = "0001_accounts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "acc_name_failures",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.Column("last_failed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_acc_name_failures")),
    )
    op.create_index(
        op.f("ix_acc_name_failures_last_failed_at"),
        "acc_name_failures",
        ["last_failed_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_acc_name_failures_last_failed_at"), table_name="acc_name_failures")
    op.drop_table("acc_name_failures")
