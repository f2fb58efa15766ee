"""Day swaps the government announced that the holidays package misses.

holidays 0.108/0.109 do not know the 2026 New Year swap (Official letter of the
Ministry of Home Affairs for public employees): Friday 2 January 2026 off, Saturday
10 January 2026 worked. Administrators add later years through the API.

Revision ID: 0002_sched
Revises: 0001_sched
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_sched"
down_revision: str | Sequence[str] | None = "0001_sched"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SWAPS = (
    (dt.date(2026, 1, 2), False, "Nghỉ bù Tết Dương lịch 2026 (làm bù thứ Bảy 10/01/2026)"),
    (dt.date(2026, 1, 10), True, "Làm bù cho ngày nghỉ 02/01/2026"),
)

overrides = sa.table(
    "calendar_overrides",
    sa.column("day", sa.Date()),
    sa.column("working", sa.Boolean()),
    sa.column("note", sa.String()),
)


def upgrade() -> None:
    op.bulk_insert(overrides, [{"day": d, "working": w, "note": n} for d, w, n in SWAPS])


def downgrade() -> None:
    op.execute(overrides.delete().where(overrides.c.day.in_([d for d, _, _ in SWAPS])))
