"""Extract and composition jobs: state, progress and the file they produce.

An export's description is kept beside its file (``exports/<id>.json``) so a download
after a restart still knows whose recording it came from.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from recorder.storage import LocalStorage, StorageError, check_name

logger = logging.getLogger(__name__)

EXPORTS = "exports"


class JobState(enum.StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


@dataclass(slots=True)
class Export:
    """A file made from a recording (an extract or the composed file)."""

    id: str
    """Random id, also the file's name stem."""
    kind: str
    """``extract`` or ``composed``."""
    recording: str
    """The recording it came from."""
    sites: list[str]
    """The recording's sites (who may download it)."""
    file_name: str
    """Name of the export file in storage."""
    created_by: str
    """Who asked for it."""
    reason: str
    """Why (the citizen's written request, a case file...)."""
    state: JobState = JobState.RUNNING
    """Running, done or failed."""
    progress: float = 0.0
    """0.0 to 1.0."""
    detail: dict[str, Any] = field(default_factory=dict)
    """Extract bounds, errors."""

    @property
    def key(self) -> str:
        return f"{EXPORTS}/{self.file_name}"

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"] = str(self.state)
        data["download"] = (
            f"/api/archive/exports/{self.id}/file" if self.state is JobState.DONE else None
        )
        return data


class Jobs:
    """Exports by id; running jobs are asyncio tasks of the app."""

    def __init__(self, storage: LocalStorage) -> None:
        self._storage = storage
        self._exports: dict[str, Export] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def new(
        self, kind: str, recording: str, sites: list[str], ext: str, by: str, reason: str
    ) -> Export:
        export_id = secrets.token_hex(12)
        export = Export(export_id, kind, recording, sites, f"{export_id}.{ext}", by, reason)
        self._exports[export_id] = export
        self._save(export)
        return export

    def get(self, export_id: str) -> Export | None:
        """The export, from memory or from its description on disk."""
        check_name(export_id)
        if export_id in self._exports:
            return self._exports[export_id]
        try:
            raw = json.loads(self._storage.local_path(f"{EXPORTS}/{export_id}.json").read_text())
            raw["state"] = JobState(raw["state"])
            export = Export(**raw)
        except (StorageError, ValueError, TypeError, KeyError):
            return None
        self._exports[export_id] = export
        return export

    def finish(self, export: Export, detail: dict[str, Any]) -> None:
        """A job done in the request itself (an extract)."""
        self._storage.commit(export.key)
        export.state, export.progress, export.detail = JobState.DONE, 1.0, detail
        self._save(export)

    def fail(self, export: Export, error: str) -> None:
        export.state, export.detail = JobState.FAILED, {"error": error[:500]}
        self._save(export)

    def run(self, export: Export, work: Callable[[Export], Awaitable[None]]) -> None:
        """Run ``work`` in the background; its end (or failure) is saved."""

        async def job() -> None:
            try:
                await work(export)
                self._storage.commit(export.key)
                export.state, export.progress = JobState.DONE, 1.0
            except Exception as exc:
                logger.exception("export %s of %s failed", export.id, export.recording)
                export.state = JobState.FAILED
                export.detail["error"] = str(exc)[:500]
            self._save(export)

        task = asyncio.create_task(job(), name=f"export-{export.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _save(self, export: Export) -> None:
        path = self._storage.new_path(f"{EXPORTS}/{export.id}.json")
        data = asdict(export)
        data["state"] = str(export.state)
        path.write_text(json.dumps(data, ensure_ascii=False))
