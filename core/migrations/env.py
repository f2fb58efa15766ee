"""Alembic environment shared by every branch: the engine comes from :func:`core.db.migrate`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from core.db import Base, make_engine

config = context.config
engine = config.attributes.get("engine")
if not isinstance(engine, Engine):
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("run migrations through core.db.migrate(url, branches)")
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
