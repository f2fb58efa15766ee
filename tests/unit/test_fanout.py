"""The packet fan-out in C (bridge/fanout.c) over real aiortc connections: down-tracks in
steady state are forwarded by ``rb_fanout``, the others packet by packet in Python, and
the two agree on sequence numbers, counts and when to stop."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

import aioice
import pylibsrtp
import pytest
from aiortc import RTCPeerConnection
from aiortc.mediastreams import AudioStreamTrack

from bridge import packets, rtc_internals
from bridge.frames import EndpointId, Kind, TrackId, TrackInfo
from bridge.packets import PacketDownTrack, PacketSource

AUDIO = TrackInfo(TrackId("a"), "mic", EndpointId("p"), "site", Kind.AUDIO, "opus", 48000)


def test_the_lane_fits_the_pinned_pylibsrtp_and_aioice() -> None:
    """The C loop writes into buffers sized as pylibsrtp's and calls its srtp_protect."""
    assert pylibsrtp.__version__ == "1.0.0" and aioice.__version__ == "0.13.0"
    assert pylibsrtp.SRTP_MAX_TRAILER_LEN == 144  # RB_TRAILER
    session = pylibsrtp.Session()
    assert len(session._cdata) == len(rtc_internals.new_lane().out) == 1500  # RB_DATAGRAM
    assert packets.HISTORY == 1024 and len(rtc_internals.new_lane().history_out) == 1024
    lane = rtc_internals.new_lane()
    assert (lane.fd, lane.last_seq, lane.history_out[5]) == (-1, -1, -1)
    # No SRTP session yet: refused, not sent, nothing counted.
    assert rtc_internals.fanout_lib.rb_send(lane, 111, 1, 2, 3, b"x", 1, 0, -1) == 0
    assert rtc_internals.fanout_lib.rb_set_peer(lane, 5, b"not an address", 4000) == 0
    assert lane.fd == -1
    assert rtc_internals.fanout_lib.rb_set_peer(lane, 5, b"::1", 4000) == 1
    lane.fd = -1


async def _wait(condition: Callable[[], bool], what: str, within: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def test_steady_down_tracks_go_through_c_and_agree_with_python(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(packets, "LANE_CHECK", 0.0)
    a, b = RTCPeerConnection(), RTCPeerConnection()
    heard: list[list[tuple[int, int, int, bytes]]] = [[], []]
    source = PacketSource(AUDIO)
    downtracks = [
        PacketDownTrack(AUDIO, EndpointId(f"s{i}"), lambda: None, source) for i in range(2)
    ]
    tasks: list[asyncio.Task[Any]] = []
    try:
        offered = [a.addTransceiver(AudioStreamTrack(), direction="sendrecv") for _ in range(2)]
        for index, transceiver in enumerate(offered):
            rtc_internals.tap_rtp(transceiver.receiver, _keeper(heard[index]), lambda *r: None)
        await a.setLocalDescription(await a.createOffer())
        await b.setRemoteDescription(a.localDescription)
        for transceiver, downtrack in zip(b.getTransceivers(), downtracks, strict=True):
            transceiver.direction = "sendrecv"
            downtrack.bind(transceiver)
        await b.setLocalDescription(await b.createAnswer())
        await a.setRemoteDescription(b.localDescription)
        await _wait(lambda: b.connectionState == "connected", "the connection")
        await _wait(
            lambda: all(t.sender.transport.state == "connected" for t in b.getTransceivers()),
            "DTLS",
        )
        # What the subscriber's sender does when it first reads: the link comes up.
        tasks = [asyncio.ensure_future(d.next_frame()) for d in downtracks]
        await _wait(lambda: all(d._link is not None for d in downtracks), "the links")

        def publish(first: int, count: int) -> None:
            for seq in range(first, first + count):
                source.on_packet(seq & 0xFFFF, 960 * seq, 0, b"\x01opus" + bytes([seq & 0xFF]))

        publish(1000, 10)
        assert all(d.fast for d in downtracks), "steady state after the first packet sent"
        await _wait(lambda: all(len(h) >= 10 for h in heard), "ten packets each")
        for h in heard:
            seqs = [p[0] for p in h]
            assert all((y - x) & 0xFFFF == 1 for x, y in itertools.pairwise(seqs))
            assert [p[3][-1] for p in h[:10]] == [seq & 0xFF for seq in range(1000, 1010)]
        one, two = downtracks
        assert (one.counters.frames_in, one.counters.frames_out, one.packets_out) == (10, 10, 10)
        assert one.counters.bytes_out == 10 * 6
        assert (source.counters.frames_out, source.counters.bytes_out) == (20, 120)

        # A pause leaves steady state; the resumed down-track re-bases in Python and its
        # numbering follows on from the last packet it sent, though the source jumped.
        one.set_forwarding(False)
        assert not one.fast and two.fast
        publish(1010, 5)
        assert one.packets_out == 10 and two.packets_out == 15
        one.set_forwarding(True)
        publish(30000, 5)
        assert one.fast and one.packets_out == 15 and two.packets_out == 20
        await _wait(lambda: len(heard[0]) >= 15, "the resumed packets")
        seqs = [p[0] for p in heard[0][:15]]
        assert all((y - x) & 0xFFFF == 1 for x, y in itertools.pairwise(seqs))
        assert one.counters.frames_in == 15 and source.counters.frames_out == 35

        # The subscriber's connection closes: the next check takes both out of the C
        # loop, and nothing more is sent or counted as sent.
        await b.close()
        publish(30005, 3)
        assert not any(d.fast for d in downtracks)
        assert (one.packets_out, two.packets_out) == (15, 20)
        assert one.counters.frames_out == 15
        fds = [list(d._link._fds) for d in downtracks if d._link is not None]
        for downtrack in downtracks:
            downtrack.end()
        assert all(d._link is not None and not d._link._fds for d in downtracks)
        assert all(fd_list for fd_list in fds), "each lane had its own socket descriptor"
    finally:
        for downtrack in downtracks:
            downtrack.end()
        await asyncio.gather(*tasks, return_exceptions=True)
        await a.close()
        await b.close()


def _keeper(into: list[tuple[int, int, int, bytes]]) -> Callable[[int, int, int, bytes], None]:
    def keep(seq: int, timestamp: int, marker: int, payload: bytes) -> None:
        if payload.startswith(b"\x01opus"):  # not a's own AudioStreamTrack (b sends none)
            into.append((seq, timestamp, marker, payload))

    return keep
