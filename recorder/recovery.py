"""Close recordings that a crash or kill left unfinished.

A killed muxer leaves a playable file without a duration in its header (the clusters
were flushed as they were written); remuxing it by stream copy sets the duration and
cues. Run in a worker process: a damaged file must not crash the server.
"""

from __future__ import annotations

import logging
from pathlib import Path

from recorder.manifest import MANIFEST_NAME, Manifest, RecordingState, read_manifest, write_manifest
from recorder.remux import media_duration_ms, remux_file

logger = logging.getLogger(__name__)


def close_unfinished(folder: Path) -> Manifest:
    """Remux every file of ``folder`` not closed by its muxer (marking it ``recovered``)
    and refresh durations; the caller seals the state, hashes and markers."""
    manifest = read_manifest(folder)
    for entry in manifest.files:
        path = folder / entry.name
        if entry.closed or not path.exists():
            continue
        try:
            entry.duration_ms = remux_file(path)
            entry.recovered = True
            entry.closed = True
            logger.warning(
                "session %s: recovered unfinished %s (%d ms)",
                manifest.session_id,
                entry.name,
                entry.duration_ms,
            )
        except ValueError as exc:
            logger.error(
                "session %s: %s cannot be recovered: %s", manifest.session_id, entry.name, exc
            )
    for entry in manifest.files:
        path = folder / entry.name
        if entry.closed and path.exists() and not entry.recovered:
            entry.duration_ms = media_duration_ms(path) or entry.duration_ms
    write_manifest(folder, manifest)
    return manifest


def unfinished_folders(root: Path) -> list[Path]:
    """Session folders under ``root`` whose manifest still says ``recording``."""
    found = []
    for path in sorted(root.glob(f"*/{MANIFEST_NAME}")):
        try:
            if read_manifest(path.parent).state is RecordingState.RECORDING:
                found.append(path.parent)
        except (OSError, ValueError, KeyError, TypeError):
            logger.error("%s: manifest unreadable, left alone", path)
    return found
