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
