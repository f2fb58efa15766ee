"""Issue 10 in Chromium: the room page's redirect and failover path (bridge_client.js).

Two nodes in child processes behind one Redis. A room page opened on node A for a
session placed on node B is sent there (``redirect``) and receives the host's media; node
B killed with SIGKILL: the page goes back to its own server (A), which places the
session anew once B is declared dead, and receives media again. Timings printed.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiortc.mediastreams import AudioStreamTrack

from bench.lifecycle import HOST, SyntheticVideo
from cluster.registry import TTL
from signaling.client import BridgeClient
from tests.cluster_support import NodeProcess, Registry, Sessions, load_average, new_prefix
from tests.e2e.harness import MEDIA_TIMEOUT_S, LoopThread, RoomPage, new_page, wait_until

pytestmark = [pytest.mark.chromium, pytest.mark.redis]

PROVINCE = "bac-ninh"


class Cluster:
    """Nodes A and B, the session on B, and the host publishing from aiortc, all on the
    test's client loop."""

    def __init__(self, loop: LoopThread, root: Path, redis_url: str) -> None:
        self.loop = loop
        prefix = new_prefix()
        home = {HOST: "node-b"}
        self.a = NodeProcess(root, "node-a", redis_url, prefix, home_nodes=home)
        self.b = NodeProcess(root, "node-b", redis_url, prefix, home_nodes=home)
        self.redis_url, self.prefix = redis_url, prefix
        self.registry: Registry | None = None
        self.sessions: Sessions | None = None
        self.host: BridgeClient | None = None
        self.session_id = ""
        self.province_token = ""

    async def start(self) -> None:
        self.registry = Registry(self.redis_url, self.prefix)
        await self.a.start()
        await self.b.start()
        self.sessions = Sessions(self.a.url)
        self.session_id = await self.sessions.open_session("Phiên trang qua hai nút", [PROVINCE])
        self.province_token = await self.sessions.room_token(self.session_id, PROVINCE)
        token = await self.sessions.room_token(self.session_id, HOST)
        self.host = BridgeClient(self.a.url, token, video_codecs=("video/VP8",), reconnect=True)
        await self.host.connect()
        await self.host.publish([SyntheticVideo(1), AudioStreamTrack()])

    async def stop(self) -> None:
        if self.host is not None:
            await self.host.close()
        if self.sessions is not None:
            await self.sessions.close()
        await self.a.stop()
        await self.b.stop()
        if self.registry is not None:
            await self.registry.cleanup()

    async def kill_b(self) -> None:
        self.b.kill()
        assert self.b.process is not None
        await self.b.process.wait()

    async def declared_dead(self) -> float:
        """When node B's record is gone (polled)."""
        assert self.registry is not None
        while await self.registry.node("node-b") is not None:  # noqa: ASYNC110 (Redis polled)
            await asyncio.sleep(0.05)
        return time.monotonic()


@pytest.fixture
def cluster(tmp_path: Path, redis_url: str) -> Iterator[Cluster]:
    loop = LoopThread("e2e-cluster")
    nodes = Cluster(loop, tmp_path, redis_url)
    try:
        loop.run(nodes.start(), timeout=120)
        yield nodes
    finally:
        try:
            loop.run(nodes.stop(), timeout=120)
        finally:
            loop.stop()


def _frames(room: RoomPage, key: str) -> int:
    entry = room.stats().get(key)
    return int(entry["framesDecoded"]) if entry else 0


def test_room_page_follows_its_session_to_b_and_back_to_a_when_b_dies(
    browser: Any, cluster: Cluster
) -> None:
    a, b = cluster.a, cluster.b
    assert cluster.loop.run(_placement(cluster)) == "node-b"
    room = new_page(browser, f"{a.url}/room?token={cluster.province_token}", "bac-ninh", RoomPage)
    try:
        first = room.wait_joined()
        # Opened on A, redirected to B: the page's socket and media are on B.
        assert first["node"] == b.url, first
        room.wait_receiving(HOST)

        killed = time.monotonic()
        cluster.loop.run(cluster.kill_b())
        death = asyncio.run_coroutine_threadsafe(cluster.declared_dead(), cluster.loop.loop)
        # Back on its own server (A), as a new endpoint, with the host's media again.
        again = wait_until(
            lambda: (
                (s := room.state())["phase"] == "joined"
                and s["endpointId"] != first["endpointId"]
                and s["node"] is None
                and s
            ),
            timeout=TTL + MEDIA_TIMEOUT_S,
            message=lambda: (
                f"the page did not come back through A: {room.state()}{room.log_tail()}"
            ),
        )
        wait_until(
            lambda: _frames(room, HOST) > 0,
            timeout=MEDIA_TIMEOUT_S,
            interval=0.1,
            message=lambda: f"no media from the host after B died: {room.stats()}",
        )
        received = time.monotonic()
        dead_at = death.result(TTL + 10)
        before = _frames(room, HOST)
        wait_until(
            lambda: _frames(room, HOST) >= before + 10,
            timeout=MEDIA_TIMEOUT_S,
            message=lambda: f"the host's video stopped again: {room.stats()}",
        )
        assert cluster.loop.run(_placement(cluster)) == "node-a"
        assert again["socketId"] != first["socketId"]
        print(
            json.dumps(
                {
                    "kill_to_declared_dead_s": round(dead_at - killed, 2),
                    "kill_to_page_frame_s": round(received - killed, 2),
                    "declared_dead_to_page_frame_s": round(received - dead_at, 2),
                    "ttl_s": TTL,
                    "load_average_1min": load_average(),
                }
            )
        )
    finally:
        room.close()


async def _placement(cluster: Cluster) -> str | None:
    assert cluster.registry is not None
    return await cluster.registry.placement(cluster.session_id)
