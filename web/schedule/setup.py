"""Wiring the scheduler into the app: store, routes, hooks, migrations on start-up."""

from __future__ import annotations

import logging

from aiohttp import web

from core.db import make_engine
from sessions.store import Store
from web.keys import STORE
from web.schedule import api as schedule_api
from web.schedule import desk as schedule_desk
from web.schedule import openapi as schedule_openapi
from web.schedule import page as schedule_page
from web.schedule import sites_api as schedule_sites_api

logger = logging.getLogger(__name__)


def make_store(database_url: str) -> Store:
    return Store(make_engine(database_url))


def setup_schedule(app: web.Application, store: Store) -> None:
    """Register the scheduler's routes (the app migrates the database when it starts)."""
    app[STORE] = store
    for table in (
        schedule_api.routes,
        schedule_sites_api.routes,
        schedule_page.routes,
        schedule_openapi.routes,
        schedule_desk.routes,
    ):
        app.router.add_routes(table)
