"""A recording belongs to one live writer (``recorder/ownership.py``): another process's
recovery leaves it alone while its writer lives and takes it once the writer is killed;
a recorder that lets a recording go (a drain) leaves it unsealed and the next recorder
continues it as the next part, sealed once at the end.

Two recorders on one data folder stand for two nodes (``flock`` locks of two open files
exclude each other inside one process too); the writer killed with SIGKILL is a real
child process."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.db import make_engine
from core.ids import SessionId, SiteId
from core.sessions import SessionInfo, SessionState
from recorder.archive import Archive
from recorder.isolation import IsolatedRunner
from recorder.manifest import Manifest, RecordingState, read_manifest, write_manifest
from recorder.ownership import claim, is_written
from recorder.service import Recorder
from tests.recorder_support import TapHub, ffprobe, now, schedule, site_media
from web.database import migrate_all

SESSION = "s-owner"
ROOT = Path(__file__).resolve().parents[2]
SITES = ("tw-hanoi", "bac-ninh")
HOLDER = """
import sys, time
from pathlib import Path
from recorder.ownership import claim
held = claim(Path(sys.argv[1]))
print("held" if held else "busy", flush=True)
time.sleep(60)
"""


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


@pytest.fixture
async def two(tmp_path: Path) -> AsyncIterator[tuple[Recorder, Recorder]]:
    """Two recorders (two nodes) on one data folder and one database."""
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    migrate_all(engine)
    runners = [IsolatedRunner(), IsolatedRunner()]
    recorders = [Recorder(tmp_path / "archive", Archive(engine), r) for r in runners]
    yield recorders[0], recorders[1]
    for recorder in recorders:
        await recorder.close()
    for runner in runners:
        runner.close()
    engine.dispose()


def _record(hub: TapHub, seconds: float) -> None:
    t0 = now()
    sites = [site_media(SESSION, s, seconds=seconds) for s in SITES]
    hub.deliver([i for n, m in enumerate(sites) for i in schedule(m, t0 + n * 0.007)])


async def test_recovery_leaves_a_live_writers_recording_and_takes_it_after_kill9(
    tmp_path: Path,
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    migrate_all(engine)
    runner = IsolatedRunner()
    archive = Archive(engine)
    recorder = Recorder(tmp_path / "archive", archive, runner)
    folder = recorder.folder("s-dead")
    folder.mkdir(parents=True)
    started = datetime.now(UTC)
    archive.open_recording(
        "s-dead",
        title="Tiếp công dân",
        host_site=SITES[0],
        sites=list(SITES),
        started_at=started,
        legal_basis="test",
    )
    write_manifest(folder, Manifest(session_id="s-dead", started_at=started.isoformat()))
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLDER, str(folder), stdout=asyncio.subprocess.PIPE, cwd=ROOT
    )
    try:
        assert holder.stdout is not None
        assert (await holder.stdout.readline()).strip() == b"held"
        assert is_written(folder)
        assert claim(folder) is None
        assert await recorder.recover() == []
        assert read_manifest(folder).state is RecordingState.RECORDING
        holder.send_signal(signal.SIGKILL)
        await holder.wait()
        assert not is_written(folder)
        assert await recorder.recover() == ["s-dead"]
        assert read_manifest(folder).state is RecordingState.RECOVERED
    finally:
        if holder.returncode is None:
            holder.kill()
            await holder.wait()
        runner.close()
        engine.dispose()


async def test_a_recording_let_go_continues_on_the_next_recorder(
    two: tuple[Recorder, Recorder], ffprobe_path: str
) -> None:
    first, second = two
    hub = TapHub(SESSION)
    assert await first.start(session_info(), hub)
    folder = first.folder(SESSION)
    _record(hub, 2.0)
    worker = first.worker(SESSION)
    assert worker is not None and await asyncio.to_thread(worker.sync)

    # The other node's recovery (at its start) leaves the live recording alone.
    assert await second.recover() == []
    assert read_manifest(folder).state is RecordingState.RECORDING
    assert is_written(folder)

    # A drain: the first lets it go unsealed, its part closed by its muxer.
    assert await first.release(SESSION)
    assert not first.is_recording(SESSION)
    let_go = read_manifest(folder)
    assert let_go.state is RecordingState.RECORDING
    assert [f.part for f in let_go.files] == [1, 1]
    assert all(f.closed and not f.recovered for f in let_go.files)
    assert not is_written(folder)
    assert await first.stop(SESSION) is None  # the session's end there seals nothing

    # The next node continues it: same folder, next parts, one seal at the end.
    hub2 = TapHub(SESSION)
    second.continue_recording(SESSION)
    assert await second.start(session_info(), hub2)
    assert second.folder(SESSION) == folder
    assert hub2.recording and hub2.recording[-1] == datetime.fromisoformat(let_go.started_at)
    _record(hub2, 2.0)
    manifest = await second.stop(SESSION)
    assert manifest is not None and manifest.state is RecordingState.COMPLETE
    assert sorted((f.site, f.part) for f in manifest.files) == sorted(
        (s, p) for s in SITES for p in (1, 2)
    )
    assert not (folder.parent / f"{SESSION}.2").exists()
    for entry in manifest.files:
        assert entry.closed and not entry.recovered and entry.sha256
        probe = ffprobe(ffprobe_path, folder / entry.name)
        video = [s for s in probe["streams"] if s["codec_type"] == "video"]
        assert video and int(video[0]["nb_read_frames"]) > 0, (entry, probe)
    second_parts = [f for f in manifest.files if f.part == 2]
    assert all(f.offset_ms > 0 for f in second_parts), second_parts
