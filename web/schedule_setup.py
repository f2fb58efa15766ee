"""Wiring the scheduler into the app: store, routes, hooks, migrations on start-up."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from sessions.db import make_engine, migrate
from sessions.store import Store
from web import schedule_api, schedule_openapi, schedule_page, schedule_sites_api
from web.schedule_keys import SESSION_HOOKS, STORE

logger = logging.getLogger(__name__)

SCHED_HEAD = "sessions@head"


def make_store(database_url: str) -> Store:
    return Store(make_engine(database_url))


def setup_schedule(app: web.Application, store: Store) -> None:
    """Register the scheduler's routes; the database is migrated when the app starts."""
    app[STORE] = store
    app[SESSION_HOOKS] = []
    for table in (
        schedule_api.routes,
        schedule_sites_api.routes,
        schedule_page.routes,
        schedule_openapi.routes,
    ):
        app.router.add_routes(table)

    async def database(app: web.Application) -> AsyncIterator[None]:
        # The scheduler's own branch: every other part migrates what it owns (and
        # `reception-bridge migrate` brings every head up).
        await asyncio.to_thread(migrate, store.engine, SCHED_HEAD)
        yield
        store.engine.dispose()

    app.cleanup_ctx.append(database)
