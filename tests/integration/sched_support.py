"""Scheduler test databases: a SQLite file and a private PostgreSQL schema per test.

The PostgreSQL database ``test`` is shared with other tests, so each test gets its own
schema (``search_path``) and drops it afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from core.db import make_engine, migrate
from sessions.db import BRANCH
from sessions.store import Store

"""The scheduler's branch only: other branches are tested by their owners."""

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def schema_url(base: str, schema: str) -> str:
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture(params=BACKENDS)
def sched_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty scheduler database on SQLite or PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'sched.sqlite3'}"
        migrate(url, [BRANCH])
        yield url
        return
    base = request.getfixturevalue("postgres_url")
    schema = f"sched_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = schema_url(base, schema)
    try:
        migrate(url, [BRANCH])
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def store(sched_url: str) -> Iterator[Store]:
    """A store on the test database with the default site tree loaded."""
    engine = make_engine(sched_url)
    s = Store(engine)
    s.load_tree()
    yield s
    engine.dispose()
