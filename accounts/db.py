"""The accounts' tables plug into the core's database base with this Alembic branch."""

from __future__ import annotations

from pathlib import Path

from core.db import Branch

BRANCH = Branch("accounts", Path(__file__).resolve().parent / "migrations" / "versions")
"""Users and their roles, sign-in sessions and the append-only account events."""
