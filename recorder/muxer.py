"""Mux one session's forwarded encoded frames into Matroska/WebM files, without decoding.

Runs inside the recording worker process (``recorder/worker.py``). Rules it keeps:

- every stream is declared before the first packet (adding one later crashes FFmpeg),
  so a site's frames are buffered until it has announced audio and video and each
  announced track has produced its first frame (a keyframe for video), or until
  ``settle`` seconds have passed;
- a track announced after its site's file was opened goes into a stream of an ended
  track of the same kind and codec (a reconnect), else into a new part file;
- timestamps: a track's RTP timestamps (unwrapped) place its frames relative to each
  other; its anchor, the earliest ``arrival - rtp elapsed`` over its first ``anchor``
  seconds, places it in the file. The first frame alone would do if it were never late,
  but a keyframe is slow to encode and send, and an anchor that late would put the whole
  track (and its sync with the other tracks) that much later;
- ``cluster_time_limit`` and ``flush_packets`` make a killed worker leave a file that
  plays up to its last second;
- frames the relay had to drop (``recorder/framequeue.py``) arrive as a gap: the track's
  next frame is a keyframe, placed by its own timestamp (the picture stands still over
  the gap), and the gap is written into the manifest with the file it belongs to.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from bridge.frames import Kind, TrackInfo
from recorder.bitstream import frame_size
from recorder.manifest import FileEntry, GapEntry, Manifest, TrackEntry, write_manifest

logger = logging.getLogger(__name__)

MS = Fraction(1, 1000)
CONTAINER_OPTIONS = {"cluster_time_limit": "1000", "flush_packets": "1"}
VIDEO_CODECS = {"VP8": "vp8", "H264": "h264"}
_UNSAFE = re.compile(r"[^a-z0-9-]+")


@dataclass(slots=True)
class _Frame:
    data: bytes
    elapsed: float
    """Seconds since the track's first frame, from the RTP timestamps."""
    keyframe: bool
    arrival: float


@dataclass(slots=True)
class _Track:
    info: TrackInfo
    first_arrival: float | None = None
    first_ts: int = 0
    last_raw_ts: int = 0
    wraps: int = 0
    buffered: list[_Frame] = field(default_factory=list)
    part: _Part | None = None
    stream: Any = None
    entry: TrackEntry | None = None
    last_pts: int = -1
    ended: bool = False
    dropped: int = 0
    gaps: list[GapEntry] = field(default_factory=list)
    """Gaps recorded before the track had a file; they get its name when it opens."""

    @property
    def is_video(self) -> bool:
        return self.info.kind is Kind.VIDEO

    def unwrap(self, ts: int) -> int:
        """RTP timestamps are 32 bits; count wraps so time keeps growing."""
        if ts < self.last_raw_ts and self.last_raw_ts - ts > 1 << 31:
            self.wraps += 1
        elif ts > self.last_raw_ts and ts - self.last_raw_ts > 1 << 31:
            self.wraps -= 1
        self.last_raw_ts = ts
        return ts + (self.wraps << 32)


@dataclass(slots=True)
class _Part:
    entry: FileEntry
    container: Any
    base_arrival: float
    tracks: list[_Track] = field(default_factory=list)


@dataclass(slots=True)
class _Site:
    site: str
    pending: list[_Track] = field(default_factory=list)
    pending_since: float | None = None
    parts: list[_Part] = field(default_factory=list)


def safe_site_name(site: str) -> str:
    """A file-name-safe form of a site id."""
    return _UNSAFE.sub("-", site.lower()).strip("-") or "site"


class SessionMuxer:
    """All files of one session's recording; fed frames in arrival order."""

    def __init__(
        self,
        folder: Path,
        manifest: Manifest,
        t0: float,
        *,
        settle: float = 2.0,
        anchor: float = 0.5,
    ):
        self.folder = folder
        self.manifest = manifest
        self.t0 = t0
        """``time.monotonic()`` at the recording's start (the manifest's ``started_at``)."""
        self.settle = settle
        self.anchor = min(anchor, settle)
        self._tracks: dict[str, _Track] = {}
        self._sites: dict[str, _Site] = {}

    def on_track(self, info: TrackInfo) -> None:
        if info.track_id in self._tracks:
            return
        track = _Track(info)
        self._tracks[info.track_id] = track
        site = self._sites.setdefault(info.site, _Site(info.site))
        if not self._reuse_stream(site, track):
            site.pending.append(track)
        logger.info(
            "session %s site %s: track %s (%s %s)",
            info.session_id,
            info.site,
            info.track_id,
            info.kind,
            info.codec,
        )

    def on_track_ended(self, track_id: str) -> None:
        track = self._tracks.get(track_id)
        if track is None:
            return
        track.ended = True
        site = self._sites[track.info.site]
        if track in site.pending:
            site.pending.remove(track)
            if not site.pending:
                site.pending_since = None

    def on_frame(self, track_id: str, data: bytes, ts: int, keyframe: bool, arrival: float) -> None:
        track = self._tracks.get(track_id)
        if track is None or track.ended:
            return
        if track.first_arrival is None:
            if track.is_video and not keyframe:
                track.dropped += 1
                return
            track.first_arrival = arrival
            track.first_ts = track.last_raw_ts = ts
        elapsed = (track.unwrap(ts) - track.first_ts) / track.info.clock_rate
        frame = _Frame(data, elapsed, keyframe or not track.is_video, arrival)
        if track.part is not None:
            self._mux(track, frame)
            return
        site = self._sites[track.info.site]
        track.buffered.append(frame)
        if site.pending_since is None:
            site.pending_since = arrival
        self._maybe_open(site, arrival)

    def on_gap(
        self,
        track_id: str,
        site: str,
        kind: str,
        first: float,
        last: float,
        frames: int,
        size: int,
    ) -> None:
        """The relay dropped ``frames`` of ``track_id`` that arrived from ``first`` to ``last``."""
        track = self._tracks.get(track_id)
        part = track.part if track is not None else None
        gap = GapEntry(
            file=part.entry.name if part is not None else "",
            site=site,
            track_id=track_id,
            kind=kind,
            from_ms=round((first - self.t0) * 1000),
            to_ms=round((last - self.t0) * 1000),
            frames=frames,
            bytes=size,
        )
        if part is None and track is not None and not track.ended:
            track.gaps.append(gap)
        self.manifest.gaps.append(gap)
        write_manifest(self.folder, self.manifest)
        logger.warning(
            "session %s site %s track %s: %d frames dropped before the file (%d-%d ms)",
            self.manifest.session_id,
            site,
            track_id,
            frames,
            gap.from_ms,
            gap.to_ms,
        )

    def tick(self, now: float) -> None:
        """Open files whose tracks have waited ``settle`` seconds (called when idle)."""
        for site in self._sites.values():
            self._maybe_open(site, now)

    def close(self) -> None:
        """Open what is still buffered, then close every file (writes duration and cues)."""
        for site in self._sites.values():
            if any(t.buffered for t in site.pending):
                self._open_part(site)
            for part in site.parts:
                if part.entry.closed:
                    continue
                try:
                    part.container.close()
                    part.entry.closed = True
                except av.FFmpegError:
                    logger.exception(
                        "session %s: closing %s failed", self.manifest.session_id, part.entry.name
                    )
        write_manifest(self.folder, self.manifest)

    def _reuse_stream(self, site: _Site, track: _Track) -> bool:
        for part in site.parts:
            for old in part.tracks:
                if old.ended and (old.info.kind, old.info.codec) == (
                    track.info.kind,
                    track.info.codec,
                ):
                    part.tracks[part.tracks.index(old)] = track
                    track.part, track.stream, track.entry = part, old.stream, old.entry
                    track.last_pts = old.last_pts
                    old.stream = None
                    self._place_gaps(track)
                    return True
        return False

    def _maybe_open(self, site: _Site, now: float) -> None:
        if site.pending_since is None:
            return
        # A site normally publishes audio and video; wait for both kinds (or the
        # timeout) so they share one file instead of two parts.
        kinds = {t.info.kind for t in site.pending} | {
            t.info.kind for part in site.parts for t in part.tracks if not t.ended
        }
        started = [t.first_arrival for t in site.pending if t.buffered]
        ready = len(started) == len(site.pending) and kinds == set(Kind)
        anchored = ready and now - max(a or 0.0 for a in started) >= self.anchor
        if anchored or now - site.pending_since >= self.settle:
            self._open_part(site)

    def _open_part(self, site: _Site) -> None:
        tracks = [t for t in site.pending if t.buffered]
        tracks.sort(key=lambda t: (not t.is_video, t.info.track_id))
        site.pending = [t for t in site.pending if not t.buffered]
        site.pending_since = None
        if not tracks:
            return
        # A worker restarted after a crash continues the manifest: never reuse a name.
        number = 1 + sum(1 for f in self.manifest.files if f.site == site.site)
        h264 = any(t.info.codec.upper() == "H264" for t in tracks)
        name = f"{safe_site_name(site.site)}-part{number}.{'mkv' if h264 else 'webm'}"
        for track in tracks:
            track.first_arrival = min(f.arrival - f.elapsed for f in track.buffered)
        base = min(t.first_arrival or 0.0 for t in tracks)
        container = av.open(
            str(self.folder / name),
            "w",
            format="matroska" if h264 else "webm",
            container_options=CONTAINER_OPTIONS,
        )
        entry = FileEntry(name, site.site, number, round((base - self.t0) * 1000))
        part = _Part(entry, container, base)
        for index, track in enumerate(tracks):
            width, height = 0, 0
            if track.is_video:
                size = frame_size(track.info.codec, track.buffered[0].data)
                width, height = size or (640, 480)
                stream = container.add_mux_stream(
                    VIDEO_CODECS[track.info.codec.upper()], width=width, height=height
                )
            else:
                stream = container.add_stream("libopus", rate=48000)
                stream.layout = "stereo"
            stream.time_base = MS
            track.part, track.stream = part, stream
            track.entry = TrackEntry(
                track_id=track.info.track_id,
                endpoint_id=track.info.endpoint_id,
                kind=str(track.info.kind),
                codec=track.info.codec,
                stream_index=index,
                offset_ms=round(((track.first_arrival or base) - base) * 1000),
                width=width,
                height=height,
            )
            entry.tracks.append(track.entry)
            part.tracks.append(track)
            self._place_gaps(track)
        site.parts.append(part)
        self.manifest.files.append(entry)
        write_manifest(self.folder, self.manifest)
        logger.info(
            "session %s site %s: opened %s with %d tracks",
            self.manifest.session_id,
            site.site,
            name,
            len(tracks),
        )
        queued = sorted(
            ((f.arrival, n, t, f) for t in tracks for n, f in enumerate(t.buffered)),
            key=lambda item: (item[0], item[1]),
        )
        for track in tracks:
            track.buffered = []
        for _, _, track, frame in queued:
            self._mux(track, frame)

    @staticmethod
    def _place_gaps(track: _Track) -> None:
        if track.part is not None:
            for gap in track.gaps:
                gap.file = track.part.entry.name
            track.gaps.clear()

    def _mux(self, track: _Track, frame: _Frame) -> None:
        part = track.part
        assert part is not None and track.first_arrival is not None
        if track.stream is None:
            return
        seconds = track.first_arrival - part.base_arrival + frame.elapsed
        pts = max(round(seconds * 1000), track.last_pts + 1)
        packet = av.Packet(frame.data)
        packet.stream = track.stream
        packet.pts = packet.dts = pts
        packet.time_base = MS
        packet.is_keyframe = frame.keyframe
        try:
            part.container.mux(packet)
        except av.FFmpegError:
            logger.exception(
                "session %s site %s track %s: mux failed",
                self.manifest.session_id,
                track.info.site,
                track.info.track_id,
            )
            return
        track.last_pts = pts
        part.entry.duration_ms = max(part.entry.duration_ms, pts)
