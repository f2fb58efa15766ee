"""A migrated reception book on SQLite or a fresh PostgreSQL schema, for the book's tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from book.db import BRANCH
from book.store import BookStore
from core.db import make_engine, migrate
from sessions.calendar import WorkCalendar
from tests.integration.sched_support import BACKENDS, schema_url

CALENDAR = WorkCalendar()


def province_of(site: str) -> str:
    """Test sites are named ``<province>-s<n>``; a province's own site is its name."""
    return site.split("-s", 1)[0]


@pytest.fixture(params=BACKENDS)
def book_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty, migrated book: a SQLite file, or a PostgreSQL schema dropped after."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'book.sqlite3'}")
        migrate(engine, [BRANCH])
        yield engine
        engine.dispose()
        return
    base: str = request.getfixturevalue("postgres_url")
    schema = f"bk_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(schema_url(base, schema))
    try:
        migrate(engine, [BRANCH])
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def make_store(engine: Engine) -> BookStore:
    return BookStore(engine, lambda: CALENDAR, province_of)
