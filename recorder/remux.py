"""Stream-copy operations on recorded files: close an unfinished file, cut an extract.

Nothing here decodes: packets are copied with new timestamps. Run these in a worker
process (``recorder/isolation.py``): a damaged file must not crash the server.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

logger = logging.getLogger(__name__)

MS = Fraction(1, 1000)


def _format_of(path: Path) -> str:
    return "webm" if path.suffix == ".webm" else "matroska"


def _ms(packet: Any) -> int | None:
    if packet.pts is None:
        return None
    return round(Fraction(int(packet.pts)) * Fraction(packet.time_base) * 1000)


def media_duration_ms(path: Path) -> int:
    """Duration from the container header, or 0 when the header has none."""
    with av.open(str(path)) as container:
        duration = container.duration
    return round(duration / 1000) if duration else 0


def remux_file(path: Path) -> int:
    """Rewrite ``path`` by stream copy so its header carries a duration and cues.

    A file cut off by a kill ends in a partial cluster; demuxing stops at the first
    error and everything before it is kept. Returns the new duration in ms.
    """
    tmp = path.with_name(f".{path.name}.remux")
    copied = 0
    with av.open(str(path)) as source:
        out = av.open(str(tmp), "w", format=_format_of(path))
        try:
            mapping = {s.index: out.add_stream_from_template(s) for s in source.streams}
            try:
                for packet in source.demux():
                    if packet.dts is None or packet.stream.index not in mapping:
                        continue
                    packet.stream = mapping[packet.stream.index]
                    out.mux(packet)
                    copied += 1
            except (av.FFmpegError, EOFError) as exc:
                logger.warning("%s: stopped reading at a damaged packet (%s)", path.name, exc)
        finally:
            out.close()
    if copied == 0:
        tmp.unlink(missing_ok=True)
        raise ValueError(f"{path.name} holds no readable packet")
    os.replace(tmp, path)
    return media_duration_ms(path)


@dataclass(frozen=True, slots=True)
class ExtractResult:
    """What an extract actually covers."""

    start_ms: int
    """Start in the source file: the video keyframe at or before the requested start."""
    end_ms: int
    """Requested end in the source file."""
    duration_ms: int
    """Duration of the extract file."""


def cut_extract(
    source_path: Path, target: Path, start_ms: int, end_ms: int, *, snap_ms: int = 0
) -> ExtractResult:
    """Copy ``[start_ms, end_ms)`` of a file into ``target`` without re-encoding.

    Video can only start at a keyframe. With ``snap_ms`` a keyframe up to that long
    after ``start_ms`` is taken (a case marker asks the publishers for one, so a case's
    extract starts at its marker and shows nothing of the case before); otherwise, or
    if there is none, the extract starts at the last keyframe at or before ``start_ms``.
    Audio starts at the same moment; the extract runs to ``end_ms``.
    """
    if end_ms <= start_ms:
        raise ValueError("an extract must end after it starts")
    with av.open(str(source_path)) as source:
        video = next((s for s in source.streams if s.type == "video"), None)
        video_index = video.index if video is not None else -1
        out = av.open(str(target), "w", format=_format_of(target))
        try:
            mapping = {s.index: out.add_stream_from_template(s) for s in source.streams}
            for stream in mapping.values():
                stream.time_base = MS
            begin: int | None = None if video is not None else start_ms
            key_before: int | None = None
            pending: list[Any] = []
            for packet in source.demux():
                at = _ms(packet)
                if at is None or packet.stream.index not in mapping:
                    continue
                if begin is None:
                    is_video = packet.stream.index == video_index
                    if is_video and packet.is_keyframe and at <= start_ms:
                        key_before, pending = at, []
                    if at >= (start_ms if key_before is None else key_before):
                        pending.append(packet)
                    if is_video and at > start_ms:
                        if packet.is_keyframe and (at <= start_ms + snap_ms or key_before is None):
                            begin = at
                        elif at > start_ms + snap_ms and key_before is not None:
                            begin = key_before
                    if begin is not None:
                        _write(out, mapping, pending, begin, end_ms)
                        pending = []
                    continue
                if at >= end_ms + 5000:
                    break
                _write(out, mapping, [packet], begin, end_ms)
            if begin is None:
                if key_before is None:
                    raise ValueError("the file has no keyframe to start the extract at")
                begin = key_before
                _write(out, mapping, pending, begin, end_ms)
        finally:
            out.close()
    return ExtractResult(begin, end_ms, media_duration_ms(target))


def _write(out: Any, mapping: dict[int, Any], packets: list[Any], begin: int, end: int) -> None:
    for packet in packets:
        at = _ms(packet)
        if at is None or not begin <= at < end:
            continue
        packet.stream = mapping[packet.stream.index]
        packet.pts = packet.dts = at - begin
        packet.time_base = MS
        out.mux(packet)
