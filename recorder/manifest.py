"""The session manifest: one JSON file beside the recordings that says what they hold.

The worker process writes it when a file is opened and when it is closed, and when
frames had to be dropped (``gaps``: the recorder's queue was full or its worker died,
see ``recorder/framequeue.py``); the parent adds case markers, hashes and the final
state. Writes are atomic (temporary file and rename), so a kill leaves the previous
complete manifest, never half of one.
"""

from __future__ import annotations

import enum
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

MANIFEST_NAME = "manifest.json"
FORMAT_VERSION = 1


class RecordingState(enum.StrEnum):
    """Where a recording stands."""

    RECORDING = "recording"
    """The worker is (or was, if the server died) writing."""
    COMPLETE = "complete"
    """Stopped cleanly; every file closed by its muxer."""
    RECOVERED = "recovered"
    """Found unfinished after a crash or kill; its files were remuxed on restart."""


@dataclass(slots=True)
class TrackEntry:
    """One up-track inside a file."""

    track_id: str
    """The relay's track id."""
    endpoint_id: str
    """The publishing endpoint."""
    kind: str
    """``audio`` or ``video``."""
    codec: str
    """``VP8``, ``H264`` or ``opus``."""
    stream_index: int
    """Stream index in the file."""
    offset_ms: int
    """Arrival of the track's first frame, relative to the file's start."""
    width: int = 0
    """Picture width (video)."""
    height: int = 0
    """Picture height (video)."""


@dataclass(slots=True)
class FileEntry:
    """One Matroska/WebM file: one site, one part (a new part starts when a site's
    track set changes after its file header was written)."""

    name: str
    """File name inside the session folder."""
    site: str
    """The site whose media it holds."""
    part: int
    """1 for the site's first file, then 2, 3..."""
    offset_ms: int
    """Start of the file relative to the recording's start."""
    tracks: list[TrackEntry] = field(default_factory=list)
    """Tracks muxed into it."""
    closed: bool = False
    """The muxer closed it (duration and cues written)."""
    recovered: bool = False
    """Remuxed after a crash because it was not closed."""
    duration_ms: int = 0
    """Duration as muxed (last timestamp)."""
    bytes: int = 0
    """Size on disk when last hashed."""
    sha256: str = ""
    """SHA-256 of the file, set when the recording is finalised."""

    @staticmethod
    def from_dict(raw: dict[str, Any]) -> FileEntry:
        tracks = [TrackEntry(**t) for t in raw.get("tracks", [])]
        return FileEntry(**{**raw, "tracks": tracks})


@dataclass(slots=True)
class MarkerEntry:
    """A case marker as written into the manifest."""

    case_number: str
    """The case the marker belongs to."""
    text: str
    """What the operator wrote."""
    at: str
    """Wall-clock time (ISO 8601, UTC)."""
    offset_ms: int
    """Offset from the recording's start."""
    end_ms: int | None
    """End of the case's time range (next marker or the recording's end)."""


@dataclass(slots=True)
class GapEntry:
    """Frames of one track that were dropped before they reached the file (the recorder's
    queue was full, or its worker died with frames still queued)."""

    file: str
    """The file the track was being written into, or the next one it went into; empty if
    the track never reached a file."""
    site: str
    """The publishing site."""
    track_id: str
    """The relay's track id (see the file's ``tracks``)."""
    kind: str
    """``audio`` or ``video``."""
    from_ms: int
    """Arrival of the first dropped frame, relative to the recording's start."""
    to_ms: int
    """Arrival of the frame that resumed the track (a keyframe for video), or of the
    last dropped frame if none came."""
    frames: int
    """Frames dropped."""
    bytes: int
    """Their payload bytes."""


@dataclass(slots=True)
class Manifest:
    """Everything a clerk or a verifier needs to know about one session's recording."""

    session_id: str
    """The reception session."""
    started_at: str
    """Wall-clock start (ISO 8601, UTC); offsets count from here."""
    state: RecordingState = RecordingState.RECORDING
    """Recording, complete or recovered."""
    ended_at: str | None = None
    """Wall-clock end, once known."""
    files: list[FileEntry] = field(default_factory=list)
    """One entry per file, in the order they were opened."""
    markers: list[MarkerEntry] = field(default_factory=list)
    """Case markers, in time order."""
    gaps: list[GapEntry] = field(default_factory=list)
    """Frames dropped on the way to the files, in the order the worker learnt of them."""
    format: int = FORMAT_VERSION
    """Manifest format version."""

    @property
    def sites(self) -> list[str]:
        """Sites with at least one file, in order of first appearance."""
        return list(dict.fromkeys(f.site for f in self.files))

    def file(self, name: str) -> FileEntry | None:
        return next((f for f in self.files if f.name == name), None)

    def to_json(self) -> str:
        data = asdict(self)
        data["sites"] = self.sites
        return json.dumps(data, ensure_ascii=False, indent=2)

    @staticmethod
    def from_json(text: str) -> Manifest:
        raw = json.loads(text)
        if raw.get("format") != FORMAT_VERSION:
            raise ValueError(f"unknown manifest format {raw.get('format')!r}")
        return Manifest(
            session_id=raw["session_id"],
            started_at=raw["started_at"],
            state=RecordingState(raw["state"]),
            ended_at=raw.get("ended_at"),
            files=[FileEntry.from_dict(f) for f in raw.get("files", [])],
            markers=[MarkerEntry(**m) for m in raw.get("markers", [])],
            gaps=[GapEntry(**g) for g in raw.get("gaps", [])],
        )

    def add_gap(
        self, site: str, track_id: str, kind: str, from_ms: int, to_ms: int, frames: int, size: int
    ) -> GapEntry:
        """Record dropped frames; the file is the last one holding ``track_id``, if any."""
        file = next(
            (f.name for f in reversed(self.files) if any(t.track_id == track_id for t in f.tracks)),
            "",
        )
        gap = GapEntry(file, site, track_id, kind, from_ms, to_ms, frames, size)
        self.gaps.append(gap)
        return gap


def write_manifest(folder: Path, manifest: Manifest) -> None:
    """Replace ``folder/manifest.json`` atomically."""
    tmp = folder / f".{MANIFEST_NAME}.{os.getpid()}.tmp"
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(manifest.to_json())
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, folder / MANIFEST_NAME)


def read_manifest(folder: Path) -> Manifest:
    return Manifest.from_json((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
