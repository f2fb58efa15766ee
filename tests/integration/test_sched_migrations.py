"""Alembic: every branch upgrades on SQLite and PostgreSQL; the scheduler's goes down and up."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from core.db import alembic_config, make_engine
from tests.integration.sched_support import BACKENDS, schema_url
from web.database import BRANCHES, migrate_all


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'm.sqlite3'}"
        return
    base = request.getfixturevalue("postgres_url")
    schema = f"sched_m_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield schema_url(base, schema)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_every_head_then_scheduler_down_and_up(empty_url: str) -> None:
    engine = make_engine(empty_url)
    try:
        migrate_all(engine)
        cfg = alembic_config(BRANCHES, engine)
        heads = set(ScriptDirectory.from_config(cfg).get_heads())
        with engine.connect() as conn:
            stored = {
                row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))
            }
        assert stored == heads
        assert "0002_sched" in heads
        tables = set(inspect(engine).get_table_names())
        assert {"sites", "rooms", "reception_sessions", "session_sites"} <= tables
        command.downgrade(cfg, "sessions@base")
        assert "reception_sessions" not in set(inspect(engine).get_table_names())
        migrate_all(engine)
        with engine.connect() as conn:
            swaps = conn.execute(text("SELECT count(*) FROM calendar_overrides")).scalar_one()
        assert swaps == 2
    finally:
        engine.dispose()
