"""Real aiortc endpoints join a real server and exchange VP8 video and Opus audio."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import av
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from bridge.packets import PacketDownTrack
from core.access import Role
from signaling.client import BridgeClient
from tests.integration.conftest import HOST, SESSION, Server, wait_for
from web.keys import RELAY, SETTINGS

MIN_FRAMES = 30


def _decodes(codec: str, data: bytes) -> bool:
    context: Any = av.CodecContext.create(codec, "r")
    frames = context.decode(av.Packet(data))
    return any(f.width > 0 for f in frames)


async def _reported_at(client: BridgeClient, site: str, kind: str) -> datetime | None:
    """The NTP time of the last sender report ``client`` got on ``site``'s ``kind`` track."""
    mid = client.tracks_from(site, kind)[-1].mid
    assert client.subscribe_pc is not None
    receiver = next(t for t in client.subscribe_pc.getTransceivers() if t.mid == mid).receiver
    for s in (await receiver.getStats()).values():
        if s.type == "remote-outbound-rtp" and s.remoteTimestamp.year > 1900:
            return s.remoteTimestamp  # type: ignore[no-any-return]
    return None


async def _join(server: Server, site: str, role: Role = Role.ROOM) -> BridgeClient:
    client = BridgeClient(server.url, server.token(site, role))
    await client.connect()
    return client


async def test_two_sites_see_and_hear_each_other_and_a_third_joins_later(
    relay_server: Server,
) -> None:
    server = relay_server
    hanoi = await _join(server, HOST)
    bac_ninh = await _join(server, "bac-ninh")
    try:
        await hanoi.publish([VideoStreamTrack(), AudioStreamTrack()])
        await bac_ninh.publish([VideoStreamTrack(), AudioStreamTrack()])

        await wait_for(
            lambda: (
                hanoi.frames_from("bac-ninh", "video") >= MIN_FRAMES
                and bac_ninh.frames_from(HOST, "video") >= MIN_FRAMES
                and hanoi.frames_from("bac-ninh", "audio") >= MIN_FRAMES
                and bac_ninh.frames_from(HOST, "audio") >= MIN_FRAMES
            ),
            what="video and audio both ways",
        )
        video = hanoi.tracks_from("bac-ninh", "video")[0]
        assert video.codec == "video/VP8"
        assert video.keyframe is not None and _decodes("vp8", video.keyframe)
        assert hanoi.tracks_from("bac-ninh", "audio")[0].codec == "audio/opus"
        # Sender reports reach subscribers with a real wall-clock time (in packet mode,
        # the publisher's, translated), which browsers need to keep lip sync.
        for kind in ("video", "audio"):
            remote = None
            for _ in range(100):
                remote = await _reported_at(hanoi, "bac-ninh", kind)
                if remote is not None:
                    break
                await asyncio.sleep(0.1)
            assert remote is not None and abs((datetime.now(UTC) - remote).total_seconds()) < 10

        # Whole frames still reach the up-tracks' sinks (the recorder) in both modes, once
        # per up-track; in packet mode the down-tracks got packets, not frames.
        hub = server.app[RELAY].hubs[SESSION]
        assert all(u.counters.frames_in >= MIN_FRAMES for u in hub.uptracks.values())
        if server.app[SETTINGS].forwarding == "packet":
            downtracks = [d for p in hub.participants for d in p.subscriptions.values()]
            assert downtracks
            for downtrack in downtracks:
                assert isinstance(downtrack, PacketDownTrack) and downtrack.packets_out > 0

        offers_before = len(hanoi.offers), len(bac_ninh.offers)
        da_nang = await _join(server, "da-nang")
        await da_nang.publish([VideoStreamTrack(), AudioStreamTrack()])
        await wait_for(
            lambda: (
                hanoi.frames_from("da-nang", "video") >= MIN_FRAMES
                and bac_ninh.frames_from("da-nang", "video") >= MIN_FRAMES
                and da_nang.frames_from(HOST, "video") >= MIN_FRAMES
                and da_nang.frames_from("bac-ninh", "audio") >= MIN_FRAMES
            ),
            what="the third site's media at the others and theirs at it",
        )
        assert len(hanoi.offers) > offers_before[0]
        assert len(bac_ninh.offers) > offers_before[1]
        assert {t["site"] for t in hanoi.offers[-1]["tracks"]} == {"bac-ninh", "da-nang"}

        await da_nang.leave()
        await wait_for(
            lambda: (
                all(t.ended for t in hanoi.tracks_from("da-nang"))
                and all(t.ended for t in bac_ninh.tracks_from("da-nang"))
            ),
            what="the leaving site's tracks to end at the others",
        )
        await wait_for(
            lambda: (
                any(p["site"] == "da-nang" and p["state"] == "left" for p in hanoi.presence[-1])
                or all(p["site"] != "da-nang" for p in hanoi.presence[-1])
            ),
            what="presence to show da-nang gone",
        )
        before = hanoi.frames_from("bac-ninh", "video")
        await wait_for(
            lambda: hanoi.frames_from("bac-ninh", "video") >= before + MIN_FRAMES,
            what="media between the remaining sites to continue",
        )
    finally:
        await hanoi.leave()
        await bac_ninh.leave()


async def test_h264_publisher_reaches_subscribers_as_h264(relay_server: Server) -> None:
    server = relay_server
    hanoi = BridgeClient(server.url, server.token(HOST), video_codecs=("video/H264",))
    bac_ninh = await _join(server, "bac-ninh")
    await hanoi.connect()
    try:
        await hanoi.publish([VideoStreamTrack()])
        await wait_for(lambda: bac_ninh.frames_from(HOST, "video") >= MIN_FRAMES, what="H264 video")
        video = bac_ninh.tracks_from(HOST, "video")[0]
        assert video.codec == "video/H264"
        assert video.keyframe is not None and _decodes("h264", video.keyframe)
    finally:
        await hanoi.leave()
        await bac_ninh.leave()
