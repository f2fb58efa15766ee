"""A citizen's first visit: the operator marks a case number the archive does not know yet.

The archive opens the case as pending (number, the session's sites, the operator), keeps
the marker, and a clerk finds the session by that number at once; recording the case
later completes it. Over the real server (operator command over /bridge, archive over
HTTP) and, for the store itself, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from config.settings import Settings
from core.access import Role
from core.db import make_engine
from core.ids import SessionId, SiteId
from core.sessions import MemoryDirectory, SessionInfo, SessionState, SiteInfo
from recorder.archive import Archive, ArchiveError, CaseInput, Person, SearchQuery
from recorder.manifest import read_manifest
from recorder.models import CaseKind, Outcome
from recorder.service import RECORDINGS
from signaling.client import BridgeClient, ClientError
from signaling.tokens import issue_token
from tests.conftest import free_port
from tests.integration.conftest import HOST, SECRET, SITES, wait_for
from web.app import create_app
from web.archive.setup import archive_root
from web.database import migrate_all

SESSION = "s-first-visit"
NEW_CASE = "KN-2026/901"


def _session() -> SessionInfo:
    now = datetime.now(UTC)
    return SessionInfo(
        id=SessionId(SESSION),
        title="Tiếp công dân định kỳ",
        host_site=SiteId(HOST),
        sites=frozenset(SiteId(s) for s in (HOST, "bac-ninh")),
        state=SessionState.OPEN,
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=3),
        site_names={SiteId(k): SiteInfo(SiteId(k), v) for k, v in SITES.items()},
    )


def _auth(role: Role, site: str = HOST) -> dict[str, str]:
    token = issue_token(SECRET, role=role, site=site, subject=f"{role}@{site}")
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def url(tmp_path: Path) -> AsyncIterator[str]:
    directory = MemoryDirectory([_session()], [SiteInfo(SiteId(k), v) for k, v in SITES.items()])
    port = free_port()
    settings = Settings(host="127.0.0.1", port=port, data_dir=tmp_path, secret=SECRET)
    runner = web.AppRunner(create_app(settings, directory=directory))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}"
    await asyncio.wait_for(runner.cleanup(), 30)


async def _join(url: str, site: str, role: Role) -> BridgeClient:
    token = issue_token(SECRET, role=role, site=site, session=SESSION, subject=f"{role}@{site}")
    client = BridgeClient(url, token)
    await client.connect()
    if role is Role.ROOM:
        await client.publish([VideoStreamTrack(), AudioStreamTrack()])
    return client


async def _json(response: aiohttp.ClientResponse) -> Any:
    return await response.json()


async def test_marking_an_unregistered_case_opens_it_and_finds_the_session(
    url: str, tmp_path: Path
) -> None:
    operator = await _join(url, HOST, Role.OPERATOR)
    room = await _join(url, "bac-ninh", Role.ROOM)
    clerk, other_clerk = _auth(Role.CLERK), _auth(Role.CLERK, "ca-mau")
    try:
        async with aiohttp.ClientSession(url) as http:
            # The recorder starts by itself when the open session's hub opens.
            async def recorded() -> bool:
                response = await http.get(f"/api/archive/recordings/{SESSION}", headers=clerk)
                return response.status == 200

            for _ in range(300):
                if await recorded():
                    break
                await asyncio.sleep(0.1)
            assert await recorded(), "the session is not being recorded"
            response = await http.get(f"/api/archive/cases/{NEW_CASE}", headers=clerk)
            assert response.status == 404

            # Bad numbers: refused clearly, the board unchanged.
            before = (await operator.call("state", {}))["state"]
            for bad, words in (
                ("", "required"),
                ("KN\n901", "U+000A"),
                ("KN 901", "letters, digits"),
                ("../901", ".."),
                ("K" * 65, "64"),
            ):
                with pytest.raises(ClientError) as caught:
                    await operator.command("mark_case", case_number=bad, text="x")
                assert caught.value.code == "bad_request", bad
                assert "case_number" in caught.value.message and words in caught.value.message
            after = (await operator.call("state", {}))["state"]
            assert after["markers"] == before["markers"] == []
            assert after["current_case"] is None

            # The citizen's first visit: no case yet. The marker reaches the archive.
            ack = await operator.command("mark_case", case_number=f" {NEW_CASE} ", text="Đất đai")
            assert "warning" not in ack, ack
            marker = ack["state"]["markers"][-1]
            assert marker["case_number"] == NEW_CASE
            assert (marker["archived"], marker["archive_note"]) == (True, "")

            response = await http.get(f"/api/archive/recordings?case={NEW_CASE}", headers=clerk)
            found = (await _json(response))["recordings"]
            assert [(r["session_id"], r["cases"]) for r in found] == [(SESSION, [NEW_CASE])]
            response = await http.get("/api/archive/recordings?case=kn-2026", headers=clerk)
            assert [r["session_id"] for r in (await _json(response))["recordings"]] == [SESSION]
            # Still only for the sites that took part.
            response = await http.get(
                f"/api/archive/recordings?case={NEW_CASE}", headers=other_clerk
            )
            assert (await _json(response))["recordings"] == []
            detail = await _json(
                await http.get(f"/api/archive/recordings/{SESSION}", headers=clerk)
            )
            assert [(m["case_number"], m["text"]) for m in detail["markers"]] == [
                (NEW_CASE, "Đất đai")
            ]

            pending = await _json(await http.get(f"/api/archive/cases/{NEW_CASE}", headers=clerk))
            assert pending["pending"] is True and pending["kind"] is None
            assert pending["sites"] == sorted([HOST, "bac-ninh"])
            assert pending["sessions"] == [SESSION]
            # A pending case is not of any kind yet.
            response = await http.get("/api/archive/recordings?kind=complaint", headers=clerk)
            assert (await _json(response))["recordings"] == []

            # The clerk records the case: the opened case is completed, not refused.
            case = {
                "number": NEW_CASE,
                "kind": "complaint",
                "sites": [HOST],
                "summary": "Tranh chấp đất đai",
                "people_count": 2,
                "persons_received": [{"name": "Trần Thị B", "address": "Bắc Ninh"}],
                "officials": ["Lê Văn C"],
                "outcome": "accepted",
            }
            response = await http.post("/api/archive/cases", json=case, headers=clerk)
            assert response.status == 201, await response.text()
            done = await _json(response)
            assert done["pending"] is False
            assert (done["kind"], done["outcome"], done["people_count"]) == (
                "complaint",
                "accepted",
                2,
            )
            assert done["persons_received"][0]["name"] == "Trần Thị B"
            assert (done["sites"], done["sessions"]) == ([HOST], [SESSION])
            assert (
                await _json(await http.get(f"/api/archive/cases/{NEW_CASE}", headers=clerk)) == done
            )
            for query in ("kind=complaint", "outcome=accepted", f"case={NEW_CASE}"):
                response = await http.get(f"/api/archive/recordings?{query}", headers=clerk)
                assert [r["session_id"] for r in (await _json(response))["recordings"]] == [
                    SESSION
                ], query

            # A case already recorded is refused as before, and nothing changes.
            response = await http.post(
                "/api/archive/cases", json={**case, "kind": "petition"}, headers=clerk
            )
            assert response.status == 409
            assert (await _json(response))["error"]["code"] == "case_exists"
            again = await _json(await http.get(f"/api/archive/cases/{NEW_CASE}", headers=clerk))
            assert again["kind"] == "complaint"

            # Bad numbers over HTTP: the same rule, a clear error.
            number: object
            for number in ("KN\u0000901", "KN 901", " ", 901):
                response = await http.post(
                    "/api/archive/cases", json={**case, "number": number}, headers=clerk
                )
                assert response.status == 400, number
                error = (await _json(response))["error"]
                assert error["code"] == "bad_case_number" and error["message"], number
            response = await http.post(
                f"/api/archive/sessions/{SESSION}/markers",
                json={"case_number": "KN\t1"},
                headers=_auth(Role.OPERATOR),
            )
            assert response.status == 400
            assert "U+0009" in (await _json(response))["error"]["message"]

        # The sealed manifest carries the marker.
        await operator.command("record_stop")
        folder = archive_root(tmp_path) / RECORDINGS / SESSION
        await wait_for(lambda: bool(read_manifest(folder).ended_at), what="the sealed manifest")
        assert [(m.case_number, m.text) for m in read_manifest(folder).markers] == [
            (NEW_CASE, "Đất đai")
        ]
    finally:
        for client in (operator, room):
            await client.leave()


# -- the store on both databases ---------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
        migrate_all(engine)
        yield engine
        engine.dispose()
        return
    base: str = request.getfixturevalue("postgres_url")
    admin = make_engine(base, isolation_level="AUTOCOMMIT")
    name = f"rb_cases_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(base.rsplit("/", 1)[0] + f"/{name}")
    try:
        migrate_all(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def test_a_marker_opens_a_pending_case_that_recording_completes(engine: Engine) -> None:
    archive = Archive(engine)
    start = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
    for session, sites in (("s-1", ["bac-ninh"]), ("s-2", ["da-nang"])):
        archive.open_recording(
            session,
            title="",
            host_site=SiteId(HOST),
            sites=sites,
            started_at=start,
            legal_basis="test",
        )
    marker = archive.add_marker(
        "s-1", "TC-5/2026", "lần đầu", start + timedelta(seconds=3), by="op@hn"
    )
    assert (marker.case_number, marker.offset_ms) == ("TC-5/2026", 3000)
    # Marked again in another session: the same case, and that session's sites too.
    archive.add_marker("s-2", "TC-5/2026", "", start + timedelta(seconds=1), by="op@hn")
    pending = archive.case("TC-5/2026")
    assert pending is not None and pending.pending and pending.kind is None
    assert pending.sites == sorted([HOST, "bac-ninh", "da-nang"])
    assert pending.sessions == ["s-1", "s-2"]
    found = archive.search(SearchQuery(case_number="TC-5"), "bac-ninh")
    assert [r.session_id for r in found] == ["s-1"]
    assert [m.case_number for m in archive.manifest_markers("s-1", 10_000)] == ["TC-5/2026"]

    # Nothing is opened for a refused marker.
    for session, number, at, code in (
        ("s-1", "TC 6", start, "bad_case_number"),
        ("s-1", "TC-6\u202e", start, "bad_case_number"),
        ("s-1", "TC-6", start - timedelta(seconds=1), "bad_marker"),
        ("nope", "TC-6", start, "not_found"),
    ):
        with pytest.raises(ArchiveError) as caught:
            archive.add_marker(session, number, "", at, by="op@hn")
        assert caught.value.code == code, number
    assert archive.case("TC-6") is None

    case = CaseInput(
        number="TC-5/2026",
        kind=CaseKind.DENUNCIATION,
        sites=("bac-ninh",),
        denouncers=(Person("Phạm Văn D", "Bắc Ninh"),),
        outcome=Outcome.FORWARDED,
    )
    # A site none of whose sessions opened the case may not take it over.
    with pytest.raises(ArchiveError) as caught:
        archive.create_case(case, by="clerk@cm", site="ca-mau")
    assert caught.value.code == "case_exists"
    done = archive.create_case(case, by="clerk@bn", site="bac-ninh")
    assert (done.pending, done.kind, done.outcome) == (
        False,
        CaseKind.DENUNCIATION,
        Outcome.FORWARDED,
    )
    assert done.sites == ["bac-ninh"] and done.has_denouncer
    assert done.sessions == ["s-1", "s-2"]
    assert archive.denouncers("TC-5/2026") == [Person("Phạm Văn D", "Bắc Ninh")]
    found = archive.search(SearchQuery(kind=CaseKind.DENUNCIATION), "da-nang")
    assert [r.session_id for r in found] == ["s-2"]
    with pytest.raises(ArchiveError) as caught:
        archive.create_case(case, by="clerk@bn", site="bac-ninh")
    assert caught.value.code == "case_exists"
    # A marker of a recorded case leaves its sites alone.
    archive.add_marker("s-2", "TC-5/2026", "", start + timedelta(seconds=9), by="op@hn")
    after = archive.case("TC-5/2026")
    assert after is not None and after.sites == ["bac-ninh"]

    # The database itself refuses a recorded case without a kind.
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO rec_cases (number, pending, kind, summary, crowd, people_count,"
                " persons_received, officials, created_at, created_by) VALUES ('X-1', :f,"
                " NULL, '', :f, 1, '[]', '[]', :at, '')"
            ),
            {"f": False, "at": start.replace(tzinfo=None)},
        )
