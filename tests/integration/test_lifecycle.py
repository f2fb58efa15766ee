"""A session's life through the real app, its scheduler database and real aiortc endpoints.

Closing over REST, by the operator's command or by the clock: every endpoint hears
``session_closed``, both of its connections close, the hub and the namespace's cache
entry go, the recording is sealed, and the same token cannot come back. Case markers
take one path whoever sets them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import socketio
from aiohttp import web
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from config.settings import Settings
from core.access import Role
from recorder.manifest import RecordingState, read_manifest
from recorder.service import RECORDINGS
from signaling.client import BridgeClient
from signaling.tokens import issue_token
from tests.conftest import free_port
from tests.integration.conftest import wait_for
from web.app import create_app
from web.archive.keys import ARCHIVE, RECORDER
from web.keys import LIFECYCLE, RELAY, STORE
from web.live.memory import ReturnMemory
from web.live.setup import NAMESPACE

SECRET = "lifecycle-test-secret-0123456789abcdef"
HOST = "tw-hanoi"
ROOMS = ("bac-ninh", "ha-noi", "hai-phong")
GRACE_MINUTES = 10


@dataclass
class Clock:
    """The wall clock the app's lifecycle reads; a test moves it."""

    offset: timedelta = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@dataclass
class Live:
    url: str
    app: web.Application
    http: aiohttp.ClientSession
    clock: Clock

    def token(self, site: str, role: Role, session: str | None = None) -> str:
        return issue_token(SECRET, role=role, site=site, session=session, subject=f"{role}@{site}")

    async def call(self, method: str, path: str, token: str, **kw: Any) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"}
        async with self.http.request(method, self.url + path, headers=headers, **kw) as resp:
            return resp.status, await resp.json()

    async def open_session(self, minutes: int = 60) -> str:
        """Book a session of the host and three rooms starting now, and open it."""
        now = datetime.now(UTC)
        body = {
            "title": "Tiếp công dân trực tuyến",
            "host_site": HOST,
            "starts_at": (now - timedelta(minutes=5)).isoformat(),
            "ends_at": (now + timedelta(minutes=minutes)).isoformat(),
            "participants": list(ROOMS),
            "allow_day_off": True,
        }
        admin = self.token(HOST, Role.ADMINISTRATOR)
        status, booked = await self.call("POST", "/api/sessions", admin, json=body)
        assert status == 201, booked
        session_id = str(booked["id"])
        operator = self.token(HOST, Role.OPERATOR)
        status, opened = await self.call("POST", f"/api/sessions/{session_id}/open", operator)
        assert status == 200 and opened["state"] == "open", opened
        return session_id

    async def join(self, session_id: str, site: str, role: Role = Role.ROOM) -> BridgeClient:
        client = BridgeClient(self.url, self.token(site, role, session_id))
        await client.connect()
        if role is Role.ROOM:
            await client.publish([VideoStreamTrack(), AudioStreamTrack()])
        return client


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    port = free_port()
    settings = Settings(
        port=port, data_dir=tmp_path, secret=SECRET, close_grace_minutes=GRACE_MINUTES
    )
    clock = Clock()
    app = create_app(settings, clock=clock)
    runner = web.AppRunner(app)
    await runner.setup()
    await asyncio.to_thread(app[STORE].load_tree)
    await web.TCPSite(runner, "127.0.0.1", port).start()
    async with aiohttp.ClientSession() as http:
        yield Live(f"http://127.0.0.1:{port}", app, http, clock)
    await asyncio.wait_for(runner.cleanup(), 60)


async def _all_receiving(clients: list[BridgeClient]) -> None:
    await wait_for(
        lambda: all(
            c.frames_from(site, "video") >= 10
            for c in clients
            for site in ROOMS
            if c.welcome is not None and c.welcome["site"]["id"] != site
        ),
        what="every endpoint receiving the rooms' video",
    )


def _manifest_state(live: Live, session_id: str) -> RecordingState:
    folder = live.app[ARCHIVE].storage.root / RECORDINGS / session_id
    return read_manifest(folder).state


async def _assert_released(live: Live, session_id: str, clients: list[BridgeClient]) -> None:
    for client in clients:
        await asyncio.wait_for(client.ended.wait(), 20)
        await asyncio.wait_for(client.disconnected.wait(), 20)
        pcs = [pc for pc in (client.publish_pc, client.subscribe_pc) if pc is not None]
        assert pcs and all(pc.connectionState == "closed" for pc in pcs)
    assert session_id not in live.app[RELAY].hubs
    assert session_id not in live.app[NAMESPACE]._sessions
    assert not live.app[RECORDER].is_recording(session_id)
    assert _manifest_state(live, session_id) is RecordingState.COMPLETE
    again = BridgeClient(live.url, clients[0].token)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await again.connect(wait=5)
    await wait_for(lambda: again.connect_error is not None, what="connect_error")
    assert again.connect_error["data"]["code"] == "session_closed"


async def test_closing_over_rest_ends_every_endpoint_and_releases_the_session(
    live: Live,
) -> None:
    session_id = await live.open_session()
    # Rooms first: they start live (no operator yet) and see each other.
    rooms = [await live.join(session_id, site) for site in ROOMS]
    operator = await live.join(session_id, HOST, Role.OPERATOR)
    clients = [operator, *rooms]
    await _all_receiving(clients)
    hub = live.app[RELAY].hubs[session_id]
    participants = hub.participants
    assert len(participants) == 4
    assert live.app[RECORDER].is_recording(session_id)

    status, closed = await live.call(
        "POST", f"/api/sessions/{session_id}/close", live.token(HOST, Role.OPERATOR)
    )
    assert status == 200 and closed["state"] == "closed"
    for client in clients:
        await asyncio.wait_for(client.ended.wait(), 20)
        assert client.session_closed is not None
        assert client.session_closed["reason"] == "closed"
        assert client.session_closed["state"] == "closed"
        assert client.session_closed["session_id"] == session_id
        assert client.session_closed["by"] == f"{Role.OPERATOR}@{HOST}"
    # The server's side of each endpoint's two connections, too.
    for participant in participants:
        assert participant.connection_states
        assert set(participant.connection_states) == {"closed"}
    await _assert_released(live, session_id, clients)


async def test_the_operator_closes_the_session_from_the_console(live: Live) -> None:
    session_id = await live.open_session()
    operator = await live.join(session_id, HOST, Role.OPERATOR)
    room = await live.join(session_id, "bac-ninh")
    refused = await room.sio.call(
        "command", {"op": "close_session"}, namespace="/bridge", timeout=10
    )
    assert refused["error"]["code"] == "not_allowed"
    assert session_id in live.app[RELAY].hubs
    ack = await operator.command("close_session")
    assert "state" in ack
    for client in (operator, room):
        await asyncio.wait_for(client.ended.wait(), 20)
        assert client.session_closed is not None and client.session_closed["reason"] == "closed"
    status, view = await live.call(
        "GET", f"/api/sessions/{session_id}", live.token(HOST, Role.ADMINISTRATOR)
    )
    assert status == 200 and view["state"] == "closed"
    await _assert_released(live, session_id, [operator, room])


async def test_the_operator_hears_his_close_answered_when_closing_outlasts_the_grace(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The relay tells every endpoint and drops its socket 0.5 s later; a listener after
    it (here the memory release, slowed down) still runs, so the operator's
    ``close_session`` returns later than that. Its ack must still reach him."""
    release = ReturnMemory.session_ended

    async def slow(self: ReturnMemory, session: Any, end: Any) -> None:
        await asyncio.sleep(2.0)
        await release(self, session, end)

    monkeypatch.setattr(ReturnMemory, "session_ended", slow)
    session_id = await live.open_session()
    operator = await live.join(session_id, HOST, Role.OPERATOR)
    ack = await operator.command("close_session")
    assert "state" in ack
    await asyncio.wait_for(operator.ended.wait(), 20)
    await asyncio.wait_for(operator.disconnected.wait(), 20)


async def test_a_session_past_its_end_is_closed_by_the_clock_with_its_recording_sealed(
    live: Live,
) -> None:
    session_id = await live.open_session(minutes=30)
    room = await live.join(session_id, "bac-ninh")
    other = await live.join(session_id, "ha-noi")
    await wait_for(lambda: room.frames_from("ha-noi", "video") >= 10, what="media")
    lifecycle = live.app[LIFECYCLE]
    # Still within the grace after the end: nothing happens.
    live.clock.offset = timedelta(minutes=30 + GRACE_MINUTES - 1)
    assert await lifecycle.close_due() == []
    assert session_id in live.app[RELAY].hubs
    live.clock.offset = timedelta(minutes=30 + GRACE_MINUTES + 1)
    assert await lifecycle.close_due() == [session_id]
    for client in (room, other):
        await asyncio.wait_for(client.ended.wait(), 20)
        assert client.session_closed is not None
        assert client.session_closed["reason"] == "ended"
        assert client.session_closed["by"] == ""
    await _assert_released(live, session_id, [room, other])


async def test_a_marker_over_rest_reaches_the_console_and_one_from_the_console_is_archived(
    live: Live,
) -> None:
    session_id = await live.open_session()
    operator = await live.join(session_id, HOST, Role.OPERATOR)
    room = await live.join(session_id, "bac-ninh")
    await wait_for(lambda: operator.frames_from("bac-ninh", "video") >= 5, what="media")

    def console_markers() -> list[str]:
        if not operator.states:
            return []
        return [m["case_number"] for m in operator.states[-1].get("markers", [])]

    status, marker = await live.call(
        "POST",
        f"/api/archive/sessions/{session_id}/markers",
        live.token(HOST, Role.OPERATOR),
        json={"case_number": "KN-21/2026", "text": "Tranh chấp đất đai"},
    )
    assert status == 201, marker
    await wait_for(lambda: "KN-21/2026" in console_markers(), within=1.0, what="REST marker")
    assert operator.states[-1]["markers"][-1]["archived"] is True
    assert room.states[-1]["current_case"]["case_number"] == "KN-21/2026"
    assert "text" not in room.states[-1]["current_case"]

    ack = await operator.command("mark_case", case_number="TC-5/2026", text="Tố cáo")
    assert "warning" not in ack
    clerk = live.token(HOST, Role.CLERK)
    status, recording = await live.call("GET", f"/api/archive/recordings/{session_id}", clerk)
    assert status == 200, recording
    numbers = [m["case_number"] for m in recording["markers"]]
    assert numbers == ["KN-21/2026", "TC-5/2026"]
    assert console_markers() == ["KN-21/2026", "TC-5/2026"]
