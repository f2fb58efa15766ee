"""Helpers shared by the recorder tests: feed real encoded media, read files with ffprobe."""

from __future__ import annotations

import asyncio
import functools
import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bridge.frames import EncodedFrame, EndpointId, FrameSink, Kind, TrackId, TrackInfo
from core.cases import CaseMarker
from recorder.synthetic import CodedFrame, encode_opus, encode_video


@dataclass(frozen=True, slots=True)
class SiteMedia:
    """One site's up-tracks and their encoded frames."""

    video: TrackInfo
    audio: TrackInfo
    video_frames: list[CodedFrame]
    audio_frames: list[CodedFrame]


def site_media(
    session: str, site: str, *, seconds: float, codec: str = "VP8", keyframe_every: float = 1.0
) -> SiteMedia:
    def info(kind: Kind, name: str, clock: int) -> TrackInfo:
        return TrackInfo(
            TrackId(f"{site}-{kind}"),
            session,
            EndpointId(f"{site}-ep"),
            site,
            kind,
            name,
            clock,
        )

    video, audio = _encoded(codec, seconds, keyframe_every)
    return SiteMedia(
        info(Kind.VIDEO, codec, 90000),
        info(Kind.AUDIO, "opus", 48000),
        list(video),
        list(audio),
    )


@functools.cache
def _encoded(
    codec: str, seconds: float, keyframe_every: float
) -> tuple[tuple[CodedFrame, ...], tuple[CodedFrame, ...]]:
    """The encoded frames for ``site_media``, encoded once per process: the encoders
    take no site, so every site and every test asking for the same media gets the same
    frames (immutable ``CodedFrame``s), and the recorder tests spend their CPU on the
    recorder rather than on libvpx."""
    return (
        tuple(encode_video(codec, seconds=seconds, keyframe_every=keyframe_every)),
        tuple(encode_opus(seconds=seconds)),
    )


def schedule(
    media: SiteMedia, start: float, *, skip_video: int = 0
) -> list[tuple[float, TrackInfo, CodedFrame]]:
    """Frames with arrival times: video at its media time, audio 13 ms later."""
    items = [(start + f.media_time, media.video, f) for f in media.video_frames[skip_video:]]
    items += [(start + 0.013 + f.media_time, media.audio, f) for f in media.audio_frames]
    return items


def feed(sink: FrameSink, items: list[tuple[float, TrackInfo, CodedFrame]]) -> None:
    """Deliver frames in arrival order, announcing each track before its first frame."""
    announced: set[str] = set()
    for arrival, track, frame in sorted(items, key=lambda item: item[0]):
        if track.track_id not in announced:
            announced.add(track.track_id)
            sink.on_track(track)
        sink.on_frame(track, EncodedFrame(frame.data, frame.timestamp, frame.keyframe, arrival))


class TapHub:
    """Stands in for the relay's hub tap: holds sinks and hands them frames.

    The real hub (``bridge/hub.py``) does exactly this for every up-track; its own
    tests cover how frames reach it from WebRTC.
    """

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self.sinks: list[FrameSink] = []
        self.recording: list[datetime | None] = []
        """Every recording state the recorder put on this board, in order."""
        self.markers: list[CaseMarker] = []
        """Every case marker the recorder put on this board."""

    async def set_recording(self, since: datetime | None) -> bool:
        self.recording.append(since)
        return True

    async def add_marker(self, marker: CaseMarker) -> None:
        self.markers.append(marker)

    def add_sink(self, sink: FrameSink) -> None:
        self.sinks.append(sink)

    def remove_sink(self, sink: FrameSink) -> None:
        self.sinks.remove(sink)

    def deliver(self, items: list[tuple[float, TrackInfo, CodedFrame]]) -> None:
        for sink in list(self.sinks):
            feed(sink, items)


@dataclass(slots=True)
class FeedReport:
    """How a paced delivery went, seen from the relay's event loop."""

    frames: int = 0
    """Frames handed to the sinks."""
    slowest_call: float = 0.0
    """Longest time one frame spent in the sinks' ``on_frame`` (seconds)."""
    latest: float = 0.0
    """Most a frame was handed over after its arrival time (the loop fell behind)."""


async def paced_deliver(
    hub: TapHub,
    items: list[tuple[float, TrackInfo, CodedFrame]],
    each: Callable[[], None] | None = None,
) -> FeedReport:
    """Deliver frames to the hub's sinks at their arrival times, on the running loop,
    as the relay does (announcing each track to each sink first); ``each`` runs after
    every frame."""
    report = FeedReport()
    announced: set[tuple[int, str]] = set()
    for arrival, track, frame in sorted(items, key=lambda item: item[0]):
        delay = arrival - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        report.latest = max(report.latest, time.monotonic() - arrival)
        coded = EncodedFrame(frame.data, frame.timestamp, frame.keyframe, arrival)
        for sink in list(hub.sinks):
            if (id(sink), track.track_id) not in announced:
                announced.add((id(sink), track.track_id))
                sink.on_track(track)
            began = time.perf_counter()
            sink.on_frame(track, coded)
            report.slowest_call = max(report.slowest_call, time.perf_counter() - began)
        report.frames += 1
        if each is not None:
            each()
    return report


def ffprobe(ffprobe_path: str, path: Path) -> dict[str, Any]:
    """Streams (with decoded frame counts) and format of a media file."""
    out = subprocess.run(
        [
            ffprobe_path,
            "-v",
            "error",
            "-count_frames",
            "-show_entries",
            "stream=index,codec_name,codec_type,width,height,nb_read_frames:format=duration",
            "-of",
            "json",
            str(path),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def now() -> float:
    return time.monotonic()
