"""accounts tables: users and their roles, sign-in sessions, append-only events

Revision ID: 0001_accounts
Revises:
Create Date: 2026-12-04 09:00:00

The ``accounts`` branch has its own base; ``core.db.migrate`` upgrades every head.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_accounts"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("accounts",)
depends_on: str | Sequence[str] | None = None

ROLES = ("administrator", "scheduler", "operator", "room", "clerk", "public")
EVENTS = (
    "login_ok",
    "login_failed",
    "locked",
    "logout",
    "user_added",
    "disabled",
    "enabled",
    "password_reset",
    "password_changed",
    "roles_changed",
)

# The events log is append-only in the database too, not only in the code.
PG_FUNCTION = """
CREATE FUNCTION acc_events_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING MESSAGE = 'acc_events is append-only (' || TG_OP || ' refused)';
END;
$$ LANGUAGE plpgsql
"""
PG_TRIGGER = """
CREATE TRIGGER acc_events_append_only BEFORE UPDATE OR DELETE ON acc_events
FOR EACH ROW EXECUTE FUNCTION acc_events_append_only()
"""
SQLITE_TRIGGERS = (
    "CREATE TRIGGER acc_events_no_update BEFORE UPDATE ON acc_events "
    "BEGIN SELECT RAISE(ABORT, 'acc_events is append-only (UPDATE refused)'); END",
    "CREATE TRIGGER acc_events_no_delete BEFORE DELETE ON acc_events "
    "BEGIN SELECT RAISE(ABORT, 'acc_events is append-only (DELETE refused)'); END",
)


def upgrade() -> None:
    op.create_table(
        "acc_users",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=False),
        sa.Column("password_changed_at", sa.DateTime(), nullable=False),
        sa.Column("must_change_password", sa.Boolean(), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_acc_users")),
    )
    op.create_index(op.f("ix_acc_users_site"), "acc_users", ["site"], unique=False)
    op.create_table(
        "acc_user_roles",
        sa.Column("user_name", sa.String(length=64), nullable=False),
        sa.Column(
            "role",
            sa.Enum(*ROLES, name="acc_role", native_enum=False, length=32),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_name"],
            ["acc_users.name"],
            name=op.f("fk_acc_user_roles_user_name_acc_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_name", "role", name=op.f("pk_acc_user_roles")),
    )
    op.create_table(
        "acc_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_name", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_name"],
            ["acc_users.name"],
            name=op.f("fk_acc_sessions_user_name_acc_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acc_sessions")),
    )
    op.create_index(op.f("ix_acc_sessions_user_name"), "acc_sessions", ["user_name"], unique=False)
    op.create_index(
        op.f("ix_acc_sessions_expires_at"), "acc_sessions", ["expires_at"], unique=False
    )
    op.create_table(
        "acc_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("user_name", sa.String(length=64), nullable=False),
        sa.Column(
            "event",
            sa.Enum(*EVENTS, name="acc_event", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("by", sa.String(length=200), nullable=False),
        sa.Column("remote", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acc_events")),
    )
    op.create_index(op.f("ix_acc_events_at"), "acc_events", ["at"], unique=False)
    op.create_index(op.f("ix_acc_events_user_name"), "acc_events", ["user_name"], unique=False)

    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(PG_FUNCTION)
        op.execute(PG_TRIGGER)
    elif dialect == "sqlite":
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER acc_events_append_only ON acc_events")
        op.execute("DROP FUNCTION acc_events_append_only()")
    op.drop_index(op.f("ix_acc_events_user_name"), table_name="acc_events")
    op.drop_index(op.f("ix_acc_events_at"), table_name="acc_events")
    op.drop_table("acc_events")
    op.drop_index(op.f("ix_acc_sessions_expires_at"), table_name="acc_sessions")
    op.drop_index(op.f("ix_acc_sessions_user_name"), table_name="acc_sessions")
    op.drop_table("acc_sessions")
    op.drop_table("acc_user_roles")
    op.drop_index(op.f("ix_acc_users_site"), table_name="acc_users")
    op.drop_table("acc_users")
