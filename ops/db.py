"""The operations part's table plugs into the core's database base with this Alembic branch."""

from __future__ import annotations

from pathlib import Path

from core.db import Branch

BRANCH = Branch("ops", Path(__file__).resolve().parent / "migrations" / "versions")
"""The webhook delivery log."""
