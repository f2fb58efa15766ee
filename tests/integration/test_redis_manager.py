"""With ``REDIS_URL`` set, server processes share Socket.IO rooms through real Redis."""

from __future__ import annotations

import asyncio
from pathlib import Path

from signaling.client import BridgeClient
from signaling.namespace import NAMESPACE
from tests.integration.conftest import SESSION, start_server, wait_for
from web.keys import SIO


async def test_a_broadcast_from_one_server_reaches_a_client_of_another(
    tmp_path: Path, redis_url: str
) -> None:
    first, first_runner = await start_server(tmp_path / "a", redis_url=redis_url)
    second, second_runner = await start_server(tmp_path / "b", redis_url=redis_url)
    client = BridgeClient(second.url, second.token("bac-ninh"))
    try:
        await client.connect()
        # The session's room lives on the second server; the first one only knows it
        # through Redis. A unique payload tells this broadcast from any other.
        marker = {"revision": -1, "from": first.url}
        await first.app[SIO].emit("bridge_state", marker, room=SESSION, namespace=NAMESPACE)
        await wait_for(lambda: marker in client.states, what="the broadcast through Redis")
        # A room that nobody joined on either server receives nothing.
        await first.app[SIO].emit(
            "bridge_state", {"revision": -2}, room="no-such-session", namespace=NAMESPACE
        )
        await asyncio.sleep(0.5)
        assert {"revision": -2} not in client.states
    finally:
        await client.close()
        await asyncio.wait_for(first_runner.cleanup(), 30)
        await asyncio.wait_for(second_runner.cleanup(), 30)
