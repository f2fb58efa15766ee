"""Fails loudly when an aiortc upgrade moves an internal the relay relies on."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import queue
import time
from collections.abc import Callable
from typing import Any

import aiortc
import pytest
from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCRtpTransceiver,
)
from aiortc.jitterbuffer import JitterFrame
from aiortc.mediastreams import AudioStreamTrack
from aiortc.rtcconfiguration import RTCBundlePolicy
from aiortc.rtcrtpreceiver import decoder_worker

from bridge import rtc_internals


def test_aiortc_is_the_pinned_version() -> None:
    assert aiortc.__version__ == "1.16.0"


async def test_receiver_decoder_queue_can_be_tapped_and_still_stops() -> None:
    pc = RTCPeerConnection()
    transceiver = pc.addTransceiver("video", direction="recvonly")
    receiver = transceiver.receiver
    original = getattr(receiver, rtc_internals.DECODER_QUEUE_ATTR)
    assert isinstance(original, queue.Queue)
    assert isinstance(getattr(receiver, rtc_internals.RTX_SSRC_ATTR), dict)
    frames: list[tuple[bytes, int]] = []
    ended: list[bool] = []
    rtc_internals.tap_receiver(
        receiver, lambda codec, data, ts: frames.append((data, ts)), lambda: ended.append(True)
    )
    tap = getattr(receiver, rtc_internals.DECODER_QUEUE_ATTR)
    tap.put((None, JitterFrame(b"\x10abc", 3000)))
    tap.put(None)
    assert frames == [(b"\x10abc", 3000)] and ended == [True]
    assert tap.get() is None  # the decoder thread still sees the stop signal
    await pc.close()


def test_receiver_internals_used_exist() -> None:
    source = inspect.getsource(RTCRtpReceiver._handle_rtp_packet)
    assert "self.__decoder_queue.put((codec, encoded_frame))" in source
    assert "input_q.get()" in inspect.getsource(decoder_worker)
    assert inspect.iscoroutinefunction(RTCRtpReceiver._send_rtcp_pli)
    assert callable(RTCRtpReceiver.getSynchronizationSources)


def test_sender_internals_used_exist() -> None:
    assert callable(RTCRtpSender._send_keyframe)
    assert "self._send_keyframe()" in inspect.getsource(RTCRtpSender._handle_rtcp_packet)
    # Packets (not frames) are packed without encoding.
    source = inspect.getsource(RTCRtpSender._next_encoded_frame)
    assert "self.__encoder.pack(data)" in source


def test_transceiver_codecs_attribute() -> None:
    assert "_codecs" in inspect.getsource(RTCRtpTransceiver.__init__)
    assert "transceiver._codecs = common" in inspect.getsource(
        RTCPeerConnection.setRemoteDescription
    )


async def test_keyframe_hook_replaces_the_sender_method() -> None:
    pc = RTCPeerConnection()
    transceiver = pc.addTransceiver("video", direction="sendonly")
    calls: list[int] = []
    rtc_internals.hook_keyframe_request(transceiver.sender, lambda: calls.append(1))
    transceiver.sender._send_keyframe()
    assert calls == [1]
    await pc.close()


def test_codec_preferences_cover_the_forwarded_codecs() -> None:
    video = [
        c.mimeType for c in rtc_internals.codec_preferences("video", ["video/VP8", "video/H264"])
    ]
    assert video[0] == "video/VP8" and "video/H264" in video and "video/rtx" in video
    assert rtc_internals.codec_preferences("audio", ["audio/opus"])[0].mimeType == "audio/opus"


# -- recycling subscribe m-lines (renew_sender on the relay, renew_receiver in clients) --


def test_a_stopped_sender_cannot_start_again_so_m_lines_get_a_new_one() -> None:
    # send() only starts a sender that never started; stop() does not reset that.
    send = inspect.getsource(RTCRtpSender.send)
    assert "if not self.__started:" in send
    assert inspect.getsource(RTCRtpSender).count("self.__started = False") == 1  # __init__
    # The RTCP task says BYE for its SSRC when the sender stops.
    assert "RtcpByePacket(sources=[self._ssrc])" in inspect.getsource(RTCRtpSender._run_rtcp)


def test_offers_and_connect_read_the_transceivers_current_sender() -> None:
    from aiortc import rtcpeerconnection

    media = inspect.getsource(rtcpeerconnection.create_media_description_for_transceiver)
    assert "transceiver.sender._ssrc" in media and "transceiver.sender._rtx_ssrc" in media
    assert "transceiver.sender._stream_id} {transceiver.sender._track_id" in media
    connect = inspect.getsource(RTCPeerConnection._RTCPeerConnection__connect)  # type: ignore[attr-defined]
    assert "await transceiver.sender.send(self.__localRtp(transceiver))" in connect
    assert "await transceiver.receiver.receive(" in connect
    created = inspect.getsource(RTCPeerConnection._RTCPeerConnection__createTransceiver)  # type: ignore[attr-defined]
    assert "transceiver.receiver._set_rtcp_ssrc(transceiver.sender._ssrc)" in created
    assert "transceiver.sender._stream_id = self.__stream_id" in created


def test_a_receiver_stops_for_good_at_bye_and_track_fires_only_without_a_track() -> None:
    handler = inspect.getsource(RTCRtpReceiver._handle_rtcp_packet)
    assert "RtcpByePacket" in handler and "self.__stop_decoder()" in handler
    assert "self.__decoder_thread = None" in inspect.getsource(
        RTCRtpReceiver._RTCRtpReceiver__stop_decoder  # type: ignore[attr-defined]
    )
    assert "if not self.__started:" in inspect.getsource(RTCRtpReceiver.receive)
    remote = inspect.getsource(RTCPeerConnection.setRemoteDescription)
    assert "and not transceiver.receiver.track" in remote
    assert "t.kind == media.kind and t.mid in [None, media.rtp.muxId]" in remote


async def test_renew_sender_and_receiver_swap_the_transceivers_parts() -> None:
    pc = RTCPeerConnection()
    transceiver = pc.addTransceiver("audio", direction="sendonly")
    old_sender, old_receiver = transceiver.sender, transceiver.receiver
    assert getattr(transceiver, rtc_internals.TRANSCEIVER_SENDER_ATTR) is old_sender
    assert getattr(transceiver, rtc_internals.TRANSCEIVER_RECEIVER_ATTR) is old_receiver
    track = AudioStreamTrack()
    sender = rtc_internals.renew_sender(transceiver, track)
    assert transceiver.sender is sender is not old_sender
    assert sender.track is track and sender._track_id == track.id
    assert sender._ssrc != old_sender._ssrc and sender._stream_id == old_sender._stream_id
    assert sender.transport is transceiver.receiver.transport
    receiver = await rtc_internals.renew_receiver(transceiver)
    assert transceiver.receiver is receiver is not old_receiver
    assert receiver.track is None and receiver.transport is old_receiver.transport
    await pc.close()


async def _exchange(offerer: RTCPeerConnection, answerer: RTCPeerConnection) -> None:
    await offerer.setLocalDescription(await offerer.createOffer())
    await answerer.setRemoteDescription(offerer.localDescription)
    await answerer.setLocalDescription(await answerer.createAnswer())
    await offerer.setRemoteDescription(answerer.localDescription)


async def _wait(condition: Callable[[], bool], what: str, within: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_an_m_line_goes_inactive_and_carries_a_new_track_on_the_same_mid() -> None:
    """What the relay and its aiortc clients do, on two bare peer connections."""
    bundle = RTCConfiguration(bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
    relay, client = RTCPeerConnection(bundle), RTCPeerConnection(bundle)
    events: list[tuple[str, int]] = []  # (mid, frames so far) per track event
    frames: dict[int, int] = {}
    ended: list[int] = []

    @client.on("track")
    def on_track(track: Any) -> None:
        transceiver = next(t for t in client.getTransceivers() if t.receiver.track is track)
        n = len(events)
        events.append((str(transceiver.mid), n))
        frames[n] = 0

        def on_frame(codec: Any, data: bytes, timestamp: int) -> None:
            frames[n] += 1

        rtc_internals.tap_receiver(transceiver.receiver, on_frame, lambda: ended.append(n))

    try:
        transceiver = relay.addTransceiver(AudioStreamTrack(), direction="sendonly")
        await _exchange(relay, client)
        await _wait(lambda: frames.get(0, 0) >= 10, "frames of the first track")
        first_ssrc = transceiver.sender._ssrc
        mid = transceiver.mid

        transceiver.direction = "inactive"
        await transceiver.sender.stop()
        await _exchange(relay, client)
        await _wait(lambda: ended == [0], "the first track to end (RTCP BYE)")
        assert transceiver.currentDirection == "inactive"

        rtc_internals.renew_sender(transceiver, AudioStreamTrack())
        transceiver.direction = "sendonly"
        await relay.setLocalDescription(await relay.createOffer())
        client_side = next(t for t in client.getTransceivers() if t.mid == mid)
        await rtc_internals.renew_receiver(client_side)
        await client.setRemoteDescription(relay.localDescription)
        await client.setLocalDescription(await client.createAnswer())
        await relay.setRemoteDescription(client.localDescription)
        await _wait(lambda: frames.get(1, 0) >= 10, "frames of the second track")

        assert [m for m, _ in events] == [mid, mid]
        assert transceiver.mid == mid and len(relay.getTransceivers()) == 1
        assert len(client.getTransceivers()) == 1
        assert transceiver.sender._ssrc != first_ssrc
        assert f"a=ssrc:{transceiver.sender._ssrc} " in relay.localDescription.sdp
        assert f"a=ssrc:{first_ssrc} " not in relay.localDescription.sdp
    finally:
        await relay.close()
        await client.close()


async def test_sender_frames_can_be_tapped_as_the_receiver_reassembles_them() -> None:
    """tap_sender's bytes equal tap_receiver's for the same frames, over a real call."""
    from aiortc.mediastreams import VideoStreamTrack

    assert "enc_frame = await self._next_encoded_frame(codec)" in inspect.getsource(
        RTCRtpSender._run_rtp
    )
    sender_pc, receiver_pc = RTCPeerConnection(), RTCPeerConnection()
    sent: list[bytes] = []
    received: list[bytes] = []
    first = asyncio.Event()

    @receiver_pc.on("track")
    def on_track(track: Any) -> None:
        transceiver = next(t for t in receiver_pc.getTransceivers() if t.receiver.track is track)

        def on_frame(codec: Any, data: bytes, timestamp: int) -> None:
            received.append(data)
            if len(received) >= 5:
                first.set()

        rtc_internals.tap_receiver(transceiver.receiver, on_frame, lambda: None)

    transceiver = sender_pc.addTransceiver(VideoStreamTrack(), direction="sendonly")
    transceiver.setCodecPreferences(rtc_internals.codec_preferences("video", ["video/VP8"]))
    rtc_internals.tap_sender(transceiver.sender, sent.append)
    await sender_pc.setLocalDescription(await sender_pc.createOffer())
    await receiver_pc.setRemoteDescription(sender_pc.localDescription)
    await receiver_pc.setLocalDescription(await receiver_pc.createAnswer())
    await sender_pc.setRemoteDescription(receiver_pc.localDescription)
    await asyncio.wait_for(first.wait(), 20)
    await sender_pc.close()
    await receiver_pc.close()
    assert received[:5] and all(frame in sent for frame in received[:5])


async def test_ice_can_be_severed_and_consent_then_expires_the_connection() -> None:
    """sever_ice silences both directions of a live call; aioice's consent checks are
    what then fails the connection (their constants are what the 30 s figure rests on)."""
    from aioice import ice
    from aiortc.mediastreams import VideoStreamTrack

    assert (ice.CONSENT_FAILURES, ice.CONSENT_INTERVAL) == (6, 5)
    assert "self.transport.sendto(data, addr)" in inspect.getsource(ice.StunProtocol.send_data)
    sender_pc, receiver_pc = RTCPeerConnection(), RTCPeerConnection()
    received: list[bytes] = []
    flowing = asyncio.Event()

    @receiver_pc.on("track")
    def on_track(track: Any) -> None:
        transceiver = next(t for t in receiver_pc.getTransceivers() if t.receiver.track is track)

        def on_frame(codec: Any, data: bytes, timestamp: int) -> None:
            received.append(data)
            flowing.set()

        rtc_internals.tap_receiver(transceiver.receiver, on_frame, lambda: None)

    sender_pc.addTransceiver(VideoStreamTrack(), direction="sendonly")
    await sender_pc.setLocalDescription(await sender_pc.createOffer())
    await receiver_pc.setRemoteDescription(sender_pc.localDescription)
    await receiver_pc.setLocalDescription(await receiver_pc.createAnswer())
    arrivals = rtc_internals.watch_arrivals(receiver_pc)
    await sender_pc.setRemoteDescription(receiver_pc.localDescription)
    try:
        await asyncio.wait_for(flowing.wait(), 20)
        assert arrivals.count > 0 and arrivals.last is not None
        ice_transport = sender_pc.getTransceivers()[0].sender.transport.transport
        connection = getattr(ice_transport, rtc_internals.ICE_CONNECTION_ATTR)
        assert getattr(connection, rtc_internals.ICE_PROTOCOLS_ATTR)
        assert rtc_internals.sever_ice(sender_pc) > 0
        assert rtc_internals.sever_ice(sender_pc) == 0  # once is enough
        await asyncio.sleep(0.5)
        count = len(received)
        await asyncio.sleep(1.0)
        assert len(received) == count, "frames still arrive over a severed link"
        heard = arrivals.count
        await asyncio.sleep(1.0)
        assert arrivals.count == heard, "the receiver still hears datagrams"
        assert sender_pc.connectionState == "connected"  # silence is noticed only later
    finally:
        await sender_pc.close()
        await receiver_pc.close()


async def test_consent_checks_never_start_on_a_closed_ice_connection() -> None:
    """aioice starts consent checks at the end of connect(), after its last await: a
    close() in between leaves them looping on a closed connection, unless guarded."""
    from aioice import Connection, ice

    connect = inspect.getsource(ice.Connection.connect)
    assert "self._query_consent_task = asyncio.create_task(self.query_consent())" in connect
    close = inspect.getsource(ice.Connection.close)
    assert f"self.{rtc_internals.CONNECTION_CLOSING_ATTR} = True" in close
    assert getattr(ice.Connection.query_consent, "_rb_guarded", False)
    connection = Connection(ice_controlling=True)
    await connection.gather_candidates()
    connection.remote_username, connection.remote_password = "user", "password"
    await connection.close()
    # Unguarded, this sleeps 4-6 s and then loops for good (no nominated pair fails).
    await asyncio.wait_for(connection.query_consent(), 2)


# -- packet-level forwarding (bridge/packets.py) -------------------------------------------


def test_packet_forwarding_internals_used_exist() -> None:
    from aioice.ice import Connection, StunProtocol
    from aiortc.rtcdtlstransport import RTCDtlsTransport
    from aiortc.rtcicetransport import RTCIceTransport

    # Received packets reach the receiver through an instance lookup, once per packet.
    data = inspect.getsource(RTCDtlsTransport._handle_rtp_data)
    assert "await receiver._handle_rtp_packet(packet, arrival_time_ms=arrival_time_ms)" in data
    assert "await recipient._handle_rtcp_packet(packet)" in inspect.getsource(
        RTCDtlsTransport._handle_rtcp_data
    )
    handler = inspect.getsource(RTCRtpReceiver._handle_rtp_packet)
    assert "self.__codecs.get(packet.payload_type)" in handler
    assert "self.__rtx_ssrc.get(packet.ssrc)" in handler
    # aiortc's own send path, which Downlink.send does without its coroutine hops.
    send_rtp = inspect.getsource(RTCDtlsTransport._send_rtp)
    assert "self._state != State.CONNECTED" in send_rtp
    assert "data = self._tx_srtp.protect(data)" in send_rtp
    assert "self._send = self._connection.send" in inspect.getsource(RTCIceTransport)
    assert "self._nominated.get(component)" in inspect.getsource(Connection.sendto)
    # The nominated map is one dict for the connection's life (Downlink keeps it).
    connection_source = inspect.getsource(Connection)
    assert connection_source.count("self._nominated: dict[int, CandidatePair] = {}") == 1
    assert "self._nominated = " not in connection_source
    assert "active_pair.protocol.send_data(data, active_pair.remote_addr)" in inspect.getsource(
        Connection.sendto
    )
    assert "self.transport.sendto(data, addr)" in inspect.getsource(StunProtocol.send_data)
    # Downlink protects in the SRTP session's own buffer and sends on the raw socket.
    import pylibsrtp
    from pylibsrtp._binding import lib

    process = inspect.getsource(pylibsrtp.Session)
    assert 'self._cdata = ffi.new("char[]", 1500)' in process
    assert "self._buffer = ffi.buffer(self._cdata)" in process
    assert "func(self._srtp[0], self._cdata, len_p)" in process
    assert callable(lib.srtp_protect)
    datagram: Any = asyncio.selector_events
    sendto = inspect.getsource(datagram._SelectorDatagramTransport.sendto)
    assert f"self.{rtc_internals.DATAGRAM_SOCKET_ATTR}.sendto(data, addr)" in sendto
    # The negotiated header extensions (ids the answer chose) live on the transceiver.
    assert "transceiver._headerExtensions" in inspect.getsource(RTCPeerConnection)
    # A subscriber's NACK calls _retransmit; the RTCP loop reports the counters we write.
    sender_rtcp = inspect.getsource(RTCRtpSender._handle_rtcp_packet)
    assert "await self._retransmit(seq)" in sender_rtcp
    # REMB: the receiver sends its estimate through _send_rtcp, the sender hears it in
    # _handle_rtcp_packet (both looked up on the instance).
    assert "await self._send_rtcp(rtcp_packet)" in handler
    assert "fci=pack_remb_fci(*remb)" in handler
    assert "unpack_remb_fci(packet.fci)" in sender_rtcp
    assert "await recipient._handle_rtcp_packet(packet)" in inspect.getsource(
        RTCDtlsTransport._handle_rtcp_data
    )
    # take_sender_reports stands in for the sender's RTCP loop: what it replaces, the
    # events stop() waits on, and what Downlink.send_report writes as the loop did.
    rtcp = inspect.getsource(RTCRtpSender._run_rtcp)
    assert "self.__rtcp_started.set()" in rtcp and "self.__rtcp_exited.set()" in rtcp
    assert "await asyncio.sleep(0.5 + random.random())" in rtcp
    for attr in rtc_internals.SENDER_LSR_ATTRS:
        assert "self.__" + attr.split("__")[1] + " = " in rtcp
    assert 'items=[(1, self.__cname.encode("utf8"))]' in rtcp
    send = inspect.getsource(RTCRtpSender.send)
    assert "self.__rtcp_task = asyncio.ensure_future(self._run_rtcp())" in send
    assert "self.__cname = parameters.rtcp.cname" in send
    stop = inspect.getsource(RTCRtpSender.stop)
    assert "self.__rtcp_started.wait()" in stop and "self.__rtcp_exited.wait()" in stop
    # The round-trip time comes from a receiver report echoing the last SR's time.
    assert "self.__lsr" in inspect.getsource(RTCRtpSender._handle_rtcp_packet)


async def test_rtp_tap_and_downlink_carry_packets_over_a_real_connection() -> None:
    """tap_rtp sees a real sender's packets and reports; a Downlink built on the
    receiving side's own sender sends a hand-made packet the other end taps."""
    from aiortc.mediastreams import VideoStreamTrack

    a, b = RTCPeerConnection(), RTCPeerConnection()
    at_b: list[tuple[int, int, int, bytes]] = []
    reports: list[tuple[int, int]] = []
    reports_at_a: list[tuple[int, int]] = []
    at_a: list[tuple[int, int, int, bytes]] = []
    extensions_at_a: dict[int, Any] = {}
    uplink_estimates: list[int] = []
    rembs_at_a: list[int] = []

    def cap(own: int) -> int:
        uplink_estimates.append(own)
        return 123_456

    @b.on("track")
    def on_track(track: Any) -> None:
        transceiver = next(t for t in b.getTransceivers() if t.receiver.track is track)
        rtc_internals.tap_rtp(
            transceiver.receiver,
            lambda *p: at_b.append(p),
            lambda *r: reports.append(r),
            remb_cap=cap,
        )
        with pytest.raises(RuntimeError):
            rtc_internals.tap_rtp(transceiver.receiver, lambda *p: None, lambda *r: None)

    @a.on("track")
    def on_back(track: Any) -> None:
        transceiver = next(t for t in a.getTransceivers() if t.receiver.track is track)
        rtc_internals.tap_rtp(
            transceiver.receiver, lambda *p: at_a.append(p), lambda *r: reports_at_a.append(r)
        )
        tapped = transceiver.receiver._handle_rtp_packet

        async def keep_extensions(packet: Any, arrival_time_ms: int) -> None:
            extensions_at_a[packet.sequence_number] = packet.extensions
            await tapped(packet, arrival_time_ms)

        setattr(transceiver.receiver, "_handle_rtp_packet", keep_extensions)  # noqa: B010

    a_side = a.addTransceiver(VideoStreamTrack(), direction="sendrecv")
    a_side.setCodecPreferences(rtc_internals.codec_preferences("video", ["video/VP8"]))
    rtc_internals.hook_remb(a_side.sender, rembs_at_a.append)
    with pytest.raises(RuntimeError):
        rtc_internals.hook_remb(a_side.sender, rembs_at_a.append)
    try:
        await a.setLocalDescription(await a.createOffer())
        await b.setRemoteDescription(a.localDescription)
        b_side = b.getTransceivers()[0]
        b.getTransceivers()[0].direction = "sendrecv"
        b_side.sender.replaceTrack(VideoStreamTrack())
        await b.setLocalDescription(await b.createAnswer())
        await a.setRemoteDescription(b.localDescription)
        await _wait(lambda: len(at_b) >= 20 and bool(reports), "packets and a sender report")
        seqs = [p[0] for p in at_b[:20]]
        assert all((y - x) & 0xFFFF == 1 for x, y in itertools.pairwise(seqs))
        assert any(p[2] for p in at_b) and all(p[3] for p in at_b)

        link = rtc_internals.Downlink(b_side)
        assert link.ssrc == b_side.sender._ssrc and link.rtx_payload_type is not None
        await _wait(lambda: len(at_a) >= 5, "packets of b's own sender")
        assert link.extensions[:2] == b"\xbe\xde"  # mid and abs-send-time negotiated
        seq = (at_a[-1][0] + 50) & 0xFFFF  # ahead of what b's sender has protected
        send_time = rtc_internals.abs_send_time(time.time())
        video_pt = 0x80 | link.payload_type
        assert link.send(video_pt, seq, 90000, link.ssrc, b"\x10\x00hand", send_time)
        await _wait(lambda: any(p[0] == seq for p in at_a), "the hand-made packet")
        assert next(p for p in at_a if p[0] == seq)[3] == b"\x10\x00hand"
        # The receiver parsed the extensions as aiortc's own sender writes them.
        assert extensions_at_a[seq].mid == b_side.mid
        assert extensions_at_a[seq].abs_send_time == send_time
        # RTX: the original sequence number goes before the payload.
        assert link.rtx_payload_type is not None
        rtx_seq = (seq + 1) & 0xFFFF
        assert link.send(
            link.rtx_payload_type, 5, 90000, link.rtx_ssrc, b"\x10\x00again", send_time, rtx_seq
        )
        await _wait(lambda: any(p[0] == rtx_seq for p in at_a), "the retransmitted packet")
        assert next(p for p in at_a if p[0] == rtx_seq)[3] == b"\x10\x00again"
        # b's REMB about a's stream left b capped, and a's sender heard the capped rate.
        await _wait(lambda: bool(rembs_at_a), "a REMB from b")
        assert uplink_estimates and set(rembs_at_a) == {123_456}
        # A sender report from the link reaches a's receiver as sent.
        assert link.send_report(0x1234_5678_9ABC_DEF0, 7, 3, 4)
        await _wait(lambda: (0x1234_5678_9ABC_DEF0, 7) in reports_at_a, "the sender report")
        assert getattr(b_side.sender, rtc_internals.SENDER_LSR_ATTRS[0]) == 0x5678_9ABC
        with pytest.raises(RuntimeError):  # started: its own loop already runs
            rtc_internals.take_sender_reports(b_side.sender)

        lost: list[int] = []
        rtc_internals.hook_retransmit(b_side.sender, lost.append)
        await b_side.sender._retransmit(17)
        assert lost == [17]

        # A severed connection (sever_ice) stays silent on this path too.
        assert rtc_internals.sever_ice(b) > 0
        silent_seq = (at_a[-1][0] + 1000) & 0xFFFF  # ahead of b's sender, not a replay
        link.send(video_pt, silent_seq, 90000, link.ssrc, b"\x10\x00lost", send_time)
        await asyncio.sleep(1.0)  # what the socket would have delivered by now
        assert not any(p[3] == b"\x10\x00lost" for p in at_a)
    finally:
        await a.close()
        await b.close()
    # Closed transport: nothing sent, no error.
    assert not link.send(0x80 | link.payload_type, seq, 90000, link.ssrc, b"\x10\x00", 0)


async def test_packet_only_receive_internals_used_exist() -> None:
    """tap_rtp with frames off does aiortc's receive bookkeeping itself: these are the
    lines it stands in for, and the objects it uses."""
    from aiortc.jitterbuffer import JitterBuffer
    from aiortc.rtcrtpreceiver import NackGenerator, StreamStatistics

    handler = inspect.getsource(RTCRtpReceiver._handle_rtp_packet)
    for line in (
        "if self.__remote_bitrate_estimator is not None:",
        "remb = self.__remote_bitrate_estimator.add(",
        "payload_size=len(packet.payload) + packet.padding_size,",
        "if self.__rtcp_ssrc is not None and remb is not None:",
        "self.__active_ssrc[packet.ssrc] = clock.current_datetime()",
        "self.__remote_streams[packet.ssrc] = StreamStatistics(codec.clockRate)",
        "self.__remote_streams[packet.ssrc].add(packet)",
        "packet = unwrap_rtx(packet, payload_type=apt, ssrc=original_ssrc)",
        "if self.__nack_generator is not None and self.__nack_generator.add(packet):",
        "packet.ssrc, sorted(self.__nack_generator.missing)",
        "pli_flag, encoded_frame = self.__jitter_buffer.add(packet)",
    ):
        assert line in handler, line
    # Receiver reports come from the statistics, PLIs go to the active SSRCs.
    assert "self.__remote_streams.items()" in inspect.getsource(RTCRtpReceiver._run_rtcp)
    assert "self.__active_ssrc.items()" in inspect.getsource(
        RTCRtpReceiver.getSynchronizationSources
    )
    pc = RTCPeerConnection()
    for kind, video in (("video", True), ("audio", False)):
        receiver = RTCRtpReceiver(kind, pc.addTransceiver(kind).sender.transport)
        estimator = getattr(receiver, rtc_internals.RECEIVER_ESTIMATOR_ATTR)
        nack = getattr(receiver, rtc_internals.RECEIVER_NACK_ATTR)
        assert (estimator is not None) is video and (nack is not None) is video
        assert nack is None or isinstance(nack, NackGenerator)
        assert getattr(receiver, rtc_internals.RECEIVER_ACTIVE_SSRC_ATTR) == {}
        assert getattr(receiver, rtc_internals.RECEIVER_STREAMS_ATTR) == {}
        assert getattr(receiver, rtc_internals.RECEIVER_RTCP_SSRC_ATTR) is None
        buffer = getattr(receiver, rtc_internals.RECEIVER_JITTER_BUFFER_ATTR)
        assert isinstance(buffer, JitterBuffer) and buffer._is_video is video
        rtc_internals.reset_jitter_buffer(receiver)
        fresh = getattr(receiver, rtc_internals.RECEIVER_JITTER_BUFFER_ATTR)
        assert fresh is not buffer and fresh._origin is None
        assert (fresh.capacity, fresh._prefetch, fresh._is_video) == (
            buffer.capacity,
            buffer._prefetch,
            buffer._is_video,
        )
    await pc.close()
    assert "self._clockrate = clockrate" in inspect.getsource(StreamStatistics)


@pytest.mark.parametrize("at_once", [False, True])
async def test_a_packet_only_receiver_keeps_its_rtcp_and_reassembles_whole_frames_again(
    at_once: bool,
) -> None:
    """tap_rtp with frames off over a real call: packets flow and the publisher still
    gets receiver reports, REMB and an active SSRC for PLIs, but no frame is reassembled;
    turned on, whole frames (the sender's own bytes) come again, none cut at the start
    (the frames are noise, several packets each). ``at_once``: the same with the
    packets taken in the socket's callback (receive_rtp_at_once) while frames are off,
    not queued for the DTLS transport's task; the transport still counts them."""
    import random

    from aiortc.mediastreams import VideoStreamTrack
    from av import VideoFrame

    class Noise(VideoStreamTrack):
        def __init__(self) -> None:
            super().__init__()
            rng = random.Random(7)
            self._frames = []
            for _ in range(4):
                frame = VideoFrame(320, 240, "yuv420p")
                for plane in frame.planes:
                    plane.update(rng.randbytes(plane.buffer_size))
                self._frames.append(frame)
            self._count = 0

        async def recv(self) -> VideoFrame:
            pts, time_base = await self.next_timestamp()
            frame = self._frames[self._count % len(self._frames)]
            frame.pts, frame.time_base = pts, time_base
            self._count += 1
            return frame

    sender_pc, receiver_pc = RTCPeerConnection(), RTCPeerConnection()
    sent: list[bytes] = []
    frames: list[bytes] = []
    packets: list[int] = []
    estimates: list[int] = []
    taps: list[rtc_internals.RtpTap] = []
    rembs: list[int] = []

    def cap(own: int) -> int:
        estimates.append(own)
        return own

    switch = asyncio.Event()
    timestamps: list[int] = []

    def on_packet(seq: int, timestamp: int, marker: int, payload: bytes) -> None:
        # Frames go on in the middle of a frame: the packet before had its timestamp.
        if switch.is_set() and not taps[0].frames and timestamps[-1:] == [timestamp]:
            taps[0].frames = True
        packets.append(seq)
        timestamps.append(timestamp)

    @receiver_pc.on("track")
    def on_track(track: Any) -> None:
        transceiver = next(t for t in receiver_pc.getTransceivers() if t.receiver.track is track)
        rtc_internals.tap_receiver(
            transceiver.receiver, lambda _c, data, _ts: frames.append(data), lambda: None
        )
        taps.append(
            rtc_internals.tap_rtp(
                transceiver.receiver,
                on_packet,
                lambda *r: None,
                remb_cap=cap,
                frames=False,
            )
        )

    transceiver = sender_pc.addTransceiver(Noise(), direction="sendonly")
    transceiver.setCodecPreferences(rtc_internals.codec_preferences("video", ["video/VP8"]))
    rtc_internals.tap_sender(transceiver.sender, sent.append)
    rtc_internals.hook_remb(transceiver.sender, rembs.append)
    await sender_pc.setLocalDescription(await sender_pc.createOffer())
    await receiver_pc.setRemoteDescription(sender_pc.localDescription)
    await receiver_pc.setLocalDescription(await receiver_pc.createAnswer())
    queued_rtp: list[int] = []
    if at_once:
        dtls = receiver_pc.getTransceivers()[0].receiver.transport
        connection = getattr(dtls.transport, rtc_internals.ICE_CONNECTION_ATTR)
        queue_it = connection.data_received

        def count_queued(data: bytes, component: int) -> None:
            if 127 < data[0] < 192 and not 191 < data[1] < 209:
                queued_rtp.append(len(packets))
            queue_it(data, component)

        connection.data_received = count_queued
        assert rtc_internals.receive_rtp_at_once(receiver_pc) == 1
        assert rtc_internals.receive_rtp_at_once(receiver_pc) == 0  # once is enough
    await sender_pc.setRemoteDescription(receiver_pc.localDescription)

    async def remote_inbound() -> list[Any]:
        stats = (await transceiver.sender.getStats()).values()
        return [s for s in stats if getattr(s, "type", "") == "remote-inbound-rtp"]

    try:
        await _wait(lambda: len(packets) >= 30 and bool(rembs), "packets and a REMB")
        receiver = receiver_pc.getTransceivers()[0].receiver
        assert not frames and not taps[0].frames
        assert rtc_internals.media_ssrcs(receiver) == [transceiver.sender._ssrc]
        streams = getattr(receiver, rtc_internals.RECEIVER_STREAMS_ATTR)
        assert streams[transceiver.sender._ssrc].packets_received >= 30
        assert getattr(receiver, rtc_internals.RECEIVER_NACK_ATTR).max_seq is not None
        assert estimates and rembs[-1] in estimates
        if at_once:
            # The first packet of the SSRC is routed by aiortc (which learns the SSRC).
            assert len(queued_rtp) <= 2, queued_rtp
            received = receiver.transport._get_stats()
            assert next(iter(received.values())).packetsReceived >= len(packets)
        deadline = asyncio.get_running_loop().time() + 10
        while not await remote_inbound():
            assert asyncio.get_running_loop().time() < deadline, "no receiver report"
            await asyncio.sleep(0.1)
        # The jitter buffer held nothing meanwhile, and restarts at a frame's start.
        buffer = getattr(receiver, rtc_internals.RECEIVER_JITTER_BUFFER_ATTR)
        assert buffer._origin is None
        switch.set()
        await _wait(lambda: len(frames) >= 5, "whole frames again")
        assert all(frame in sent for frame in frames)
        assert sum(len(frame) > 1200 for frame in frames) >= 3  # several packets each
        assert getattr(receiver, rtc_internals.RECEIVER_JITTER_BUFFER_ATTR) is not buffer
        switch.clear()
        taps[0].frames = False
        count = len(frames)
        await asyncio.sleep(0.3)
        assert len(frames) <= count + 1  # at most one already on its way
    finally:
        await sender_pc.close()
        await receiver_pc.close()


async def test_a_sender_whose_reports_are_taken_sends_none_but_still_says_bye() -> None:
    """take_sender_reports: the sender's own loop sends no SR, the media flows, and
    stop() still says RTCP BYE (a subscriber ends the track on it; recycled m-lines
    rely on that)."""
    from aiortc.mediastreams import VideoStreamTrack

    a, b = RTCPeerConnection(), RTCPeerConnection()
    packets: list[tuple[int, int, int, bytes]] = []
    reports: list[tuple[int, int]] = []
    rtcp: list[str] = []
    remote: list[Any] = []

    @b.on("track")
    def on_track(track: Any) -> None:
        remote.append(track)
        transceiver = next(t for t in b.getTransceivers() if t.receiver.track is track)
        rtc_internals.tap_rtp(
            transceiver.receiver, lambda *p: packets.append(p), lambda *r: reports.append(r)
        )
        handle = transceiver.receiver._handle_rtcp_packet

        async def note(packet: Any) -> None:
            rtcp.append(type(packet).__name__)
            await handle(packet)

        setattr(transceiver.receiver, "_handle_rtcp_packet", note)  # noqa: B010

    sending = a.addTransceiver(VideoStreamTrack(), direction="sendonly")
    sending.setCodecPreferences(rtc_internals.codec_preferences("video", ["video/VP8"]))
    rtc_internals.take_sender_reports(sending.sender)
    try:
        await a.setLocalDescription(await a.createOffer())
        await b.setRemoteDescription(a.localDescription)
        await b.setLocalDescription(await b.createAnswer())
        await a.setRemoteDescription(b.localDescription)
        await _wait(lambda: len(packets) >= 10, "media")
        await asyncio.sleep(2.0)  # aiortc's loop would have sent one to four by now
        assert reports == [] and "RtcpSrPacket" not in rtcp
        await sending.sender.stop()
        await _wait(lambda: "RtcpByePacket" in rtcp, "the BYE")
    finally:
        await a.close()
        await b.close()
