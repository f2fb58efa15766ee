"""The reception book's tables plug into the core's database base with this Alembic branch."""

from __future__ import annotations

from pathlib import Path

from core.db import Branch

BRANCH = Branch("book", Path(__file__).resolve().parent / "migrations" / "versions")
"""Book entries and their append-only versions, the watch list and its history."""
