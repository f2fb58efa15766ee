"""scheduler tables

Revision ID: 0001_sched
Revises:
Create Date: 2026-11-27 11:11:25.301054
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_sched"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("sessions",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "calendar_overrides",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("working", sa.Boolean(), nullable=False),
        sa.Column("note", sa.String(length=300), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_calendar_overrides")),
    )
    op.create_table(
        "sites",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column(
            "level",
            sa.Enum(
                "central",
                "province",
                "district",
                "commune",
                "department",
                name="sitelevel",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("parent_id", sa.String(length=64), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("merged_into_id", sa.String(length=64), nullable=True),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["merged_into_id"], ["sites.id"], name=op.f("fk_sites_merged_into_id_sites")
        ),
        sa.ForeignKeyConstraint(["parent_id"], ["sites.id"], name=op.f("fk_sites_parent_id_sites")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sites")),
    )
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sites_parent_id"), ["parent_id"], unique=False)

    op.create_table(
        "rooms",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_rooms_site_id_sites")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rooms")),
        sa.UniqueConstraint("site_id", "name", name=op.f("uq_rooms_site_id_name")),
    )
    with op.batch_alter_table("rooms", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rooms_site_id"), ["site_id"], unique=False)

    op.create_table(
        "reception_rules",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "regular", "periodic", "special", name="rulekind", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column(
            "frequency",
            sa.Enum(
                "working_days",
                "weekly",
                "monthly",
                "daily",
                name="frequency",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column(
            "host_kind",
            sa.Enum("head", "staff", name="hostkind", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("weekday", sa.Integer(), nullable=True),
        sa.Column("month_day", sa.Integer(), nullable=True),
        sa.Column("start_time", sa.Time(), nullable=False),
        sa.Column("end_time", sa.Time(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("room_id", sa.Integer(), nullable=True),
        sa.Column("participants", sa.JSON(), nullable=False),
        sa.Column("officials", sa.JSON(), nullable=False),
        sa.Column("slot_minutes", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["room_id"], ["rooms.id"], name=op.f("fk_reception_rules_room_id_rooms")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_reception_rules_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reception_rules")),
    )
    with op.batch_alter_table("reception_rules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reception_rules_site_id"), ["site_id"], unique=False)

    op.create_table(
        "reception_sessions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "regular",
                "periodic",
                "ad_hoc",
                "special",
                name="sessionkind",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column(
            "state",
            sa.Enum(
                "planned",
                "open",
                "closed",
                "cancelled",
                name="sessionstate",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("host_site_id", sa.String(length=64), nullable=False),
        sa.Column(
            "host_kind",
            sa.Enum("head", "staff", name="hostkind", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("starts_at", sa.DateTime(), nullable=False),
        sa.Column("ends_at", sa.DateTime(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=True),
        sa.Column("on_day_off", sa.Boolean(), nullable=False),
        sa.Column("record", sa.Boolean(), nullable=False),
        sa.Column("officials", sa.JSON(), nullable=False),
        sa.Column("agenda", sa.Text(), nullable=False),
        sa.Column("note", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["host_site_id"], ["sites.id"], name=op.f("fk_reception_sessions_host_site_id_sites")
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["reception_rules.id"],
            name=op.f("fk_reception_sessions_rule_id_reception_rules"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reception_sessions")),
        sa.UniqueConstraint(
            "rule_id", "starts_at", name=op.f("uq_reception_sessions_rule_id_starts_at")
        ),
    )
    with op.batch_alter_table("reception_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reception_sessions_ends_at"), ["ends_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_reception_sessions_host_site_id"), ["host_site_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_reception_sessions_starts_at"), ["starts_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_reception_sessions_state"), ["state"], unique=False)

    op.create_table(
        "session_sites",
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["room_id"], ["rooms.id"], name=op.f("fk_session_sites_room_id_rooms")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["reception_sessions.id"],
            name=op.f("fk_session_sites_session_id_reception_sessions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_session_sites_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("session_id", "site_id", name=op.f("pk_session_sites")),
    )
    with op.batch_alter_table("session_sites", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_session_sites_room_id"), ["room_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_session_sites_site_id"), ["site_id"], unique=False)

    op.create_table(
        "session_slots",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("starts_at", sa.DateTime(), nullable=False),
        sa.Column("ends_at", sa.DateTime(), nullable=False),
        sa.Column("citizen_name", sa.String(length=200), nullable=True),
        sa.Column("case_kind", sa.String(length=32), nullable=True),
        sa.Column("case_ref", sa.String(length=100), nullable=True),
        sa.Column("people_count", sa.Integer(), nullable=False),
        sa.Column("booked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["reception_sessions.id"],
            name=op.f("fk_session_slots_session_id_reception_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_slots")),
        sa.UniqueConstraint(
            "session_id", "starts_at", name=op.f("uq_session_slots_session_id_starts_at")
        ),
    )
    with op.batch_alter_table("session_slots", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_session_slots_session_id"), ["session_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("session_slots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_session_slots_session_id"))

    op.drop_table("session_slots")
    with op.batch_alter_table("session_sites", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_session_sites_site_id"))
        batch_op.drop_index(batch_op.f("ix_session_sites_room_id"))

    op.drop_table("session_sites")
    with op.batch_alter_table("reception_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reception_sessions_state"))
        batch_op.drop_index(batch_op.f("ix_reception_sessions_starts_at"))
        batch_op.drop_index(batch_op.f("ix_reception_sessions_host_site_id"))
        batch_op.drop_index(batch_op.f("ix_reception_sessions_ends_at"))

    op.drop_table("reception_sessions")
    with op.batch_alter_table("reception_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reception_rules_site_id"))

    op.drop_table("reception_rules")
    with op.batch_alter_table("rooms", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rooms_site_id"))

    op.drop_table("rooms")
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sites_parent_id"))

    op.drop_table("sites")
    op.drop_table("calendar_overrides")
