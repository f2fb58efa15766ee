"""Operator commands over /bridge with real aiortc endpoints: who may command, what changes.

Media is real (aiortc publishers, encoded frames counted at the subscribers), so
"patched in" means frames arrive, not only that a flag flipped.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import socketio
from aiohttp import web
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from config.settings import Settings
from core.access import Role
from core.ids import SessionId, SiteId
from core.sessions import MemoryDirectory, SessionInfo, SessionState, SiteInfo
from recorder.manifest import MANIFEST_NAME, read_manifest
from recorder.service import RECORDINGS
from signaling.client import BridgeClient, ClientError
from signaling.tokens import issue_token
from tests.conftest import free_port
from tests.integration.conftest import HOST, SECRET, SITES, wait_for
from web.app import create_app
from web.archive.setup import archive_root

SESSION = "s-operator"
OTHER = "s-other"
MIN_FRAMES = 20


def _session(session_id: str, sites: set[str]) -> SessionInfo:
    now = datetime.now(UTC)
    return SessionInfo(
        id=SessionId(session_id),
        title="Tiếp công dân định kỳ",
        host_site=SiteId(HOST),
        sites=frozenset(SiteId(s) for s in sites),
        state=SessionState.OPEN,
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=3),
        site_names={SiteId(k): SiteInfo(SiteId(k), v) for k, v in SITES.items()},
    )


@pytest.fixture
async def url(tmp_path: Path) -> AsyncIterator[str]:
    directory = MemoryDirectory(
        [
            _session(SESSION, {HOST, "bac-ninh", "da-nang"}),
            _session(OTHER, {HOST, "ca-mau"}),
        ],
        [SiteInfo(SiteId(k), v) for k, v in SITES.items()],
    )
    port = free_port()
    settings = Settings(host="127.0.0.1", port=port, data_dir=tmp_path, secret=SECRET)
    runner = web.AppRunner(create_app(settings, directory=directory))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}"
    await asyncio.wait_for(runner.cleanup(), 30)


def _token(site: str, role: Role = Role.ROOM, session: str = SESSION) -> str:
    return issue_token(SECRET, role=role, site=site, session=session, subject=f"{role}@{site}")


async def _join(
    url: str, site: str, role: Role = Role.ROOM, session: str = SESSION
) -> BridgeClient:
    client = BridgeClient(url, _token(site, role, session))
    await client.connect()
    if role is Role.ROOM:
        await client.publish([VideoStreamTrack(), AudioStreamTrack()])
    return client


def _point(state: dict[str, Any], site: str) -> dict[str, Any]:
    return next(p for p in state["points"] if p["site"] == site)


def _summary(state: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """What must not change when a command is refused."""
    return [(p["site"], p["connection"], p["patch"], p["muted"]) for p in state["points"]]


async def _refused(client: BridgeClient, code: str, op: str, **fields: Any) -> str:
    with pytest.raises(ClientError) as caught:
        await client.command(op, **fields)
    assert caught.value.code == code, caught.value
    assert caught.value.message
    return caught.value.message


async def test_only_the_sessions_operator_commands_and_state_is_shared(url: str) -> None:
    operator = await _join(url, HOST, Role.OPERATOR)
    hanoi = await _join(url, HOST)
    bac_ninh = await _join(url, "bac-ninh")
    other_operator = await _join(url, HOST, Role.OPERATOR, session=OTHER)
    clients = [operator, hanoi, bac_ninh, other_operator]
    try:
        # An operator is in charge: the new point starts on standby, previewed only.
        await wait_for(
            lambda: operator.frames_from("bac-ninh", "video") >= MIN_FRAMES,
            what="the operator's preview of the standby point",
        )
        assert hanoi.frames_from("bac-ninh", "video") == 0
        before = (await operator.call("state", {}))["state"]
        assert _point(before, "bac-ninh")["patch"] == "standby"
        assert _point(before, HOST)["patch"] == "live"

        # A room may not command, nor an operator of another session.
        message = await _refused(bac_ninh, "not_allowed", "patch_in", site="bac-ninh")
        assert "room" in message
        await _refused(other_operator, "unknown_point", "patch_in", site="bac-ninh")
        await _refused(other_operator, "not_allowed", "patch_in", site="ca-mau", session=SESSION)
        await _refused(operator, "bad_request", "explode", site="bac-ninh")
        await _refused(operator, "bad_request", "patch_in")
        await _refused(operator, "bad_request", "patch_out", site=HOST)
        await _refused(operator, "unknown_point", "patch_in", site="ca-mau")
        await _refused(operator, "unknown_point", "mute", site="da-nang")
        after = (await operator.call("state", {}))["state"]
        assert _summary(after) == _summary(before)
        assert after["revision"] == before["revision"]
        assert hanoi.frames_from("bac-ninh", "video") == 0

        # An operator token of a site other than the host is refused at the door.
        stranger = BridgeClient(url, _token("da-nang", Role.OPERATOR))
        with pytest.raises(socketio.exceptions.ConnectionError):
            await stranger.connect(wait=10)
        await stranger.close()
        await wait_for(lambda: stranger.connect_error is not None, what="connect_error")
        assert stranger.connect_error["data"]["code"] == "forbidden_role"

        # Patch in: the ack carries the new state, everyone hears of it, media flows.
        ack = await operator.command("patch_in", site="bac-ninh")
        assert _point(ack["state"], "bac-ninh")["patch"] == "live"
        await wait_for(
            lambda: hanoi.frames_from("bac-ninh", "video") >= MIN_FRAMES,
            what="the patched-in point's video at the host",
        )
        for client in (hanoi, bac_ninh):
            await wait_for(
                lambda c=client: (
                    bool(c.states)  # type: ignore[misc]
                    and _point(c.states[-1], "bac-ninh")["live"]
                ),
                what="bridge_state with bac-ninh live at every client",
            )
        assert "markers" not in hanoi.states[-1] and "markers" in operator.states[-1]

        # A second operator (or the first after a reload) finds the same state.
        marked = await operator.command("mark_case", case_number="KN-2026/117", text="Đất đai")
        assert marked["state"]["current_case"]["case_number"] == "KN-2026/117"
        assert marked["state"]["markers"][-1]["text"] == "Đất đai"
        second = await _join(url, HOST, Role.OPERATOR)
        clients.append(second)
        now = (await second.call("state", {}))["state"]
        assert _summary(now) == _summary(marked["state"])
        assert now["current_case"] == marked["state"]["current_case"]
        await wait_for(
            lambda: bool(hanoi.states) and hanoi.states[-1]["current_case"] is not None,
            what="the rooms to learn the current case",
        )
        assert "text" not in hanoi.states[-1]["current_case"]
        await _refused(bac_ninh, "not_allowed", "mark_case", case_number="X-1")
    finally:
        for client in clients:
            await client.leave()


async def test_drop_and_rejoin_keeps_patch_and_mute(url: str) -> None:
    operator = await _join(url, HOST, Role.OPERATOR)
    hanoi = await _join(url, HOST)
    bac_ninh = await _join(url, "bac-ninh")
    clients = [operator, hanoi, bac_ninh]
    try:
        await operator.command("patch_in", site="bac-ninh")
        muted = await operator.command("mute", site="bac-ninh")
        assert _point(muted["state"], "bac-ninh")["muted"]
        await wait_for(
            lambda: hanoi.frames_from("bac-ninh", "video") >= MIN_FRAMES,
            what="video from the muted point",
        )
        assert hanoi.frames_from("bac-ninh", "audio") == 0

        dropped = await operator.command("drop", site="bac-ninh")
        assert _point(dropped["state"], "bac-ninh")["connection"] == "disconnected"
        await asyncio.wait_for(bac_ninh.disconnected.wait(), 10)
        await _refused(operator, "not_connected", "drop", site="bac-ninh")

        back = await _join(url, "bac-ninh")
        clients.append(back)
        await wait_for(
            lambda: (
                bool(operator.states)
                and _point(operator.states[-1], "bac-ninh")["connection"] == "connected"
            ),
            what="the dropped point to come back",
        )
        point = _point(operator.states[-1], "bac-ninh")
        assert point["patch"] == "live" and point["muted"]
        seen = hanoi.frames_from("bac-ninh", "video")
        await wait_for(
            lambda: hanoi.frames_from("bac-ninh", "video") >= seen + MIN_FRAMES,
            what="the rejoined point's video at the host, live again",
        )
        await operator.command("unmute", site="bac-ninh")
        await wait_for(
            lambda: hanoi.frames_from("bac-ninh", "audio") >= MIN_FRAMES,
            what="audio once unmuted",
        )

        # Recording: the recorder started it when the session opened; stop, start again.
        stopped = await operator.command("record_stop")
        assert stopped["state"]["recording"] == {"active": False, "since": None}
        await _refused(hanoi, "not_allowed", "record_start")
        started = await operator.command("record_start")
        assert started["state"]["recording"]["active"]
        assert started["state"]["recording"]["since"]
        await wait_for(
            lambda: hanoi.states[-1]["recording"]["active"],
            what="the rooms to learn that recording runs",
        )
    finally:
        for client in clients:
            await client.leave()


async def test_recording_started_when_the_session_opens_reaches_every_client(
    url: str, tmp_path: Path
) -> None:
    # No command: the recorder starts by itself once the open session's hub opens.
    operator = await _join(url, HOST, Role.OPERATOR)
    hanoi = await _join(url, HOST)
    clients = [operator, hanoi]
    try:
        for client in clients:
            await wait_for(
                lambda c=client: (  # type: ignore[misc]
                    bool(c.states) and c.states[-1]["recording"]["active"]
                ),
                what=f"bridge_state with the recording on at {client}",
            )
        folder = archive_root(tmp_path) / RECORDINGS / SESSION
        await wait_for(lambda: (folder / MANIFEST_NAME).exists(), what="the recording's manifest")
        started_at = read_manifest(folder).started_at
        # The board shows the recorder's own start time, not a time of its own.
        for client in clients:
            assert client.states[-1]["recording"] == {"active": True, "since": started_at}
        state = (await hanoi.call("state", {}))["state"]
        assert state["recording"] == {"active": True, "since": started_at}

        stopped = await operator.command("record_stop")
        assert stopped["state"]["recording"] == {"active": False, "since": None}
        await wait_for(
            lambda: not hanoi.states[-1]["recording"]["active"],
            what="the room to learn that the recording stopped",
        )
        assert hanoi.states[-1]["recording"]["since"] is None
    finally:
        for client in clients:
            await client.leave()
