"""Wires the recorder and the archive into the app: services, routes, session hooks."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from aiohttp import web
from sqlalchemy import Engine

from config.settings import load_settings
from core.db import make_engine
from core.sessions import SessionInfo, SessionState
from recorder.archive import Archive
from recorder.audit import AuditLog
from recorder.integrity import verify_all
from recorder.isolation import IsolatedRunner
from recorder.service import RECORDINGS, HubSource, Recorder, SessionHub
from recorder.storage import LocalStorage
from web.archive import api as archive_api
from web.archive import cases_api as archive_cases_api
from web.archive.jobs import Jobs
from web.archive.keys import ARCHIVE, RECORDER, ArchiveServices
from web.keys import DIRECTORY, SETTINGS

SessionHook = Callable[[SessionInfo], Awaitable[None]]

logger = logging.getLogger(__name__)

ARCHIVE_FOLDER = "archive"


def archive_root(data_dir: Path) -> Path:
    """Recordings and exports live here (never the data folder itself: the key is there)."""
    return data_dir / ARCHIVE_FOLDER


def setup_archive(
    app: web.Application,
    *,
    engine: Engine | None = None,
    relay: HubSource | None = None,
    session_hooks: list[SessionHook] | None = None,
) -> None:
    """Needs SETTINGS and DIRECTORY set. ``engine`` is the scheduler's (else one is
    made from the settings); with ``relay`` and ``session_hooks`` a session is recorded
    when it opens and sealed when it closes."""
    settings = app[SETTINGS]
    own_engine = engine is None
    if engine is None:
        engine = make_engine(settings.effective_database_url)
    storage = LocalStorage(archive_root(settings.data_dir))
    runner = IsolatedRunner()
    archive = Archive(engine)
    recorder = Recorder(storage.root, archive, runner, record_on_open=settings.record_on_open)
    services = ArchiveServices(
        archive=archive,
        audit=AuditLog(engine),
        storage=storage,
        runner=runner,
        jobs=Jobs(storage),
        ffmpeg=shutil.which("ffmpeg") or "ffmpeg",
    )
    app[ARCHIVE] = services
    app[RECORDER] = recorder
    app.router.add_routes(archive_api.routes)
    app.router.add_routes(archive_cases_api.routes)
    tasks: set[asyncio.Task[None]] = set()

    async def on_state(info: SessionInfo) -> None:
        if info.state is SessionState.OPEN and relay is not None:
            await recorder.on_session_open(info, relay.hub(info.id, info.host_site))
        elif info.state in {SessionState.CLOSED, SessionState.CANCELLED}:
            await recorder.on_session_close(info.id)

    def on_hub(hub: SessionHub) -> None:
        # A hub opened (first participant): record it if the session is open.
        async def check() -> None:
            info = await app[DIRECTORY].session(hub.session_id)
            if info is not None and info.state is SessionState.OPEN:
                await recorder.on_session_open(info, hub)

        task = asyncio.get_running_loop().create_task(check())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    if session_hooks is not None:
        session_hooks.append(on_state)
    if relay is not None:
        relay.add_hub_listener(on_hub)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        recovered = await recorder.recover()
        if recovered:
            logger.warning("closed %d unfinished recordings: %s", len(recovered), recovered)
        yield
        await asyncio.gather(*tasks, return_exceptions=True)
        await recorder.close()
        await services.jobs.close()
        runner.close()
        if own_engine:
            engine.dispose()

    app.cleanup_ctx.append(lifecycle)


def verify_command(args: argparse.Namespace) -> int:
    """``reception-bridge verify``: recompute every recorded file's SHA-256 against its
    manifest; prints JSON, exits 1 if anything does not match."""
    root = archive_root(load_settings().data_dir) / RECORDINGS
    checked, problems = verify_all(root)
    report = {
        "checked": checked,
        "problems": [
            {"recording": p.session_id, "file": p.file, "problem": p.problem} for p in problems
        ],
    }
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 1 if problems else 0
