"""The parts of self-healing media that need no network: an up-track fed by a new source,
the backoff, the leg failure values and the new requests' payloads."""

from __future__ import annotations

import asyncio

import pytest
from aiortc import RTCPeerConnection
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from bridge.downtrack import DownTrack
from bridge.errors import BadRequest
from bridge.frames import EndpointId, Kind, TrackId, TrackInfo
from bridge.legs import FailureReason, Leg, LegFailure, LegWatch
from bridge.uptrack import RTP_TIMESTAMP_MODULO, UpTrack
from signaling.client import RECOVERY_FIRST_DELAY, RECOVERY_JITTER, RECOVERY_MAX_DELAY, backoff
from signaling.messages import PublishOffer, parse_empty

VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)
SDP = "v=0\r\n"


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _uptrack(clock: _Clock, plis: list[str], source: str) -> UpTrack:
    info = TrackInfo(TrackId("t"), "s", EndpointId("pub"), "bac-ninh", Kind.VIDEO, "VP8", 90000)

    async def pli() -> bool:
        plis.append(source)
        return True

    return UpTrack(info, VP8, pli, [], clock=clock)


async def test_a_new_source_carries_the_timestamps_on_and_waits_for_its_keyframe() -> None:
    clock, plis = _Clock(), list[str]()
    uptrack = _uptrack(clock, plis, "old")
    downtrack = DownTrack(uptrack.info, EndpointId("sub"), uptrack.request_keyframe)
    downtrack._started = True
    uptrack.attach(downtrack)
    uptrack.on_frame(b"\x10key", RTP_TIMESTAMP_MODULO - 1000)  # just before the wrap
    uptrack.on_frame(b"\x11delta", RTP_TIMESTAMP_MODULO - 1000 + 3000)
    assert await downtrack.next_frame() == (b"\x10key", RTP_TIMESTAMP_MODULO - 1000)
    assert await downtrack.next_frame() == (b"\x11delta", 2000)

    async def new_pli() -> bool:
        plis.append("new")
        return True

    clock.now += 1.5  # the republish took 1.5 s
    uptrack.rebind(new_pli)
    assert downtrack.waiting_for_keyframe and uptrack.sources == 2
    # The new source's first frame goes on 1.5 s after the old one's last; being no
    # keyframe, the subscriber drops it and waits.
    uptrack.on_frame(b"\x11first-delta", 774_777)
    assert downtrack.counters.frames_dropped == 1
    uptrack.on_frame(b"\x10new-key", 777_777)
    expected = 2000 + round(1.5 * 90000) + 3000
    assert await downtrack.next_frame() == (b"\x10new-key", expected)
    clock.now += 0.05
    uptrack.on_frame(b"\x11next", 777_777 + 4500)
    assert await downtrack.next_frame() == (b"\x11next", expected + 4500)
    await asyncio.sleep(0)
    assert plis and plis[-1] == "new"  # the new source was asked for a keyframe
    uptrack.end()
    with pytest.raises(RuntimeError):
        uptrack.rebind(new_pli)


def test_backoff_doubles_up_to_its_cap_with_bounded_jitter() -> None:
    low, high = 1 - RECOVERY_JITTER, 1 + RECOVERY_JITTER
    assert backoff(0, lambda: 0.0) == pytest.approx(RECOVERY_FIRST_DELAY * low)
    assert backoff(1, lambda: 1.0) == pytest.approx(2 * RECOVERY_FIRST_DELAY * high)
    assert backoff(2, lambda: 0.5) == pytest.approx(4 * RECOVERY_FIRST_DELAY)
    assert backoff(40, lambda: 0.5) == pytest.approx(RECOVERY_MAX_DELAY)
    for attempt in range(8):
        delay = backoff(attempt)
        nominal = min(RECOVERY_FIRST_DELAY * 2**attempt, RECOVERY_MAX_DELAY)
        assert nominal * low <= delay <= nominal * high


async def test_a_connection_closed_by_its_owner_reports_closed() -> None:
    pc = RTCPeerConnection()
    seen: list[FailureReason] = []

    async def on_change(watch: LegWatch) -> None:
        if watch.down:
            seen.append(watch.reason())

    watch = LegWatch(pc, on_change)
    pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    await pc.close()
    await asyncio.sleep(0.05)
    assert watch.down and seen == [FailureReason.CLOSED]
    assert LegFailure(Leg.PUBLISH, FailureReason.ICE_FAILED).as_dict() == {
        "leg": "publish",
        "reason": "ice_failed",
    }


def test_restart_and_resubscribe_payloads_are_checked() -> None:
    assert PublishOffer.parse({"type": "offer", "sdp": SDP}).restart is False
    assert PublishOffer.parse({"type": "offer", "sdp": SDP, "restart": True}).restart is True
    for bad in ("yes", 1, None, {"x": 1}):
        with pytest.raises(BadRequest, match="restart"):
            PublishOffer.parse({"type": "offer", "sdp": SDP, "restart": bad})
    parse_empty({})
    bad_payloads: list[object] = [None, [], "resubscribe", 3]
    for bad_payload in bad_payloads:
        with pytest.raises(BadRequest):
            parse_empty(bad_payload)


async def test_a_keyframe_answers_the_request_waiting_out_the_throttle() -> None:
    """Subscribers joining in a burst: the first request goes at once, the next ones
    wait out KEYFRAME_INTERVAL; a keyframe arriving meanwhile answers them (no second
    PLI), while a request with no keyframe after it is still sent."""
    clock, plis = _Clock(), list[str]()
    uptrack = _uptrack(clock, plis, "pub")
    first = DownTrack(uptrack.info, EndpointId("a"), uptrack.request_keyframe)
    second = DownTrack(uptrack.info, EndpointId("b"), uptrack.request_keyframe)
    for downtrack in (first, second):
        downtrack._started = True
        uptrack.attach(downtrack)
    uptrack.request_keyframe()
    await asyncio.sleep(0)
    assert plis == ["pub"]
    clock.now += 0.1
    uptrack.request_keyframe()  # inside the interval: deferred
    uptrack.on_frame(b"\x10key", 3000)  # the publisher's keyframe, for both
    assert not first.waiting_for_keyframe and not second.waiting_for_keyframe
    await asyncio.sleep(0.35)
    assert plis == ["pub"]
    assert uptrack.counters.keyframes_requested == 1

    # A request deferred with no keyframe after it goes at the interval's end.
    clock.now += 0.5
    uptrack.request_keyframe()
    await asyncio.sleep(0)
    assert plis == ["pub", "pub"]
    clock.now += 0.1
    uptrack.request_keyframe()
    uptrack.on_frame(b"\x11delta", 6000)
    await asyncio.sleep(0.35)
    assert plis == ["pub", "pub", "pub"]
