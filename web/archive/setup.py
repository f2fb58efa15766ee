"""Wires the recorder and the archive into the app: services, routes, session hooks."""

from __future__ import annotations

import argparse
import json
import logging
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web
from sqlalchemy import Engine

from config.settings import load_settings
from core.db import make_engine
from recorder.archive import Archive
from recorder.audit import AuditLog
from recorder.framequeue import MiB, QueueLimits
from recorder.integrity import verify_all
from recorder.isolation import IsolatedRunner
from recorder.service import RECORDINGS, Recorder
from recorder.storage import LocalStorage
from web.archive import api as archive_api
from web.archive import cases_api as archive_cases_api
from web.archive.jobs import Jobs
from web.archive.keys import ARCHIVE, RECORDER, ArchiveServices
from web.keys import SETTINGS

logger = logging.getLogger(__name__)

ARCHIVE_FOLDER = "archive"


def archive_root(data_dir: Path) -> Path:
    """Recordings and exports live here (never the data folder itself: the key is there)."""
    return data_dir / ARCHIVE_FOLDER


def queue_limits(megabytes: int) -> QueueLimits:
    """Each recording's queue bound (``RB_RECORDER_QUEUE_MB``); audio keeps its share of
    512 KiB, or a quarter of a smaller bound."""
    total = megabytes * MiB
    return QueueLimits(max_bytes=total, audio_bytes=min(512 * 1024, total // 4))


def setup_archive(app: web.Application, *, engine: Engine | None = None) -> Recorder:
    """Register the archive's routes and build the recorder; needs SETTINGS set.

    ``engine`` is the scheduler's (else one is made from the settings). Unfinished
    recordings are recovered when the app starts; the lifecycle tells the recorder
    when sessions open and end (``web.live.setup``).
    """
    settings = app[SETTINGS]
    own_engine = engine is None
    if engine is None:
        engine = make_engine(settings.effective_database_url)
    storage = LocalStorage(archive_root(settings.data_dir))
    runner = IsolatedRunner()
    archive = Archive(engine)
    recorder = Recorder(
        storage.root,
        archive,
        runner,
        record_on_open=settings.record_on_open,
        queue_limits=queue_limits(settings.recorder_queue_mb),
    )
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

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        recovered = await recorder.recover()
        if recovered:
            logger.warning("closed %d unfinished recordings: %s", len(recovered), recovered)
        yield
        await recorder.close()
        await services.jobs.close()
        runner.close()
        if own_engine:
            engine.dispose()

    app.cleanup_ctx.append(lifecycle)
    return recorder


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
