"""The patch matrix and a down-track's keyframe and overflow rules, in memory."""

from __future__ import annotations

from bridge.downtrack import VIDEO_QUEUE_FRAMES, DownTrack
from bridge.frames import EncodedFrame, EndpointId, Kind, TrackId, TrackInfo
from bridge.keyframes import is_h264_keyframe, is_vp8_keyframe
from bridge.patch import EndpointRole, Patch, PatchState, forwards


def _patch(name: str, role: EndpointRole = EndpointRole.ROOM, **kw: object) -> Patch:
    return Patch(EndpointId(name), name, role, host=name == "hanoi", **kw)  # type: ignore[arg-type]


def test_everyone_live_by_default_sees_everyone_else() -> None:
    a, b = _patch("hanoi"), _patch("bac-ninh")
    assert forwards(a, b, Kind.VIDEO) and forwards(b, a, Kind.AUDIO)
    assert not forwards(a, a, Kind.VIDEO)


def test_standby_point_reaches_only_operators_and_gets_only_the_host() -> None:
    host, standby, live = _patch("hanoi"), _patch("ca-mau", state=PatchState.STANDBY), _patch("hue")
    operator = _patch("op", EndpointRole.OPERATOR)
    assert forwards(standby, operator, Kind.VIDEO)
    assert not forwards(standby, host, Kind.VIDEO) and not forwards(standby, live, Kind.VIDEO)
    assert forwards(host, standby, Kind.VIDEO) and not forwards(live, standby, Kind.VIDEO)


def test_muted_audio_goes_nowhere_video_still_does() -> None:
    muted, other = _patch("hue", muted=True), _patch("hanoi")
    assert not forwards(muted, other, Kind.AUDIO) and forwards(muted, other, Kind.VIDEO)


def _video_frame(key: bool, ts: int) -> EncodedFrame:
    return EncodedFrame(b"\x10" if key else b"\x11", ts, key, 0.0)


async def test_downtrack_waits_for_keyframe_and_flushes_on_overflow() -> None:
    info = TrackInfo(TrackId("t"), "s", EndpointId("e"), "hue", Kind.VIDEO, "VP8", 90000)
    requests: list[int] = []
    track = DownTrack(info, EndpointId("sub"), lambda: requests.append(1))
    track._started = True
    track.push(_video_frame(False, 0))
    assert track.counters.frames_dropped == 1 and track.waiting_for_keyframe
    track.push(_video_frame(True, 3000))
    for i in range(VIDEO_QUEUE_FRAMES):
        track.push(_video_frame(False, 6000 + i))
    assert track.waiting_for_keyframe and requests
    assert track.counters.frames_dropped == 1 + VIDEO_QUEUE_FRAMES + 1
    track.push(_video_frame(True, 99000))
    assert await track.next_frame() == (b"\x10", 99000)
    track.end()
    assert await track.next_frame() is None


def test_keyframe_detection() -> None:
    assert is_vp8_keyframe(b"\x10\x02") and not is_vp8_keyframe(b"\x11")
    assert is_h264_keyframe(b"\x00\x00\x00\x01\x67xx\x00\x00\x01\x65yy")
    assert not is_h264_keyframe(b"\x00\x00\x00\x01\x41zz")
