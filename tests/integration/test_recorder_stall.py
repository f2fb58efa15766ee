"""A recording worker that stalls (SIGSTOP) or dies with frames still queued: the
server's queue stays within its bound, the relay's loop is never blocked, the
manifest says which frames of which track were dropped, and the files decode."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.db import make_engine
from core.ids import SessionId, SiteId
from core.sessions import SessionInfo, SessionState
from recorder.archive import Archive
from recorder.framequeue import MESSAGE_OVERHEAD, QueueLimits, QueueStats
from recorder.isolation import IsolatedRunner
from recorder.manifest import GapEntry, RecordingState
from recorder.service import Recorder
from tests.recorder_support import (
    SiteMedia,
    TapHub,
    ffprobe,
    now,
    paced_deliver,
    schedule,
    site_media,
)
from web.database import migrate_all

SESSION = "s-stall"
SITES = ("tw-hanoi", "bac-ninh")
LIMITS = QueueLimits(max_bytes=256 * 1024, audio_bytes=64 * 1024)
"""Small enough for the test's 320x240 media (about 200 KB/s of video for two sites) to
fill it within a second or two of a stall."""
BOUND = LIMITS.max_bytes + 16 * MESSAGE_OVERHEAD
"""Frames plus the few control messages that come on top."""


def session_info() -> SessionInfo:
    start = datetime.now(UTC)
    return SessionInfo(
        id=SessionId(SESSION),
        title="Tiếp công dân",
        host_site=SiteId(SITES[0]),
        sites=frozenset(SiteId(s) for s in SITES),
        state=SessionState.OPEN,
        starts_at=start,
        ends_at=start + timedelta(hours=1),
    )


@dataclass
class FakeUpTrack:
    requests: list[float] = field(default_factory=list)

    def request_keyframe(self) -> None:
        self.requests.append(now())


class KeyframeHub(TapHub):
    """The hub tap with up-tracks that count keyframe requests."""

    def __init__(self, session_id: str, video_tracks: Sequence[str]) -> None:
        super().__init__(session_id)
        self.uptracks = {t: FakeUpTrack() for t in video_tracks}


@pytest.fixture
async def recorder(tmp_path: Path) -> AsyncIterator[Recorder]:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    migrate_all(engine)
    runner = IsolatedRunner()
    recorder = Recorder(tmp_path / "archive", Archive(engine), runner, queue_limits=LIMITS)
    yield recorder
    await recorder.close()
    runner.close()
    engine.dispose()


def media(seconds: float) -> dict[str, SiteMedia]:
    return {s: site_media(SESSION, s, seconds=seconds, keyframe_every=2.0) for s in SITES}


def gaps_of(gaps: list[GapEntry], track_id: str) -> list[GapEntry]:
    return [g for g in gaps if g.track_id == track_id]


class Watch:
    """Samples the recorder's queue after every frame."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.peak = 0
        self.max_lag = 0.0
        self.last: QueueStats | None = None

    def __call__(self) -> None:
        stats = self.recorder.queue_stats().get(SESSION)
        if stats is None:
            return
        assert stats.bytes <= BOUND
        assert stats.max_bytes == LIMITS.max_bytes
        self.peak = max(self.peak, stats.bytes)
        self.max_lag = max(self.max_lag, self.recorder.queue_lag(SESSION))
        self.last = stats


async def test_a_stalled_worker_leaves_a_gap_in_the_manifest_not_in_memory(
    recorder: Recorder, ffprobe_path: str
) -> None:
    seconds, stall_at, stall_for = 9.0, 1.5, 4.0
    sites = media(seconds)
    videos = [m.video.track_id for m in sites.values()]
    hub = KeyframeHub(SESSION, videos)
    assert await recorder.start(session_info(), hub)
    worker = recorder.worker(SESSION)
    assert worker is not None and worker.process.pid is not None
    pid = worker.process.pid
    t0 = now() + 0.3
    items = [i for n, m in enumerate(sites.values()) for i in schedule(m, t0 + n * 0.007)]
    loop = asyncio.get_running_loop()
    loop.call_at(t0 + stall_at, os.kill, pid, signal.SIGSTOP)
    loop.call_at(t0 + stall_at + stall_for, os.kill, pid, signal.SIGCONT)
    watch = Watch(recorder)
    try:
        report = await paced_deliver(hub, items, watch)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert report.frames == len(items)
    # The relay's loop was never held up by the stalled worker (generous bounds).
    assert report.slowest_call < 0.25
    assert report.latest < 2.0
    # The queue filled up to its bound, waited, and did not grow past it.
    assert watch.peak > LIMITS.max_bytes * 0.8
    assert watch.max_lag > 1.0
    assert recorder.worker(SESSION) is worker, "the stalled worker was not restarted"
    assert await asyncio.to_thread(worker.sync)
    stats = recorder.queue_stats()[SESSION]
    assert (stats.messages, stats.bytes) == (0, 0)
    assert stats.peak_bytes <= BOUND

    manifest = await recorder.stop(SESSION)
    assert manifest is not None and manifest.state is RecordingState.COMPLETE
    assert SESSION not in recorder.queue_stats()
    assert stats.dropped_frames == sum(g.frames for g in manifest.gaps) > 0
    folder = recorder.folder(SESSION)
    for site, site_frames in sites.items():
        entry = next(f for f in manifest.files if f.site == site)
        assert entry.closed and not entry.recovered
        video_gaps = gaps_of(manifest.gaps, site_frames.video.track_id)
        audio_gaps = gaps_of(manifest.gaps, site_frames.audio.track_id)
        assert video_gaps, f"{site}: no video gap recorded"
        for gap in video_gaps + audio_gaps:
            assert (gap.file, gap.site) == (entry.name, site)
            # Placed in the stall (file time), resumed before the end.
            start, end = gap.from_ms - entry.offset_ms, gap.to_ms - entry.offset_ms
            assert stall_at * 1000 - 300 <= start < end <= seconds * 1000 + 300
            assert gap.frames > 0 and gap.bytes > 0
        probe = ffprobe(ffprobe_path, folder / entry.name)
        counts = {s["codec_type"]: int(s["nb_read_frames"]) for s in probe["streams"]}
        # Every frame that was not dropped decodes, and nothing else.
        dropped_video = sum(g.frames for g in video_gaps)
        dropped_audio = sum(g.frames for g in audio_gaps)
        assert counts["video"] == len(site_frames.video_frames) - dropped_video
        assert counts["audio"] == len(site_frames.audio_frames) - dropped_audio
        assert float(probe["format"]["duration"]) == pytest.approx(seconds, abs=0.3)
    # Once there was room again, the publishers were asked for keyframes.
    resumed = t0 + stall_at + stall_for
    assert any(at >= resumed for up in hub.uptracks.values() for at in up.requests)


async def test_frames_queued_for_a_worker_that_dies_are_a_gap_of_the_next(
    recorder: Recorder, ffprobe_path: str
) -> None:
    seconds, stall_at, kill_at = 7.0, 1.5, 3.5
    sites = media(seconds)
    hub = KeyframeHub(SESSION, [m.video.track_id for m in sites.values()])
    assert await recorder.start(session_info(), hub)
    worker = recorder.worker(SESSION)
    assert worker is not None and worker.process.pid is not None
    pid = worker.process.pid
    t0 = now() + 0.3
    items = [i for n, m in enumerate(sites.values()) for i in schedule(m, t0 + n * 0.007)]
    loop = asyncio.get_running_loop()
    loop.call_at(t0 + stall_at, os.kill, pid, signal.SIGSTOP)
    loop.call_at(t0 + kill_at, os.kill, pid, signal.SIGKILL)
    watch = Watch(recorder)
    report = await paced_deliver(hub, items, watch)
    assert report.slowest_call < 0.25 and report.latest < 2.0
    second = recorder.worker(SESSION)
    assert second is not None and second is not worker
    assert await asyncio.to_thread(second.sync)
    dropped = recorder.queue_stats()[SESSION].dropped_frames
    manifest = await recorder.stop(SESSION)
    assert manifest is not None and manifest.state is RecordingState.RECOVERED
    assert dropped == sum(g.frames for g in manifest.gaps) > 0
    folder = recorder.folder(SESSION)
    for site, site_frames in sites.items():
        first, second_part = [f for f in manifest.files if f.site == site]
        assert first.recovered and not second_part.recovered
        # What was queued for the dead worker (and dropped while it was stalled) is
        # a gap before the track's frames in the next part.
        gaps = gaps_of(manifest.gaps, site_frames.video.track_id)
        assert gaps and {g.file for g in gaps} <= {first.name, second_part.name}
        assert any(g.file == second_part.name for g in gaps)
        for gap in gaps:
            assert stall_at * 1000 - 300 <= gap.from_ms - first.offset_ms
            assert gap.to_ms <= gap.from_ms + seconds * 1000
        for entry in (first, second_part):
            probe = ffprobe(ffprobe_path, folder / entry.name)
            video = next(s for s in probe["streams"] if s["codec_type"] == "video")
            assert int(video["nb_read_frames"]) > 0
