"""Encoded media as it moves through the relay, and the sink interface for taps (recorder)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NewType, Protocol

TrackId = NewType("TrackId", str)
EndpointId = NewType("EndpointId", str)


class Kind(enum.StrEnum):
    """Media kind of a track."""

    AUDIO = "audio"
    VIDEO = "video"


@dataclass(frozen=True, slots=True)
class TrackInfo:
    """Who a forwarded track belongs to and how it is coded."""

    track_id: TrackId
    """Unique id of the up-track in the relay."""
    session_id: str
    """The reception session."""
    endpoint_id: EndpointId
    """The publishing endpoint (one connection of a site)."""
    site: str
    """The publishing site's id."""
    kind: Kind
    """Audio or video."""
    codec: str
    """MIME subtype as negotiated: ``VP8``, ``H264`` or ``opus``."""
    clock_rate: int
    """RTP clock rate: 90000 for video, 48000 for Opus."""

    def __post_init__(self) -> None:
        if self.clock_rate <= 0:
            raise ValueError(f"clock_rate must be positive, got {self.clock_rate}")


@dataclass(frozen=True, slots=True)
class EncodedFrame:
    """One depayloaded frame, never decoded."""

    data: bytes
    """The codec payload (VP8 frame, H264 Annex-B access unit, Opus packet)."""
    timestamp: int
    """RTP timestamp in ``clock_rate`` units."""
    keyframe: bool
    """Whether a decoder can start here (always true for audio)."""
    arrival: float
    """``time.monotonic()`` when the frame reached the relay; tracks sync on it."""


class FrameSink(Protocol):
    """Receives every frame of the up-tracks it is attached to (the recorder is one).

    Called on the relay's event loop: must not block; hand work to another process.
    """

    def on_track(self, track: TrackInfo) -> None:
        """A new up-track will deliver frames."""

    def on_frame(self, track: TrackInfo, frame: EncodedFrame) -> None:
        """One frame of ``track``."""

    def on_track_ended(self, track: TrackInfo) -> None:
        """``track`` will deliver no more frames."""
