"""The REMB a publisher hears never asks for less than the floor (rtc_internals.floor_remb)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiortc import RTCPeerConnection
from aiortc.mediastreams import VideoStreamTrack

from bridge import rtc_internals

FLOOR = 1 << 25
"""About 33.5 Mbit/s, far above what aiortc estimates for one test stream on loopback:
every REMB the sender hears must have been raised to it (a power of two, so REMB's
mantissa and exponent carry it exactly)."""


async def test_every_remb_a_sender_hears_is_raised_to_the_floor() -> None:
    sender_pc, receiver_pc = RTCPeerConnection(), RTCPeerConnection()
    heard: list[int] = []

    @receiver_pc.on("track")
    def on_track(track: Any) -> None:
        transceiver = next(t for t in receiver_pc.getTransceivers() if t.receiver.track is track)
        rtc_internals.floor_remb(transceiver.receiver, FLOOR)

    sending = sender_pc.addTransceiver(VideoStreamTrack(), direction="sendonly")
    sending.setCodecPreferences(rtc_internals.codec_preferences("video", ["video/VP8"]))
    rtc_internals.hook_remb(sending.sender, heard.append)
    try:
        await sender_pc.setLocalDescription(await sender_pc.createOffer())
        await receiver_pc.setRemoteDescription(sender_pc.localDescription)
        await receiver_pc.setLocalDescription(await receiver_pc.createAnswer())
        await sender_pc.setRemoteDescription(receiver_pc.localDescription)
        deadline = asyncio.get_running_loop().time() + 15.0
        while len(heard) < 3:
            assert asyncio.get_running_loop().time() < deadline, f"REMBs heard: {heard}"
            await asyncio.sleep(0.05)
    finally:
        await sender_pc.close()
        await receiver_pc.close()
    assert set(heard) == {FLOOR}
