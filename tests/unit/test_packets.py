"""Packet-level keyframe detection on payloads packetised by aiortc's real encoders."""

from __future__ import annotations

import asyncio
import fractions
import logging
import time

import pytest
from aiortc.codecs import get_encoder
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from av import VideoFrame

from bridge import packets
from bridge.counters import TrackCounters
from bridge.frames import EncodedFrame, EndpointId, Kind, TrackId, TrackInfo
from bridge.hub import Hub, RemoteEndpoint
from bridge.packets import (
    PacketDownTrack,
    PacketSource,
    h264_keyframe_start,
    keyframe_detector,
    remb_cap,
    vp8_keyframe_start,
)

VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)
OPUS = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2, payloadType=111)
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


def test_the_source_tells_the_up_track_of_each_keyframe_start() -> None:
    info = TrackInfo(TrackId("t"), "cam", EndpointId("p"), "site", Kind.VIDEO, "VP8", 90000)
    source = PacketSource(info)
    seen: list[int] = []
    source.on_keyframe = lambda: seen.append(source.packets_in)
    frames, seq = _frames("vp8", 5), 0
    for payloads in frames:
        for index, payload in enumerate(payloads):
            source.on_packet(seq, 3000, int(index == len(payloads) - 1), payload)
            seq += 1
    starts = [sum(len(p) for p in frames[:i]) + 1 for i in (0, 3)]
    assert seen == starts


def test_garbage_is_not_a_keyframe() -> None:
    for data in (b"", b"\x10", b"\x90\x80", b"\x9c"):
        assert not vp8_keyframe_start(data)
    # An IDR slice without its SPS (single, FU-A start) does not start a keyframe.
    for data in (b"", b"\x1c", b"\x18\x00\x05\x01", b"\x01\x02", b"\x65\x88", b"\x7c\x85"):
        assert not h264_keyframe_start(data)
    assert keyframe_detector("opus")(b"anything")


class _Broken(PacketDownTrack):
    """A down-track whose forwarding raises (a bug in one subscriber's path)."""

    def forward(self, *args: object) -> bool:
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
    source.remb_cap(1_000_000)
    assert source.last_remb == (1_000_000, 1_000_000)


def test_rembs_to_the_publisher_are_throttled_but_a_fall_goes_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    info = TrackInfo(TrackId("v"), "cam", EndpointId("p"), "site", Kind.VIDEO, "VP8", 90000)
    source = PacketSource(info)
    now = [100.0]
    monkeypatch.setattr("bridge.packets.time.monotonic", lambda: now[0])
    assert source.remb_cap(1_000_000) == 1_000_000  # the first one goes
    assert source.remb_cap(1_000_000) is None  # the same again, too soon
    assert source.remb_cap(1_200_000) is None  # a rise waits for the interval
    assert source.remb_cap(980_000) is None  # a fall under REMB_DROP too
    assert source.remb_cap(960_000) == 960_000  # a larger fall goes at once
    now[0] += packets.REMB_INTERVAL
    assert source.remb_cap(1_200_000) == 1_200_000
    assert source.last_remb == (1_200_000, 1_200_000)


def test_counters_come_from_packets_a_frame_per_marker_for_video_per_packet_for_audio() -> None:
    video = TrackInfo(TrackId("v"), "cam", EndpointId("p"), "site", Kind.VIDEO, "VP8", 90000)
    counters = TrackCounters()
    source = PacketSource(video, counters)
    forwarding = PacketDownTrack(video, EndpointId("s1"), lambda: None, source)
    paused = PacketDownTrack(video, EndpointId("s2"), lambda: None, source, forwarding=False)
    source.add(forwarding)
    source.add(paused)
    for seq in range(6):  # two frames of three packets
        source.on_packet(seq, 3000 * (seq // 3), int(seq % 3 == 2), b"\x10\x00abc")
    assert (counters.frames_in, counters.bytes_in) == (2, 30)
    assert (counters.frames_out, counters.bytes_out) == (2, 30)  # to the forwarding one
    assert (forwarding.counters.frames_in, forwarding.counters.bytes_in) == (2, 30)
    assert (paused.counters.frames_in, paused.counters.bytes_in) == (0, 0)

    audio = TrackInfo(TrackId("a"), "mic", EndpointId("p"), "site", Kind.AUDIO, "opus", 48000)
    source = PacketSource(audio)
    listener = PacketDownTrack(audio, EndpointId("s1"), lambda: None, source)
    source.add(listener)
    for seq in range(4):  # Opus sets the marker only at a talkspurt's start
        source.on_packet(seq, 960 * seq, int(seq == 0), b"\x01opus")
    assert (source.counters.frames_in, source.counters.frames_out) == (4, 4)
    assert listener.counters.frames_in == 4


class _Frames:
    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def on_track(self, track: TrackInfo) -> None:
        pass

    def on_frame(self, track: TrackInfo, frame: EncodedFrame) -> None:
        self.frames.append(frame.data)

    def on_track_ended(self, track: TrackInfo) -> None:
        pass


async def _no_keyframe() -> bool:
    return False


async def test_packet_mode_reassembles_frames_only_while_a_sink_wants_them() -> None:
    hub = Hub("s", "host", forwarding="packet")
    assert not hub.wants_frames and Hub("s", "host").wants_frames  # frame mode always
    publisher = RemoteEndpoint(EndpointId("p"), "site")
    first = hub.add_uptrack(publisher, Kind.VIDEO, VP8, _no_keyframe)
    source = hub.packet_sources[first.info.track_id]
    assert not source.frames
    follower = _Frames()
    hub.add_sink(follower, frames=False)  # hears of tracks (as a cascade link does)
    assert not source.frames
    recorder = _Frames()
    hub.add_sink(recorder)
    assert source.frames and hub.wants_frames
    later = hub.add_uptrack(publisher, Kind.AUDIO, OPUS, _no_keyframe)
    assert hub.packet_sources[later.info.track_id].frames
    # Frames go to the sinks only: down-tracks and counters follow the packets.
    first.on_frame(b"\x10frame", 3000)
    assert recorder.frames == [b"\x10frame"] and first.counters.frames_in == 0
    hub.remove_sink(recorder)
    assert not source.frames and not hub.packet_sources[later.info.track_id].frames
    hub.remove_sink(follower)
    assert not hub.wants_frames


def test_a_republished_source_re_bases_audio_and_forgets_the_old_cache_and_report() -> None:
    info = TrackInfo(TrackId("a"), "mic", EndpointId("p"), "site", Kind.AUDIO, "opus", 48000)
    source = PacketSource(info)
    downtrack = PacketDownTrack(info, EndpointId("s"), lambda: None, source)
    source.add(downtrack)
    source.on_report(0x1234_5678_0000_0000, 960)
    for seq in range(40000, 40005):
        source.on_packet(seq, 960 * seq, 1, b"\x01old")
    assert downtrack.lane.base_seq == 40000 and source.cached(40004) is not None
    # The new publish connection numbers its packets from elsewhere (here 20000 behind,
    # which the old offsets would have taken for packets older than the start). The
    # republish renews the source once (PacketSource.listen, on the new receiver) and
    # re-bases every down-track (UpTrack.rebind).
    source.renew()
    downtrack.resync()
    assert source.report is None and source.cached(40004) is None
    source.on_packet(20000, 123, 1, b"\x01new")
    assert downtrack.lane.base_seq == 20000 and not downtrack._rebase
    assert source.cached(20000) == (20000, 123, 1, b"\x01new")


class _Reporting(PacketDownTrack):
    """A down-track that counts the sender reports it sends."""

    sent = 0

    def send_report(self) -> None:
        self.sent += 1
        super().send_report()


async def test_the_source_sends_every_down_tracks_report_in_one_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One timer per up-track, not a task per down-track: each batch reaches every
    down-track; batches stop with the last down-track and when the track ends."""
    monkeypatch.setattr(packets, "REPORT_INTERVAL", (0.02, 0.02))
    info = TrackInfo(TrackId("a"), "mic", EndpointId("p"), "site", Kind.AUDIO, "opus", 48000)
    source = PacketSource(info)
    downtracks = [_Reporting(info, EndpointId(f"s{i}"), lambda: None, source) for i in range(3)]
    for downtrack in downtracks:
        source.add(downtrack)
    source.start_reports()
    source.start_reports()  # once is enough
    await asyncio.sleep(0.07)
    counts = [d.sent for d in downtracks]
    assert counts[0] >= 2 and counts == [counts[0]] * 3
    source.remove(downtracks[0])
    await asyncio.sleep(0.05)
    assert downtracks[0].sent == counts[0] and downtracks[1].sent > counts[1]
    source.remove(downtracks[1])
    source.remove(downtracks[2])
    await asyncio.sleep(0.05)
    assert source._report_timer is None  # nothing left to report to
    source.add(downtracks[1])
    source.start_reports()
    assert source._report_timer is not None
    source.end()
    assert source._report_timer is None
