"""Issue 10, parts 1-5: two nodes in child processes behind one Redis.

A session is placed on node B (the host site's home node); endpoints given node A's
address are sent to B (``redirect``) and media flows both ways. Node B killed with
SIGKILL: its record expires, its placements are let go, the endpoints reconnect through
A and receive media again. Draining: SIGTERM on a node with a live session; the next
session goes elsewhere and the live one ends normally. A recording belongs to its live
writer: a node started later leaves it alone, a drain hands it to the next node as the
next part. Timings are printed, never asserted (a shared, noisy machine).
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiortc.mediastreams import AudioStreamTrack

from bench.lifecycle import HOST, SyntheticVideo
from cluster.registry import TTL
from signaling.client import BridgeClient
from signaling.namespace import NAMESPACE
from tests.cluster_support import (
    NodeProcess,
    Registry,
    Sessions,
    load_average,
    new_prefix,
    until,
)
from tests.recorder_support import ffprobe

pytestmark = pytest.mark.redis

PROVINCE = "bac-ninh"
OTHER_HOST, OTHER_PROVINCE = "tw-hcm", "ha-noi"
"""A second session at the same time: a site without a named room receives in one
session at a time (409 site_busy), so it links other sites, hosted on the same home node."""
WATCHER = "da-nang"
"""A point that receives only; the operator patches it out before node B dies."""
CASE = "12/2026/TCD"
MEDIA_WITHIN = 45.0
"""Longest wait for media (seconds): it bounds a broken cluster, it is no goal."""


def _frames(client: BridgeClient, site: str) -> int:
    return client.frames_from(site, "video")


async def _nodes(
    tmp_path: Path, redis: str, prefix: str, *, record: bool = False
) -> tuple[NodeProcess, NodeProcess]:
    home = {HOST: "node-b", OTHER_HOST: "node-b"}
    env = {"RB_RECORD_ON_OPEN": "true"} if record else {}
    a = NodeProcess(tmp_path, "node-a", redis, prefix, home_nodes=home, extra_env=env)
    b = NodeProcess(tmp_path, "node-b", redis, prefix, home_nodes=home, extra_env=env)
    await a.start()
    await b.start()
    return a, b


async def _join(url: str, token: str, seed: int | None) -> BridgeClient:
    """A room endpoint through ``url`` that reconnects by itself; it publishes video and
    audio unless ``seed`` is None."""
    client = BridgeClient(url, token, video_codecs=("video/VP8",), reconnect=True)
    await client.connect()
    if seed is not None:
        await client.publish([SyntheticVideo(seed), AudioStreamTrack()])
    return client


async def _pair(url: str, sessions: Sessions, session_id: str) -> list[BridgeClient]:
    """The host and the province of ``session_id`` joined through ``url``, publishing."""
    host = await _join(url, await sessions.room_token(session_id, HOST), 1)
    province = await _join(url, await sessions.room_token(session_id, PROVINCE), 2)
    return [host, province]


async def _media_both_ways(host: BridgeClient, province: BridgeClient, log: str = "") -> None:
    """Host and province each receive >= 10 video frames of the other."""
    assert await until(
        lambda: _frames(host, PROVINCE) >= 10 and _frames(province, HOST) >= 10,
        MEDIA_WITHIN,
    ), (host.received, province.received, log)


def _manifest(node: NodeProcess, recording_id: str) -> dict[str, Any]:
    """The recording's manifest in the nodes' shared data folder ({} before it exists)."""
    path = node.data_dir / "archive" / "recordings" / recording_id / "manifest.json"
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def _parts(manifest: dict[str, Any], site: str) -> list[int]:
    return sorted(int(f["part"]) for f in manifest.get("files", []) if f["site"] == site)


def _recordings(node: NodeProcess) -> list[str]:
    return sorted(p.name for p in (node.data_dir / "archive" / "recordings").iterdir())


def _playable(node: NodeProcess, recording_id: str, ffprobe_path: str) -> dict[str, int]:
    """Decoded video frames of every file of the recording (each must have some)."""
    folder = node.data_dir / "archive" / "recordings" / recording_id
    frames = {}
    for entry in _manifest(node, recording_id)["files"]:
        probe = ffprobe(ffprobe_path, folder / entry["name"])
        video = [s for s in probe["streams"] if s["codec_type"] == "video"]
        assert video and int(video[0]["nb_read_frames"]) > 0, (entry, probe)
        assert float(probe["format"]["duration"]) > 0, (entry, probe)
        frames[entry["name"]] = int(video[0]["nb_read_frames"])
    return frames


async def _close_all(clients: list[BridgeClient], sessions: Sessions, *nodes: NodeProcess) -> None:
    for client in clients:
        await client.close()
    await sessions.close()
    for node in nodes:
        await node.stop()


async def test_join_through_a_session_on_b_then_b_dies(tmp_path: Path, redis_url: str) -> None:
    redis, prefix = redis_url, new_prefix()
    registry = Registry(redis, prefix)
    a, b = await _nodes(tmp_path, redis, prefix, record=True)
    sessions = Sessions(a.url)
    clients: list[BridgeClient] = []
    try:
        session_id = await sessions.open_session(
            "Phiên qua hai nút", [PROVINCE, WATCHER], record=True
        )
        # Opened through node A, placed on the host site's home node.
        assert await registry.placement(session_id) == "node-b"
        clients = await _pair(a.url, sessions, session_id)
        host, province = clients
        watcher = await _join(a.url, await sessions.room_token(session_id, WATCHER), None)
        operator = BridgeClient(a.url, sessions.operator_token(session_id), reconnect=True)
        await operator.connect()
        clients += [watcher, operator]
        for client in clients:
            assert client.redirects == [b.url], client.redirects
            assert client.url == b.url
        # Media both ways through node B.
        await _media_both_ways(host, province, b.log_tail())

        # The board on B: the province muted, the watcher patched out, a case marked.
        await operator.command("mute", site=PROVINCE)
        await operator.command("patch_out", site=WATCHER)
        await operator.command("mark_case", case_number=CASE, text="Khiếu nại đất đai")
        kept: dict[str, Any] = {}
        for _ in range(50):
            kept = (await registry.board(session_id) or {}).get("board", {})
            if kept.get("markers"):
                break
            await asyncio.sleep(0.1)
        assert [m["case_number"] for m in kept.get("markers", [])] == [CASE], kept
        assert kept["points"][PROVINCE] == {"state": "live", "muted": True}, kept
        assert kept["points"][WATCHER] == {"state": "standby", "muted": False}, kept
        # B records into the shared data folder (its first part of each site).
        assert await until(
            lambda: _parts(_manifest(b, session_id), HOST) == [1], MEDIA_WITHIN, step=0.2
        ), (_manifest(b, session_id), b.log_tail())

        # The node's record counts the session at its next refresh (every 2 s); media
        # may well flow before that.
        node_b = await registry.node("node-b")
        for _ in range(50):
            if node_b is not None and node_b["sessions"] == 1:
                break
            await asyncio.sleep(0.2)
            node_b = await registry.node("node-b")
        assert node_b is not None and node_b["sessions"] == 1 and node_b["state"] == "serving"

        killed, killed_at = time.monotonic(), datetime.now(UTC)
        b.kill()
        assert b.process is not None
        await b.process.wait()
        declared_dead: float | None = None

        async def watch_death() -> None:
            nonlocal declared_dead
            while await registry.node("node-b") is not None:  # noqa: ASYNC110 (Redis polled)
                await asyncio.sleep(0.05)
            declared_dead = time.monotonic()

        watcher_task = asyncio.ensure_future(watch_death())
        first_frame: dict[str, float] = {}

        def media_again() -> bool:
            for name, client, other in (("host", host, PROVINCE), ("province", province, HOST)):
                if name not in first_frame and client.reconnections and _frames(client, other):
                    first_frame[name] = time.monotonic()
            return len(first_frame) == 2

        assert await until(media_again, TTL + MEDIA_WITHIN), (
            host.reconnections,
            province.reconnections,
            a.log_tail(),
        )
        await asyncio.wait_for(watcher_task, TTL + 5)
        assert declared_dead is not None
        assert await until(lambda: all(c.url == a.url for c in clients), MEDIA_WITHIN), [
            (c.url, c.redirects) for c in clients
        ]
        await _media_both_ways(host, province, a.log_tail())
        # No session of B stays placed on it after the TTL: it is on A now.
        assert await registry.placement(session_id) == "node-a"

        # The board went on on A: the operator, back through A, sees it as it was (a
        # state of A's hub: opened after the kill).
        def board_on_a() -> dict[str, Any] | None:
            for state in reversed(operator.states):
                if datetime.fromisoformat(state["opened_at"]) > killed_at:
                    return dict(state)
            return None

        assert await until(lambda: board_on_a() is not None, MEDIA_WITHIN), operator.states[-1:]
        state = board_on_a()
        assert state is not None
        points = {p["site"]: p for p in state["points"]}
        assert points[PROVINCE]["muted"] is True, points
        assert points[PROVINCE]["patch"] == "live", points
        assert points[WATCHER]["patch"] == "standby", points
        assert state["current_case"]["case_number"] == CASE, state
        assert [m["case_number"] for m in state["markers"]] == [CASE]

        # The recording goes on in the same folder and manifest: A adds a part for the
        # host after B's (recovered) first one; no second recording of the session.
        assert await until(
            lambda: _parts(_manifest(a, session_id), HOST)[-1:] == [2], MEDIA_WITHIN, step=0.2
        ), (_manifest(a, session_id), a.log_tail())
        assert not (a.data_dir / "archive" / "recordings" / f"{session_id}.2").exists()
        assert await until(
            lambda: bool((board_on_a() or {}).get("recording", {}).get("active")), MEDIA_WITHIN
        ), board_on_a()
        # Closed on A: sealed, every file closed (B's recording worker outlives B and
        # closes B's files; had it died too, A remuxes them and the state says
        # recovered), the marker made on B in it.
        await operator.sio.emit("command", {"op": "close_session"}, namespace=NAMESPACE)
        assert await until(
            lambda: _manifest(a, session_id).get("state") not in (None, "recording"),
            MEDIA_WITHIN,
            step=0.2,
        ), a.log_tail()
        sealed = _manifest(a, session_id)
        assert sealed["state"] in ("complete", "recovered"), sealed
        assert all(f["closed"] for f in sealed["files"]), sealed["files"]
        assert _parts(sealed, HOST) == [1, 2] and _parts(sealed, PROVINCE) == [1, 2], sealed
        assert [m["case_number"] for m in sealed["markers"]] == [CASE], sealed["markers"]
        last = max(first_frame.values())
        print(
            json.dumps(
                {
                    "kill_to_declared_dead_s": round(declared_dead - killed, 2),
                    "kill_to_first_new_frame_s": {
                        k: round(v - killed, 2) for k, v in first_frame.items()
                    },
                    "declared_dead_to_first_new_frame_s": {
                        k: round(v - declared_dead, 2) for k, v in first_frame.items()
                    },
                    "declared_dead_to_both_media_s": round(last - declared_dead, 2),
                    "ttl_s": TTL,
                    "load_average_1min": load_average(),
                }
            )
        )
    finally:
        await _close_all(clients, sessions, a, b)
        await registry.cleanup()


async def test_draining_node_takes_no_new_session_and_its_session_ends_normally(
    tmp_path: Path, redis_url: str
) -> None:
    redis, prefix = redis_url, new_prefix()
    registry = Registry(redis, prefix)
    a, b = await _nodes(tmp_path, redis, prefix)
    sessions = Sessions(a.url)
    clients: list[BridgeClient] = []
    try:
        live = await sessions.open_session("Phiên đang diễn ra", [PROVINCE])
        assert await registry.placement(live) == "node-b"
        clients = await _pair(a.url, sessions, live)
        host, province = clients
        operator = BridgeClient(a.url, sessions.operator_token(live), reconnect=True)
        await operator.connect()
        clients.append(operator)
        assert operator.url == b.url
        assert await until(lambda: _frames(host, PROVINCE) >= 10, MEDIA_WITHIN)

        b.terminate()
        drained = False
        for _ in range(100):
            node_b = await registry.node("node-b")
            if node_b is not None and node_b["state"] == "draining":
                drained = True
                break
            await asyncio.sleep(0.1)
        assert drained, b.log_tail()

        # A new session whose home node drains goes to the other node.
        other = await sessions.open_session(
            "Phiên mới trong khi nút B nghỉ", [OTHER_PROVINCE], host=OTHER_HOST
        )
        assert await registry.placement(other) == "node-a"
        late = await _join(a.url, await sessions.room_token(other, OTHER_PROVINCE), 3)
        clients.append(late)
        assert late.redirects == [] and late.url == a.url

        # The live session goes on on B: media keeps flowing while B drains.
        before = _frames(province, HOST)
        assert await until(lambda: _frames(province, HOST) >= before + 10, MEDIA_WITHIN)
        assert b.process is not None and b.process.returncode is None

        # It ends normally (the operator closes it); then B has nothing left and stops.
        # Sent without waiting for the ack: the socket is let go with the session, and the
        # ack of a close that outlasts LEAVE_GRACE does not always get out first.
        await operator.sio.emit("command", {"op": "close_session"}, namespace=NAMESPACE)
        for client in (host, province, operator):
            await asyncio.wait_for(client.ended.wait(), 30)
            assert client.session_closed is not None
            assert client.session_closed["reason"] == "closed", client.session_closed
            assert client.reconnections == 0
        assert await asyncio.wait_for(b.process.wait(), 30) == 0, b.log_tail()
        assert await registry.node("node-b") is None
        assert await registry.placement(live) is None
    finally:
        await _close_all(clients, sessions, a, b)
        await registry.cleanup()


async def test_drain_timeout_moves_endpoints_and_a_close_through_a_ends_the_session_on_b(
    tmp_path: Path, redis_url: str, ffprobe_path: str
) -> None:
    redis, prefix = redis_url, new_prefix()
    registry = Registry(redis, prefix)
    home = {HOST: "node-b"}
    record = {"RB_RECORD_ON_OPEN": "true"}
    a = NodeProcess(tmp_path, "node-a", redis, prefix, home_nodes=home, extra_env=record)
    b = NodeProcess(
        tmp_path,
        "node-b",
        redis,
        prefix,
        home_nodes=home,
        extra_env={"RB_DRAIN_SECONDS": "2", **record},
    )
    await a.start()
    await b.start()
    sessions = Sessions(a.url)
    clients: list[BridgeClient] = []
    try:
        # A session on B closed over REST through A: B's hub ends it too.
        closing = await sessions.open_session("Phiên đóng qua nút A", [PROVINCE])
        assert await registry.placement(closing) == "node-b"
        lone = await _join(a.url, await sessions.room_token(closing, PROVINCE), 4)
        clients.append(lone)
        assert lone.url == b.url
        await sessions.post(f"/api/sessions/{closing}/close", {"reason": "test"})
        await asyncio.wait_for(lone.ended.wait(), 30)
        assert lone.session_closed is not None and lone.session_closed["reason"] == "closed"
        assert lone.reconnections == 0
        for _ in range(50):
            if await registry.placement(closing) is None:
                break
            await asyncio.sleep(0.1)
        assert await registry.placement(closing) is None

        # A live session on B when B drains: past the drain timeout its endpoints are
        # sent to A (``redirect``), join there and receive media again.
        live = await sessions.open_session("Phiên chuyển nút khi nghỉ", [PROVINCE], record=True)
        host, province = await _pair(a.url, sessions, live)
        clients += [host, province]
        assert host.url == b.url and province.url == b.url
        assert await until(lambda: _frames(host, PROVINCE) >= 10, MEDIA_WITHIN)
        assert await until(
            lambda: (
                _parts(_manifest(b, live), HOST) == [1]
                and _parts(_manifest(b, live), PROVINCE) == [1]
            ),
            MEDIA_WITHIN,
            step=0.2,
        ), (_manifest(b, live), b.log_tail())
        b.terminate()
        assert await until(
            lambda: host.reconnections == 1 and province.reconnections == 1, MEDIA_WITHIN
        ), b.log_tail()
        assert host.url == a.url and province.url == a.url
        await _media_both_ways(host, province, a.log_tail())
        assert b.process is not None
        assert await asyncio.wait_for(b.process.wait(), 30) == 0, b.log_tail()
        assert await registry.placement(live) == "node-a"
        assert host.session_closed is None and province.session_closed is None

        # The recording went on as the next part of the same recording: B closed its
        # part and let it go unsealed, A continued it (no second folder of the session).
        moved = _manifest(a, live)
        assert moved["state"] == "recording", moved
        assert await until(
            lambda: (
                _parts(_manifest(a, live), HOST) == [1, 2]
                and _parts(_manifest(a, live), PROVINCE) == [1, 2]
            ),
            MEDIA_WITHIN,
            step=0.2,
        ), (_manifest(a, live), a.log_tail())
        assert f"{live}.2" not in _recordings(a), _recordings(a)
        b_parts = [f for f in _manifest(a, live)["files"] if f["part"] == 1]
        assert all(f["closed"] and not f["recovered"] for f in b_parts), b_parts
        # Sealed once, when the session really ends (closed over REST on A).
        await sessions.post(f"/api/sessions/{live}/close", {"reason": "test"})
        assert await until(
            lambda: _manifest(a, live).get("state") not in (None, "recording"),
            MEDIA_WITHIN,
            step=0.2,
        ), a.log_tail()
        sealed = _manifest(a, live)
        assert sealed["state"] == "complete", sealed
        assert all(f["closed"] and f["sha256"] for f in sealed["files"]), sealed["files"]
        assert _parts(sealed, HOST) == [1, 2] and _parts(sealed, PROVINCE) == [1, 2], sealed
        print(json.dumps({"drained_recording_frames": _playable(a, live, ffprobe_path)}))
    finally:
        await _close_all(clients, sessions, a, b)
        await registry.cleanup()


async def test_a_node_started_later_leaves_the_live_recording_of_another_alone(
    tmp_path: Path, redis_url: str, ffprobe_path: str
) -> None:
    """Node B records; node A starts on the same data folder meanwhile: A's recovery at
    start does not seal B's recording (B's writer lock is held), which goes on in its
    first parts and is sealed complete when the session ends."""
    redis, prefix = redis_url, new_prefix()
    registry = Registry(redis, prefix)
    home = {HOST: "node-b"}
    record = {"RB_RECORD_ON_OPEN": "true"}
    b = NodeProcess(tmp_path, "node-b", redis, prefix, home_nodes=home, extra_env=record)
    a = NodeProcess(tmp_path, "node-a", redis, prefix, home_nodes=home, extra_env=record)
    await b.start()
    sessions = Sessions(b.url)
    clients: list[BridgeClient] = []
    try:
        live = await sessions.open_session("Phiên ghi khi nút A khởi động", [PROVINCE], record=True)
        clients = await _pair(b.url, sessions, live)
        host, province = clients
        await _media_both_ways(host, province, b.log_tail())
        assert await until(
            lambda: (
                _parts(_manifest(b, live), HOST) == [1]
                and _parts(_manifest(b, live), PROVINCE) == [1]
            ),
            MEDIA_WITHIN,
            step=0.2,
        ), (_manifest(b, live), b.log_tail())

        await a.start()  # its recover() has run once it serves
        after_start = _manifest(a, live)
        assert after_start["state"] == "recording", after_start
        assert not any(f["closed"] or f["recovered"] for f in after_start["files"]), after_start

        # B goes on writing the same files; the session ends: sealed by B, complete.
        before = _frames(province, HOST)
        assert await until(lambda: _frames(province, HOST) >= before + 10, MEDIA_WITHIN)
        await sessions.post(f"/api/sessions/{live}/close", {"reason": "test"})
        assert await until(
            lambda: _manifest(b, live).get("state") not in (None, "recording"),
            MEDIA_WITHIN,
            step=0.2,
        ), b.log_tail()
        sealed = _manifest(b, live)
        assert sealed["state"] == "complete", sealed
        assert _parts(sealed, HOST) == [1] and _parts(sealed, PROVINCE) == [1], sealed
        assert all(f["closed"] and not f["recovered"] for f in sealed["files"]), sealed
        assert _recordings(b) == [live], _recordings(b)
        print(json.dumps({"recording_frames": _playable(b, live, ffprobe_path)}))
    finally:
        await _close_all(clients, sessions, a, b)
        await registry.cleanup()


async def test_bench_cluster_short_two_workers_one_session_each(redis_url: str) -> None:
    """A bounded run of ``bench/cluster.py`` (a): ``serve --workers 2`` places one
    session on each worker and a subscriber per session receives its publisher's video
    through the entry port. Figures printed, not asserted."""
    from bench.cluster import ramp

    result = await ramp(2, 1, 1, 2.0, redis_url)
    print(json.dumps(result))
    assert sorted(result["placements"]) == ["bench-0", "bench-1"], result
    batch = result["batches"][0]
    assert batch["streams"] == 2
    # Every subscriber received video (how much of it is the benchmark's question).
    assert batch["delivered_share_min"] > 0, batch
    assert batch["server_cpu_cores"] > 0 and batch["client_cpu_cores"] > 0, batch
