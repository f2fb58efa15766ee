"""Engine, declarative base and the migration registry every part with tables plugs into.

Each part (the scheduler, the recorder...) declares its models on :class:`Base` and
keeps its Alembic history in a folder of its own with its own branch label, named by a
:class:`Branch` constant of that part. The composition root hands the branches it
wires to :func:`migrate`; this module knows none of them.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

logger = logging.getLogger(__name__)

SCRIPT_DIR = Path(__file__).resolve().parent / "migrations"
"""Alembic's environment (``env.py``), shared by every branch."""

WRITE_OPTION = "rb_write"
"""Execution option marking a connection that will write (SQLite takes the lock early)."""

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base; its metadata names constraints the same way on every database."""

    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """A UTC instant: stored without zone (SQLite has none), always returned aware."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("refusing a datetime without time zone")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; on SQLite with foreign keys on and writers serialised.

    SQLite's default deferred transactions let two writers both read, then one fails
    on upgrade to a write lock; a connection opened with the ``rb_write`` execution
    option starts with ``BEGIN IMMEDIATE`` instead, so conflict checks and inserts see
    one consistent database.
    """
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:" and not path.startswith("file:"):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"timeout": 30, "check_same_thread": False})
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        _sqlite_transactions(engine)
    return engine


class Transactions:
    """Read and write transactions on one engine, for a part's store.

    A write is one transaction that takes SQLite's write lock up front (``rb_write``);
    SQLite admits one writer at a time, so this process's writers queue on a lock
    rather than in SQLite's busy-wait sleeps (other processes still meet BEGIN
    IMMEDIATE and the busy timeout).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._reader = sessionmaker(engine, expire_on_commit=False)
        self._writer = sessionmaker(
            engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False
        )
        self._write_lock: AbstractContextManager[object] = (
            threading.Lock() if engine.dialect.name == "sqlite" else nullcontext()
        )

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading."""
        with self._reader() as db:
            yield db

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back on any error."""
        with self._write_lock, self._writer() as db, db.begin():
            yield db


def _sqlite_transactions(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get(WRITE_OPTION):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


@dataclass(frozen=True, slots=True)
class Branch:
    """One part's Alembic history."""

    label: str
    """The branch label its first revision carries (``sessions``, ``recorder``)."""
    versions: Path
    """The folder holding its revision scripts."""

    def __post_init__(self) -> None:
        if not self.label:
            raise ValueError("a migration branch needs a label")


def alembic_config(branches: Sequence[Branch], engine: Engine | None = None) -> Config:
    """Alembic configuration built in code (no alembic.ini) that sees ``branches``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_DIR))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", os.pathsep.join(str(b.versions) for b in branches))
    if engine is not None:
        cfg.attributes["engine"] = engine
    return cfg


def migrate(url_or_engine: str | Engine, branches: Sequence[Branch]) -> None:
    """Bring every one of ``branches`` to its head, and no other."""
    engine = make_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
    try:
        command.upgrade(alembic_config(branches, engine), "heads")
    finally:
        if isinstance(url_or_engine, str):
            engine.dispose()
    logger.info("database migrated: %s", engine.url.render_as_string(hide_password=True))


def missing_heads(engine: Engine, branches: Sequence[Branch]) -> list[str]:
    """Heads of ``branches`` the database has not reached (empty: every migration is in).

    Raises the driver's error when the database cannot be reached.
    """
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(branches))
    with engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    return sorted(head for head in script.get_heads() if head not in current)
