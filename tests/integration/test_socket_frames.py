"""``bench/socket_frames.py`` counts at the socket what aiortc's receive path counts, and
leaves STUN, DTLS and RTCP to aiortc, read by asyncio or polled; ``bench/replay.py``
publishes a clip encoded once.

One real aiortc connection on loopback (ICE, DTLS, SRTP), a replayed VP8 clip to a
receiver that counts frames both ways on the same packets.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from aioice.ice import StunProtocol
from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcdtlstransport import RTCDtlsTransport

from bench.lifecycle import until
from bench.relay import FrameCounter
from bench.replay import ReplayTrack, encode_clip
from bench.socket_frames import RX_SRTP_ATTR, SocketFrames
from bridge.rtc_internals import codec_preferences, tap_rtp


class GatedReplay(ReplayTrack):
    """A replay that sends only while ``flowing`` is set."""

    def __init__(self) -> None:
        super().__init__(encode_clip(1.0))
        self.flowing = asyncio.Event()
        self.flowing.set()

    async def next_frame(self) -> tuple[bytes, int]:
        await self.flowing.wait()
        return await super().next_frame()


async def _receiver_reports(sender: Any, within: float = 5.0) -> list[Any]:
    """The sender's ``remote-inbound-rtp`` stats (what receiver reports told it), once
    there are any, or [] after ``within`` seconds."""
    for _ in range(int(within / 0.05)):
        stats = (await sender.getStats()).values()
        reported = [s for s in stats if s.type == "remote-inbound-rtp"]
        if reported:
            return reported
        await asyncio.sleep(0.05)
    return []


def test_internals_used_exist() -> None:
    assert f"self.{RX_SRTP_ATTR}" in inspect.getsource(RTCDtlsTransport.__init__)
    # aioice hands what is not STUN to the connection, from datagram_received.
    assert "self.receiver.data_received(" in inspect.getsource(StunProtocol.datagram_received)


async def test_socket_count_matches_the_rtp_count_and_rtcp_still_flows() -> None:
    track = GatedReplay()
    publisher, subscriber = RTCPeerConnection(), RTCPeerConnection()
    rtp = FrameCounter()
    reports: list[int] = []

    @subscriber.on("track")
    def on_track(remote: MediaStreamTrack) -> None:
        transceiver = next(t for t in subscriber.getTransceivers() if t.receiver.track is remote)
        tap_rtp(transceiver.receiver, rtp.on_packet, lambda _n, r: reports.append(r), light=True)

    transceiver = publisher.addTransceiver(track, direction="sendonly")
    transceiver.setCodecPreferences(codec_preferences("video", ["video/VP8"]))
    track.hook(transceiver.sender)
    try:
        await publisher.setLocalDescription(await publisher.createOffer())
        await subscriber.setRemoteDescription(publisher.localDescription)
        await subscriber.setLocalDescription(await subscriber.createAnswer())
        counters: list[FrameCounter] = []
        sockets = SocketFrames(subscriber, counters, passthrough=True)
        assert sockets.sockets > 0
        await publisher.setRemoteDescription(subscriber.localDescription)

        # Both ways on the same packets: the socket sees each datagram, then aiortc
        # decrypts and parses it and the RTP tap counts it.
        assert await until(lambda: sockets.complete >= 45, 30), sockets.complete
        track.flowing.clear()
        await asyncio.sleep(1.0)  # aiortc's queue drains
        assert len(counters) == 1, counters
        assert sockets.complete > 0 and rtp.complete > 0
        assert abs(sockets.complete - rtp.complete) <= 1, (sockets.complete, rtp.complete)
        # The first packets can arrive before the receiver has started (its payload
        # types unknown at arrival, known when aiortc's queue hands them on): at most
        # the first frame's, and no frame is complete without its start.
        first_frame_packets = len(track.clip.frames[0]) // 1000 + 1
        missed = rtp.packets - counters[0].packets
        assert 0 <= missed <= first_frame_packets, (counters[0].packets, rtp.packets)

        # Counting at the socket only: RTP stops there, the rest still reaches aiortc.
        sockets.passthrough = False
        rtp_packets, socket_frames = rtp.packets, sockets.complete
        handed_on, reports_seen = sockets.handed_on, len(reports)
        track.flowing.set()
        assert await until(
            lambda: sockets.complete >= socket_frames + 45 and len(reports) > reports_seen, 30
        ), (sockets.complete, socket_frames, len(reports), reports_seen)
        assert rtp.packets == rtp_packets  # nothing went past the socket...
        assert sockets.skipped > 0
        assert sockets.handed_on > handed_on  # ...but the sender reports (SRTCP) did
        assert subscriber.connectionState == "connected"

        # Polled: asyncio no longer reads the sockets; draining them counts the same way
        # and still hands SRTCP on.
        sockets.poll()
        socket_frames, handed_on, reports_seen = sockets.complete, sockets.handed_on, len(reports)

        async def drain() -> None:
            while True:
                sockets.drain()
                await asyncio.sleep(0.02)

        draining = asyncio.ensure_future(drain())
        try:
            assert await until(
                lambda: sockets.complete >= socket_frames + 45 and len(reports) > reports_seen, 30
            ), (sockets.complete, socket_frames, len(reports), reports_seen)
        finally:
            draining.cancel()
        assert rtp.packets == rtp_packets
        assert sockets.handed_on > handed_on
        assert subscriber.connectionState == "connected"

        # aiortc's receiver saw no RTP, so it reports nothing; the socket counter's
        # receiver report reaches the publisher's sender.
        await sockets.report()
        assert await _receiver_reports(transceiver.sender), "no receiver report reached it"
    finally:
        await publisher.close()
        await subscriber.close()


async def test_a_light_receiver_still_sends_receiver_reports() -> None:
    """A bench subscriber tapped ``light`` keeps aiortc's statistics, so its RTCP loop
    reports about the stream: without reports it would send nothing but ICE consent
    checks (every 4-6 s) and the relay's 5 s silence watchdog would drop it now and then."""
    track = GatedReplay()
    publisher, subscriber = RTCPeerConnection(), RTCPeerConnection()
    rtp = FrameCounter()

    @subscriber.on("track")
    def on_track(remote: MediaStreamTrack) -> None:
        transceiver = next(t for t in subscriber.getTransceivers() if t.receiver.track is remote)
        tap_rtp(transceiver.receiver, rtp.on_packet, lambda _n, _r: None, light=True)

    transceiver = publisher.addTransceiver(track, direction="sendonly")
    transceiver.setCodecPreferences(codec_preferences("video", ["video/VP8"]))
    track.hook(transceiver.sender)
    try:
        await publisher.setLocalDescription(await publisher.createOffer())
        await subscriber.setRemoteDescription(publisher.localDescription)
        await subscriber.setLocalDescription(await subscriber.createAnswer())
        await publisher.setRemoteDescription(subscriber.localDescription)
        assert await until(lambda: rtp.complete >= 10, 30), rtp.complete
        reported = await _receiver_reports(transceiver.sender)
        assert reported, "the light receiver sent no receiver report"
        assert reported[0].packetsReceived > 0
    finally:
        await publisher.close()
        await subscriber.close()
