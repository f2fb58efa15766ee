"""Per-track counters, read by tests, the bench and (later) the operator console."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields


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
    bytes_in: int = 0
    """Payload bytes of ``frames_in``."""
    bytes_out: int = 0
    """Payload bytes of ``frames_out``."""

    def add(self, other: TrackCounters) -> None:
        """Add ``other``'s counts to these (totals of tracks that ended)."""
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, int]:
        """The counters as a JSON-ready mapping."""
        return asdict(self)


@dataclass(slots=True)
class MediaTotals:
    """Counts of every up-track and down-track, those that ended included: they only
    grow while the process runs (Prometheus counters read them)."""

    up: TrackCounters = field(default_factory=TrackCounters)
    """Up-tracks: frames from publishers, PLIs sent to them."""
    down: TrackCounters = field(default_factory=TrackCounters)
    """Down-tracks: frames forwarded to subscribers, dropped, keyframes asked for."""

    def add(self, other: MediaTotals) -> None:
        """Add ``other``'s counts to these."""
        self.up.add(other.up)
        self.down.add(other.down)
