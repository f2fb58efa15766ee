"""The archive over HTTP, on a recording made from real encoded media: search, playback
with ranges, extracts, composition, cases and denouncers, refusals, and the audit trail."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from yarl import URL

from config.settings import Settings
from core.access import Role
from core.db import make_engine
from core.ids import SessionId, SiteId
from core.sessions import MemoryDirectory, SessionInfo, SessionState
from recorder.integrity import verify_folder
from recorder.manifest import RecordingState, read_manifest, write_manifest
from recorder.models import AppendOnlyError, AuditEntry
from recorder.service import MAX_RESTARTS
from recorder.sink import RecordingSink
from recorder.worker import RecordingWorker
from signaling.tokens import issue_token
from tests.recorder_support import TapHub, feed, ffprobe, now, schedule, site_media
from web.archive.keys import ARCHIVE, RECORDER
from web.archive.setup import setup_archive
from web.cli import main as cli_main
from web.database import migrate_all
from web.keys import DIRECTORY, SECRET, SETTINGS

SECRET_KEY = "archive-test-secret-archive-test-secret"
SESSION = "s-2026-11-27-hn-bn"
SECONDS = 4.0


def session_info(session_id: str = SESSION) -> SessionInfo:
    start = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
    return SessionInfo(
        id=SessionId(session_id),
        title="Tiếp công dân định kỳ",
        host_site=SiteId("tw-hanoi"),
        sites=frozenset(SiteId(s) for s in ("tw-hanoi", "bac-ninh")),
        state=SessionState.OPEN,
        starts_at=start,
        ends_at=start + timedelta(hours=2),
    )


def token(role: Role, site: str, subject: str = "") -> str:
    return issue_token(SECRET_KEY, role=role, site=site, subject=subject or f"{role}@{site}")


def auth(role: Role, site: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(role, site)}"}


CLERK = auth(Role.CLERK, "tw-hanoi")
ADMIN = auth(Role.ADMINISTRATOR, "tw-hanoi")
OPERATOR = auth(Role.OPERATOR, "tw-hanoi")
OTHER_CLERK = auth(Role.CLERK, "ho-chi-minh")


@dataclass
class World:
    client: TestClient[Any, Any]
    app: web.Application
    engine: Engine
    folder: Path
    started_at: datetime


async def make_app(data_dir: Path, engine: Engine) -> web.Application:
    app = web.Application()
    app[SETTINGS] = Settings(data_dir=data_dir, secret=SECRET_KEY)
    app[SECRET] = SECRET_KEY
    app[DIRECTORY] = MemoryDirectory([session_info()], [])
    migrate_all(engine)
    setup_archive(app, engine=engine)
    return app


async def record_session(app: web.Application, client: TestClient[Any, Any]) -> World:
    """Two sites, 4 s each, cases 12/2026 marked at 1 s and 34/2026 at 2.5 s."""
    recorder = app[RECORDER]
    hub = TapHub(SESSION)
    assert await recorder.start(session_info(), hub)
    for number, kind in (("12/2026", "complaint"), ("34/2026", "denunciation")):
        body: dict[str, Any] = {"number": number, "kind": kind, "sites": ["tw-hanoi", "bac-ninh"]}
        if kind == "denunciation":
            body["denouncers"] = [{"name": "Nguyễn Văn A", "address": "Bắc Ninh"}]
        response = await client.post("/api/archive/cases", json=body, headers=OPERATOR)
        assert response.status == 201, await response.text()
    recording = app[ARCHIVE].archive.recording(SESSION)
    assert recording is not None
    started = recording.started_at
    # Media starts now; the markers are placed relative to it (case creation above
    # took some of the recording's first second on a busy machine).
    t0, lead = now(), datetime.now(UTC) - started
    hub.deliver(
        schedule(site_media(SESSION, "tw-hanoi", seconds=SECONDS), t0)
        + schedule(site_media(SESSION, "bac-ninh", seconds=SECONDS), t0 + 0.2)
    )
    for number, at in (("12/2026", 1.0), ("34/2026", 2.5)):
        when = started + lead + timedelta(seconds=at)
        marker = await recorder.add_marker(SESSION, number, "bắt đầu", when)
        assert marker.offset_ms == round((lead.total_seconds() + at) * 1000)
    worker = recorder.worker(SESSION)
    assert worker is not None and await asyncio.to_thread(worker.sync)
    manifest = await recorder.stop(SESSION)
    assert manifest is not None and manifest.state is RecordingState.COMPLETE
    folder = app[ARCHIVE].storage.root / "recordings" / SESSION
    return World(client, app, app[ARCHIVE].archive.engine, folder, started)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    app = await make_app(tmp_path / "data", engine)
    async with TestClient(TestServer(app)) as client:
        yield await record_session(app, client)
    engine.dispose()


def audit_rows(engine: Engine) -> list[AuditEntry]:
    with Session(engine) as db:
        return list(db.query(AuditEntry).order_by(AuditEntry.id))


async def test_recording_files_manifest_and_search(world: World, ffprobe_path: str) -> None:
    manifest = read_manifest(world.folder)
    assert manifest.sites == ["tw-hanoi", "bac-ninh"]
    first, second = manifest.markers
    assert (first.case_number, second.case_number) == ("12/2026", "34/2026")
    assert (first.end_ms, second.offset_ms - first.offset_ms) == (second.offset_ms, 1500)
    # The first file starts with the media, 1 s before the first marker.
    assert first.offset_ms - manifest.files[0].offset_ms == pytest.approx(1000, abs=5)
    for entry in manifest.files:
        probe = ffprobe(ffprobe_path, world.folder / entry.name)
        assert {s["codec_name"] for s in probe["streams"]} == {"vp8", "opus"}
        assert float(probe["format"]["duration"]) == pytest.approx(SECONDS, rel=0.02)
        assert len(entry.sha256) == 64
    assert verify_folder(world.folder) == []

    response = await world.client.get("/api/archive/recordings?case=12/2026", headers=CLERK)
    assert response.status == 200
    found = (await response.json())["recordings"]
    assert [r["session_id"] for r in found] == [SESSION]
    assert found[0]["cases"] == ["12/2026", "34/2026"]
    for query in ("case=99/2026", "kind=petition", "site=ho-chi-minh", "from=2099-01-01"):
        response = await world.client.get(f"/api/archive/recordings?{query}", headers=CLERK)
        assert (await response.json())["recordings"] == [], query
    today = world.started_at.astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).date().isoformat()
    for query in ("kind=denunciation", f"from={today}&to={today}", "site=bac-ninh&case=34"):
        response = await world.client.get(f"/api/archive/recordings?{query}", headers=CLERK)
        assert len((await response.json())["recordings"]) == 1, query
    response = await world.client.get("/api/archive/recordings?from=27-11-2026", headers=CLERK)
    assert response.status == 400
    # A clerk of a site that took no part finds nothing.
    response = await world.client.get("/api/archive/recordings?case=12/2026", headers=OTHER_CLERK)
    assert (await response.json())["recordings"] == []


async def test_detail_shows_the_gaps_the_manifest_records(world: World) -> None:
    """A clerk sees where frames were dropped on the way to the files. The recorder
    writes gaps into the manifest (tests/integration/test_recorder_stall.py makes real
    ones); the detail reads them from there."""
    url = f"/api/archive/recordings/{SESSION}"
    response = await world.client.get(url, headers=CLERK)
    assert response.status == 200
    assert (await response.json())["gaps"] == []
    manifest = read_manifest(world.folder)
    track = manifest.files[0].tracks[0]
    gap = manifest.add_gap(manifest.files[0].site, track.track_id, track.kind, 1200, 1900, 21, 9000)
    write_manifest(world.folder, manifest)
    response = await world.client.get(url, headers=CLERK)
    assert (await response.json())["gaps"] == [
        {
            "file": gap.file,
            "site": "tw-hanoi",
            "kind": track.kind,
            "from_ms": 1200,
            "to_ms": 1900,
            "frames": 21,
        }
    ]
    assert gap.file == manifest.files[0].name


async def test_playback_with_ranges_and_refusals(world: World) -> None:
    detail = await (
        await world.client.get(f"/api/archive/recordings/{SESSION}", headers=CLERK)
    ).json()
    name = detail["files"][0]["name"]
    url = f"/api/archive/recordings/{SESSION}/files/{name}"
    size = (world.folder / name).stat().st_size

    response = await world.client.get(url, headers={**CLERK, "Range": "bytes=100-199"})
    assert response.status == 206
    assert await response.read() == (world.folder / name).read_bytes()[100:200]

    response = await world.client.get(url, headers={**CLERK, "Range": f"bytes={size}-"})
    assert response.status == 416
    assert response.headers["Content-Range"] == f"bytes */{size}"
    assert (await response.json())["error"]["code"] == "range_not_satisfiable"

    refusals = {
        "other site": (url, OTHER_CLERK, 404, "not_found"),
        "operator": (url, OPERATOR, 403, "forbidden_role"),
        "no token": (url, {}, 401, "token_missing"),
        "manifest": (
            f"/api/archive/recordings/{SESSION}/files/manifest.json",
            CLERK,
            404,
            "not_found",
        ),
        "dotdot": (f"/api/archive/recordings/{SESSION}/files/%2E%2E", CLERK, 400, "bad_name"),
        "encoded slash": (
            f"/api/archive/recordings/{SESSION}/files/..%2F..%2Fsecret.key",
            CLERK,
            400,
            "bad_name",
        ),
        "hidden": (f"/api/archive/recordings/{SESSION}/files/.{name}", CLERK, 400, "bad_name"),
        "unknown recording": ("/api/archive/recordings/nope/files/x.webm", CLERK, 404, "not_found"),
    }
    before = len(audit_rows(world.engine))
    for label, (path, headers, status, code) in refusals.items():
        response = await world.client.get(URL(path, encoded=True), headers=headers)
        assert response.status == status, label
        body = await response.json()
        assert body["error"]["code"] == code, label
        assert "secret" not in str(body).lower() or label == "encoded slash"
        assert str(world.folder) not in str(body), label
    rows = audit_rows(world.engine)[before:]
    assert len(rows) == len(refusals)
    assert all(r.action == "play" and r.result != "ok" for r in rows)
    other = next(r for r in rows if r.actor_site == "ho-chi-minh")
    assert (other.result, other.detail) == ("denied", "other_site")
    assert next(r for r in rows if r.role == "none").actor == "anonymous"


async def test_extract_of_one_case_and_of_a_time_range(world: World, ffprobe_path: str) -> None:
    detail = await (
        await world.client.get(f"/api/archive/recordings/{SESSION}", headers=CLERK)
    ).json()
    file = detail["files"][0]
    url = f"/api/archive/recordings/{SESSION}/extracts"

    response = await world.client.post(
        url, json={"file": file["name"], "case_number": "12/2026"}, headers=CLERK
    )
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "missing_field"

    body = {"file": file["name"], "case_number": "12/2026", "reason": "đơn đề nghị số 5"}
    response = await world.client.post(url, json=body, headers=CLERK)
    assert response.status == 201, await response.text()
    export = await response.json()
    requested = export["detail"]["requested_start_ms"]
    marker = next(m for m in detail["markers"] if m["case_number"] == "12/2026")
    assert requested == marker["offset_ms"] - file["offset_ms"]
    assert requested == pytest.approx(1000, abs=5)
    # The extract starts at the first keyframe after the marker (one a second here),
    # so nothing of what came before the case is in it.
    assert requested <= export["detail"]["start_ms"] <= requested + 1000
    wanted = export["detail"]["end_ms"] - export["detail"]["start_ms"]
    download = await world.client.get(export["download"], headers=CLERK)
    assert download.status == 200
    target = world.folder.parent / "extract.webm"
    target.write_bytes(await download.read())
    probe = ffprobe(ffprobe_path, target)
    assert {s["codec_name"] for s in probe["streams"]} == {"vp8", "opus"}
    assert float(probe["format"]["duration"]) * 1000 == pytest.approx(wanted, rel=0.05)
    # The case ran from 1.0 s to 2.5 s.
    assert 500 <= wanted <= 1500

    body = {"file": file["name"], "start_ms": 2000, "end_ms": 3000, "reason": "kiểm tra"}
    export = await (await world.client.post(url, json=body, headers=CLERK)).json()
    assert export["detail"]["start_ms"] == 2000
    assert export["detail"]["duration_ms"] == pytest.approx(1000, abs=60)

    response = await world.client.post(url, json={**body, "case_number": "77/2026"}, headers=CLERK)
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "unknown_case"
    response = await world.client.get(export["download"], headers=OTHER_CLERK)
    assert response.status == 404
    exports = [r for r in audit_rows(world.engine) if r.action.startswith(("export", "download"))]
    assert [r.result for r in exports] == ["bad_request", "ok", "ok", "ok", "not_found", "denied"]
    assert exports[1].reason == "đơn đề nghị số 5"


async def test_composed_file_job_reports_progress(world: World, ffprobe_path: str) -> None:
    url = f"/api/archive/recordings/{SESSION}/compose"
    response = await world.client.post(url, json={"reason": "hồ sơ vụ việc"}, headers=ADMIN)
    assert response.status == 202
    job = await response.json()
    status_url = f"/api/archive/exports/{job['id']}"
    for _ in range(600):
        job = await (await world.client.get(status_url, headers=ADMIN)).json()
        if job["state"] != "running":
            break
        assert 0.0 <= job["progress"] <= 1.0
        await asyncio.sleep(0.1)
    assert job["state"] == "done", job
    download = await world.client.get(job["download"], headers=CLERK)
    target = world.folder.parent / "composed.webm"
    target.write_bytes(await download.read())
    probe = ffprobe(ffprobe_path, target)
    video = next(s for s in probe["streams"] if s["codec_type"] == "video")
    assert video["width"] > 2 * 320  # two sites side by side (scaled to 360 lines)
    files = read_manifest(world.folder).files
    assert files[1].offset_ms - files[0].offset_ms == pytest.approx(200, abs=5)
    timeline = max(f.offset_ms + f.duration_ms for f in files) / 1000
    assert float(probe["format"]["duration"]) == pytest.approx(timeline, rel=0.02)


async def test_cases_denouncers_and_audit_view(world: World) -> None:
    response = await world.client.get("/api/archive/cases/34/2026", headers=CLERK)
    case = await response.json()
    assert case["kind"] == "denunciation" and case["has_denouncer"]
    assert "denouncers" not in case and "Nguyễn" not in str(case)
    response = await world.client.get("/api/archive/cases/34/2026?reason=xác minh", headers=ADMIN)
    assert (await response.json())["denouncers"][0]["name"] == "Nguyễn Văn A"
    response = await world.client.get("/api/archive/cases/99/2026", headers=CLERK)
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "unknown_case"
    response = await world.client.get("/api/archive/cases/34/2026", headers=OTHER_CLERK)
    assert response.status == 404

    bad = {"number": "56/2026", "kind": "denunciation", "sites": ["tw-hanoi"]}
    response = await world.client.post(
        "/api/archive/cases", json={**bad, "persons_received": [{"name": "X"}]}, headers=CLERK
    )
    assert response.status == 422
    response = await world.client.post(
        "/api/archive/cases", json={**bad, "sites": ["bac-ninh"]}, headers=CLERK
    )
    assert response.status == 403

    assert (await world.client.get("/api/archive/audit", headers=CLERK)).status == 403
    entries = (await (await world.client.get("/api/archive/audit", headers=ADMIN)).json())[
        "entries"
    ]
    actions = [(e["action"], e["result"]) for e in entries]
    assert ("view_case_denouncer", "ok") in actions
    assert ("view_case", "not_found") in actions
    assert ("view_case", "denied") in actions
    assert ("read_audit", "denied") in actions
    assert all("Nguyễn" not in str(e) for e in entries)


async def test_audit_log_is_append_only(world: World) -> None:
    rows = audit_rows(world.engine)
    assert rows
    with Session(world.engine) as db:
        entry = db.get(AuditEntry, rows[0].id)
        assert entry is not None
        entry.reason = "rewritten"
        with pytest.raises(AppendOnlyError):
            db.commit()
    for statement in ("UPDATE rec_audit SET reason = 'x'", "DELETE FROM rec_audit"):
        with pytest.raises(Exception, match="append-only"), world.engine.begin() as conn:
            conn.execute(text(statement))
    assert len(audit_rows(world.engine)) == len(rows)


async def test_verify_finds_a_tampered_file(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RB_DATA_DIR", str(world.folder.parents[2]))
    assert cli_main(["verify"]) == 0
    response = await world.client.post("/api/archive/verify", json={}, headers=ADMIN)
    assert await response.json() == {"checked": 2, "problems": []}
    name = read_manifest(world.folder).files[1].name
    with (world.folder / name).open("r+b") as fh:
        fh.seek(500)
        fh.write(b"\x00\x01\x02")
    result = await (await world.client.post("/api/archive/verify", json={}, headers=ADMIN)).json()
    assert result["problems"] == [{"recording": SESSION, "file": name, "problem": "hash_mismatch"}]
    capsys.readouterr()
    assert cli_main(["verify"]) == 1
    assert '"hash_mismatch"' in capsys.readouterr().out


async def test_killed_worker_is_restarted_and_restart_recovery(
    tmp_path: Path, ffprobe_path: str
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    app = await make_app(tmp_path / "data", engine)
    async with TestClient(TestServer(app)) as client:
        recorder = app[RECORDER]
        hub = TapHub(SESSION)
        await recorder.start(session_info(), hub)
        hub.deliver(schedule(site_media(SESSION, "bac-ninh", seconds=5.0), now()))
        worker = recorder.worker(SESSION)
        assert worker is not None and await asyncio.to_thread(worker.sync)
        assert worker.process.pid is not None
        os.kill(worker.process.pid, signal.SIGKILL)
        # The recorder notices the crash and taps the hub with a new worker.
        for _ in range(300):
            if recorder.worker(SESSION) is not worker and len(hub.sinks) == 1:
                break
            await asyncio.sleep(0.1)
        second = recorder.worker(SESSION)
        assert second is not None and second is not worker and second.alive
        hub.deliver(schedule(site_media(SESSION, "bac-ninh", seconds=3.0), now()))
        assert await asyncio.to_thread(second.sync)
        manifest = await recorder.stop(SESSION)
        assert manifest is not None and manifest.state is RecordingState.RECOVERED
        assert [(f.name, f.recovered) for f in manifest.files] == [
            ("bac-ninh-part1.webm", True),
            ("bac-ninh-part2.webm", False),
        ]
        detail = await (
            await client.get(f"/api/archive/recordings/{SESSION}", headers=CLERK)
        ).json()
        assert detail["status"] == "recovered" and detail["files"][0]["recovered"]
        folder = app[ARCHIVE].storage.root / "recordings" / SESSION
        first = ffprobe(ffprobe_path, folder / manifest.files[0].name)
        assert float(first["format"]["duration"]) > 3.0
        second_probe = ffprobe(ffprobe_path, folder / manifest.files[1].name)
        assert float(second_probe["format"]["duration"]) == pytest.approx(3.0, rel=0.02)
        assert verify_folder(folder) == []

    # A server killed mid-recording: the folder says "recording"; the next start closes it.
    folder = tmp_path / "data" / "archive" / "recordings" / f"{SESSION}.2"
    app[ARCHIVE].archive.open_recording(
        folder.name,
        title="",
        host_site=SiteId("tw-hanoi"),
        sites=["tw-hanoi"],
        started_at=datetime.now(UTC),
        legal_basis="test",
    )
    t0 = now()
    orphan = RecordingWorker(folder, folder.name, datetime.now(UTC).isoformat(), t0)
    orphan.start()
    media = site_media(folder.name, "tw-hanoi", seconds=3.0)
    feed(RecordingSink(orphan), schedule(media, t0))
    assert orphan.sync()
    assert orphan.process.pid is not None
    os.kill(orphan.process.pid, signal.SIGKILL)
    orphan.process.join()
    restarted = await make_app(tmp_path / "data", engine)
    async with TestClient(TestServer(restarted)) as client:
        detail = await (
            await client.get(f"/api/archive/recordings/{folder.name}", headers=CLERK)
        ).json()
        assert detail["status"] == "recovered"
        assert read_manifest(folder).state is RecordingState.RECOVERED
        assert verify_folder(folder) == []
    engine.dispose()


async def test_a_worker_that_keeps_crashing_ends_the_recording_and_says_so(
    tmp_path: Path, ffprobe_path: str
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    app = await make_app(tmp_path / "data", engine)
    async with TestClient(TestServer(app)):
        recorder = app[RECORDER]
        hub = TapHub(SESSION)
        await recorder.start(session_info(), hub)
        for _ in range(MAX_RESTARTS + 1):
            hub.deliver(schedule(site_media(SESSION, "bac-ninh", seconds=2.0), now()))
            worker = recorder.worker(SESSION)
            assert worker is not None and await asyncio.to_thread(worker.sync)
            assert worker.process.pid is not None
            os.kill(worker.process.pid, signal.SIGKILL)
            for _ in range(300):
                if recorder.worker(SESSION) is not worker:
                    break
                await asyncio.sleep(0.1)
        # Past the restart limit the recording ends, sealed as recovered, and the
        # operator's board hears that it stopped.
        folder = app[ARCHIVE].storage.root / "recordings" / SESSION
        for _ in range(300):
            if read_manifest(folder).state is not RecordingState.RECORDING:
                break
            await asyncio.sleep(0.1)
        assert not recorder.is_recording(SESSION)
        assert hub.sinks == []
        assert hub.recording[0] is not None and hub.recording[-1] is None
        manifest = read_manifest(folder)
        assert manifest.state is RecordingState.RECOVERED
        assert len(manifest.files) == MAX_RESTARTS + 1
        for entry in manifest.files:
            probe = ffprobe(ffprobe_path, folder / entry.name)
            # Clusters are flushed each second: what was flushed before the kill plays.
            assert float(probe["format"]["duration"]) >= 0.9
        assert verify_folder(folder) == []
    engine.dispose()


@pytest.mark.postgres
def test_migration_and_append_only_trigger_on_postgresql(postgres_url: str) -> None:
    """The recorder branch migrates on PostgreSQL, and the trigger refuses changes."""
    admin = make_engine(postgres_url, isolation_level="AUTOCOMMIT")
    name = f"rb_recorder_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(postgres_url.rsplit("/", 1)[0] + f"/{name}")
    try:
        migrate_all(engine)
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO rec_audit (at, actor, role, actor_site, action, target,"
                    " target_sites, reason, result, detail) VALUES (now(), 'a', 'clerk', 's',"
                    " 'play', 't', '', '', 'ok', '')"
                )
            )
        for statement in ("UPDATE rec_audit SET reason = 'x'", "DELETE FROM rec_audit"):
            with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
                conn.execute(text(statement))
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM rec_audit")).scalar() == 1
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()
