"""Bad input gets a clear error, and a connected site keeps receiving media meanwhile."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
import socketio
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from core.access import Role
from signaling.client import BridgeClient, ClientError
from signaling.tokens import issue_token
from signaling.wire import MALFORMED_EVENT
from tests.integration.conftest import (
    CLOSED_SESSION,
    HOST,
    SECRET,
    Server,
    start_server,
    wait_for,
)
from web.keys import RELAY

FRAMES = 20


@pytest.fixture
async def pair(server: Server) -> AsyncIterator[tuple[BridgeClient, BridgeClient]]:
    hanoi = BridgeClient(server.url, server.token(HOST))
    bac_ninh = BridgeClient(server.url, server.token("bac-ninh"))
    await hanoi.connect()
    await bac_ninh.connect()
    await hanoi.publish([VideoStreamTrack(), AudioStreamTrack()])
    await bac_ninh.publish([VideoStreamTrack()])
    await wait_for(lambda: bac_ninh.frames_from(HOST, "video") >= FRAMES, what="media")
    yield hanoi, bac_ninh
    await hanoi.leave()
    await bac_ninh.leave()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def live_pair(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[Server, BridgeClient, BridgeClient]]:
    """One server and one live pair for every refused connection below: each refusal
    must leave the same live media untouched (and starting the server and the pair's
    WebRTC connections once, not once a case, saves most of these cases' time)."""
    srv, runner = await start_server(tmp_path_factory.mktemp("refused"))
    hanoi = BridgeClient(srv.url, srv.token(HOST))
    bac_ninh = BridgeClient(srv.url, srv.token("bac-ninh"))
    await hanoi.connect()
    await bac_ninh.connect()
    await hanoi.publish([VideoStreamTrack(), AudioStreamTrack()])
    await bac_ninh.publish([VideoStreamTrack()])
    await wait_for(lambda: bac_ninh.frames_from(HOST, "video") >= FRAMES, what="media")
    yield srv, hanoi, bac_ninh
    await hanoi.leave()
    await bac_ninh.leave()
    await asyncio.wait_for(runner.cleanup(), 30)
    assert not srv.app[RELAY].hubs


async def _still_flowing(receiver: BridgeClient) -> None:
    before = receiver.frames_from(HOST, "video")
    await wait_for(
        lambda: receiver.frames_from(HOST, "video") >= before + FRAMES,
        what="media to keep flowing to the other site",
    )


async def _refused(server: Server, token: str | None) -> dict[str, str]:
    client = BridgeClient(server.url, token or "")
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(wait=5)
    await client.close()
    await wait_for(lambda: client.connect_error is not None, what="connect_error")
    data: dict[str, str] = client.connect_error["data"]
    return data


@pytest.mark.parametrize(
    ("make_token", "code"),
    [
        (lambda: None, "token_missing"),
        (
            lambda: issue_token(
                SECRET,
                role=Role.ROOM,
                site="bac-ninh",
                session="s-2026-11-27",
                not_before=datetime.now(UTC) - timedelta(days=2),
                ttl=timedelta(hours=1),
            ),
            "token_expired",
        ),
        (
            lambda: issue_token(
                "another-secret-of-at-least-32-bytes!",
                role=Role.ROOM,
                site="bac-ninh",
                session="s-2026-11-27",
            ),
            "token_invalid",
        ),
        (
            lambda: issue_token(SECRET, role=Role.ROOM, site="bac-ninh", session="nope"),
            "unknown_session",
        ),
        (
            lambda: issue_token(SECRET, role=Role.ROOM, site="bac-ninh", session=CLOSED_SESSION),
            "session_closed",
        ),
        (
            lambda: issue_token(SECRET, role=Role.ROOM, site="ca-mau", session="s-2026-11-27"),
            "site_not_in_session",
        ),
        (
            lambda: issue_token(SECRET, role=Role.CLERK, site=HOST, session="s-2026-11-27"),
            "forbidden_role",
        ),
    ],
)
@pytest.mark.asyncio(loop_scope="module")
async def test_refused_connections(
    live_pair: tuple[Server, BridgeClient, BridgeClient], make_token: object, code: str
) -> None:
    server, _, bac_ninh = live_pair
    data = await _refused(server, make_token())  # type: ignore[operator]
    assert data["code"] == code and data["message"]
    await _still_flowing(bac_ninh)


async def test_malformed_sdp_and_payloads(
    server: Server, pair: tuple[BridgeClient, BridgeClient]
) -> None:
    client = BridgeClient(server.url, server.token("da-nang"))
    await client.connect()
    with pytest.raises(ClientError) as bad_sdp:
        await client.call("publish", {"type": "offer", "sdp": "v=0\r\nthis is not sdp\r\n"})
    assert bad_sdp.value.code == "bad_sdp"
    with pytest.raises(ClientError) as not_object:
        await client.call("publish", "offer please")
    assert not_object.value.code == "bad_request"
    with pytest.raises(ClientError) as stale:
        await client.call("subscribe_answer", {"type": "answer", "sdp": "v=0", "revision": 99})
    assert stale.value.code == "bad_request"
    await _still_flowing(pair[1])
    await client.publish([VideoStreamTrack()])  # the same connection still works
    await wait_for(lambda: pair[1].frames_from("da-nang", "video") >= FRAMES, what="da-nang media")
    await client.leave()


async def test_unknown_event(server: Server, pair: tuple[BridgeClient, BridgeClient]) -> None:
    hanoi = pair[0]
    with pytest.raises(ClientError) as unknown:
        await hanoi.call("fly_to_the_moon", {})
    assert unknown.value.code == "unknown_event"
    await wait_for(
        lambda: any(e["code"] == "unknown_event" for e in hanoi.errors), what="error event"
    )
    assert hanoi.sio.connected
    await _still_flowing(pair[1])


async def test_oversized_messages(server: Server, pair: tuple[BridgeClient, BridgeClient]) -> None:
    hanoi = pair[0]
    limit = 64 * 1024  # the fixture's max_message_bytes
    with pytest.raises(ClientError) as too_large:
        await hanoi.call("publish", {"type": "offer", "sdp": "x" * (limit + 10)})
    assert too_large.value.code == "message_too_large"
    assert hanoi.sio.connected
    await _still_flowing(pair[1])

    # Past the hard limit the transport itself drops that one connection.
    rogue = BridgeClient(server.url, server.token("da-nang"))
    await rogue.connect()
    await rogue.sio.emit("publish", {"sdp": "x" * (limit * 8)}, namespace="/bridge")
    await wait_for(lambda: rogue.disconnected.is_set(), what="the oversized sender to be dropped")
    await rogue.close()
    await _still_flowing(pair[1])


async def test_reserved_event_name_does_not_open_a_second_endpoint(
    server: Server, pair: tuple[BridgeClient, BridgeClient]
) -> None:
    hanoi = pair[0]
    endpoints = len(hanoi.presence[-1])
    await hanoi.sio.emit("connect", ({}, {"token": server.token("da-nang")}), namespace="/bridge")
    await wait_for(lambda: any(e["event"] == "connect" for e in hanoi.errors), what="refusal")
    assert len(hanoi.presence[-1]) == endpoints
    await _still_flowing(pair[1])


async def test_a_token_that_is_not_a_string_is_refused_as_invalid(server: Server) -> None:
    client = socketio.AsyncClient(reconnection=False)
    refused: list[Any] = []
    client.on("connect_error", refused.append, namespace="/bridge")
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(
            server.url, auth={"token": 12345}, namespaces=["/bridge"], transports=["websocket"]
        )
    await wait_for(lambda: bool(refused), what="connect_error")
    assert refused[0]["data"]["code"] == "token_invalid"
    await client.disconnect()


async def test_extra_arguments_deep_nesting_and_a_sent_disconnect_are_answered(
    server: Server, pair: tuple[BridgeClient, BridgeClient], caplog: pytest.LogCaptureFixture
) -> None:
    hanoi, bac_ninh = pair
    # Two payloads where one is expected: an answer, not a handler crash and a wait.
    extra = await hanoi.sio.call("state", ({}, {"more": 1}), namespace="/bridge", timeout=10)
    assert extra["error"]["code"] == "bad_request"
    # A payload nested deeper than the JSON parser follows, sent as a raw packet.
    deep = "[" * 3000 + "]" * 3000
    await hanoi.sio.eio.send(f'2/bridge,["state",{deep}]')
    await hanoi.sio.eio.send('2/bridge,["state",{"not json')

    def malformed() -> list[str]:
        return [e["code"] for e in hanoi.errors if e["event"] == MALFORMED_EVENT]

    await wait_for(lambda: len(malformed()) == 2, what="both malformed packets answered")
    assert malformed() == ["bad_request", "bad_request"]
    # A client-sent "disconnect" event neither ends the endpoint nor lets a "connect"
    # event admit the socket again (as another site).
    welcomes = hanoi.welcome
    endpoints = len(hanoi.presence[-1])
    await hanoi.sio.eio.send('2/bridge,["disconnect","client namespace disconnect"]')
    await wait_for(
        lambda: any(e["event"] == "disconnect" for e in hanoi.errors), what="disconnect refused"
    )
    await hanoi.sio.eio.send(f'2/bridge,["connect",{{"token":"{server.token("da-nang")}"}}]')
    await wait_for(lambda: any(e["event"] == "connect" for e in hanoi.errors), what="refusal")
    assert hanoi.sio.connected and hanoi.welcome is welcomes
    assert len(hanoi.presence[-1]) == endpoints
    state = await hanoi.call("state", {})
    assert state["state"]["session_id"]
    await _still_flowing(bac_ninh)
    # Every one was answered by the namespace: nothing reached the log as an error.
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]
