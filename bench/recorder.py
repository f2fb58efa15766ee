"""Recorder benchmark: muxing forwarded encoded frames against aiortc's MediaRecorder.

    python -m bench.recorder --sites 2 --seconds 15

Both sides get the same real encoded media (640x480 VP8 at 20 fps with a keyframe
every 2 s, and 20 ms Opus packets, encoded beforehand with PyAV), paced in real time,
one video and one audio track per site:

- forward: the recorder's ``RecordingSink`` hands every frame to its worker process
  through the bounded queue, which muxes it without decoding (``recorder/worker.py``);
  the queue's peak and its drops are reported too;
- baseline: what recording with aiortc costs. The receiver decodes every frame (aiortc's
  own VP8 and Opus decoders, as its ``RTCRtpReceiver`` does) and ``MediaRecorder``
  encodes them again (libvpx, libopus), one WebM per site.

Server CPU: this process (``time.process_time``, every thread) plus, for the forward
side, the worker process (``/proc/<pid>/stat``), per second of media and per track.
MediaRecorder encodes on the event loop, so if it cannot keep up its run takes longer
than the media (``kept_real_time`` false). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiortc.codecs import get_decoder
from aiortc.contrib.media import MediaRecorder
from aiortc.jitterbuffer import JitterFrame
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from bridge.frames import EncodedFrame, EndpointId, Kind, TrackId, TrackInfo
from recorder.sink import RecordingSink
from recorder.synthetic import CodedFrame, encode_opus, encode_video
from recorder.worker import RecordingWorker

WIDTH, HEIGHT, FPS = 640, 480, 20
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Media:
    video: list[CodedFrame]
    audio: list[CodedFrame]


def timeline(media: Media, sites: int) -> list[tuple[float, int, str, CodedFrame]]:
    """(media time, site, kind, frame) in time order; sites start 7 ms apart."""
    items = [
        (f.media_time + site * 0.007, site, kind, f)
        for site in range(sites)
        for kind, frames in (("video", media.video), ("audio", media.audio))
        for f in frames
    ]
    return sorted(items, key=lambda item: item[0])


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


async def paced(
    items: list[tuple[float, int, str, CodedFrame]], deliver: Callable[..., None]
) -> float:
    """Call ``deliver`` for each item at its media time; returns the wall time taken."""
    start = time.monotonic()
    for at, site, kind, frame in items:
        delay = start + at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        deliver(site, kind, frame)
    return time.monotonic() - start


async def run_forward(media: Media, sites: int, folder: Path) -> dict[str, Any]:
    t0 = time.monotonic()
    worker = RecordingWorker(folder, "bench", datetime.now(UTC).isoformat(), t0)
    worker.start()
    assert worker.sync(), "worker did not start"
    assert worker.process.pid is not None
    sink = RecordingSink(worker)
    tracks = {
        (site, kind): TrackInfo(
            TrackId(f"s{site}-{kind}"),
            "bench",
            EndpointId(f"s{site}"),
            f"site-{site}",
            Kind(kind),
            "VP8" if kind == "video" else "opus",
            90000 if kind == "video" else 48000,
        )
        for site in range(sites)
        for kind in ("video", "audio")
    }
    for info in tracks.values():
        sink.on_track(info)

    def deliver(site: int, kind: str, frame: CodedFrame) -> None:
        sink.on_frame(
            tracks[(site, kind)],
            EncodedFrame(frame.data, frame.timestamp, frame.keyframe, time.monotonic()),
        )

    cpu_main, cpu_worker = time.process_time(), proc_cpu(worker.process.pid)
    wall = await paced(timeline(media, sites), deliver)
    assert await asyncio.to_thread(worker.sync), "worker fell over"
    cpu_main = time.process_time() - cpu_main
    cpu_worker = proc_cpu(worker.process.pid) - cpu_worker
    queue = worker.queue.stats()
    assert await asyncio.to_thread(worker.stop)
    return {
        "wall_s": round(wall, 2),
        "cpu_relay_process_s": round(cpu_main, 3),
        "cpu_worker_process_s": round(cpu_worker, 3),
        "cpu_s": cpu_main + cpu_worker,
        "queue_peak_bytes": queue.peak_bytes,
        "queue_bound_bytes": queue.max_bytes,
        "frames_dropped": queue.dropped_frames,
    }


class DecodingTrack(MediaStreamTrack):
    """A received track as aiortc hands it on: every frame decoded by aiortc's decoder."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        mime = "video/VP8" if kind == "video" else "audio/opus"
        params = RTCRtpCodecParameters(
            mimeType=mime, clockRate=90000 if kind == "video" else 48000, channels=2
        )
        self._decoder = get_decoder(params)
        self._queue: asyncio.Queue[CodedFrame | None] = asyncio.Queue()
        self.finished = asyncio.Event()
        """Set when the last frame has been handed to the recorder."""

    def push(self, frame: CodedFrame | None) -> None:
        self._queue.put_nowait(frame)

    async def recv(self) -> Any:
        while True:
            coded = await self._queue.get()
            if coded is None:
                self.finished.set()
                self.stop()
                raise MediaStreamError
            frames = self._decoder.decode(JitterFrame(coded.data, coded.timestamp))
            if frames:
                return frames[-1]


async def run_baseline(media: Media, sites: int, folder: Path) -> dict[str, Any]:
    tracks = {
        (site, kind): DecodingTrack(kind) for site in range(sites) for kind in ("video", "audio")
    }
    recorders = []
    for site in range(sites):
        recorder = MediaRecorder(str(folder / f"site-{site}.webm"))
        recorder.addTrack(tracks[(site, "video")])
        recorder.addTrack(tracks[(site, "audio")])
        recorders.append(recorder)
    cpu = time.process_time()
    for recorder in recorders:
        await recorder.start()

    def deliver(site: int, kind: str, frame: CodedFrame) -> None:
        tracks[(site, kind)].push(frame)

    wall = await paced(timeline(media, sites), deliver)
    for track in tracks.values():
        track.push(None)
    await asyncio.gather(*(t.finished.wait() for t in tracks.values()))
    for recorder in recorders:
        await recorder.stop()
    cpu = time.process_time() - cpu
    return {
        "wall_s": round(wall, 2),
        "cpu_s": cpu,
    }


def frames_decodable(path: Path) -> int | None:
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        return None
    out = subprocess.run(
        [
            ffprobe,
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames",
            "-of",
            "csv=p=0",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return int(out.stdout.strip()) if out.stdout.strip().isdigit() else None


def summary(result: dict[str, Any], tracks: int, seconds: float, folder: Path) -> dict[str, Any]:
    """CPU as a share of one core per second of media: what keeping up in real time
    costs (a side that cannot keep up takes longer than ``seconds`` of wall time)."""
    share = result["cpu_s"] / seconds
    result["cpu_s"] = round(result["cpu_s"], 3)
    result["kept_real_time"] = result["wall_s"] <= seconds * 1.05
    result["cpu_percent_of_core_total"] = round(100 * share, 2)
    result["cpu_percent_of_core_per_track"] = round(100 * share / tracks, 2)
    result["video_frames_decodable"] = {
        p.name: frames_decodable(p) for p in sorted(folder.glob("*.webm"))
    }
    return result


def measure(sites: int, seconds: float) -> dict[str, Any]:
    media = Media(
        # RTP timestamps from 0: MediaRecorder's encoders refuse a pts that wraps.
        encode_video(
            width=WIDTH, height=HEIGHT, fps=FPS, seconds=seconds, keyframe_every=2.0, ts_start=0
        ),
        encode_opus(seconds=seconds, ts_start=0),
    )
    tracks = sites * 2
    with tempfile.TemporaryDirectory() as tmp:
        forward_dir, baseline_dir = Path(tmp, "forward"), Path(tmp, "baseline")
        forward_dir.mkdir()
        baseline_dir.mkdir()
        forward = summary(
            asyncio.run(run_forward(media, sites, forward_dir)), tracks, seconds, forward_dir
        )
        baseline = summary(
            asyncio.run(run_baseline(media, sites, baseline_dir)), tracks, seconds, baseline_dir
        )
    ratio = baseline["cpu_percent_of_core_per_track"] / max(
        forward["cpu_percent_of_core_per_track"], 0.01
    )
    return {
        "benchmark": "recorder",
        "sites": sites,
        "tracks": tracks,
        "seconds": seconds,
        "video": f"VP8 {WIDTH}x{HEIGHT} {FPS} fps",
        "audio": "Opus 48 kHz stereo, 20 ms",
        "frames_per_site": {"video": len(media.video), "audio": len(media.audio)},
        "cpu_count": os.cpu_count(),
        "forward_mux_in_worker": forward,
        "baseline_aiortc_media_recorder": baseline,
        "baseline_over_forward": round(ratio, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sites", type=int, default=2, help="sites recorded (video+audio each)")
    parser.add_argument("--seconds", type=float, default=15.0, help="media length per run")
    args = parser.parse_args()
    print(json.dumps(measure(args.sites, args.seconds), indent=2))


if __name__ == "__main__":
    main()
