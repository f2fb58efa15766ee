"""Where a session's media lives: this node, or another one the client is sent to."""

from __future__ import annotations

from typing import Protocol

from core.sessions import SessionInfo


class PlacementError(Exception):
    """No node can take the session now; ``code`` goes to the client."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Placement(Protocol):
    """Answers, for an admitted connection, which node holds its session's media."""

    async def locate(self, session: SessionInfo) -> str | None:
        """None when the session is (now) placed on this node; else the URL of its node.

        Raises :class:`PlacementError` when no node serves.
        """


class Here:
    """A single node: every session is here."""

    async def locate(self, session: SessionInfo) -> str | None:
        return None


class Satellite(Protocol):
    """Answers whether this node serves a connection although its session is hosted on
    another node (a cascade, :mod:`signaling.cascade`)."""

    async def serves(self, session: SessionInfo, site: str, role: str, host_url: str) -> bool:
        """True when the connection stays here (its hub and the link to the host open)."""

    async def home_url(self, session: SessionInfo, site: str, role: str) -> str | None:
        """The address of ``site``'s home node when a room of it belongs there rather
        than here (its home node is another node, and serving); else None."""
