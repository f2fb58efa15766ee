"""Alembic environment: the engine comes from :func:`sessions.db.migrate`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

import sessions.models  # noqa: F401  (registers the tables on Base.metadata)
from sessions.db import Base, make_engine

config = context.config
engine = config.attributes.get("engine")
if not isinstance(engine, Engine):
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("run migrations through sessions.db.migrate(url)")
    engine = make_engine(url)

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
