"""What a ``BridgeClient`` keeps of the messages it receives."""

from __future__ import annotations

from signaling.client import BridgeClient


async def test_a_client_keeps_every_message_or_only_the_last() -> None:
    keeping = BridgeClient("http://127.0.0.1:9", "token")
    light = BridgeClient("http://127.0.0.1:9", "token", keep_messages=False)
    for client in (keeping, light):
        for revision in range(3):
            await client._on_bridge_state({"revision": revision})
            await client._on_presence({"peers": [{"site": f"s{revision}"}]})
            await client._on_error({"code": "bad_request", "revision": revision})
    assert [s["revision"] for s in keeping.states] == [0, 1, 2]
    assert len(keeping.presence) == 3 and len(keeping.errors) == 3
    # The last of each stays, for whoever reads the current state.
    assert light.states == [{"revision": 2}]
    assert light.presence == [[{"site": "s2"}]]
    assert light.errors == [{"code": "bad_request", "revision": 2}]
