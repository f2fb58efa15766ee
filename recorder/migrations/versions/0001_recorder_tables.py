"""recorder tables: recordings, files, cases, markers, denouncers, append-only audit

A case opened by an operator's marker is ``pending`` (no kind yet) until it is recorded.

Revision ID: 0001_recorder
Revises:
Create Date: 2026-11-27 11:20:00

The ``recorder`` branch has its own base; ``sessions.db.migrate`` upgrades every head.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_recorder"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("recorder",)
depends_on: str | Sequence[str] | None = None

# The audit log is append-only in the database too, not only in the code.
PG_FUNCTION = """
CREATE FUNCTION rec_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING MESSAGE = 'rec_audit is append-only (' || TG_OP || ' refused)';
END;
$$ LANGUAGE plpgsql
"""
PG_TRIGGER = """
CREATE TRIGGER rec_audit_append_only BEFORE UPDATE OR DELETE ON rec_audit
FOR EACH ROW EXECUTE FUNCTION rec_audit_append_only()
"""
SQLITE_TRIGGERS = (
    "CREATE TRIGGER rec_audit_no_update BEFORE UPDATE ON rec_audit "
    "BEGIN SELECT RAISE(ABORT, 'rec_audit is append-only (UPDATE refused)'); END",
    "CREATE TRIGGER rec_audit_no_delete BEFORE DELETE ON rec_audit "
    "BEGIN SELECT RAISE(ABORT, 'rec_audit is append-only (DELETE refused)'); END",
)


def upgrade() -> None:
    op.create_table(
        "rec_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("actor_site", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=500), nullable=False),
        sa.Column("target_sites", sa.String(length=1000), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("result", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rec_audit")),
    )
    op.create_index(op.f("ix_rec_audit_at"), "rec_audit", ["at"], unique=False)
    op.create_table(
        "rec_cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("pending", sa.Boolean(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "complaint",
                "denunciation",
                "petition",
                "mixed",
                name="rec_case_kind",
                native_enum=False,
            ),
            nullable=True,
        ),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("crowd", sa.Boolean(), nullable=False),
        sa.Column("people_count", sa.Integer(), nullable=False),
        sa.Column("persons_received", sa.JSON(), nullable=False),
        sa.Column("officials", sa.JSON(), nullable=False),
        sa.Column(
            "outcome",
            sa.Enum(
                "accepted", "forwarded", "guided", "refused", name="rec_outcome", native_enum=False
            ),
            nullable=True,
        ),
        sa.Column(
            "refusal_reason",
            sa.Enum(
                "not_in_control",
                "threat_or_insult",
                "already_settled",
                name="rec_refusal",
                native_enum=False,
            ),
            nullable=True,
        ),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.CheckConstraint("pending OR kind IS NOT NULL", name=op.f("ck_rec_cases_kind_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rec_cases")),
        sa.UniqueConstraint("number", name=op.f("uq_rec_cases_number")),
    )
    op.create_table(
        "rec_recordings",
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("host_site", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column(
            "status",
            sa.Enum("recording", "complete", "recovered", name="rec_status", native_enum=False),
            nullable=False,
        ),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_rec_recordings")),
    )
    op.create_index(
        op.f("ix_rec_recordings_started_at"), "rec_recordings", ["started_at"], unique=False
    )
    op.create_table(
        "rec_case_sites",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["rec_cases.id"],
            name=op.f("fk_rec_case_sites_case_id_rec_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("case_id", "site", name=op.f("pk_rec_case_sites")),
    )
    op.create_index(op.f("ix_rec_case_sites_site"), "rec_case_sites", ["site"], unique=False)
    op.create_table(
        "rec_denouncers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("id_number", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["rec_cases.id"],
            name=op.f("fk_rec_denouncers_case_id_rec_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rec_denouncers")),
    )
    op.create_index(op.f("ix_rec_denouncers_case_id"), "rec_denouncers", ["case_id"], unique=False)
    op.create_table(
        "rec_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("offset_ms", sa.Integer(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("recovered", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["rec_recordings.session_id"],
            name=op.f("fk_rec_files_session_id_rec_recordings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rec_files")),
    )
    op.create_index(op.f("ix_rec_files_session_id"), "rec_files", ["session_id"], unique=False)
    op.create_table(
        "rec_markers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("offset_ms", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["rec_cases.id"], name=op.f("fk_rec_markers_case_id_rec_cases")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["rec_recordings.session_id"],
            name=op.f("fk_rec_markers_session_id_rec_recordings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rec_markers")),
    )
    op.create_index(op.f("ix_rec_markers_case_id"), "rec_markers", ["case_id"], unique=False)
    op.create_index(op.f("ix_rec_markers_session_id"), "rec_markers", ["session_id"], unique=False)
    op.create_table(
        "rec_recording_sites",
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["rec_recordings.session_id"],
            name=op.f("fk_rec_recording_sites_session_id_rec_recordings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("session_id", "site", name=op.f("pk_rec_recording_sites")),
    )
    op.create_index(
        op.f("ix_rec_recording_sites_site"), "rec_recording_sites", ["site"], unique=False
    )

    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(PG_FUNCTION)
        op.execute(PG_TRIGGER)
    elif dialect == "sqlite":
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER rec_audit_append_only ON rec_audit")
        op.execute("DROP FUNCTION rec_audit_append_only()")
    op.drop_index(op.f("ix_rec_recording_sites_site"), table_name="rec_recording_sites")
    op.drop_table("rec_recording_sites")
    op.drop_index(op.f("ix_rec_markers_case_id"), table_name="rec_markers")
    op.drop_index(op.f("ix_rec_markers_session_id"), table_name="rec_markers")
    op.drop_table("rec_markers")
    op.drop_index(op.f("ix_rec_files_session_id"), table_name="rec_files")
    op.drop_table("rec_files")
    op.drop_index(op.f("ix_rec_denouncers_case_id"), table_name="rec_denouncers")
    op.drop_table("rec_denouncers")
    op.drop_index(op.f("ix_rec_case_sites_site"), table_name="rec_case_sites")
    op.drop_table("rec_case_sites")
    op.drop_index(op.f("ix_rec_recordings_started_at"), table_name="rec_recordings")
    op.drop_table("rec_recordings")
    op.drop_table("rec_cases")
    op.drop_index(op.f("ix_rec_audit_at"), table_name="rec_audit")
    op.drop_table("rec_audit")
