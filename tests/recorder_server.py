"""The real server for the kill -9 test: ``web.app.create_app`` and ``web.run_app``, as
``reception-bridge serve`` runs them, plus a recording of synthetic media.

    RB_DATA_DIR=... RB_PORT=... python -m tests.recorder_server [SESSION]

Settings come from the environment as for ``serve``. Once started (unfinished
recordings recovered) it runs a job in the media pool, as an extract, a verify or a
recovery would, so the pool's process exists. With a session id it records that
session: two sites of VP8 and Opus, delivered in real time to the recorder's sink as
the relay's hub would, until killed. When recording has gone on for ``RB_TEST_WARMUP``
seconds (default 3) it prints one JSON line on stdout: its pid, the recording worker's
and the pool worker's.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta

from aiohttp import web

from bridge.frames import EncodedFrame, EndpointId, Kind, TrackId, TrackInfo
from config.settings import load_settings
from core.ids import SessionId, SiteId
from core.sessions import SessionInfo, SessionState
from recorder.synthetic import CodedFrame, encode_opus, encode_video
from tests.recorder_support import TapHub
from web.app import create_app
from web.archive.keys import ARCHIVE, RECORDER

SITES = ("tw-hanoi", "bac-ninh")
LOOP_SECONDS = 4.0


def encode() -> tuple[list[CodedFrame], list[CodedFrame]]:
    return encode_video("VP8", seconds=LOOP_SECONDS, keyframe_every=1.0), encode_opus(
        seconds=LOOP_SECONDS
    )


async def feed(
    hub: TapHub, session_id: str, video: list[CodedFrame], audio: list[CodedFrame]
) -> None:
    """Both sites' tracks, frames at their media times, looped with growing timestamps."""
    tracks = {
        (site, kind): TrackInfo(
            TrackId(f"{site}-{kind}"),
            session_id,
            EndpointId(f"{site}-ep"),
            site,
            kind,
            "VP8" if kind is Kind.VIDEO else "opus",
            90000 if kind is Kind.VIDEO else 48000,
        )
        for site in SITES
        for kind in Kind
    }
    for sink in hub.sinks:
        for info in tracks.values():
            sink.on_track(info)
    items = sorted(
        (f.media_time, kind, f)
        for kind, frames in ((Kind.VIDEO, video), (Kind.AUDIO, audio))
        for f in frames
    )
    start, lap = time.monotonic(), 0
    while True:
        for at, kind, frame in items:
            arrival = start + lap * LOOP_SECONDS + at
            delay = arrival - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            clock = 90000 if kind is Kind.VIDEO else 48000
            ts = (frame.timestamp + round(lap * LOOP_SECONDS * clock)) % (1 << 32)
            for site in SITES:
                coded = EncodedFrame(frame.data, ts, frame.keyframe, arrival)
                for sink in list(hub.sinks):
                    sink.on_frame(tracks[(site, kind)], coded)
        lap += 1


def main() -> None:
    session_id = sys.argv[1] if len(sys.argv) > 1 else ""
    warmup = float(os.environ.get("RB_TEST_WARMUP", "3"))
    settings = load_settings()
    app = create_app(settings)
    tasks: set[asyncio.Task[None]] = set()

    async def started(app: web.Application) -> None:
        pool_pid = await app[ARCHIVE].runner.run(os.getpid)
        worker_pid = None
        if session_id:
            now = datetime.now(UTC)
            session = SessionInfo(
                id=SessionId(session_id),
                title="kill -9",
                host_site=SiteId(SITES[0]),
                sites=frozenset(SiteId(s) for s in SITES),
                state=SessionState.OPEN,
                starts_at=now,
                ends_at=now + timedelta(hours=1),
            )
            video, audio = await asyncio.to_thread(encode)
            hub = TapHub(session_id)
            recorder = app[RECORDER]
            assert await recorder.start(session, hub)
            task = asyncio.get_running_loop().create_task(feed(hub, session_id, video, audio))
            tasks.add(task)
            await asyncio.sleep(warmup)
            worker = recorder.worker(session_id)
            assert worker is not None and await asyncio.to_thread(worker.sync)
            worker_pid = worker.process.pid
        line = {"server": os.getpid(), "worker": worker_pid, "pool": pool_pid}
        print(json.dumps(line), flush=True)

    app.on_startup.append(started)
    web.run_app(app, host=settings.host, port=settings.port, print=None)


if __name__ == "__main__":
    main()
