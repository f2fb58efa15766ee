"""Packet-level keyframe detection on payloads packetised by aiortc's real encoders."""

from __future__ import annotations

import fractions
import logging
import time

import pytest
from aiortc.codecs import get_encoder
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from av import VideoFrame

from bridge.frames import EndpointId, Kind, TrackId, TrackInfo
from bridge.packets import (
    PacketDownTrack,
    PacketSource,
    h264_keyframe_start,
    keyframe_detector,
    remb_cap,
    vp8_keyframe_start,
)

CODECS = {
    "vp8": RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96),
    "h264": RTCRtpCodecParameters(
        mimeType="video/H264",
        clockRate=90000,
        payloadType=102,
        parameters={"packetization-mode": "1", "profile-level-id": "42e01f"},
    ),
}


def _frames(codec: str, count: int) -> list[list[bytes]]:
    encoder = get_encoder(CODECS[codec])
    out = []
    for i in range(count):
        frame = VideoFrame(width=640, height=480)
        for plane in frame.planes:
            plane.update(bytes([(i * 7 + 31 * n) % 256 for n in range(plane.buffer_size)]))
        frame.pts = i * 3000
        frame.time_base = fractions.Fraction(1, 90000)
        payloads, _ts = encoder.encode(frame, force_keyframe=i == 3)
        out.append(payloads)
    return out


@pytest.mark.parametrize("codec", ["vp8", "h264"])
def test_only_the_first_packet_of_a_keyframe_starts_one(codec: str) -> None:
    detect = keyframe_detector(codec)
    frames = _frames(codec, 5)
    starts = [[detect(p) for p in payloads] for payloads in frames]
    for index in (0, 3):  # the first frame and the forced one
        assert starts[index][0], f"frame {index} starts a keyframe"
        assert not any(starts[index][1:]), "only at its first packet"
    for index in (1, 2, 4):
        assert not any(starts[index]), f"frame {index} is a delta frame"


def test_garbage_is_not_a_keyframe() -> None:
    for data in (b"", b"\x10", b"\x90\x80", b"\x9c"):
        assert not vp8_keyframe_start(data)
    # An IDR slice without its SPS (single, FU-A start) does not start a keyframe.
    for data in (b"", b"\x1c", b"\x18\x00\x05\x01", b"\x01\x02", b"\x65\x88", b"\x7c\x85"):
        assert not h264_keyframe_start(data)
    assert keyframe_detector("opus")(b"anything")


class _Broken(PacketDownTrack):
    """A down-track whose forwarding raises (a bug in one subscriber's path)."""

    def forward(self, *args: object) -> None:
        raise RuntimeError("broken subscriber path")


def test_a_failing_downtrack_is_logged_once_and_the_others_still_get_packets(
    caplog: pytest.LogCaptureFixture,
) -> None:
    info = TrackInfo(TrackId("t"), "cam", EndpointId("p"), "site", Kind.AUDIO, "opus", 48000)
    source = PacketSource(info)
    broken = _Broken(info, EndpointId("s1"), lambda: None, source)
    fine = PacketDownTrack(info, EndpointId("s2"), lambda: None, source)
    source.add(broken)
    source.add(fine)
    with caplog.at_level(logging.ERROR, logger="bridge.packets"):
        for seq in range(5):
            source.on_packet(seq, 960 * seq, 1, b"\x01audio")
    assert broken.failures == 5
    assert [r.getMessage().count("logged once") for r in caplog.records] == [1]
    # The healthy down-track was reached each time (no link yet: re-based, not sent).
    assert fine.failures == 0 and not fine._rebase


def test_the_publisher_is_asked_the_slowest_subscribers_rate_down_to_the_floor() -> None:
    assert remb_cap(2_000_000, []) == 2_000_000  # no subscriber estimate: the uplink's
    assert remb_cap(2_000_000, [1_500_000, 900_000]) == 900_000
    assert remb_cap(2_000_000, [1_500_000, 100_000], floor=300_000) == 300_000
    assert remb_cap(250_000, [100_000], floor=300_000) == 250_000  # uplink is lower still
    assert remb_cap(800_000, [5_000_000]) == 800_000  # never above the uplink


def test_only_fresh_estimates_of_forwarding_subscribers_count() -> None:
    info = TrackInfo(TrackId("v"), "cam", EndpointId("p"), "site", Kind.VIDEO, "VP8", 90000)
    source = PacketSource(info)
    slow, paused, stale = (
        PacketDownTrack(info, EndpointId(f"s{i}"), lambda: None, source) for i in range(3)
    )
    for downtrack in (slow, paused, stale):
        source.add(downtrack)
    slow.on_remb(600_000)
    paused.on_remb(400_000)
    paused.set_forwarding(False)
    stale.remb = (350_000, time.monotonic() - 60)
    assert source.remb_cap(1_000_000) == 600_000
    assert source.last_remb == (1_000_000, 600_000)
    source.remove(slow)
    assert source.remb_cap(1_000_000) == 1_000_000


def test_a_republished_source_re_bases_audio_and_forgets_the_old_cache_and_report() -> None:
    info = TrackInfo(TrackId("a"), "mic", EndpointId("p"), "site", Kind.AUDIO, "opus", 48000)
    source = PacketSource(info)
    downtrack = PacketDownTrack(info, EndpointId("s"), lambda: None, source)
    source.add(downtrack)
    source.on_report(0x1234_5678_0000_0000, 960)
    for seq in range(40000, 40005):
        source.on_packet(seq, 960 * seq, 1, b"\x01old")
    assert downtrack._base_seq == 40000 and source.cached(40004) is not None
    # The new publish connection numbers its packets from elsewhere (here 20000 behind,
    # which the old offsets would have taken for packets older than the start).
    downtrack.resync()
    assert source.report is None and source.cached(40004) is None
    source.on_packet(20000, 123, 1, b"\x01new")
    assert downtrack._base_seq == 20000 and not downtrack._rebase
    assert source.cached(20000) == (20000, 123, 1, b"\x01new")
