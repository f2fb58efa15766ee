"""Wires the relay and the ``/bridge`` namespace into the app, and closes them on shutdown."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import datetime

from aiohttp import web

from bridge.relay import Relay
from signaling.namespace import BridgeNamespace
from web.archive.keys import RECORDER
from web.keys import DIRECTORY, SECRET, SETTINGS, SIO

logger = logging.getLogger(__name__)

RELAY = web.AppKey("relay", Relay)
NAMESPACE = web.AppKey("bridge_namespace", BridgeNamespace)

HARD_LIMIT_FACTOR = 4
"""Engine.IO drops a connection past ``max_message_bytes`` times this; between the two
limits the namespace answers ``message_too_large`` and the connection stays up."""


def setup_signaling(app: web.Application) -> None:
    """Register the namespace on the app's Socket.IO server; needs SETTINGS, SECRET,
    DIRECTORY and SIO set. Every peer connection is closed when the app shuts down."""
    settings = app[SETTINGS]
    relay = Relay()
    namespace = BridgeNamespace(
        secret=app[SECRET],
        directory=app[DIRECTORY],
        relay=relay,
        ice_servers=settings.ice_servers,
        max_message_bytes=settings.max_message_bytes,
    )
    sio = app[SIO]
    sio.eio.max_http_buffer_size = settings.max_message_bytes * HARD_LIMIT_FACTOR
    sio.register_namespace(namespace)
    app[RELAY] = relay
    app[NAMESPACE] = namespace

    async def recording_changed(session_id: str, started_at: datetime | None) -> None:
        # However the recording started or stopped (operator command, session opened or
        # closed, shutdown), the board shows the recorder's state and every client hears.
        hub = relay.hubs.get(session_id)
        if hub is not None:
            await hub.set_recording(started_at)

    async def close_relay(app: web.Application) -> AsyncIterator[None]:
        # The recorder is set up after signaling; operator commands reach it from here.
        if RECORDER in app:
            recorder = app[RECORDER]
            namespace.commands.recorder = recorder
            recorder.add_listener(recording_changed)
        yield
        logger.info("closing %d session hubs", len(relay.hubs))
        await namespace.close()

    app.cleanup_ctx.append(close_relay)
