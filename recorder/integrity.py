"""SHA-256 of recorded files: written into the manifest when a recording ends,
recomputed by ``verify`` to show that nothing was altered since."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from recorder.manifest import (
    MANIFEST_NAME,
    Manifest,
    MarkerEntry,
    RecordingState,
    read_manifest,
    write_manifest,
)

logger = logging.getLogger(__name__)

CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def seal(
    folder: Path,
    manifest: Manifest,
    state: RecordingState,
    markers: list[MarkerEntry],
    ended_at: datetime | None = None,
) -> Manifest:
    """Hash every file, add the markers and the final state, write the manifest."""
    for entry in manifest.files:
        path = folder / entry.name
        if path.exists():
            entry.sha256 = sha256_file(path)
            entry.bytes = path.stat().st_size
    manifest.markers = markers
    manifest.state = state
    manifest.ended_at = (ended_at or datetime.now(UTC)).isoformat()
    write_manifest(folder, manifest)
    return manifest


@dataclass(frozen=True, slots=True)
class VerifyProblem:
    """A file whose content does not match its manifest."""

    session_id: str
    """The recording."""
    file: str
    """File name, or the manifest itself."""
    problem: str
    """``missing``, ``hash_mismatch``, ``not_sealed`` or ``bad_manifest``."""


def verify_folder(folder: Path) -> list[VerifyProblem]:
    """Recompute the hashes of one recording; an empty list means all match."""
    return _verify(folder)[1]


def _verify(folder: Path) -> tuple[int, list[VerifyProblem]]:
    """(files in the manifest, problems) of one recording, reading its manifest once."""
    try:
        manifest = read_manifest(folder)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        logger.error("%s: manifest unreadable: %s", folder, exc)
        return 0, [VerifyProblem(folder.name, MANIFEST_NAME, "bad_manifest")]
    problems = []
    for entry in manifest.files:
        path = folder / entry.name
        if not entry.sha256:
            problems.append(VerifyProblem(manifest.session_id, entry.name, "not_sealed"))
        elif not path.is_file():
            problems.append(VerifyProblem(manifest.session_id, entry.name, "missing"))
        elif sha256_file(path) != entry.sha256:
            problems.append(VerifyProblem(manifest.session_id, entry.name, "hash_mismatch"))
    return len(manifest.files), problems


def verify_all(root: Path) -> tuple[int, list[VerifyProblem]]:
    """Verify every recording under ``root``: (files checked, problems)."""
    checked = 0
    problems: list[VerifyProblem] = []
    for manifest_path in sorted(root.glob(f"*/{MANIFEST_NAME}")):
        files, found = _verify(manifest_path.parent)
        checked += files
        problems.extend(found)
    return checked, problems
