"""Issue 12, item 3: a client that goes within a second of coming leaves nothing behind.

The real server (``reception-bridge serve`` through ``bench.probe``, SQLite) runs in a
child process, so its UDP sockets (``/proc/PID/fd`` matched with ``/proc/PID/net/udp``)
and its asyncio tasks (counted on its loop by the probe) are its own. A host site stays
connected and publishing throughout, so every newcomer is offered its tracks. Then 20
newcomers each disconnect at another point of the negotiation:

- right after the Socket.IO connect, before ``welcome`` (and before it joined the hub);
- with its ``publish`` offer sent and the answer not yet back (the server is gathering
  ICE candidates for it);
- with the publish answered, before ICE has connected;
- with a ``subscribe_offer`` received and never answered;
- after ``leave`` sent together with a ``publish``.

Afterwards the server must hold as many UDP sockets and asyncio tasks as before the
first newcomer. No timing is asserted; the settle waits only bound a broken server.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import socketio
from aiortc import RTCPeerConnection
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from bench.lifecycle import HOST, PROVINCES, Churn, ServerProcess, SyntheticVideo, fd_kinds
from signaling.client import BridgeClient
from signaling.namespace import NAMESPACE

CYCLES = 20
SETTLE_WITHIN = 30.0
"""Longest wait for the server to let go of what the newcomers held (seconds)."""


async def _offer() -> tuple[RTCPeerConnection, str]:
    """A real aiortc publish offer (VP8 video and Opus audio), gathered."""
    pc = RTCPeerConnection()
    pc.addTransceiver(VideoStreamTrack(), direction="sendonly")
    pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    return pc, str(pc.localDescription.sdp)


class RawSite:
    """A Socket.IO client that does only what each step says (no automatic answers)."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.sio = socketio.AsyncClient(reconnection=False)
        self.welcomed = asyncio.Event()
        self.offered = asyncio.Event()
        self.sio.on("welcome", self._welcome, namespace=NAMESPACE)
        self.sio.on("subscribe_offer", self._offer, namespace=NAMESPACE)

    async def _welcome(self, data: Any) -> None:
        self.welcomed.set()

    async def _offer(self, data: Any) -> None:
        self.offered.set()

    async def connect(self) -> None:
        await self.sio.connect(
            self.url,
            auth={"token": self.token},
            namespaces=[NAMESPACE],
            transports=["websocket"],
            wait_timeout=30,
        )

    async def send(self, event: str, payload: Any) -> None:
        await self.sio.emit(event, payload, namespace=NAMESPACE)

    async def drop(self) -> None:
        await self.sio.disconnect()


async def _before_welcome(site: RawSite) -> None:
    await site.connect()


async def _publish_in_flight(site: RawSite) -> None:
    pc, sdp = await _offer()
    try:
        await site.connect()
        await asyncio.wait_for(site.welcomed.wait(), 30)
        await site.send("publish", {"type": "offer", "sdp": sdp})
    finally:
        await pc.close()


async def _publish_then_leave(site: RawSite) -> None:
    pc, sdp = await _offer()
    try:
        await site.connect()
        await asyncio.wait_for(site.welcomed.wait(), 30)
        await site.send("publish", {"type": "offer", "sdp": sdp})
        await site.send("leave", {})
    finally:
        await pc.close()


async def _subscribe_unanswered(site: RawSite) -> None:
    await site.connect()
    await asyncio.wait_for(site.offered.wait(), 30)


STEPS: list[Callable[[RawSite], Awaitable[None]]] = [
    _before_welcome,
    _publish_in_flight,
    _subscribe_unanswered,
    _publish_then_leave,
]


async def _publish_answered(url: str, token: str) -> None:
    """A full client whose publish was answered; it goes before ICE has connected."""
    client = BridgeClient(url, token, video_codecs=("video/VP8",))
    try:
        await client.connect(wait=30)
        await client.publish([VideoStreamTrack(), AudioStreamTrack()])
    finally:
        await client.close()


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    process = ServerProcess(tmp_path, probe=True)
    await process.start()
    try:
        yield process
    finally:
        await process.stop()


async def _settled(server: ServerProcess, udp: int, tasks: int) -> tuple[int, int]:
    """Wait (bounded) until the server is back to ``udp`` sockets and ``tasks`` tasks."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE_WITHIN
    while True:
        now_udp = fd_kinds(server.pid).get("udp", 0)
        now_tasks = await server.tasks()
        if (now_udp <= udp and now_tasks <= tasks) or loop.time() > deadline:
            return now_udp, now_tasks
        await asyncio.sleep(0.5)


async def test_quick_disconnects_leave_no_socket_and_no_task(server: ServerProcess) -> None:
    async with Churn(server) as churn:
        provinces = list(PROVINCES[:3])
        session_id, tokens = await churn.open_session(
            "Vào rồi ra ngay", provinces, [HOST, provinces[0]]
        )
        host_token, visitor_token = tokens
        host = BridgeClient(server.url, host_token, video_codecs=("video/VP8",))
        try:
            await host.connect(wait=30)
            await host.publish([SyntheticVideo(1), AudioStreamTrack()])
            # One visitor that stays a moment: the host's tracks are relayed and the
            # server's steady state (recorder, hub, the host's legs) is reached.
            await _publish_answered(server.url, visitor_token)
            await asyncio.sleep(2)
            base_udp = fd_kinds(server.pid).get("udp", 0)
            base_census = await server.task_census()
            base_tasks = int(base_census["tasks"])
            assert base_udp > 0, "the host's connections hold UDP sockets"

            for index in range(CYCLES):
                step = index % (len(STEPS) + 1)
                if step == len(STEPS):
                    await _publish_answered(server.url, visitor_token)
                    continue
                site = RawSite(server.url, visitor_token)
                try:
                    await STEPS[step](site)
                finally:
                    await site.drop()

            udp, tasks = await _settled(server, base_udp, base_tasks)
            assert host.sio.connected, "the host stays connected"
            assert udp == base_udp, (
                f"{CYCLES} quick visits left {udp - base_udp} UDP sockets "
                f"(before: {base_udp}); server log {server.log_path}"
            )
            # aioice started consent checks on connections closed while ICE completed,
            # which then ran for good (2-4 per 20 visits): rtc_internals guards them.
            assert tasks <= base_tasks, (
                f"{CYCLES} quick visits left {tasks - base_tasks} asyncio tasks "
                f"(before: {base_tasks}): before {base_census['by_coroutine']}, "
                f"after {(await server.task_census())['by_coroutine']}"
            )
        finally:
            await host.close()
            await churn.close_session(session_id)
