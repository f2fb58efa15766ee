"""What the operators decided in a session: kept by its hub, so it outlives connections.

The patch state of each point lives in the hub (per site, see :class:`bridge.hub.Hub`);
this holds the rest of the director's board: whether an operator has taken charge
(new points then start on standby), the recording state as the recorder reports it
(or as last commanded, without a recorder), and the timestamped case markers,
kept for the recorder and shown on the console.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from core.cases import CaseMarker


@dataclass(slots=True)
class Direction:
    """A session's director board beyond the patch matrix."""

    opened_at: datetime
    """When the hub opened (the console's session clock counts from here)."""
    directed: bool = False
    """An operator has joined: points that join from now on start on standby."""
    recording_since: datetime | None = None
    """When the running recording started (the recorder's own start time); None when
    not recording."""
    markers: list[CaseMarker] = field(default_factory=list)
    """Every case marker of the session, oldest first."""
    revision: int = 0
    """Increases with every change of the board or the patch matrix."""

    @property
    def recording(self) -> bool:
        """Recording now, as the recorder reports it (``Hub.set_recording``)."""
        return self.recording_since is not None

    @property
    def current_case(self) -> CaseMarker | None:
        """The case being discussed now (the latest marker)."""
        return self.markers[-1] if self.markers else None
