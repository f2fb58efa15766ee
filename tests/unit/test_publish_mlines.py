"""A publish offer carries at most one audio and one video m-line, and keeps their mids."""

from __future__ import annotations

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.rtcconfiguration import RTCBundlePolicy

from bridge.errors import BadSdp
from bridge.frames import EndpointId
from bridge.hub import Hub
from bridge.participant import Participant, check_publish_sdp, check_sdp
from bridge.patch import EndpointRole


async def _offer(kinds: list[str], data_channel: bool = False) -> str:
    pc = RTCPeerConnection(RTCConfiguration(bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
    try:
        for kind in kinds:
            pc.addTransceiver(kind, direction="sendonly")
        if data_channel:
            pc.createDataChannel("chat")
        return str((await pc.createOffer()).sdp)
    finally:
        await pc.close()


@pytest.mark.parametrize("kinds", [["audio"], ["video"], ["audio", "video"], ["video", "audio"]])
async def test_one_camera_and_one_microphone_pass(kinds: list[str]) -> None:
    check_publish_sdp(check_sdp(await _offer(kinds), "offer"))


@pytest.mark.parametrize(
    ("kinds", "data_channel"),
    [
        (["audio", "audio"], False),
        (["audio", "video", "video"], False),
        (["audio"] * 300, False),
        (["audio", "video"], True),
    ],
)
async def test_more_m_lines_are_bad_sdp(kinds: list[str], data_channel: bool) -> None:
    parsed = check_sdp(await _offer(kinds, data_channel), "offer")
    with pytest.raises(BadSdp, match="at most one audio and one video"):
        check_publish_sdp(parsed)


async def test_a_renegotiation_may_not_move_an_m_line_to_a_new_mid() -> None:
    async def nothing(_: object) -> None:
        return None

    hub = Hub("s-1", "tw-hanoi")
    participant = Participant(
        hub, EndpointId("e-1"), "bac-ninh", EndpointRole.ROOM, nothing, nothing
    )
    try:
        offer = await _offer(["audio"])
        assert "a=mid:0" in await participant.publish(offer)
        assert "a=mid:0" in await participant.publish(offer)  # the same again is fine
        moved = offer.replace("a=mid:0", "a=mid:7").replace("BUNDLE 0", "BUNDLE 7")
        with pytest.raises(BadSdp, match="mid changed"):
            await participant.publish(moved)
        assert len(hub.uptracks) == 1
    finally:
        await participant.close()
