"""Typed app state of the archive: the recorder and what its routes use."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from recorder.archive import Archive
from recorder.audit import AuditLog
from recorder.isolation import IsolatedRunner
from recorder.service import Recorder
from recorder.storage import LocalStorage
from web.archive.jobs import Jobs


@dataclass(frozen=True, slots=True)
class ArchiveServices:
    """Everything the archive routes need, built once per app."""

    archive: Archive
    """Recordings, cases, markers."""
    audit: AuditLog
    """The append-only audit log."""
    storage: LocalStorage
    """Recorded files and exports."""
    runner: IsolatedRunner
    """Process for remux and extract work."""
    jobs: Jobs
    """Extract and composition jobs."""
    ffmpeg: str
    """Path of Debian's ffmpeg (composition)."""


ARCHIVE = web.AppKey("archive_services", ArchiveServices)
RECORDER = web.AppKey("recorder", Recorder)
"""The recorder API: ``start``/``stop``/``add_marker`` for signaling and the operator."""
