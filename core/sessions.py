"""Sessions and sites as every part sees them, and the directory that looks them up.

The scheduler (``sessions/``) owns the rows; the composition root (``web/``) adapts its
store to :class:`Directory`; tests and benchmarks use :class:`MemoryDirectory`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from core.ids import SessionId, SiteId


class SessionState(enum.StrEnum):
    """Where a session is in its life: planned → open → closed; planned → cancelled."""

    PLANNED = "planned"
    OPEN = "open"
    CLOSED = "closed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class SiteInfo:
    """A site as shown to participants."""

    id: SiteId
    """Stable site id (``tw-hanoi``, ``bac-ninh``...)."""
    name: str
    """Vietnamese name."""
    name_en: str = ""
    """English name, if known."""


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """A reception session as the media path sees it."""

    id: SessionId
    """Session id."""
    title: str
    """Human title (Vietnamese)."""
    host_site: SiteId
    """Site whose operators run the bridge (usually the central office)."""
    sites: frozenset[SiteId]
    """Participating sites, the host included."""
    state: SessionState
    """Planned, open, closed or cancelled."""
    starts_at: datetime
    """Scheduled start (UTC)."""
    ends_at: datetime
    """Scheduled end (UTC)."""
    record: bool = True
    """Whether the session is recorded from its opening."""
    site_names: dict[SiteId, SiteInfo] = field(default_factory=dict, compare=False)
    """Participating sites by id, for labels."""

    def __post_init__(self) -> None:
        if self.host_site not in self.sites:
            raise ValueError("the host site must be one of the session's sites")
        if self.ends_at <= self.starts_at:
            raise ValueError("a session must end after it starts")


class Directory(Protocol):
    """Looks up sessions and sites for the signaling server."""

    async def session(self, session_id: str) -> SessionInfo | None:
        """The session, or None if it does not exist."""

    async def site(self, site_id: str) -> SiteInfo | None:
        """The site, or None if it does not exist."""


class MemoryDirectory:
    """A directory held in memory (tests, benchmarks, a single demo session)."""

    def __init__(self, sessions: list[SessionInfo], sites: list[SiteInfo]) -> None:
        self._sessions: dict[str, SessionInfo] = {s.id: s for s in sessions}
        self._sites: dict[str, SiteInfo] = {s.id: s for s in sites}

    async def session(self, session_id: str) -> SessionInfo | None:
        return self._sessions.get(session_id)

    async def site(self, site_id: str) -> SiteInfo | None:
        return self._sites.get(site_id)

    def put_session(self, session: SessionInfo) -> None:
        self._sessions[session.id] = session


class EndReason(enum.StrEnum):
    """Why a session's live part ended (``session_closed`` carries it)."""

    CLOSED = "closed"
    """An operator or scheduler closed it (REST or the console's ``close_session``)."""
    CANCELLED = "cancelled"
    """A scheduler cancelled it."""
    ENDED = "ended"
    """Its scheduled end (plus the grace) passed: the lifecycle closed it."""
    SERVER_SHUTDOWN = "server_shutdown"
    """This server is stopping; the session stays open and goes on when it is back."""


@dataclass(frozen=True, slots=True)
class SessionEnd:
    """A session's live part is over in this server: what every endpoint is told."""

    session_id: SessionId
    """The session."""
    reason: EndReason
    """Why."""
    state: SessionState
    """The session's state from now on (open again only after a server shutdown)."""
    at: datetime
    """When (UTC)."""
    by: str = ""
    """Who closed it (a user name or role@site), empty for the clock and shutdown."""

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ValueError("a session end needs a timezone-aware time")
        final = self.reason is not EndReason.SERVER_SHUTDOWN
        if final == (self.state in (SessionState.PLANNED, SessionState.OPEN)):
            raise ValueError(f"a session that ends with {self.reason} cannot be {self.state}")

    def as_dict(self) -> dict[str, str]:
        """The ``session_closed`` event's payload (PROTOCOL.md)."""
        return {
            "session_id": self.session_id,
            "reason": str(self.reason),
            "state": str(self.state),
            "at": self.at.isoformat(),
            "by": self.by,
        }


class SessionListener(Protocol):
    """A part that follows sessions' lives (the relay, the recorder), told by the lifecycle."""

    async def session_opened(self, session: SessionInfo) -> None:
        """``session`` has just opened."""

    async def session_ended(self, session: SessionInfo, end: SessionEnd) -> None:
        """``session``'s live part is over here: release everything held for it."""
