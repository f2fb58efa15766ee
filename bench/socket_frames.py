"""Count a light subscriber's video frames at its UDP socket, without decrypting.

A benchmark's subscriber that only counts frames still pays, per packet, for aioice's
STUN parse attempt and queue, the DTLS transport's coroutine, SRTP unprotect and RTP
parsing. The SRTP header is plaintext (RFC 3711: only the payload is encrypted), so
once DTLS has set up SRTP, the SSRC, payload type, sequence number and marker bit can be
read from each datagram as it arrives and the rest skipped. Everything else (STUN,
consent checks included, DTLS, SRTCP) still goes to aioice and aiortc, so the
connection stays alive, RTCP reports flow and the server sees a normal subscriber.

:meth:`SocketFrames.poll` goes one step further: asyncio stops reading the sockets (its
transport's public ``pause_reading``), and :meth:`SocketFrames.drain`, called every
few tens of milliseconds, reads every datagram that arrived in between. asyncio would
wake the process and run a loop iteration per datagram; draining wakes it once per
tick for all of them. STUN, DTLS and SRTCP still reach aioice and aiortc, a tick late.

aiortc's receiver sends receiver reports only about the streams it handled itself (none
here), so :meth:`SocketFrames.report` sends them instead, as every real subscriber does
about once a second: the relay's media-silence watchdog (5 s) must hear from a live
subscriber, and consent checks alone (every 4-6 s) sometimes leave it longer.

Reaches into aioice 0.13 / aiortc 1.16 internals (the ICE connection's protocols, the
DTLS transport's receive SRTP session), as the bench may; ``tests/integration/
test_socket_frames.py`` checks the count against the RTP-level light counter on one
stream and pins what it touches.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

from aiortc import RTCPeerConnection
from aiortc.rtp import RtcpReceiverInfo, RtcpRrPacket, is_rtcp

from bench.frame_index import FrameIndex
from bench.relay import FrameCounter
from bridge.rtc_internals import (
    DATAGRAM_SOCKET_ATTR,
    ICE_CONNECTION_ATTR,
    ICE_PROTOCOLS_ATTR,
    RECEIVER_CODECS_ATTR,
)

RX_SRTP_ATTR = "_rx_srtp"
"""``RTCDtlsTransport``'s receive SRTP session, None until the DTLS handshake is done."""
TAPPED_ATTR = "_rb_socket_frames"
"""Set on a ``StunProtocol`` whose ``datagram_received`` is wrapped here."""

RECEIVE_BUFFER = 2 << 20
"""Bytes asked for each polled socket's receive buffer (the kernel caps it at
``net.core.rmem_max``)."""
MAX_DATAGRAM = 4096
"""Larger than any datagram once DTLS is set up (RTP, SRTCP, STUN stay under the MTU)."""

Received = Callable[[bytes | str, tuple[Any, ...]], None]


class IndexedFrames(FrameCounter):
    """A :class:`FrameCounter` that also keeps each complete frame's RTP timestamp in
    ``index`` (placed on the publisher's frame numbers by :meth:`SocketFrames.drain`)."""

    def __init__(self) -> None:
        super().__init__()
        self.index = FrameIndex()

    def frame_complete(self, timestamp: int) -> None:
        self.index.pending.append(timestamp)


class SocketFrames:
    """Complete frames per media SSRC counted from datagrams at ``pc``'s sockets.

    ``counters`` gets a :class:`FrameCounter` for each new media SSRC (a renewed m-line
    brings a new one); retransmission and unknown payload types are not counted. With
    ``passthrough`` every datagram also goes on to aiortc (for a test that compares this
    count with aiortc's own path on the same packets); without it, RTP stops here.

    With ``published`` (the publisher's count of frames handed to its sender, read from
    wherever the publisher keeps it), the counters are :class:`IndexedFrames` and each
    :meth:`drain` places the frames it completed on the publisher's frame numbers
    (:mod:`bench.frame_index`), with the count read after the datagrams.
    """

    def __init__(
        self,
        pc: RTCPeerConnection,
        counters: list[FrameCounter],
        *,
        passthrough: bool = False,
        published: Callable[[], int] | None = None,
    ) -> None:
        self.counters = counters
        self.passthrough = passthrough
        self.published = published
        self.by_ssrc: dict[int, FrameCounter] = {}
        self._first_seq: dict[int, int] = {}
        self.skipped = 0
        """RTP datagrams counted here and not handed to aiortc."""
        self.handed_on = 0
        """Datagrams handed to aioice/aiortc (STUN, DTLS, SRTCP, RTP before SRTP is up)."""
        self._pc = pc
        self.media_types: set[int] = set()
        self.sockets = 0
        self._tapped: list[Any] = []
        self._polled: list[tuple[Any, Any]] = []
        dtls_transports = {t.receiver.transport for t in pc.getTransceivers()}
        for dtls in dtls_transports:
            connection = getattr(dtls.transport, ICE_CONNECTION_ATTR)
            for protocol in getattr(connection, ICE_PROTOCOLS_ATTR):
                if getattr(protocol, TAPPED_ATTR, False):
                    continue
                protocol.datagram_received = self._wrap(dtls, protocol.datagram_received)
                setattr(protocol, TAPPED_ATTR, True)
                self._tapped.append(protocol)
                self.sockets += 1

    def poll(self) -> None:
        """From now on asyncio does not read the sockets: :meth:`drain` does."""
        for protocol in self._tapped:
            protocol.transport.pause_reading()
            sock = getattr(protocol.transport, DATAGRAM_SOCKET_ATTR)
            # Room for seconds of video: a subscriber process the shared machine leaves
            # unscheduled for a while must not drop what the relay delivered.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
            self._polled.append((protocol, sock))

    def drain(self) -> None:
        """Read and handle every datagram waiting on the polled sockets."""
        for protocol, sock in self._polled:
            if protocol.transport is None or protocol.transport.is_closing():
                continue
            received = protocol.datagram_received
            while True:
                try:
                    data, addr = sock.recvfrom(MAX_DATAGRAM)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:  # closed under us: the connection is going
                    break
                received(data, addr)
        if self.published is not None:
            published = self.published()
            for counter in self.by_ssrc.values():
                if isinstance(counter, IndexedFrames) and counter.index.pending:
                    counter.index.place(published)

    @property
    def indexes(self) -> list[FrameIndex]:
        """Every SSRC's :class:`FrameIndex` (with ``published``)."""
        return [c.index for c in self.by_ssrc.values() if isinstance(c, IndexedFrames)]

    def _wrap(self, dtls: Any, received: Received) -> Received:
        by_ssrc = self.by_ssrc

        def datagram_received(data: bytes | str, addr: tuple[Any, ...]) -> None:
            # SRTP: first byte 128-191 (RTP version 2), not RTCP, SRTP keys in place.
            if (
                isinstance(data, bytes)
                and len(data) >= 12
                and 127 < data[0] < 192
                and not is_rtcp(data)
                and getattr(dtls, RX_SRTP_ATTR) is not None
            ):
                ssrc = int.from_bytes(data[8:12])
                counter = by_ssrc.get(ssrc)
                if counter is None and self._is_media(data[1] & 0x7F):
                    counter = by_ssrc[ssrc] = (
                        FrameCounter() if self.published is None else IndexedFrames()
                    )
                    self.counters.append(counter)
                    self._first_seq[ssrc] = (data[2] << 8) | data[3]
                if counter is not None:
                    seq, timestamp = (data[2] << 8) | data[3], int.from_bytes(data[4:8])
                    counter.on_packet(seq, timestamp, data[1] >> 7, b"")
                if not self.passthrough:
                    self.skipped += 1
                    return
            self.handed_on += 1
            received(data, addr)

        return datagram_received

    def _is_media(self, payload_type: int) -> bool:
        """Whether ``payload_type`` is a media codec's (not RTX) on a started receiver
        (looked up again for a type not seen yet: receivers start after DTLS is up)."""
        if payload_type not in self.media_types:
            for transceiver in self._pc.getTransceivers():
                codecs: dict[int, Any] = getattr(transceiver.receiver, RECEIVER_CODECS_ATTR)
                self.media_types |= {pt for pt, c in codecs.items() if c.name.lower() != "rtx"}
        return payload_type in self.media_types

    async def report(self) -> None:
        """Send one RTCP receiver report about every SSRC counted so far (highest
        sequence number and packets lost from what arrived, no jitter or timing)."""
        transceivers = self._pc.getTransceivers()
        if not transceivers or not self.by_ssrc:
            return
        reports = []
        for ssrc, counter in self.by_ssrc.items():
            last = counter.last_sequence if counter.last_sequence is not None else 0
            expected = ((last - self._first_seq[ssrc]) & 0xFFFF) + 1
            reports.append(
                RtcpReceiverInfo(
                    ssrc=ssrc,
                    fraction_lost=0,
                    packets_lost=max(0, expected - counter.packets),
                    highest_sequence=last,
                    jitter=0,
                    lsr=0,
                    dlsr=0,
                )
            )
        # aiortc's receivers report with their transceiver's sender SSRC.
        transceiver = transceivers[0]
        packet = RtcpRrPacket(ssrc=transceiver.sender._ssrc, reports=reports)
        await transceiver.receiver._send_rtcp(packet)

    @property
    def complete(self) -> int:
        return sum(c.complete for c in self.by_ssrc.values())
