"""The patch matrix acting on real media: standby stops a point at the rooms, not at
the operator; patching back in resumes it from a fresh keyframe."""

from __future__ import annotations

import asyncio

from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from bridge.frames import EndpointId
from bridge.patch import PatchState
from core.access import Role
from signaling.client import BridgeClient
from tests.integration.conftest import HOST, SESSION, Server, wait_for
from web.keys import RELAY

FRAMES = 20


async def _packets_lost(client: BridgeClient, site: str) -> int:
    """Packets the client's receiver counts as lost on ``site``'s video."""
    mid = client.tracks_from(site, "video")[-1].mid
    assert client.subscribe_pc is not None
    transceiver = next(t for t in client.subscribe_pc.getTransceivers() if t.mid == mid)
    stats = await transceiver.receiver.getStats()
    return sum(int(s.packetsLost) for s in stats.values() if s.type == "inbound-rtp")


async def test_standby_and_mute_follow_the_patch(relay_server: Server) -> None:
    server = relay_server
    # Rooms first: without an operator every point starts live.
    hanoi = BridgeClient(server.url, server.token(HOST))
    bac_ninh = BridgeClient(server.url, server.token("bac-ninh"))
    da_nang = BridgeClient(server.url, server.token("da-nang"))
    operator = BridgeClient(server.url, server.token(HOST, Role.OPERATOR))
    clients = [hanoi, bac_ninh, da_nang, operator]
    try:
        for client in clients:
            await client.connect()
        for client in (hanoi, bac_ninh, da_nang):
            await client.publish([VideoStreamTrack(), AudioStreamTrack()])
        await wait_for(
            lambda: all(
                c.frames_from("bac-ninh", "video") >= FRAMES for c in (hanoi, da_nang, operator)
            ),
            what="bac-ninh's video everywhere",
        )
        hub = server.app[RELAY].hubs[SESSION]
        assert bac_ninh.welcome is not None
        point = EndpointId(bac_ninh.welcome["endpoint_id"])

        await hub.set_patch(point, state=PatchState.STANDBY)
        await asyncio.sleep(1)  # frames already in flight may still land
        at_rooms = hanoi.frames_from("bac-ninh", "video"), da_nang.frames_from("bac-ninh", "video")
        at_operator = operator.frames_from("bac-ninh", "video")
        host_at_da_nang = da_nang.frames_from(HOST, "video")
        await wait_for(
            lambda: (
                operator.frames_from("bac-ninh", "video") >= at_operator + 2 * FRAMES
                and da_nang.frames_from(HOST, "video") >= host_at_da_nang + 2 * FRAMES
            ),
            what="the operator's preview and the host feed to go on",
        )
        assert hanoi.frames_from("bac-ninh", "video") == at_rooms[0]
        assert da_nang.frames_from("bac-ninh", "video") == at_rooms[1]
        assert any(p["site"] == "bac-ninh" and not p["live"] for p in da_nang.presence[-1])

        await hub.set_patch(point, state=PatchState.LIVE, muted=True)
        await wait_for(
            lambda: da_nang.frames_from("bac-ninh", "video") >= at_rooms[1] + FRAMES,
            what="bac-ninh back on da-nang after patching in",
        )
        assert da_nang.welcome is not None
        subscriber = hub.participant(EndpointId(da_nang.welcome["endpoint_id"]))
        assert subscriber is not None
        downtrack = next(
            d
            for d in subscriber.subscriptions.values()
            if d.info.endpoint_id == point and d.info.kind == "video"
        )
        assert downtrack.counters.keyframes_requested >= 2  # on join and on patch-in
        # Sequence numbers went on where they stopped: the subscriber's receiver counts a
        # gap as lost packets (a jump over the paused stretch would be hundreds).
        assert await _packets_lost(da_nang, "bac-ninh") <= 5
        await asyncio.sleep(1)
        audio = da_nang.frames_from("bac-ninh", "audio")
        video = da_nang.frames_from("bac-ninh", "video")
        await wait_for(
            lambda: da_nang.frames_from("bac-ninh", "video") >= video + FRAMES,
            what="video to go on while muted",
        )
        assert da_nang.frames_from("bac-ninh", "audio") == audio
    finally:
        for client in clients:
            await client.leave()
