"""The recording worker muxes real encoded media (libvpx, libx264, libopus) into files
that ffprobe decodes completely, in sync, starting at a keyframe."""

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime
from pathlib import Path

import pytest

from recorder.bitstream import frame_size, vp8_is_keyframe
from recorder.integrity import seal, verify_folder
from recorder.manifest import RecordingState, read_manifest
from recorder.recovery import close_unfinished, unfinished_folders
from recorder.sink import RecordingSink
from recorder.worker import RecordingWorker
from tests.recorder_support import feed, ffprobe, now, schedule, site_media


def start_worker(folder: Path, session: str) -> tuple[RecordingWorker, float]:
    t0 = now()
    worker = RecordingWorker(folder, session, datetime.now(UTC).isoformat(), t0)
    worker.start()
    return worker, t0


def video_audio(probe: dict[str, object]) -> tuple[dict[str, object], dict[str, object]]:
    streams = probe["streams"]
    assert isinstance(streams, list)
    video = next(s for s in streams if s["codec_type"] == "video")
    audio = next(s for s in streams if s["codec_type"] == "audio")
    return video, audio


def test_frame_size_from_real_keyframes() -> None:
    media = site_media("s", "a", seconds=0.2)
    key = media.video_frames[0]
    assert key.keyframe and vp8_is_keyframe(key.data)
    assert frame_size("VP8", key.data) == (320, 240)
    assert frame_size("VP8", media.video_frames[1].data) is None
    h264 = site_media("s", "a", seconds=0.2, codec="H264")
    assert frame_size("H264", h264.video_frames[0].data) == (320, 240)


def test_two_sites_vp8_opus(tmp_path: Path, ffprobe_path: str) -> None:
    seconds = 4.0
    worker, t0 = start_worker(tmp_path, "sess-1")
    sink = RecordingSink(worker)
    hanoi = site_media("sess-1", "tw-hanoi", seconds=seconds)
    bacninh = site_media("sess-1", "bac-ninh", seconds=seconds)
    feed(sink, schedule(hanoi, t0 + 0.5) + schedule(bacninh, t0 + 1.25))
    assert worker.stop()

    manifest = read_manifest(tmp_path)
    assert [f.site for f in manifest.files] == ["tw-hanoi", "bac-ninh"]
    assert manifest.files[1].offset_ms == pytest.approx(1250, abs=2)
    for entry, media in zip(manifest.files, (hanoi, bacninh), strict=True):
        assert entry.closed and entry.name.endswith(".webm")
        assert [t.kind for t in entry.tracks] == ["video", "audio"]
        probe = ffprobe(ffprobe_path, tmp_path / entry.name)
        video, audio = video_audio(probe)
        assert (video["codec_name"], audio["codec_name"]) == ("vp8", "opus")
        assert (video["width"], video["height"]) == (320, 240)
        assert int(str(video["nb_read_frames"])) == len(media.video_frames)
        assert int(str(audio["nb_read_frames"])) == len(media.audio_frames)
        duration = float(probe["format"]["duration"])
        assert duration == pytest.approx(seconds, rel=0.02)


def test_video_starts_at_a_keyframe_and_audio_keeps_its_offset(
    tmp_path: Path, ffprobe_path: str
) -> None:
    worker, t0 = start_worker(tmp_path, "sess-2")
    sink = RecordingSink(worker)
    media = site_media("sess-2", "bac-ninh", seconds=3.0)
    # The recording joins mid-stream: frames 0-4 are dropped by the relay tap, so the
    # first frames the recorder sees are delta frames until the keyframe at 1 s.
    feed(sink, schedule(media, t0, skip_video=5))
    assert worker.stop()
    entry = read_manifest(tmp_path).files[0]
    video_track = next(t for t in entry.tracks if t.kind == "video")
    audio_track = next(t for t in entry.tracks if t.kind == "audio")
    assert audio_track.offset_ms == 0
    assert video_track.offset_ms == pytest.approx(1000 - 13, abs=2)
    video, _ = video_audio(ffprobe(ffprobe_path, tmp_path / entry.name))
    first_key = next(i for i, f in enumerate(media.video_frames) if i >= 5 and f.keyframe)
    assert int(str(video["nb_read_frames"])) == len(media.video_frames) - first_key


def test_h264_goes_into_matroska(tmp_path: Path, ffprobe_path: str) -> None:
    worker, t0 = start_worker(tmp_path, "sess-3")
    media = site_media("sess-3", "hcm", seconds=2.0, codec="H264")
    feed(RecordingSink(worker), schedule(media, t0))
    assert worker.stop()
    entry = read_manifest(tmp_path).files[0]
    assert entry.name.endswith(".mkv")
    video, audio = video_audio(ffprobe(ffprobe_path, tmp_path / entry.name))
    assert (video["codec_name"], audio["codec_name"]) == ("h264", "opus")
    assert int(str(video["nb_read_frames"])) == len(media.video_frames)


def test_killed_worker_leaves_a_playable_file_and_recovery_marks_it(
    tmp_path: Path, ffprobe_path: str
) -> None:
    folder = tmp_path / "sess-4"
    worker, t0 = start_worker(folder, "sess-4")
    sink = RecordingSink(worker)
    media = site_media("sess-4", "tw-hanoi", seconds=6.0)
    feed(sink, schedule(media, t0))
    assert worker.sync()
    pid = worker.process.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    worker.process.join()
    # Frames after the crash are dropped without raising on the relay's side.
    feed(sink, schedule(media, t0 + 10))

    entry = read_manifest(folder).files[0]
    assert not entry.closed
    video, _ = video_audio(ffprobe(ffprobe_path, folder / entry.name))
    # Clusters are flushed every second of media: at most the last one is lost.
    assert int(str(video["nb_read_frames"])) >= len(media.video_frames) - 25

    assert unfinished_folders(tmp_path) == [folder]
    manifest = close_unfinished(folder)
    recovered = manifest.files[0]
    assert recovered.recovered and recovered.closed
    assert recovered.duration_ms == pytest.approx(6000, rel=0.2)
    probe = ffprobe(ffprobe_path, folder / entry.name)
    assert float(probe["format"]["duration"]) * 1000 == pytest.approx(recovered.duration_ms, abs=50)
    seal(folder, manifest, RecordingState.RECOVERED, [])
    assert read_manifest(folder).state is RecordingState.RECOVERED
    assert unfinished_folders(tmp_path) == []
    assert verify_folder(folder) == []
    with (folder / entry.name).open("r+b") as fh:
        fh.seek(200)
        fh.write(b"tampered")
    assert [p.problem for p in verify_folder(folder)] == ["hash_mismatch"]


def test_a_late_first_keyframe_does_not_shift_the_track(tmp_path: Path) -> None:
    """The first keyframe arrives 400 ms late and the frames queued behind it in a burst;
    the video still lines up with the audio (anchored on the earliest arrival)."""
    worker, t0 = start_worker(tmp_path, "sess-5")
    media = site_media("sess-5", "tw-hanoi", seconds=3.0)
    items = [
        (max(arrival, t0 + 0.4 + n * 0.002) if track.kind == "video" else arrival, track, frame)
        for n, (arrival, track, frame) in enumerate(schedule(media, t0))
    ]
    feed(RecordingSink(worker), items)
    assert worker.stop()
    tracks = {t.kind: t for t in read_manifest(tmp_path).files[0].tracks}
    assert tracks["video"].offset_ms == 0
    assert tracks["audio"].offset_ms == pytest.approx(13, abs=2)
