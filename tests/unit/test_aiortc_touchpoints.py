"""Fails loudly when an aiortc upgrade moves an internal the relay relies on."""

from __future__ import annotations

import inspect
import queue

import aiortc
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender, RTCRtpTransceiver
from aiortc.jitterbuffer import JitterFrame
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
