"""A publisher's video encoded once and replayed: the bench's clients leave the CPU to
the servers.

:func:`encode_clip` encodes ``seconds`` of :class:`bench.relay.PatternTrack`'s 640x480
pattern with aiortc's own VP8 encoder (the one a live publisher uses, same settings,
a fixed target bitrate); :class:`ReplayTrack` then hands the encoded frames to
``RTCRtpSender`` as ``av.Packet``s at 30 fps, which it only packetises (aiortc packs
a packet without encoding, see :class:`bridge.rtc_internals.PacketTrack`). The clip's
first frame is its only keyframe: the clip loops to it, and a keyframe request (PLI/FIR
from the relay, hooked with :func:`ReplayTrack.hook`) restarts it there, as a live
encoder would answer with a keyframe; every frame sent stays decodable.
"""

from __future__ import annotations

import asyncio
import fractions
import time
from dataclasses import dataclass

from aiortc import RTCRtpSender
from aiortc.codecs.vpx import Vp8Encoder, vp8_depayload

from bench.relay import FPS, PatternTrack
from bridge.rtc_internals import PacketTrack, hook_keyframe_request

CLOCK_RATE = 90000
DEFAULT_BITRATE = 1_000_000


@dataclass(frozen=True, slots=True)
class Clip:
    """VP8 frames encoded once, the first a keyframe."""

    frames: tuple[bytes, ...]
    """Each frame's VP8 bitstream, in order."""
    target_bitrate: int
    """The encoder's target, bit/s."""

    def __post_init__(self) -> None:
        if not self.frames:
            raise ValueError("a clip needs frames")

    @property
    def mbps(self) -> float:
        """The clip's bitrate at 30 fps (what a replay publishes), Mbit/s."""
        return sum(len(f) for f in self.frames) * 8 * FPS / len(self.frames) / 1e6


def encode_clip(seconds: float = 5.0, bitrate: int = DEFAULT_BITRATE) -> Clip:
    """Encode ``seconds`` of the 640x480 pattern at ``bitrate`` with aiortc's encoder."""
    source = PatternTrack()
    encoder = Vp8Encoder()
    encoder.target_bitrate = bitrate
    frames = []
    for i in range(max(1, round(seconds * FPS))):
        frame = source.frames[i % len(source.frames)]
        frame.pts, frame.time_base = i * CLOCK_RATE // FPS, fractions.Fraction(1, CLOCK_RATE)
        payloads, _ = encoder.encode(frame, force_keyframe=i == 0)
        frames.append(b"".join(vp8_depayload(p) for p in payloads))
    return Clip(tuple(frames), encoder.target_bitrate)


class ReplayTrack(PacketTrack):
    """Sends a :class:`Clip` in a loop at 30 fps; ``sent`` counts the frames sent."""

    def __init__(self, clip: Clip) -> None:
        super().__init__("video", CLOCK_RATE)
        self.clip = clip
        self.sent = 0
        self.keyframe_requests = 0
        self._index = 0
        self._start: float | None = None

    def request_keyframe(self) -> None:
        """The next frame sent is the clip's keyframe."""
        self.keyframe_requests += 1
        self._index = 0

    def hook(self, sender: RTCRtpSender) -> None:
        """Answer keyframe requests on ``sender`` (which sends this track)."""
        hook_keyframe_request(sender, self.request_keyframe)

    async def next_frame(self) -> tuple[bytes, int]:
        now = time.monotonic()
        if self._start is None:
            self._start = now
        else:
            wait = self._start + self.sent / FPS - now
            if wait > 0:
                await asyncio.sleep(wait)
        data = self.clip.frames[self._index]
        self._index = (self._index + 1) % len(self.clip.frames)
        timestamp = self.sent * CLOCK_RATE // FPS
        self.sent += 1
        return data, timestamp
