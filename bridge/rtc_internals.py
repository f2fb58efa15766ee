"""Every place the relay reaches into aiortc 1.16.0 internals, and nowhere else.

aiortc decodes what it receives and encodes what it sends; the relay wants neither.
Three hooks turn it into a forwarder (see DESIGN.md, "Media: forward, never transcode"):

- :func:`tap_receiver` swaps the receiver's decoder queue for :class:`_FrameTap`, which
  hands each depayloaded frame to a callback instead of the decoder thread;
- :class:`PacketTrack` is a track whose ``recv()`` returns an ``av.Packet``, which
  ``RTCRtpSender`` packetises without encoding;
- :func:`hook_keyframe_request` replaces a sender's ``_send_keyframe`` (which only sets
  an encoder flag) with a callback that asks the publisher for a keyframe.

Two more let an m-line carry a new track after its first one ended (subscribe m-lines
are recycled, see signaling/PROTOCOL.md): :func:`renew_sender` on the relay's side and
:func:`renew_receiver` on an aiortc subscriber's side. aiortc 1.16 has no public way to
do it: ``RTCRtpSender.stop()`` is irreversible (``send()`` does nothing once started),
and an ``RTCRtpReceiver`` that heard RTCP BYE has stopped its decoder for good and only
fires ``track`` for a transceiver whose receiver has no track yet.

:func:`sever_ice` makes a connection's network go silent (both ways, sockets left open),
as a dead link does, so tests and fault drills can watch a leg fail and heal;
:func:`watch_arrivals` notes when a connection last heard from the other end (the relay's
media-silence watchdog, see :mod:`bridge.legs`).

Importing this module also guards aioice's consent checks (``_guard_consent``): aioice
0.13 starts them on a connection closed while ICE completed, where they run forever.

:func:`enlarge_receive_buffers` gives a connection's UDP sockets room for what arrives
while the relay is off the CPU; :func:`floor_remb` keeps the bitrate a publisher is asked
for (REMB) from following the relay's own scheduling delays down (see their docstrings).

:func:`tap_sender` lets a benchmark see each encoded frame a sender is about to
packetise (bench/relay.py times frames end to end by their bytes).

Packet-level forwarding (:mod:`bridge.packets`) adds :func:`tap_rtp`, which takes a
publisher's RTP packets before the jitter buffer and, while nothing needs whole frames,
does the receiver's RTCP bookkeeping in its stead and skips its depacketiser and jitter
buffer (:class:`RtpTap`); :class:`Downlink`, which sends a subscriber's packets and its
RTCP sender reports; :func:`take_sender_reports`, which stops the sender's own report
loop (the up-track sends its down-tracks' reports in one batch); and hooks for
subscribers' NACKs and REMBs.

``tests/unit/test_aiortc_touchpoints.py`` fails when an aiortc upgrade moves any of these.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import functools
import inspect
import logging
import os
import queue
import socket
import struct
import time
import weakref
from collections.abc import Callable, Coroutine
from typing import Any

import av
import pylibsrtp
from aioice.ice import Connection, StunProtocol
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender, RTCRtpTransceiver
from aiortc import clock as aiortc_clock
from aiortc.codecs import depayload
from aiortc.jitterbuffer import JitterBuffer
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcrtpparameters import RTCRtpCodecCapability, RTCRtpCodecParameters
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RtcpByePacket,
    RtcpPsfbPacket,
    RtcpSdesPacket,
    RtcpSenderInfo,
    RtcpSourceInfo,
    RtcpSrPacket,
    RtpPacket,
    pack_remb_fci,
    unpack_remb_fci,
    unwrap_rtx,
)
from pylibsrtp._binding import ffi as _srtp_ffi
from pylibsrtp._binding import lib as _srtp_lib

logger = logging.getLogger(__name__)

DECODER_QUEUE_ATTR = "_RTCRtpReceiver__decoder_queue"
"""Name-mangled ``queue.Queue`` the receiver puts ``(codec, JitterFrame)`` tuples on."""
RTX_SSRC_ATTR = "_RTCRtpReceiver__rtx_ssrc"
"""Name-mangled map of retransmission SSRC to media SSRC."""

TRANSCEIVER_SENDER_ATTR = "_RTCRtpTransceiver__sender"
"""Name-mangled sender of a transceiver (``transceiver.sender`` is read-only)."""
TRANSCEIVER_RECEIVER_ATTR = "_RTCRtpTransceiver__receiver"
"""Name-mangled receiver of a transceiver (``transceiver.receiver`` is read-only)."""

NEXT_ENCODED_FRAME_ATTR = "_next_encoded_frame"
"""``RTCRtpSender``'s coroutine that returns the next ``RTCEncodedFrame`` (its payloads,
already packetised) to its RTP loop, which looks it up on every frame."""

ICE_CONNECTION_ATTR = "_connection"
"""``RTCIceTransport``'s aioice ``Connection``."""
ICE_PROTOCOLS_ATTR = "_protocols"
"""aioice ``Connection``'s ``StunProtocol`` list, one per local UDP socket; each has a
``transport`` (the asyncio datagram transport it sends with) and ``datagram_received``."""

FrameCallback = Callable[[RTCRtpCodecParameters, bytes, int], None]
"""Receives (codec, payload, timestamp in clock units) for every depayloaded frame."""


class _FrameTap:
    """Stands in for the decoder queue: frames go to a callback, the stop signal does not.

    The receiver calls ``put`` on the event loop for every complete frame and
    ``put(None)`` when it stops. The decoder thread blocks in ``get`` on the original
    queue and must still see ``None``, or ``pc.close()`` waits on it forever.
    """

    def __init__(
        self, original: queue.Queue[Any], on_frame: FrameCallback, on_end: Callable[[], None]
    ) -> None:
        self._original = original
        self._on_frame = on_frame
        self._on_end = on_end

    def put(self, item: tuple[RTCRtpCodecParameters, Any] | None) -> None:
        if item is None:
            self._original.put(None)
            self._on_end()
            return
        codec, frame = item
        self._on_frame(codec, frame.data, frame.timestamp)

    def get(self) -> Any:
        return self._original.get()


def tap_receiver(
    receiver: RTCRtpReceiver, on_frame: FrameCallback, on_end: Callable[[], None]
) -> None:
    """Route ``receiver``'s encoded frames to ``on_frame``; call before it starts.

    Call it from a synchronous ``pc.on("track")`` handler: the receiver starts its
    decoder thread later, when the transport connects, and reads the queue then.
    """
    original = getattr(receiver, DECODER_QUEUE_ATTR)
    if isinstance(original, _FrameTap):
        raise RuntimeError("receiver is already tapped")
    setattr(receiver, DECODER_QUEUE_ATTR, _FrameTap(original, on_frame, on_end))


def tap_sender(sender: RTCRtpSender, on_frame: Callable[[bytes], None]) -> None:
    """Call ``on_frame`` with every frame ``sender`` encodes, just before it packetises
    and sends it, as a receiver's depayloader will put it back together (the bytes a
    :func:`tap_receiver` callback gets for the same frame)."""
    original = getattr(sender, NEXT_ENCODED_FRAME_ATTR)

    async def next_encoded_frame(codec: RTCRtpCodecParameters) -> Any:
        frame = await original(codec)
        if frame is not None:
            on_frame(b"".join(depayload(codec, payload) for payload in frame.payloads))
        return frame

    setattr(sender, NEXT_ENCODED_FRAME_ATTR, next_encoded_frame)


class _Silent:
    """A datagram transport that sends nothing; everything else goes to the real one."""

    def __init__(self, transport: Any) -> None:
        self._transport = transport

    def sendto(self, data: bytes, addr: Any = None) -> None:
        """Dropped, as by a network that stopped carrying the connection's packets."""

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def _ignore(data: bytes | str, addr: tuple[Any, ...]) -> None:
    """Stands in for ``datagram_received``: what arrives is dropped."""


def sever_ice(pc: RTCPeerConnection) -> int:
    """Drop every UDP datagram ``pc``'s ICE transports send or receive from now on.

    The sockets stay open, so nothing closes: both ends see a silent link, and their
    ICE consent checks (RFC 7675) expire it after about 30 s, as on a network that
    died. Returns how many sockets went silent.
    """
    severed = 0
    ice_transports = {t.sender.transport.transport for t in pc.getTransceivers()}
    for ice in ice_transports:
        connection = getattr(ice, ICE_CONNECTION_ATTR)
        for protocol in getattr(connection, ICE_PROTOCOLS_ATTR):
            if isinstance(protocol.transport, _Silent):
                continue
            protocol.transport = _Silent(protocol.transport)
            protocol.datagram_received = _ignore
            severed += 1
    return severed


class Arrivals:
    """When a connection last heard anything from the other end (see :func:`watch_arrivals`)."""

    def __init__(self) -> None:
        self.last: float | None = None
        """Loop time of the latest datagram, None before the first one."""
        self.count = 0
        """Datagrams heard so far."""

    def heard(self) -> None:
        self.last = asyncio.get_running_loop().time()
        self.count += 1


def watch_arrivals(pc: RTCPeerConnection) -> Arrivals:
    """Note every UDP datagram ``pc``'s ICE transports receive (STUN, DTLS, SRTP, SRTCP).

    Call once its local description is set (aioice has bound its sockets). Each
    socket's ``datagram_received`` is wrapped, so nothing is changed in what arrives. A
    live endpoint is never silent for long: besides its media it sends RTCP reports
    (every 0.5-1.5 s from aiortc, 1-5 s from browsers, muted tracks included) and ICE
    consent checks (every 4-6 s from aiortc, about 2.5 s from browsers).
    """
    arrivals = Arrivals()
    ice_transports = {t.receiver.transport.transport for t in pc.getTransceivers()}
    for ice in ice_transports:
        connection = getattr(ice, ICE_CONNECTION_ATTR)
        for protocol in getattr(connection, ICE_PROTOCOLS_ATTR):
            received = protocol.datagram_received

            def datagram_received(
                data: bytes | str,
                addr: tuple[Any, ...],
                received: Callable[[bytes | str, tuple[Any, ...]], None] = received,
            ) -> None:
                arrivals.heard()
                received(data, addr)

            protocol.datagram_received = datagram_received
    return arrivals


RECEIVE_BUFFER_BYTES = 2 * 1024 * 1024
"""Receive buffer asked for each UDP socket of a relay connection (the kernel doubles it
for its own bookkeeping, and caps it at ``net.core.rmem_max``)."""

_small_buffer_told = False


def enlarge_receive_buffers(pc: RTCPeerConnection, size: int = RECEIVE_BUFFER_BYTES) -> int:
    """Ask for ``size`` bytes of receive buffer on every UDP socket of ``pc``'s ICE
    transports; returns the least the kernel granted (0 with no socket yet).

    Call once its local description is set (aioice has bound its sockets). The default
    buffer (``net.core.rmem_default``, 208 KiB on Debian) holds about 90 full-size
    datagrams: a relay process that a loaded host keeps off the CPU for a few hundred
    milliseconds overflows it, and the kernel drops what arrives (``RcvbufErrors`` in
    ``/proc/net/snmp``). A lost packet stalls aiortc's jitter buffer until a NACK repairs
    it, and a lost repair until 512 packets later, seconds of frozen video downstream.
    """
    global _small_buffer_told
    granted: list[int] = []
    ice_transports = {t.receiver.transport.transport for t in pc.getTransceivers()}
    for ice in ice_transports:
        connection = getattr(ice, ICE_CONNECTION_ATTR)
        for protocol in getattr(connection, ICE_PROTOCOLS_ATTR):
            sock = protocol.transport.get_extra_info("socket") if protocol.transport else None
            if sock is None:
                continue
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
            granted.append(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))
    least = min(granted, default=0)
    if granted and least < size and not _small_buffer_told:
        _small_buffer_told = True
        logger.warning(
            "UDP receive buffers are %d bytes, not the %d asked for: raise net.core.rmem_max"
            " or a loaded host drops media packets",
            least,
            size,
        )
    return least


CONNECTION_CLOSING_ATTR = "_closing"
"""aioice ``Connection``'s flag, set as soon as ``close()`` starts."""


def _guard_consent() -> None:
    """Keep aioice from starting consent checks on a connection already closed.

    ``Connection.connect()`` starts ``query_consent`` once its check list completes. When
    ``close()`` runs between the check list completing and ``connect()`` resuming (a
    client that goes right after ICE connected), ``close()`` finds no consent task to
    cancel, then ``connect()`` starts one on the closed connection: with no nominated
    pair left it never fails, so it sleeps and loops for good (issue 12: tasks left
    behind by quick disconnects). Guarded, it returns at once on a closing connection.
    """
    original = Connection.query_consent
    if getattr(original, "_rb_guarded", False):
        return

    @functools.wraps(original)
    async def query_consent(self: Connection) -> None:
        if getattr(self, CONNECTION_CLOSING_ATTR):
            return
        await original(self)

    query_consent._rb_guarded = True  # type: ignore[attr-defined]
    Connection.query_consent = query_consent  # type: ignore[method-assign]


_guard_consent()


def media_ssrcs(receiver: RTCRtpReceiver) -> list[int]:
    """SSRCs the receiver has seen media on, retransmission streams left out."""
    rtx: dict[int, int] = getattr(receiver, RTX_SSRC_ATTR)
    return [s.source for s in receiver.getSynchronizationSources() if s.source not in rtx]


async def send_pli(receiver: RTCRtpReceiver) -> bool:
    """Ask the remote sender for a keyframe; False when no media SSRC is known yet."""
    ssrcs = media_ssrcs(receiver)
    for ssrc in ssrcs:
        await receiver._send_rtcp_pli(ssrc)
    return bool(ssrcs)


def hook_keyframe_request(sender: RTCRtpSender, request: Callable[[], None]) -> None:
    """Make a subscriber's PLI/FIR on ``sender`` call ``request`` (there is no encoder)."""
    if not callable(getattr(sender, "_send_keyframe", None)):
        raise RuntimeError("RTCRtpSender._send_keyframe is gone")
    setattr(sender, "_send_keyframe", request)  # noqa: B010 (replacing a method)


def floor_remb(receiver: RTCRtpReceiver, floor: int) -> None:
    """Make every REMB ``receiver`` sends ask for ``floor`` bit/s or more.

    aiortc's receiver estimates the publisher's uplink from abs-send-time (delay-based,
    as Chromium does): packets read later and later than they were sent mean a queue
    on the path. It reads the arrival time in the event loop, after the process was
    scheduled and its earlier work done, so on a busy host the relay's own delays look
    like a congested path: with two loaded cores it asked Chromium for 10-50 kbit/s
    with nothing lost, and Chromium's encoder fell to 9-12 fps. Chromium keeps its
    loss-based control below the REMB, so a path that really carries less than
    ``floor`` still slows the publisher down, by the packets it loses.
    """
    rewrite_remb(receiver, lambda bitrate: max(bitrate, floor))


def rewrite_remb(receiver: RTCRtpReceiver, rewrite: Callable[[int], int | None]) -> None:
    """Pass the bitrate of every REMB ``receiver`` sends through ``rewrite`` (None: the
    REMB is not sent). Wraps the receiver's RTCP send, so rewrites applied later run
    first (:func:`floor_remb` after :func:`tap_rtp`'s ``remb_cap``: floor, then cap)."""
    send_rtcp = receiver._send_rtcp

    async def send_rewritten_rtcp(packet: Any) -> None:
        if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            with contextlib.suppress(ValueError):
                bitrate, ssrcs = unpack_remb_fci(packet.fci)
                asked = rewrite(bitrate)
                if asked is None:
                    return
                if asked != bitrate:
                    packet.fci = pack_remb_fci(asked, ssrcs)
        await send_rtcp(packet)

    setattr(receiver, "_send_rtcp", send_rewritten_rtcp)  # noqa: B010


def renew_sender(transceiver: RTCRtpTransceiver, track: MediaStreamTrack) -> RTCRtpSender:
    """Give ``transceiver`` a fresh sender for ``track`` and return it.

    For an m-line whose previous sender was stopped (its RTCP BYE ended the remote
    track): a stopped ``RTCRtpSender`` never starts again, so the m-line gets a new one
    on the same transport, with a new SSRC (and RTX SSRC), a new msid track id, fresh
    sequence numbers, timestamps and NACK history. It starts once the next answer makes
    the m-line ``sendonly`` again (``RTCPeerConnection.__connect`` calls ``send``). The
    stream id (msid) is kept: aiortc gives every sender of a connection the same one.
    """
    old = transceiver.sender
    sender = RTCRtpSender(track, transceiver.receiver.transport)
    sender._stream_id = old._stream_id
    setattr(transceiver, TRANSCEIVER_SENDER_ATTR, sender)
    # As RTCPeerConnection.__createTransceiver does: the receiver's RTCP names this SSRC.
    transceiver.receiver._set_rtcp_ssrc(sender._ssrc)
    return sender


async def renew_receiver(transceiver: RTCRtpTransceiver) -> RTCRtpReceiver:
    """Give ``transceiver`` a fresh receiver (no track yet) and return it.

    For an aiortc subscriber whose m-line the relay reuses for a new track: the old
    receiver heard RTCP BYE and stopped its decoder for good, and its router entry names
    the old SSRC. Call before ``setRemoteDescription`` of the offer that reuses the
    m-line: the old receiver is stopped (unregistered from the transport), and the
    offer then creates a new remote track, fires ``track`` and starts the new receiver
    with the new SSRCs once answered.
    """
    old = transceiver.receiver
    await old.stop()
    if old.track is not None:
        old.track.stop()
    receiver = RTCRtpReceiver(transceiver.kind, old.transport)
    receiver._set_rtcp_ssrc(transceiver.sender._ssrc)
    setattr(transceiver, TRANSCEIVER_RECEIVER_ATTR, receiver)
    return receiver


def negotiated_codec(transceiver: RTCRtpTransceiver) -> RTCRtpCodecParameters:
    """The first codec negotiated on ``transceiver`` (what the remote end sends)."""
    codecs: list[RTCRtpCodecParameters] = transceiver._codecs
    if not codecs:
        raise RuntimeError(f"no codec negotiated on transceiver {transceiver.mid}")
    return codecs[0]


def codec_preferences(kind: str, mime_types: list[str]) -> list[RTCRtpCodecCapability]:
    """aiortc capabilities of ``kind`` whose MIME type is in ``mime_types``, in that order,
    followed by RTX (so retransmission stays negotiated for video)."""
    capabilities = RTCRtpSender.getCapabilities(kind).codecs
    chosen: list[RTCRtpCodecCapability] = []
    for mime in mime_types:
        chosen += [c for c in capabilities if c.mimeType.lower() == mime.lower()]
    chosen += [c for c in capabilities if c.mimeType.lower().endswith("/rtx")]
    return chosen


def capability_for(codec: RTCRtpCodecParameters) -> list[RTCRtpCodecCapability]:
    """Preferences that make a new transceiver offer exactly ``codec`` (plus RTX)."""
    kind = codec.mimeType.split("/")[0]
    capabilities = RTCRtpSender.getCapabilities(kind).codecs
    exact = [
        c
        for c in capabilities
        if c.mimeType.lower() == codec.mimeType.lower() and c.parameters == codec.parameters
    ]
    if not exact:
        raise ValueError(f"codec {codec.mimeType} {codec.parameters} is not an aiortc capability")
    rtx = [c for c in capabilities if c.mimeType.lower().endswith("/rtx")]
    return exact[:1] + rtx


class PacketTrack(MediaStreamTrack):
    """A track that yields encoded ``av.Packet``s, so ``RTCRtpSender`` only packetises.

    Subclasses implement :meth:`next_frame`; returning None ends the track.
    """

    def __init__(self, kind: str, clock_rate: int) -> None:
        super().__init__()
        self.kind = kind
        self._time_base = fractions.Fraction(1, clock_rate)

    async def next_frame(self) -> tuple[bytes, int] | None:
        """The next (payload, timestamp in clock units), or None at the end."""
        raise NotImplementedError

    async def recv(self) -> av.Packet[Any]:
        if self.readyState != "live":
            raise MediaStreamError
        item = await self.next_frame()
        if item is None:
            self.stop()
            raise MediaStreamError
        payload, timestamp = item
        packet = av.Packet(payload)
        packet.pts = timestamp
        packet.time_base = self._time_base
        return packet


# -- packet-level forwarding (bridge/packets.py) -------------------------------------------

RECEIVER_CODECS_ATTR = "_RTCRtpReceiver__codecs"
"""Name-mangled map of payload type to codec the receiver was started with."""
SENDER_RTCP_STARTED_ATTR = "_RTCRtpSender__rtcp_started"
SENDER_RTCP_EXITED_ATTR = "_RTCRtpSender__rtcp_exited"
"""Name-mangled events ``RTCRtpSender.stop()`` waits on: its RTCP task started, ended."""
SENDER_STARTED_ATTR = "_RTCRtpSender__started"
"""Name-mangled flag: ``send()`` has started the sender's RTP and RTCP tasks."""
SENDER_CNAME_ATTR = "_RTCRtpSender__cname"
"""Name-mangled CNAME the sender's reports carry (set by ``send()``)."""
SENDER_LSR_ATTRS = ("_RTCRtpSender__lsr", "_RTCRtpSender__lsr_time")
"""Name-mangled middle 32 bits of the last SR's NTP time and when it was sent: the
sender's ``_handle_rtcp_packet`` works out the round-trip time from a receiver report
that echoes them (``getStats``' ``roundTripTime``)."""

PacketCallback = Callable[[int, int, int, bytes], None]
"""Receives (sequence number, timestamp, marker, payload) of every media packet."""
ReportCallback = Callable[[int, int], None]
"""Receives (NTP timestamp, RTP timestamp) of every sender report."""

RECEIVER_ESTIMATOR_ATTR = "_RTCRtpReceiver__remote_bitrate_estimator"
"""Name-mangled ``RemoteBitrateEstimator`` of a video receiver (None for audio): the
uplink estimate from abs-send-time that the receiver sends the publisher as REMB."""
RECEIVER_ACTIVE_SSRC_ATTR = "_RTCRtpReceiver__active_ssrc"
"""Name-mangled map of SSRC to when it was last heard (``getSynchronizationSources``)."""
RECEIVER_STREAMS_ATTR = "_RTCRtpReceiver__remote_streams"
"""Name-mangled map of SSRC to ``StreamStatistics`` (what RTCP receiver reports say)."""
RECEIVER_NACK_ATTR = "_RTCRtpReceiver__nack_generator"
"""Name-mangled ``NackGenerator`` of a video receiver (None for audio)."""
RECEIVER_RTCP_SSRC_ATTR = "_RTCRtpReceiver__rtcp_ssrc"
"""Name-mangled SSRC the receiver's RTCP feedback is sent from (None until set)."""
RECEIVER_JITTER_BUFFER_ATTR = "_RTCRtpReceiver__jitter_buffer"
"""Name-mangled ``JitterBuffer`` that reassembles frames from packets."""
RECEIVER_TAP_ATTR = "_rb_tap"
"""The :class:`RtpTap` of a receiver :func:`tap_rtp` tapped (our own attribute)."""
DTLS_RX_ATTRS = ("_RTCDtlsTransport__rx_bytes", "_RTCDtlsTransport__rx_packets")
"""Name-mangled bytes and datagrams ``RTCDtlsTransport`` received (its ``getStats``)."""
ACTIVE_SSRC_REFRESH_MS = 1000
"""How often a packet-only receiver notes that an SSRC is still heard (aiortc notes it
on every packet; ``getSynchronizationSources`` only looks 10 s back)."""


class RtpTap:
    """What :func:`tap_rtp` returns: whether the receiver still reassembles whole frames.

    With ``frames`` off, packets go to the tap's callback and through the receiver's
    RTCP bookkeeping only (bitrate estimate and REMB, receiver-report statistics, NACKs
    to the publisher, active SSRCs): no depacketising, no jitter buffer, no frames for
    :func:`tap_receiver`. Turned on again, the receiver reassembles with an empty
    jitter buffer (what it held is from before the pause) from the first packet that
    starts a frame: the one after a marker, or the first of a new timestamp, in
    sequence. Started mid-frame, aiortc's jitter buffer would hand on the frame's tail
    as a frame, which a recorder could take for a keyframe.
    """

    def __init__(self, receiver: RTCRtpReceiver, frames: bool) -> None:
        self._receiver = receiver
        self._frames = frames
        self._starting = False
        self._last: tuple[int, int, int] | None = None
        """(sequence number, timestamp, marker) of the last media packet while starting."""
        self.receive: Callable[[RtpPacket, int], Coroutine[Any, Any, None] | None] = _no_receive
        """Handles one RTP packet of the receiver now (set by :func:`tap_rtp`); returns
        what is left to await (RTCP to send, or aiortc's own handling), if anything."""

    @property
    def at_once(self) -> bool:
        """Whether a packet can be handled in the socket's callback
        (:func:`receive_rtp_at_once`): the receiver is on and only keeps its RTCP
        bookkeeping (no jitter buffer to fill in order with aiortc's own loop)."""
        return not self._frames and not self._starting and bool(self._receiver._enabled)

    @property
    def frames(self) -> bool:
        """Whether the receiver reassembles frames (and :func:`tap_receiver` gets them)."""
        return self._frames

    @frames.setter
    def frames(self, frames: bool) -> None:
        if frames and not self._frames:
            self._starting = True
            self._last = None
        elif not frames:
            self._starting = False
        self._frames = frames

    def _packet_only(self, packet: RtpPacket) -> bool:
        """Whether ``packet`` (a media packet, not RTX) stays out of the jitter buffer."""
        if not self._frames:
            return True
        if not self._starting:
            return False
        last = self._last
        seq, timestamp, marker = packet.sequence_number, packet.timestamp, packet.marker
        self._last = (seq, timestamp, marker)
        if last is None or seq != (last[0] + 1) & 0xFFFF or not (last[2] or timestamp != last[1]):
            return True
        self._starting = False
        self._last = None
        reset_jitter_buffer(self._receiver)
        return False


def _no_receive(packet: RtpPacket, arrival_time_ms: int) -> None:
    return None


async def _in_turn(coroutines: list[Coroutine[Any, Any, None]]) -> None:
    for coroutine in coroutines:
        await coroutine


def reset_jitter_buffer(receiver: RTCRtpReceiver) -> None:
    """Give ``receiver`` an empty jitter buffer configured as its current one."""
    old: JitterBuffer = getattr(receiver, RECEIVER_JITTER_BUFFER_ATTR)
    fresh = JitterBuffer(old.capacity, prefetch=old._prefetch, is_video=old._is_video)
    setattr(receiver, RECEIVER_JITTER_BUFFER_ATTR, fresh)


def tap_rtp(
    receiver: RTCRtpReceiver,
    on_packet: PacketCallback,
    on_report: ReportCallback,
    *,
    light: bool = False,
    remb_cap: Callable[[int], int | None] | None = None,
    frames: bool = True,
) -> RtpTap:
    """Hand every RTP packet ``receiver`` gets to ``on_packet`` before its jitter buffer.

    Wraps the receiver's ``_handle_rtp_packet`` (which the DTLS transport awaits once
    per packet): the callback runs synchronously, then the original keeps NACKs to the
    publisher, statistics and the jitter buffer (so :func:`tap_receiver` still gets whole
    frames). Retransmissions (RTX) are unwrapped first, so a repaired loss upstream is
    forwarded too; padding-only packets are not handed on. ``on_report`` hears the
    publisher's RTCP sender reports (the receiver's own handling is kept).

    ``frames`` (changed later through the returned :class:`RtpTap`) False keeps the
    receiver's RTCP bookkeeping but skips its depacketiser and jitter buffer: the relay
    forwarding packets while nothing needs whole frames.

    ``light`` skips the receiver's own RTP handling but its statistics (no NACKs, REMB,
    jitter buffer or frames): a benchmark's subscriber that only counts packets. The
    statistics are kept because aiortc's RTCP loop sends a receiver report only about
    streams it has statistics for: without them a light subscriber sends nothing but ICE
    consent checks (every 4-6 s), and the relay's media-silence watchdog (5 s, see
    :mod:`bridge.legs`) takes it for dead now and then, mid-benchmark.

    ``remb_cap`` rewrites the bitrate of every REMB the receiver sends the publisher
    (its own estimate of the uplink, from abs-send-time) into ``remb_cap(estimate)``;
    when that is None the REMB is not sent.
    """
    handle_rtp = receiver._handle_rtp_packet
    handle_rtcp = receiver._handle_rtcp_packet
    if getattr(handle_rtp, "_rb_tapped", False):
        raise RuntimeError("receiver is already tapped for RTP")
    tap = RtpTap(receiver, frames)
    codecs: dict[int, RTCRtpCodecParameters] = getattr(receiver, RECEIVER_CODECS_ATTR)
    rtx_ssrc: dict[int, int] = getattr(receiver, RTX_SSRC_ATTR)
    estimator = getattr(receiver, RECEIVER_ESTIMATOR_ATTR)
    active_ssrc: dict[int, Any] = getattr(receiver, RECEIVER_ACTIVE_SSRC_ATTR)
    streams: dict[int, StreamStatistics] = getattr(receiver, RECEIVER_STREAMS_ATTR)
    nack = getattr(receiver, RECEIVER_NACK_ATTR)
    noted: dict[int, int] = {}

    def bookkeeping(
        packet: RtpPacket, arrival_time_ms: int, codec: Any, rtx: bool
    ) -> Coroutine[Any, Any, None] | None:
        # What aiortc's _handle_rtp_packet does before depacketising, in its order; the
        # RTCP it sends (REMB, NACK) is returned to be awaited in turn.
        sends: list[Coroutine[Any, Any, None]] = []
        ssrc = packet.ssrc
        if estimator is not None:
            abs_send_time = packet.extensions.abs_send_time
            if abs_send_time is not None:
                remb = estimator.add(
                    abs_send_time=abs_send_time,
                    arrival_time_ms=arrival_time_ms,
                    payload_size=len(packet.payload) + packet.padding_size,
                    ssrc=ssrc,
                )
                rtcp_ssrc = getattr(receiver, RECEIVER_RTCP_SSRC_ATTR)
                if rtcp_ssrc is not None and remb is not None:
                    sends.append(
                        receiver._send_rtcp(
                            RtcpPsfbPacket(
                                fmt=RTCP_PSFB_APP,
                                ssrc=rtcp_ssrc,
                                media_ssrc=0,
                                fci=pack_remb_fci(*remb),
                            )
                        )
                    )
        if arrival_time_ms - noted.get(ssrc, -ACTIVE_SSRC_REFRESH_MS) >= ACTIVE_SSRC_REFRESH_MS:
            noted[ssrc] = arrival_time_ms
            active_ssrc[ssrc] = aiortc_clock.current_datetime()
        stats = streams.get(ssrc)
        if stats is None:
            stats = streams[ssrc] = StreamStatistics(codec.clockRate)
        stats.add(packet)
        if nack is not None:
            if rtx:
                original = rtx_ssrc.get(ssrc)
                apt = codec.parameters.get("apt")
                if original is None or len(packet.payload) < 2 or apt not in codecs:
                    return _in_turn(sends) if sends else None
                packet = unwrap_rtx(packet, payload_type=apt, ssrc=original)
            if nack.add(packet):
                sends.append(receiver._send_rtcp_nack(packet.ssrc, sorted(nack.missing)))
        return _in_turn(sends) if sends else None

    def receive(packet: RtpPacket, arrival_time_ms: int) -> Coroutine[Any, Any, None] | None:
        codec = codecs.get(packet.payload_type)
        rtx = False
        if codec is not None and receiver._enabled:
            payload = packet.payload
            rtx = codec.name.lower() == "rtx"
            if rtx:
                if len(payload) > 2 and packet.ssrc in rtx_ssrc:
                    on_packet(
                        (payload[0] << 8) | payload[1], packet.timestamp, packet.marker, payload[2:]
                    )
            elif payload:
                on_packet(packet.sequence_number, packet.timestamp, packet.marker, payload)
        if light:
            if codec is not None and not rtx:
                stats = streams.get(packet.ssrc)
                if stats is None:
                    stats = streams[packet.ssrc] = StreamStatistics(codec.clockRate)
                stats.add(packet)
            return None
        if codec is None or not receiver._enabled:
            return handle_rtp(packet, arrival_time_ms)  # aiortc's own checks
        if (tap._starting or not tap._frames) and (rtx or tap._packet_only(packet)):
            return bookkeeping(packet, arrival_time_ms, codec, rtx)
        return handle_rtp(packet, arrival_time_ms)

    async def handle_rtp_packet(packet: RtpPacket, arrival_time_ms: int) -> None:
        rest = receive(packet, arrival_time_ms)
        if rest is not None:
            await rest

    async def handle_rtcp_packet(packet: Any) -> None:
        if isinstance(packet, RtcpSrPacket) and packet.ssrc not in rtx_ssrc:
            on_report(packet.sender_info.ntp_timestamp, packet.sender_info.rtp_timestamp)
        await handle_rtcp(packet)

    tap.receive = receive
    handle_rtp_packet._rb_tapped = True  # type: ignore[attr-defined]
    setattr(receiver, "_handle_rtp_packet", handle_rtp_packet)  # noqa: B010
    setattr(receiver, RECEIVER_TAP_ATTR, tap)
    setattr(receiver, "_handle_rtcp_packet", handle_rtcp_packet)  # noqa: B010
    if remb_cap is not None:
        rewrite_remb(receiver, remb_cap)
    return tap


_at_once_tasks: set[asyncio.Task[None]] = set()
_at_once_failed = False


def receive_rtp_at_once(pc: RTCPeerConnection) -> int:
    """Handle the RTP packets of ``pc``'s tapped receivers in the socket's callback.

    aiortc queues every datagram in aioice's ``Connection`` and a task of the DTLS
    transport takes it off the queue on a later turn of the event loop: a wake-up, a
    queue and three coroutine layers per packet. Here ``Connection.data_received`` (what
    aioice's socket protocol calls for a datagram that is not STUN) takes an SRTP packet
    (not RTCP) of a known SSRC whose receiver's :class:`RtpTap` can take it at once
    (:attr:`RtpTap.at_once`: packet-only), once DTLS is connected: it is unprotected,
    parsed, routed and handed to the tap there, in the callback (the tap's on_packet
    forwards it before the call returns). Everything else (DTLS, RTCP, STUN, a receiver
    reassembling frames, an unknown or RTX SSRC) goes aiortc's way. The RTCP the
    bookkeeping sends (REMB, NACK) goes in a task, as it would have been awaited.

    Call once the local description is set (aioice has its connection); idempotent.
    Returns the number of connections hooked now.
    """
    hooked = 0
    for transceiver in pc.getTransceivers():
        dtls = transceiver.receiver.transport
        if dtls is None:
            continue
        connection = getattr(dtls.transport, ICE_CONNECTION_ATTR)
        if getattr(connection.data_received, "_rb_at_once", False):
            continue
        connection.data_received = _at_once(dtls, connection.data_received)
        hooked += 1
    return hooked


def _at_once(dtls: Any, queued: Callable[[bytes, int], None]) -> Callable[[bytes, int], None]:
    ssrc_table: dict[int, Any] = dtls._rtp_router.ssrc_table

    def data_received(data: bytes, component: int) -> None:
        if (
            len(data) >= 12
            and 127 < data[0] < 192
            and not 191 < data[1] < 209  # RTCP, as aiortc's is_rtcp tells it
            and dtls._state is _DTLS_CONNECTED
            and dtls._rx_srtp is not None
        ):
            receiver = ssrc_table.get(int.from_bytes(data[8:12], "big"))
            tap = getattr(receiver, RECEIVER_TAP_ATTR, None)
            if tap is not None and tap.at_once:
                _receive_now(dtls, data)
                return
        queued(data, component)

    data_received._rb_at_once = True  # type: ignore[attr-defined]
    return data_received


def _receive_now(dtls: Any, data: bytes) -> None:
    """What ``RTCDtlsTransport._recv_next`` and ``_handle_rtp_data`` do with an SRTP
    packet, in the socket's callback: counted, unprotected, parsed, routed, handled."""
    global _at_once_failed
    setattr(dtls, DTLS_RX_ATTRS[0], getattr(dtls, DTLS_RX_ATTRS[0]) + len(data))
    setattr(dtls, DTLS_RX_ATTRS[1], getattr(dtls, DTLS_RX_ATTRS[1]) + 1)
    arrival_time_ms = aiortc_clock.current_ms()
    try:
        packet = RtpPacket.parse(dtls._rx_srtp.unprotect(data), dtls._rtp_header_extensions_map)
    except (pylibsrtp.Error, ValueError):
        return  # aiortc drops it too (and logs at debug level)
    receiver = dtls._rtp_router.route_rtp(packet)
    if receiver is None:
        return
    try:
        tap = getattr(receiver, RECEIVER_TAP_ATTR, None)
        if tap is not None and tap.at_once:
            rest = tap.receive(packet, arrival_time_ms)
        else:
            rest = receiver._handle_rtp_packet(packet, arrival_time_ms=arrival_time_ms)
    except Exception:
        # Raised in asyncio's read callback, it would close the socket's transport.
        if not _at_once_failed:
            _at_once_failed = True
            logger.exception("an RTP packet handled at once failed (logged once)")
        return
    if rest is not None:
        task = asyncio.ensure_future(rest)
        _at_once_tasks.add(task)
        task.add_done_callback(_at_once_tasks.discard)


def hook_remb(sender: RTCRtpSender, on_remb: Callable[[int], None]) -> None:
    """Call ``on_remb(bitrate)`` for every REMB a subscriber sends about ``sender``'s
    stream (its receive-side estimate of the path from us, in bit/s); the sender's own
    handling (which only tunes an encoder, and there is none) is kept."""
    handle_rtcp = sender._handle_rtcp_packet
    if getattr(handle_rtcp, "_rb_remb", False):
        raise RuntimeError("sender is already hooked for REMB")

    async def handle_rtcp_packet(packet: Any) -> None:
        if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            with contextlib.suppress(ValueError):
                bitrate, ssrcs = unpack_remb_fci(packet.fci)
                if sender._ssrc in ssrcs:
                    on_remb(bitrate)
        await handle_rtcp(packet)

    handle_rtcp_packet._rb_remb = True  # type: ignore[attr-defined]
    setattr(sender, "_handle_rtcp_packet", handle_rtcp_packet)  # noqa: B010


DATAGRAM_SOCKET_ATTR = "_sock"
"""The socket of asyncio's selector datagram transport (what its ``sendto`` calls)."""

ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"

_DTLS_CONNECTED = DtlsState.CONNECTED


def abs_send_time(now: float) -> int:
    """The 24-bit abs-send-time of wall-clock time ``now`` (6.18 fixed-point seconds of
    the NTP clock, as aiortc's sender writes it)."""
    return int((now + NTP_EPOCH_OFFSET) * 262144) & 0xFFFFFF


NTP_EPOCH_OFFSET = 2208988800
"""Seconds from 1900-01-01 (NTP) to 1970-01-01 (Unix)."""


def header_extensions(transceiver: RTCRtpTransceiver, mid: str | None) -> tuple[bytes, int]:
    """The one-byte RTP header extension block (RFC 8285) a forwarded packet carries on
    ``transceiver``: abs-send-time first (its 3 bytes left zero, to fill per packet), then
    the m-line's mid, for those of the two the subscriber negotiated.

    Returns (block, offset of the abs-send-time element's 4-byte word from the block's
    start, or -1 when not negotiated); an empty block when neither is.
    """
    ids = {ext.uri: ext.id for ext in transceiver._headerExtensions}
    elements = b""
    ast_offset = -1
    ast_id = ids.get(ABS_SEND_TIME_URI)
    if ast_id is not None and 1 <= ast_id <= 14:
        ast_offset = 4
        elements += bytes([(ast_id << 4) | 2, 0, 0, 0])
    mid_id = ids.get(MID_URI)
    if mid_id is not None and 1 <= mid_id <= 14 and mid:
        value = mid.encode()[:16]
        elements += bytes([(mid_id << 4) | (len(value) - 1)]) + value
    if not elements:
        return b"", -1
    elements += bytes(-len(elements) % 4)
    return struct.pack("!HH", 0xBEDE, len(elements) // 4) + elements, ast_offset


def _load_fanout() -> tuple[Any, Any]:
    try:
        from bridge import _fanout  # type: ignore[attr-defined]
    except ImportError as exc:  # pragma: no cover - a checkout nobody built
        raise ImportError(
            "bridge._fanout (the packet fan-out in C) is not built: run `make serve` or "
            "`make test`, or `python -m bridge.fanout_build` (needs gcc and the Python "
            "headers)"
        ) from exc
    # libsrtp is not linked twice: the C loop calls pylibsrtp's own srtp_protect.
    protect = _srtp_ffi.cast("uintptr_t", _srtp_ffi.addressof(_srtp_lib, "srtp_protect"))
    _fanout.lib.rb_init(int(protect))
    return _fanout.ffi, _fanout.lib


fanout_ffi, fanout_lib = _load_fanout()
"""cffi's view of ``bridge._fanout`` (``bridge/fanout.c``): ``rb_lane`` structs and the
functions that rewrite, protect and send RTP packets on them."""

LANE_SENT: int = fanout_lib.RB_SENT
LANE_DELIVER: int = fanout_lib.RB_DELIVER
LANE_REFUSED: int = fanout_lib.RB_REFUSED


def new_lane() -> Any:
    """A fresh ``rb_lane`` (no link, nothing sent yet), owned by the returned cdata."""
    lane = fanout_ffi.new("rb_lane *")
    fanout_lib.rb_lane_reset(lane)
    return lane


def lane_array(lanes: list[Any]) -> Any:
    """A C array of ``lanes`` for :data:`fanout_lib`'s ``rb_fanout`` (the caller keeps
    the lanes alive while the array is used)."""
    return fanout_ffi.new("rb_lane *[]", lanes)


def _close_fds(fds: list[int]) -> None:
    for fd in fds:
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)
    fds.clear()


class Downlink:
    """The lowest stable layer under one subscriber sender: SSRCs, payload types, header
    extensions, and a synchronous ``send`` that builds the packet, protects it with the
    sender's SRTP session and hands it to the nominated ICE pair's UDP socket, in C
    (``bridge/fanout.c``, on the link's ``rb_lane``).

    Built once the sender has started (its m-line answered, DTLS connected). aiortc's own
    path (``RTCDtlsTransport._send_rtp`` -> ``RTCIceTransport._send`` ->
    ``Connection.sendto`` -> ``StunProtocol.send_data`` -> the asyncio transport) is two
    coroutine hops, a packet object and three copies per packet; this one has no hop and
    no per-packet Python object. A TURN-relayed pair keeps aioice's coroutine (it may
    wait for a channel binding): the lane then protects into its buffer and Python
    delivers.

    The lane sends with a duplicate of the pair's socket descriptor, so that a lane used
    between two checks of :meth:`ready` never writes to a descriptor number that asyncio
    closed and the kernel gave to another socket; :meth:`close` lets it go. The sender's
    SRTP session (whose context the lane points at) is kept alive by this object.
    """

    def __init__(self, transceiver: RTCRtpTransceiver, lane: Any = None) -> None:
        sender = transceiver.sender
        codec = negotiated_codec(transceiver)
        self.sender = sender
        self.ssrc: int = sender._ssrc
        self.rtx_ssrc: int = sender._rtx_ssrc
        if codec.payloadType is None:
            raise RuntimeError(f"no payload type negotiated on transceiver {transceiver.mid}")
        self.payload_type: int = codec.payloadType
        self.rtx_payload_type: int | None = next(
            (
                c.payloadType
                for c in transceiver._codecs
                if c.name.lower() == "rtx" and c.parameters.get("apt") == codec.payloadType
            ),
            None,
        )
        self._extensions, ast_offset = header_extensions(transceiver, transceiver.mid)
        self.lane = lane if lane is not None else new_lane()
        """The ``rb_lane`` this link sends on (a down-track's, which also keeps its
        header rewriting there)."""
        lane = self.lane
        lane.first_byte = 0x90 if self._extensions else 0x80
        lane.payload_type = self.payload_type
        lane.ssrc = self.ssrc
        lane.head_len = len(self._extensions)
        fanout_ffi.memmove(lane.head, self._extensions, len(self._extensions))
        lane.ast_offset = 12 + ast_offset if ast_offset >= 0 else -1
        lane.ast_word = (self._extensions[4] << 24) if ast_offset >= 0 else 0
        lane.fd = -1
        lane.srtp = 0
        self._dtls = sender.transport
        # aioice's map of component to nominated pair: the same dict for the life of the
        # ICE connection (cleared on close, never replaced).
        self._nominated: dict[int, Any] = self._dtls.transport._connection._nominated
        self._tasks: set[asyncio.Task[None]] = set()
        # The nominated pair, its socket and its remote address, looked up again only
        # when aioice nominates another pair (pair.remote_addr builds a tuple).
        self._pair: Any = None
        self._socket: Any = None
        self._transport: Any = None
        self._addr: tuple[str, int] = ("", 0)
        self._session: Any = None
        self._fds: list[int] = []
        self._finalizer = weakref.finalize(self, _close_fds, self._fds)

    @property
    def extensions(self) -> bytes:
        """The header extension block every packet carries (abs-send-time zeroed)."""
        return self._extensions

    @property
    def send_errors(self) -> int:
        """Datagrams the socket refused (full buffer, unreachable)."""
        return int(self.lane.send_errors)

    @property
    def direct(self) -> bool:
        """Whether the lane sends straight to a UDP socket (else Python delivers)."""
        return bool(self.lane.fd >= 0)

    def _use_session(self, session: Any) -> None:
        self._session = session
        self.lane.srtp = int(_srtp_ffi.cast("uintptr_t", session._srtp[0]))

    def _use_pair(self, pair: Any) -> None:
        self._pair = pair
        self._addr = pair.remote_addr
        protocol = pair.protocol
        self._transport = protocol.transport
        # Straight to the socket only for a plain UDP pair whose transport is asyncio's
        # (a severed one, see sever_ice, goes through its silent stand-in).
        direct = type(protocol) is StunProtocol and not isinstance(self._transport, _Silent)
        self._socket = getattr(self._transport, DATAGRAM_SOCKET_ATTR) if direct else None
        _close_fds(self._fds)
        self.lane.fd = -1
        if self._socket is not None and self._socket.fileno() >= 0:
            fd = os.dup(self._socket.fileno())
            self._fds.append(fd)
            host, port = self._addr[0], self._addr[1]
            if not fanout_lib.rb_set_peer(self.lane, fd, str(host).encode(), int(port)):
                _close_fds(self._fds)

    def ready(self) -> bool:
        """Whether the lane can send on its own now (DTLS connected, the nominated pair
        plain UDP, the current SRTP session in place); brings the lane up to date."""
        if not self._up():
            return False
        session = self._dtls._tx_srtp
        if session is not self._session:
            self._use_session(session)
        return bool(self.lane.fd >= 0)

    def close(self) -> None:
        """Let the socket's duplicate descriptor go; the lane sends nothing directly
        from now on (a later send, if any, finds the pair again)."""
        _close_fds(self._fds)
        self.lane.fd = -1
        self._pair = None

    def send(
        self,
        marker_pt: int,
        seq: int,
        timestamp: int,
        ssrc: int,
        payload: bytes,
        send_time: int,
        osn: int = -1,
    ) -> bool:
        """Build, protect and send one RTP packet now: second header byte ``marker_pt``
        (marker bit and payload type), this link's extensions with abs-send-time
        ``send_time``, and for RTX the original sequence number ``osn`` before the
        payload. False when the transport is not up or the packet was refused."""
        if not self._up():
            return False
        session = self._dtls._tx_srtp
        if session is not self._session:
            self._use_session(session)
        done = fanout_lib.rb_send(
            self.lane, marker_pt, seq, timestamp, ssrc, payload, len(payload), send_time, osn
        )
        return self._done(done)

    def forward(
        self, seq: int, timestamp: int, marker: int, payload: bytes, send_time: int, ends: int
    ) -> int:
        """Rewrite one up-track packet with the lane's offsets and send it (``rb_forward``:
        the lane's history, last packet and counts follow); returns the ``RB_*`` code, or
        ``RB_REFUSED`` when the transport is not up."""
        if not self._up():
            return LANE_REFUSED
        session = self._dtls._tx_srtp
        if session is not self._session:
            self._use_session(session)
        done: int = fanout_lib.rb_forward(
            self.lane,
            seq,
            timestamp,
            marker,
            payload,
            len(payload),
            send_time,
            ends,
            time.monotonic(),
        )
        if done == LANE_DELIVER:
            self._done(done)
        return done

    def _done(self, done: int) -> bool:
        if done == LANE_SENT:
            return True
        if done == LANE_DELIVER:
            lane = self.lane
            return self._deliver(bytes(fanout_ffi.buffer(lane.out, lane.out_len)))
        return False

    def _up(self) -> bool:
        """Whether DTLS is connected and ICE has a nominated pair (now in use)."""
        if self._dtls._state is not _DTLS_CONNECTED:
            return False
        pair = self._nominated.get(1)
        if pair is None:
            return False
        if pair is not self._pair or pair.protocol.transport is not self._transport:
            self._use_pair(pair)
        return True

    def _deliver(self, datagram: bytes | memoryview) -> bool:
        """Hand one protected datagram to the nominated pair (False when refused)."""
        socket = self._socket
        if socket is not None:
            try:
                socket.sendto(datagram, self._addr)
            except OSError as exc:  # BlockingIOError included: UDP, the packet is lost
                self.lane.send_errors += 1
                self.last_error = exc
                return False
        else:
            task = asyncio.ensure_future(self._pair.protocol.send_data(bytes(datagram), self._addr))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return True

    last_error: OSError | None = None
    """The socket's last refusal seen in Python (the lane keeps ``last_errno``)."""

    def send_report(
        self, ntp_timestamp: int, rtp_timestamp: int, packets: int, octets: int
    ) -> bool:
        """Send an RTCP sender report (SR and SDES CNAME, as aiortc's sender loop does)
        now. The sender's own loop sends none (:func:`take_sender_reports`). False when
        the transport is not up."""
        if not self._up():
            return False
        sender = self.sender
        data = bytes(
            RtcpSrPacket(
                ssrc=self.ssrc,
                sender_info=RtcpSenderInfo(
                    ntp_timestamp=ntp_timestamp,
                    rtp_timestamp=rtp_timestamp,
                    packet_count=packets & 0xFFFFFFFF,
                    octet_count=octets & 0xFFFFFFFF,
                ),
            )
        )
        cname = getattr(sender, SENDER_CNAME_ATTR)
        if cname is not None:
            data += bytes(
                RtcpSdesPacket(chunks=[RtcpSourceInfo(ssrc=self.ssrc, items=[(1, cname.encode())])])
            )
        setattr(sender, SENDER_LSR_ATTRS[0], (ntp_timestamp >> 16) & 0xFFFFFFFF)
        setattr(sender, SENDER_LSR_ATTRS[1], time.time())
        return self._deliver(self._dtls._tx_srtp.protect_rtcp(data))


def take_sender_reports(sender: RTCRtpSender) -> None:
    """Stop ``sender``'s own periodic RTCP (call before it starts): its reports are sent
    by :meth:`Downlink.send_report`, in one batch per up-track.

    aiortc's sender runs a task per sender that wakes every 0.5-1.5 s to send one SR and
    SDES. At 16 subscribers those 16 wake-ups a second cost the relay about a third of a
    per cent of a core (about 0.2 ms each, most of it waking up). The stand-in task only
    waits: when the sender stops it still says RTCP BYE for its SSRC, as aiortc's does
    (a subscriber ends the track on it), and sets the events ``stop()`` waits on.
    """
    if getattr(sender, SENDER_STARTED_ATTR):
        raise RuntimeError("the sender has started: its RTCP loop is running")
    started: asyncio.Event = getattr(sender, SENDER_RTCP_STARTED_ATTR)
    exited: asyncio.Event = getattr(sender, SENDER_RTCP_EXITED_ATTR)

    async def run_rtcp() -> None:
        started.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.get_running_loop().create_future()
        await sender._send_rtcp([RtcpByePacket(sources=[sender._ssrc])])
        exited.set()

    setattr(sender, "_run_rtcp", run_rtcp)  # noqa: B010 (replacing a method)


def hook_retransmit(sender: RTCRtpSender, retransmit: Callable[[int], None]) -> None:
    """Make a subscriber's NACK on ``sender`` call ``retransmit(sequence_number)`` for each
    lost packet (the sender's own history is empty in packet mode)."""
    if not inspect.iscoroutinefunction(getattr(sender, "_retransmit", None)):
        raise RuntimeError("RTCRtpSender._retransmit is gone")

    async def _retransmit(sequence_number: int) -> None:
        retransmit(sequence_number)

    setattr(sender, "_retransmit", _retransmit)  # noqa: B010 (replacing a method)
