"""The aiohttp application factory: every subsystem is wired here and nowhere else."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import socketio
from aiohttp import web
from sqlalchemy import Engine

from config.settings import Settings
from core.sessions import Directory
from ops.webhooks import Webhooks
from signaling.wire import SafePacket, SafeServer
from web.accounts.openapi import openapi_part as accounts_openapi
from web.accounts.setup import setup_accounts
from web.archive.keys import ARCHIVE
from web.archive.openapi import openapi_part as archive_openapi
from web.archive.setup import setup_archive
from web.book.openapi import openapi_part as book_openapi
from web.book.setup import setup_book
from web.database import migrate_all
from web.http.errors import api_not_found
from web.http.openapi import document
from web.http.static import STATIC_DIR
from web.keys import DIRECTORY, OPENAPI, SECRET, SETTINGS, SIO
from web.live import pages
from web.live.directory import StoreDirectory
from web.live.setup import setup_live
from web.ops.openapi import openapi_part as ops_openapi
from web.ops.setup import setup_ops
from web.schedule.openapi import spec as schedule_spec
from web.schedule.setup import make_store, setup_schedule

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
SOCKETIO_CLIENT_DIR = REPO_ROOT / "node_modules" / "socket.io-client" / "dist"


def _socketio_server(settings: Settings) -> socketio.AsyncServer:
    manager = None
    if settings.redis_url:
        # Several server processes share rooms and broadcasts through Redis; media
        # never travels through it.
        manager = socketio.AsyncRedisManager(settings.redis_url)
    return SafeServer(
        async_mode="aiohttp",
        serializer=SafePacket,
        client_manager=manager,
        max_http_buffer_size=settings.max_message_bytes,
        cors_allowed_origins=[],
        logger=False,
        engineio_logger=False,
    )


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of every JSON route: the scheduler's, then each part's."""
    doc = document(
        schedule_spec(), accounts_openapi(), ops_openapi(), book_openapi(), archive_openapi()
    )
    doc["info"] = {
        **doc["info"],
        "title": "reception-bridge",
        "description": doc["info"]["description"]
        + " Accounts (sign-in, the signed-in person, users) and the webhook delivery log"
        " too; authenticated by a bearer token, or by the rb_session cookie where said.",
    }
    return doc


def create_app(
    settings: Settings,
    *,
    directory: Directory | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    webhooks: Callable[[Engine], Webhooks] | None = None,
) -> web.Application:
    """Build the application for ``settings``; nothing runs until it is started.

    ``directory`` answers the signaling server's questions about sessions and sites;
    by default it is the scheduler's database. ``clock`` is the wall clock the session
    lifecycle reads (tests move it past a session's end); ``webhooks`` builds the sender on
    the app's engine instead of the settings (tests shorten its timeouts). Parts are built
    in dependency order and handed to each other; their start-up runs in that order and
    their shutdown in the reverse one (the database last).
    """
    app = web.Application(client_max_size=settings.max_message_bytes)
    app.middlewares.append(api_not_found)
    app[SETTINGS] = settings
    store = make_store(settings.effective_database_url)

    async def database(app: web.Application) -> AsyncIterator[None]:
        # Before any part starts: every part's branch, in one pass.
        await asyncio.to_thread(migrate_all, store.engine)
        yield
        store.engine.dispose()

    app.cleanup_ctx.append(database)
    app[DIRECTORY] = directory if directory is not None else StoreDirectory(store)
    app[SECRET] = settings.signing_secret()
    sio = _socketio_server(settings)
    sio.attach(app)
    app[SIO] = sio
    setup_accounts(app, store.engine)
    recorder = setup_archive(app, engine=store.engine)
    hooks = setup_ops(
        app, store.engine, recorder, webhooks=webhooks(store.engine) if webhooks else None
    )
    setup_live(
        app,
        store,
        recorder,
        clock=clock,
        session_listeners=hooks.session_listeners,
        hub_listeners=hooks.hub_listeners,
        observe=hooks.observe,
    )
    setup_schedule(app, store)
    app[OPENAPI] = openapi_document()
    setup_book(app, store, app[ARCHIVE].audit)
    app.router.add_routes(pages.routes)
    app.router.add_static("/static/", STATIC_DIR, follow_symlinks=False)
    if SOCKETIO_CLIENT_DIR.is_dir():
        app.router.add_static("/vendor/socket.io/", SOCKETIO_CLIENT_DIR, follow_symlinks=False)
    else:
        logger.warning("socket.io client not installed (run npm install): %s", SOCKETIO_CLIENT_DIR)
    app.cleanup_ctx.append(_freeze_startup_heap)  # last: after every part has started
    return app


async def _freeze_startup_heap(app: web.Application) -> AsyncIterator[None]:
    """Move what start-up built (modules, the app, its parts: about 180,000 objects) out
    of the garbage collector's reach. A full collection walks every tracked object: in
    bench.relay's server forwarding to 16 subscribers one took 83 ms (9.5 ms with the
    start-up heap frozen), an event-loop stall that every relayed stream felt; there is
    one every several minutes. What sessions build later is still collected."""
    gc.collect()
    gc.freeze()
    logger.info("start-up heap frozen: %d objects", gc.get_freeze_count())
    yield
    gc.unfreeze()
