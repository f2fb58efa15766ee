"""The relay: every live session's hub in this process."""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from bridge.counters import MediaTotals
from bridge.errors import BridgeError
from bridge.hub import Hub
from core.ids import SessionId
from core.sessions import EndReason, SessionEnd, SessionInfo, SessionState

logger = logging.getLogger(__name__)

HubListener = Callable[[Hub], None]
ENDED_REMEMBERED = 1024
"""How many ended sessions the relay remembers, to refuse a hub for one that just ended."""


class SessionEnded(BridgeError):
    """The session has ended in this server; no endpoint may join it any more."""

    code = "session_closed"


class Relay:
    """Opens a hub per reception session on demand; ends and forgets it with the session.

    Whoever needs every session's media (the recorder, signaling's presence) is handed
    in at construction (``hub_listeners``) and hears of each new hub first.
    """

    def __init__(
        self,
        hub_listeners: Sequence[HubListener] = (),
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        forwarding: str = "frame",
    ) -> None:
        self.forwarding = forwarding
        """Forwarding mode of every hub (``frame`` or ``packet``, see :class:`Hub`)."""
        self.hubs: dict[str, Hub] = {}
        """Live hubs by session id."""
        self._listeners = tuple(hub_listeners)
        self._clock = clock
        self._ended: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._released = MediaTotals()

    def hub(self, session_id: str, host_site: str) -> Hub:
        """The session's hub, opened now if it is not yet.

        Raises :class:`SessionEnded` for a session that ended here moments ago: a
        connection admitted just before the end must not open a new hub for it.
        """
        hub = self.hubs.get(session_id)
        if hub is None:
            if session_id in self._ended:
                raise SessionEnded(f"session {session_id} has ended")
            hub = self.hubs[session_id] = Hub(
                session_id, host_site, clock=self._clock, forwarding=self.forwarding
            )
            logger.info("session %s: hub opened (host site %s)", session_id, host_site)
            for listener in self._listeners:
                try:
                    listener(hub)
                except Exception:
                    logger.exception("session %s: hub listener failed", session_id)
        return hub

    def media_totals(self) -> MediaTotals:
        """Frame counts of every track this process has relayed (metrics)."""
        totals = MediaTotals()
        totals.add(self._released)
        for hub in self.hubs.values():
            totals.add(hub.media_totals())
        return totals

    async def session_opened(self, session: SessionInfo) -> None:
        """A session opened: its hub opens when its first endpoint arrives."""
        self._ended.pop(session.id, None)

    async def session_ended(self, session: SessionInfo, end: SessionEnd) -> None:
        """End the session's hub: endpoints hear why, connections close, the hub goes."""
        if end.reason is not EndReason.SERVER_SHUTDOWN:
            self._ended[session.id] = None
            while len(self._ended) > ENDED_REMEMBERED:
                self._ended.popitem(last=False)
        hub = self.hubs.pop(session.id, None)
        if hub is not None:
            await hub.end(end)
            self._released.add(hub.media_totals())
            logger.info("session %s: hub released (%s)", session.id, end.reason)

    async def close(self) -> None:
        """Server shutdown: end every hub still open (the lifecycle ended the others)."""
        hubs = list(self.hubs.values())
        self.hubs.clear()
        for hub in hubs:
            # Counted before they end: the totals are read at the end anyway.
            self._released.add(hub.media_totals())
        now = self._clock()
        await asyncio.gather(
            *(
                hub.end(
                    SessionEnd(
                        session_id=SessionId(hub.session_id),
                        reason=EndReason.SERVER_SHUTDOWN,
                        state=SessionState.OPEN,
                        at=now,
                    )
                )
                for hub in hubs
            )
        )
