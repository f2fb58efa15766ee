"""The recorder's tables plug into the core's database base with this Alembic branch."""

from __future__ import annotations

from pathlib import Path

from core.db import Branch

BRANCH = Branch("recorder", Path(__file__).resolve().parent / "migrations" / "versions")
"""Recordings, their files, cases, markers, denouncers and the append-only audit log."""
