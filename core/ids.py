"""Ids that travel between parts."""

from __future__ import annotations

from typing import NewType

SessionId = NewType("SessionId", str)
"""A reception session's id (the scheduler's key)."""
SiteId = NewType("SiteId", str)
"""A site's stable id (``tw-hanoi``, ``bac-ninh``...)."""
