"""Wires the relay and the ``/bridge`` namespace into the app, and closes them on shutdown."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from bridge.relay import Relay
from signaling.namespace import BridgeNamespace
from web.archive_keys import RECORDER
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

    async def close_relay(app: web.Application) -> AsyncIterator[None]:
        # The recorder is set up after signaling; operator commands reach it from here.
        if RECORDER in app:
            namespace.commands.recorder = app[RECORDER]
        yield
        logger.info("closing %d session hubs", len(relay.hubs))
        await namespace.close()

    app.cleanup_ctx.append(close_relay)
