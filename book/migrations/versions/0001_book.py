"""book tables: entries, their append-only versions, the watch list and its history

Revision ID: 0001_book
Revises:
Create Date: 2026-12-03 06:00:00

The ``book`` branch has its own base; ``core.db.migrate`` upgrades every head.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_book"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("book",)
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = ("bk_versions", "bk_watch_events")

PG_FUNCTION = """
CREATE FUNCTION bk_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING MESSAGE = TG_TABLE_NAME || ' is append-only (' || TG_OP || ' refused)';
END;
$$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    op.create_table(
        "bk_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("province", sa.String(length=64), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("current_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bk_entries")),
        sa.UniqueConstraint("site", "year", "number", name=op.f("uq_bk_entries_site_year_number")),
        sa.UniqueConstraint("current_id", name=op.f("uq_bk_entries_current_id")),
    )
    op.create_index(op.f("ix_bk_entries_site"), "bk_entries", ["site"], unique=False)
    op.create_index(op.f("ix_bk_entries_province"), "bk_entries", ["province"], unique=False)
    op.create_table(
        "bk_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("by", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("forwarded_to", sa.String(length=300), nullable=False),
        sa.Column("refusal_reason", sa.String(length=32), nullable=True),
        sa.Column("persons", sa.JSON(), nullable=False),
        sa.Column("people_count", sa.Integer(), nullable=False),
        sa.Column("crowd", sa.Boolean(), nullable=False),
        sa.Column("representatives", sa.JSON(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("recording_marker", sa.String(length=64), nullable=False),
        sa.Column("prior_bodies", sa.JSON(), nullable=False),
        sa.Column("official", sa.String(length=200), nullable=False),
        sa.Column("complex", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("resolved_on", sa.Date(), nullable=True),
        sa.Column("deadline", sa.Date(), nullable=True),
        sa.Column("deadline_rule", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["bk_entries.id"], name=op.f("fk_bk_versions_entry_id_bk_entries")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bk_versions")),
        sa.UniqueConstraint("entry_id", "version", name=op.f("uq_bk_versions_entry_id_version")),
    )
    op.create_index(op.f("ix_bk_versions_entry_id"), "bk_versions", ["entry_id"], unique=False)
    op.create_index(
        op.f("ix_bk_versions_received_on"), "bk_versions", ["received_on"], unique=False
    )
    op.create_index(
        op.f("ix_bk_versions_resolved_on"), "bk_versions", ["resolved_on"], unique=False
    )
    op.create_table(
        "bk_watch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("province", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=True),
        sa.Column("people_count", sa.Integer(), nullable=False),
        sa.Column("official", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("next_dialogue", sa.Date(), nullable=True),
        sa.Column("deadline", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["bk_entries.id"], name=op.f("fk_bk_watch_entry_id_bk_entries")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bk_watch")),
    )
    op.create_index(op.f("ix_bk_watch_site"), "bk_watch", ["site"], unique=False)
    op.create_index(op.f("ix_bk_watch_province"), "bk_watch", ["province"], unique=False)
    op.create_table(
        "bk_watch_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("watch_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("by", sa.String(length=200), nullable=False),
        sa.Column("change", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["watch_id"], ["bk_watch.id"], name=op.f("fk_bk_watch_events_watch_id_bk_watch")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bk_watch_events")),
    )
    op.create_index(
        op.f("ix_bk_watch_events_watch_id"), "bk_watch_events", ["watch_id"], unique=False
    )
    op.create_index(op.f("ix_bk_watch_events_at"), "bk_watch_events", ["at"], unique=False)

    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(PG_FUNCTION)
        for table in APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION bk_append_only()"
            )
    elif dialect == "sqlite":
        for table in APPEND_ONLY:
            for op_name in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{op_name.lower()} BEFORE {op_name} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only ({op_name} refused)'); END"
                )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
        op.execute("DROP FUNCTION bk_append_only()")
    op.drop_table("bk_watch_events")
    op.drop_table("bk_watch")
    op.drop_table("bk_versions")
    op.drop_table("bk_entries")
