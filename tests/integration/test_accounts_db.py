"""The accounts branch on SQLite and PostgreSQL: migration, triggers, the service, races.

PostgreSQL tests get a schema of their own in the shared database and drop it after;
under ``CI=true`` a missing PostgreSQL fails them (``tests.conftest.postgres_url``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from argon2 import PasswordHasher
from sqlalchemy import Engine, create_engine, inspect, text

import accounts.models  # noqa: F401  (the acc_ tables on Base.metadata)
from accounts.errors import LoginRefused
from accounts.service import Accounts
from accounts.values import EventKind
from core.db import Base, alembic_config, make_engine
from tests.integration.sched_support import BACKENDS, schema_url
from web.database import BRANCHES, migrate_all

ACC_TABLES = {"acc_users", "acc_user_roles", "acc_sessions", "acc_events", "acc_name_failures"}
CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'accounts.sqlite3'}")
        yield engine
        engine.dispose()
        return
    base: str = request.getfixturevalue("postgres_url")
    schema = f"acc_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(schema_url(base, schema))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_the_accounts_branch_matches_the_models_and_goes_down_and_up(engine: Engine) -> None:
    migrate_all(engine)
    cfg = alembic_config(BRANCHES, engine)
    heads = set(ScriptDirectory.from_config(cfg).get_heads())
    with engine.connect() as conn:
        stored = {row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))}
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    assert "0002_name_failures" in heads and stored == heads
    assert set(inspect(engine).get_table_names()) >= ACC_TABLES
    assert [d for d in diff if "acc_" in repr(d)] == []

    command.downgrade(cfg, "accounts@base")
    tables = set(inspect(engine).get_table_names())
    assert not tables & ACC_TABLES
    assert "rec_audit" in tables and "reception_sessions" in tables
    migrate_all(engine)
    assert set(inspect(engine).get_table_names()) >= ACC_TABLES
    _events_refuse_changes(engine)


def _events_refuse_changes(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO acc_events (at, user_name, event, by, remote, detail)"
                " VALUES (CURRENT_TIMESTAMP, 'lan', 'logout', 'lan', '', '')"
            )
        )
    for statement in ("UPDATE acc_events SET detail = 'x'", "DELETE FROM acc_events"):
        with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM acc_events")).scalar_one() == 1


def test_sign_in_disable_and_reset_on_each_database(engine: Engine) -> None:
    migrate_all(engine)
    accounts = Accounts(engine, hasher=CHEAP)
    _view, password = accounts.add_user(
        "lan.nguyen", "Nguyễn Thị Lan", "tw-hanoi", ["operator", "clerk"], by="admin"
    )
    raw, signed_in = accounts.sign_in("lan.nguyen", password, remote="192.0.2.7")
    assert accounts.session(raw) == signed_in
    assert signed_in.expires.tzinfo is not None
    accounts.disable("lan.nguyen", by="admin")
    assert accounts.session(raw) is None
    accounts.enable("lan.nguyen", by="admin")
    fresh = accounts.reset_password("lan.nguyen", by="admin")
    raw, _ = accounts.sign_in("lan.nguyen", fresh, remote="192.0.2.7")
    accounts.set_password("lan.nguyen", fresh, "a good new password")
    assert accounts.session(raw) is None
    assert accounts.list_users(["tw-hanoi"])[0].roles == signed_in.roles


def test_concurrent_wrong_passwords_lock_the_name_once(engine: Engine) -> None:
    """Row locks (PostgreSQL) and one writer (SQLite) count every attempt exactly once."""
    migrate_all(engine)
    accounts = Accounts(engine, hasher=CHEAP)
    _view, password = accounts.add_user("lan.nguyen", "Lan", "hue", ["clerk"], by="admin")

    def attempt(n: int) -> str:
        try:
            accounts.authenticate("lan.nguyen", f"wrong password {n}", remote=f"10.0.0.{n}")
        except LoginRefused as exc:
            return exc.code
        return "ok"

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(attempt, range(12)))
    assert "ok" not in codes and codes.count("bad_credentials") == 4
    events = accounts.events(user="lan.nguyen")
    assert [e.event for e in events].count(EventKind.LOCKED) == 1
    with pytest.raises(LoginRefused) as caught:
        accounts.authenticate("lan.nguyen", password, remote="10.0.0.99")
    assert caught.value.code == "locked"
