"""Per-track counters, read by tests, the bench and (later) the operator console."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(slots=True)
class TrackCounters:
    """What one up-track or down-track has done so far."""

    frames_in: int = 0
    """Frames that reached the track (from the publisher, or from the up-track)."""
    frames_out: int = 0
    """Frames the track handed on (to down-tracks, or to its sender)."""
    frames_dropped: int = 0
    """Frames thrown away: waiting for a keyframe, or flushed when falling behind."""
    keyframes_requested: int = 0
    """Keyframe requests made (a down-track's, or PLIs sent to the publisher)."""

    def as_dict(self) -> dict[str, int]:
        """The counters as a JSON-ready mapping."""
        return asdict(self)
