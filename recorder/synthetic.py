"""Real encoded media (libvpx VP8, libx264 H264, libopus) for tests and benchmarks.

Frames come out as a WebRTC up-track would carry them: codec payload, RTP timestamp
(starting at a random-looking offset so wrap handling is exercised), keyframe flag.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from fractions import Fraction
from typing import cast

import av
from av.video.codeccontext import VideoCodecContext

VIDEO_CLOCK = 90000
AUDIO_CLOCK = 48000
OPUS_SAMPLES = 960


@dataclass(frozen=True, slots=True)
class CodedFrame:
    """One encoded frame and where it sits in time."""

    data: bytes
    """Codec payload."""
    timestamp: int
    """RTP timestamp (32 bits, wraps)."""
    keyframe: bool
    """Whether a decoder can start here."""
    media_time: float
    """Seconds since the first frame."""


def _pattern(size: int, seed: int) -> bytes:
    return bytes((x * 7 + (x >> 9) * 13 + seed) % 251 for x in range(size))


def encode_video(
    codec: str = "VP8",
    *,
    width: int = 320,
    height: int = 240,
    fps: int = 20,
    seconds: float = 3.0,
    keyframe_every: float = 1.0,
    ts_start: int = 0xFFFF0000,
) -> list[CodedFrame]:
    """Encode a moving test picture; a keyframe every ``keyframe_every`` seconds."""
    name = {"VP8": "libvpx", "H264": "libx264"}[codec.upper()]
    enc = cast(VideoCodecContext, av.CodecContext.create(name, "w"))
    enc.width, enc.height, enc.pix_fmt = width, height, "yuv420p"
    enc.time_base = Fraction(1, VIDEO_CLOCK)
    enc.framerate = Fraction(fps)
    enc.bit_rate = 500_000
    if name == "libvpx":
        enc.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    else:
        enc.options = {"preset": "ultrafast", "tune": "zerolatency", "profile": "baseline"}
    planes = [_pattern(width * height, 0), _pattern(width * height // 4, 80)]
    count = round(seconds * fps)
    step = VIDEO_CLOCK // fps
    key_step = max(1, round(keyframe_every * fps))
    out: list[CodedFrame] = []

    def collect(packets: list[av.Packet]) -> None:  # type: ignore[type-arg]
        for packet in packets:
            pts = int(packet.pts or 0)
            out.append(
                CodedFrame(
                    bytes(packet),
                    (ts_start + pts) & 0xFFFFFFFF,
                    bool(packet.is_keyframe),
                    pts / VIDEO_CLOCK,
                )
            )

    for i in range(count):
        frame = av.VideoFrame(width, height, "yuv420p")
        shift = (i * 4) % width
        for index, plane in enumerate(frame.planes):
            source = planes[min(index, 1)]
            rotated = source[shift:] + source[:shift]
            plane.update(rotated[: plane.buffer_size].ljust(plane.buffer_size, b"\x80"))
        frame.pts = i * step
        frame.time_base = enc.time_base
        if i % key_step == 0:
            frame.pict_type = av.video.frame.PictureType.I
        collect(enc.encode(frame))
    collect(enc.encode(None))
    return out


def encode_opus(*, seconds: float = 3.0, ts_start: int = 0x7FFFF000) -> list[CodedFrame]:
    """Encode a 440 Hz tone in 20 ms Opus packets."""
    enc = av.CodecContext.create("libopus", "w")
    enc.sample_rate = AUDIO_CLOCK
    enc.layout = "stereo"
    enc.format = "s16"
    enc.time_base = Fraction(1, AUDIO_CLOCK)
    out: list[CodedFrame] = []
    count = round(seconds * AUDIO_CLOCK / OPUS_SAMPLES)
    for i in range(count):
        samples = b"".join(
            struct.pack("<hh", v, v)
            for v in (
                int(4000 * math.sin(2 * math.pi * 440 * (i * OPUS_SAMPLES + k) / AUDIO_CLOCK))
                for k in range(OPUS_SAMPLES)
            )
        )
        frame = av.AudioFrame(format="s16", layout="stereo", samples=OPUS_SAMPLES)
        frame.planes[0].update(samples)
        frame.sample_rate = AUDIO_CLOCK
        frame.pts = i * OPUS_SAMPLES
        for packet in enc.encode(frame):
            out.append(CodedFrame(bytes(packet), 0, True, 0.0))
    # RTP timestamps run in 20 ms steps from the first packet, as a browser sends them.
    return [
        CodedFrame(f.data, (ts_start + n * OPUS_SAMPLES) & 0xFFFFFFFF, True, n * 0.02)
        for n, f in enumerate(out)
    ]
