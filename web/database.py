"""The database this app composes: every part's Alembic branch, migrated together."""

from __future__ import annotations

from sqlalchemy import Engine

from accounts.db import BRANCH as ACCOUNTS_BRANCH
from book.db import BRANCH as BOOK_BRANCH
from core.db import migrate
from ops.db import BRANCH as OPS_BRANCH
from recorder.db import BRANCH as RECORDER_BRANCH
from sessions.db import BRANCH as SESSIONS_BRANCH

BRANCHES = (SESSIONS_BRANCH, RECORDER_BRANCH, ACCOUNTS_BRANCH, OPS_BRANCH, BOOK_BRANCH)
"""Every part with tables; ``reception-bridge migrate`` brings each to its head."""


def migrate_all(url_or_engine: str | Engine) -> None:
    """Bring every part's tables up to date."""
    migrate(url_or_engine, BRANCHES)
