"""The recorder's bounded queue (``recorder/framequeue.py``) keeps its policy: it never
blocks the caller, holds at most its bytes, drops video to the next keyframe and audio
beyond its own share, counts what it dropped and hands each run over as a gap."""

from __future__ import annotations

import pickle
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bridge.frames import EncodedFrame, EndpointId, Kind, TrackId, TrackInfo
from recorder.framequeue import (
    FRAME,
    GAP,
    MESSAGE_OVERHEAD,
    Admission,
    FrameQueue,
    QueueLimits,
)
from recorder.sink import RecordingSink

VIDEO = TrackInfo(TrackId("v1"), "s", EndpointId("e1"), "site-a", Kind.VIDEO, "VP8", 90000)
VIDEO2 = TrackInfo(TrackId("v2"), "s", EndpointId("e2"), "site-b", Kind.VIDEO, "VP8", 90000)
AUDIO = TrackInfo(TrackId("a1"), "s", EndpointId("e1"), "site-a", Kind.AUDIO, "opus", 48000)
LIMITS = QueueLimits(max_bytes=60_000, audio_bytes=10_000)
FRAME_BYTES = 4_800
"""A video frame costs 5,000 bytes in the queue."""


class GatedWriter:
    """The worker's pipe: takes messages only while the gate is open (a stalled worker)."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.messages: list[tuple[Any, ...]] = []
        self.broken = False

    def send_bytes(self, buf: bytes) -> None:
        while not self.gate.wait(0.05):
            if self.broken:
                raise BrokenPipeError
        if self.broken:
            raise BrokenPipeError
        self.messages.append(pickle.loads(buf))


def frame(n: int, *, key: bool = False, size: int = FRAME_BYTES) -> EncodedFrame:
    return EncodedFrame(bytes([n % 256]) * size, n * 4500, key, 100.0 + n * 0.05)


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


Stalled = tuple[GatedWriter, FrameQueue]


@pytest.fixture
def stalled() -> Iterator[Stalled]:
    writer = GatedWriter()
    queue = FrameQueue(writer, LIMITS, name="s")
    queue.start()
    yield writer, queue
    writer.broken = True
    queue.close(timeout=2)


def test_limits_must_leave_video_a_share() -> None:
    with pytest.raises(ValueError):
        QueueLimits(max_bytes=1000, audio_bytes=1000)
    assert LIMITS.video_bytes == 50_000


def test_a_stalled_worker_fills_the_queue_to_its_bound_and_no_further(stalled: Stalled) -> None:
    _, queue = stalled
    cost = FRAME_BYTES + MESSAGE_OVERHEAD
    results = []
    slowest = 0.0
    for n in range(40):
        began = time.perf_counter()
        results.append(queue.put_frame(VIDEO, frame(n, key=n % 20 == 0)))
        slowest = max(slowest, time.perf_counter() - began)
        assert queue.stats().bytes <= LIMITS.max_bytes
    # Ten frames fill video's 50,000 bytes; then the track drops to the next keyframe,
    # and the keyframe at 20 finds no room either.
    assert results[:10] == [Admission.QUEUED] * 10
    assert set(results[10:]) == {Admission.DROPPED}
    assert slowest < 0.1  # the sender thread is blocked in the pipe; put never is
    stats = queue.stats()
    assert (stats.messages, stats.bytes) == (10, 10 * cost)
    assert (stats.dropped_frames, stats.dropped_bytes) == (30, 30 * FRAME_BYTES)
    assert stats.peak_bytes == 10 * cost
    # Audio keeps its own share while video is dropped, then drops beyond it.
    audio = [queue.put_frame(AUDIO, frame(n, key=True, size=800)) for n in range(12)]
    assert audio == [Admission.QUEUED] * 10 + [Admission.DROPPED] * 2
    assert queue.stats().bytes == 10 * cost + 10 * 1000 <= LIMITS.max_bytes
    # Control messages are never dropped.
    assert queue.put_control(("sync", 1))


def test_video_resumes_at_a_keyframe_once_half_of_its_share_is_free(stalled: Stalled) -> None:
    writer, queue = stalled
    for n in range(14):  # 10 queued, 4 dropped (frames 10-13)
        queue.put_frame(VIDEO, frame(n, key=n == 0))
    queue.put_frame(VIDEO2, frame(0, key=True))  # a second video track: dropped too
    writer.gate.set()
    wait_until(lambda: queue.stats().messages == 0)
    # Room again: a delta frame cannot resume the track, the caller is asked for a keyframe.
    assert queue.put_frame(VIDEO, frame(14)) is Admission.WANTS_KEYFRAME
    assert queue.put_frame(VIDEO, frame(15, key=True)) is Admission.QUEUED
    assert queue.put_frame(VIDEO, frame(16)) is Admission.QUEUED
    wait_until(lambda: queue.stats().messages == 0)
    tags = [(m[0], m[1]) for m in writer.messages]
    assert tags[-3:] == [(GAP, "v1"), (FRAME, "v1"), (FRAME, "v1")]
    gap = writer.messages[-3]
    _, track_id, site, kind, first, last, frames, size = gap
    assert (track_id, site, kind) == ("v1", "site-a", "video")
    assert (first, last) == (frame(10).arrival, frame(15).arrival)
    assert (frames, size) == (5, 5 * FRAME_BYTES)  # frames 10-14
    # The other track's run is still open; stop hands it over.
    queue.flush_gaps()
    wait_until(lambda: queue.stats().messages == 0)
    assert writer.messages[-1][:2] == (GAP, "v2")
    assert queue.stats().gaps == 2


def test_lag_is_the_age_of_the_oldest_waiting_message() -> None:
    now = [1000.0]
    writer = GatedWriter()
    queue = FrameQueue(writer, LIMITS, clock=lambda: now[0])
    queue.start()
    try:
        assert queue.lag == 0.0
        queue.put_frame(VIDEO, frame(0, key=True))
        now[0] += 2.5
        queue.put_frame(VIDEO, frame(1))
        assert queue.lag == pytest.approx(2.5)
        assert queue.depth == 2
        writer.gate.set()
        wait_until(lambda: queue.depth == 0)
        assert queue.lag == 0.0
    finally:
        writer.broken = True
        queue.close(timeout=2)


def test_a_dead_worker_hands_its_queued_frames_to_the_next_as_a_gap() -> None:
    writer = GatedWriter()
    old = FrameQueue(writer, LIMITS, name="old")
    old.start()
    for n in range(6):
        assert old.put_frame(VIDEO, frame(n, key=n == 0)) is Admission.QUEUED
    old.put_frame(AUDIO, frame(0, key=True, size=100))
    writer.broken = True  # the worker died: the next write fails
    wait_until(lambda: old.put_frame(VIDEO, frame(6)) is Admission.CLOSED)
    runs = {r.track_id: r for r in old.discard()}
    old.close(timeout=2)
    assert runs["v1"].frames >= 7 and runs["v1"].first == frame(0).arrival
    assert runs["a1"].frames == 1
    assert old.stats().bytes == 0
    lost_video = runs["v1"].frames

    fresh = GatedWriter()
    fresh.gate.set()
    new = FrameQueue(fresh, LIMITS, name="new")
    new.start()
    try:
        new.adopt(list(runs.values()), old.stats())
        assert new.stats().dropped_frames == old.stats().dropped_frames
        # The restarted worker needs a keyframe; the adopted run ends there.
        assert new.put_frame(VIDEO, frame(30)) is Admission.WANTS_KEYFRAME
        assert new.put_frame(VIDEO, frame(31, key=True)) is Admission.QUEUED
        assert new.put_frame(AUDIO, frame(32, key=True, size=100)) is Admission.QUEUED
        wait_until(lambda: new.depth == 0)
        gaps = {m[1]: m for m in fresh.messages if m[0] == GAP}
        assert gaps["v1"][4:7] == (frame(0).arrival, frame(31).arrival, lost_video + 1)
        assert gaps["a1"][6] == 1
    finally:
        new.close(timeout=2)


class FakeWorker:
    def __init__(self, queue: FrameQueue) -> None:
        self.queue = queue
        self.session_id = "s"


def test_the_sink_asks_for_a_keyframe_at_most_once_a_second(stalled: Stalled) -> None:
    writer, queue = stalled
    asked: list[str] = []
    now = [50.0]
    sink = RecordingSink(FakeWorker(queue), asked.append, clock=lambda: now[0])  # type: ignore[arg-type]
    for n in range(12):
        sink.on_frame(VIDEO, frame(n, key=n == 0))
    writer.gate.set()
    wait_until(lambda: queue.depth == 0)
    for _ in range(5):
        sink.on_frame(VIDEO, frame(20))
        now[0] += 0.3
    assert asked == ["v1", "v1"]
