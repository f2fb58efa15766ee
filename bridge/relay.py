"""The relay: every open session's hub in this process."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from bridge.hub import Hub

logger = logging.getLogger(__name__)

HubListener = Callable[[Hub], None]


class Relay:
    """Opens a hub per reception session on demand and closes them all at shutdown.

    Whoever needs every session's media (the recorder) registers with
    :meth:`add_hub_listener` and attaches a ``FrameSink`` to each new hub.
    """

    def __init__(self) -> None:
        self.hubs: dict[str, Hub] = {}
        """Open hubs by session id."""
        self._listeners: list[HubListener] = []

    def add_hub_listener(self, listener: HubListener) -> None:
        """``listener(hub)`` runs for every hub opened from now on, and for open ones."""
        self._listeners.append(listener)
        for hub in self.hubs.values():
            listener(hub)

    def hub(self, session_id: str, host_site: str) -> Hub:
        """The session's hub, opened now if it is not yet."""
        hub = self.hubs.get(session_id)
        if hub is None:
            hub = self.hubs[session_id] = Hub(session_id, host_site)
            logger.info("session %s: hub opened (host site %s)", session_id, host_site)
            for listener in self._listeners:
                try:
                    listener(hub)
                except Exception:
                    logger.exception("session %s: hub listener failed", session_id)
        return hub

    async def close(self) -> None:
        """Close every endpoint of every hub."""
        await asyncio.gather(*(hub.close() for hub in self.hubs.values()))
        self.hubs.clear()
