"""The relay benchmark's publisher pattern: a keyframe request costs one keyframe."""

from __future__ import annotations

from aiortc.codecs import get_encoder
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from bench.relay import FPS, PatternTrack
from bridge.packets import vp8_keyframe_start

VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)


async def test_a_forced_keyframe_is_not_repeated_when_the_pattern_loops() -> None:
    track = PatternTrack()
    encoder = get_encoder(VP8)
    keyframes = []
    for index in range(2 * FPS + 2):
        frame = await track.recv()
        payloads, _timestamp = encoder.encode(frame, force_keyframe=index == 5)
        if vp8_keyframe_start(payloads[0]):
            keyframes.append(index)
    track.stop()
    # The first frame and the one asked for; frame 5's picture, sent again at 35 and
    # 65, is coded as a delta frame.
    assert keyframes == [0, 5]
