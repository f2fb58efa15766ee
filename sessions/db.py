"""The scheduler's tables plug into the core's database base with this Alembic branch."""

from __future__ import annotations

from pathlib import Path

from core.db import Branch

BRANCH = Branch("sessions", Path(__file__).resolve().parent / "migrations" / "versions")
"""Sites, rooms, rules, calendar overrides, sessions and slots."""
