"""Cascade benchmark (issue 10, part (b) of bench/cluster.py): bytes on the link between
two nodes against K x S copies without the cascade.

    python -m bench.cascade --points 3 --subscribers 6 --seconds 10

Two ``reception-bridge serve`` processes (nodes A and B) share a Redis under a key
prefix of their own. A session is hosted on node A (its host site's home node); K
points whose home node is B connect to B and publish synthetic VP8 video (no audio, so
a "stream" is one video track); S subscribers whose home node is A connect to A and
only receive. Node B joins A by its one cascade link, which carries each of the K
streams once; A fans them out to its S subscribers.

Over one window of ``seconds`` (after every subscriber receives every point) both
nodes' ``/metrics`` are read at its start and end, in the same run:

- ``cascade_link_bytes``: payload bytes node B sent on the link
  (``rb_cascade_link_bytes{direction="out"}``);
- ``k_streams_bytes``: payload bytes node B received from the K publishers of those
  tracks (``rb_cascade_source_bytes``), the bytes of K streams;
- ``cascade_streams_ratio``: the two divided (goal: within 10 % of 1.0);
- ``no_cascade_bytes``: *measured*, not computed: the payload bytes node A forwarded to
  its S subscribers from the K streams over the same window (``rb_forwarded_bytes``;
  nothing else is forwarded by A here). Without the cascade each of those copies is
  one subscriber's own stream from the points' node, and would cross between the
  nodes; ``no_cascade_bytes_computed`` (``k_streams_bytes`` x S) is printed beside it;
- bitrates (``link_kbps``, ``no_cascade_kbps``) and the 1-minute load average before and
  after.

Payload bytes are the codec's (RTP, SRTP and UDP headers not counted), the same on both
sides of each comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
import tomllib
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aioredis
from prometheus_client.parser import text_string_to_metric_families

from bench.lifecycle import HOST, REPO, SECRET, ServerProcess, SyntheticVideo
from core.access import Role
from signaling.client import BridgeClient
from signaling.tokens import issue_token

MEDIA_WITHIN = 60.0
"""Longest wait for every subscriber to receive every point (seconds)."""


class Node(ServerProcess):
    """One node of the benchmark's cluster."""

    def __init__(
        self, root: Path, node_id: str, redis_url: str, prefix: str, home: dict[str, str]
    ) -> None:
        super().__init__(root)  # one SQLite database and data folder for both
        self.node_id = node_id
        self.log_path = root / f"{node_id}.log"
        self._extra = {
            "REDIS_URL": redis_url,
            "RB_NODE_ID": node_id,
            "RB_CLUSTER_PREFIX": prefix,
            "RB_HOME_NODES": json.dumps(home),
            "RB_RECORD_ON_OPEN": "false",
            "RB_WORKERS": "1",
        }

    def _env(self) -> dict[str, str]:
        env = super()._env()
        env.update(self._extra)
        return env


def _sites(count: int) -> list[str]:
    """``count`` current provinces and communes of the default tree."""
    tree = tomllib.loads((REPO / "config" / "sites.toml").read_text())
    ids = [
        str(s["id"])
        for s in tree["site"]
        if s["id"] != HOST
        and s.get("level") in ("province", "commune")
        and "valid_to" not in s
        and "merged_into" not in s
    ]
    if len(ids) < count:
        raise ValueError(f"the site tree has {len(ids)} sites, {count} are needed")
    return ids[:count]


async def _metrics(http: aiohttp.ClientSession, url: str) -> dict[str, float]:
    async with http.get(f"{url}/metrics") as resp:
        body = await resp.text()
        if resp.status != 200:
            raise RuntimeError(f"/metrics: {resp.status} {body[:200]}")
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return out


async def _open(http: aiohttp.ClientSession, url: str, sites: list[str]) -> str:
    now = datetime.now(UTC).replace(microsecond=0)
    body = {
        "title": "Đo nối tầng",
        "host_site": HOST,
        "starts_at": (now - timedelta(minutes=5)).isoformat(),
        "ends_at": (now + timedelta(hours=2)).isoformat(),
        "participants": sites,
        "allow_day_off": True,
        "record": False,
    }
    async with http.post(f"{url}/api/sessions", json=body) as resp:
        session = await resp.json()
        if resp.status >= 300:
            raise RuntimeError(f"booking: {resp.status} {session}")
    session_id = str(session["id"])
    async with http.post(f"{url}/api/sessions/{session_id}/open", json={}) as resp:
        if resp.status >= 300:
            raise RuntimeError(f"opening: {resp.status} {await resp.text()}")
    return session_id


async def _connect(client: BridgeClient) -> None:
    try:
        await client.connect()
    except Exception as exc:
        raise RuntimeError(f"connection refused: {client.connect_error}") from exc


async def _token(http: aiohttp.ClientSession, url: str, session_id: str, site: str) -> str:
    async with http.post(
        f"{url}/api/sessions/{session_id}/room-token", json={"site": site}
    ) as resp:
        answer = await resp.json()
        if resp.status >= 300:
            raise RuntimeError(f"room token: {resp.status} {answer}")
        return str(answer["token"])


def measure(points: int, subscribers: int, seconds: float) -> dict[str, Any]:
    """K=``points`` publishers on node B watched by S=``subscribers`` on node A, the
    session hosted on A; the figures over a window of ``seconds`` (see the module).

    Runs its own event loop (``asyncio.run``); from inside a loop await
    :func:`measure_async` instead."""
    return asyncio.run(measure_async(points, subscribers, seconds))


async def measure_async(points: int, subscribers: int, seconds: float) -> dict[str, Any]:
    """:func:`measure` for a caller already in an event loop."""
    if points < 1 or subscribers < 1 or seconds <= 0:
        raise ValueError("points and subscribers must be at least 1, seconds positive")
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    prefix = f"rbbench-{uuid.uuid4().hex[:10]}"
    sites = _sites(points + subscribers)
    point_sites, subscriber_sites = sites[:points], sites[points:]
    home = {HOST: "node-a", **dict.fromkeys(subscriber_sites, "node-a")}
    home.update(dict.fromkeys(point_sites, "node-b"))
    load_before = os.getloadavg()[0]
    admin = issue_token(SECRET, role=Role.ADMINISTRATOR, site=HOST, subject="bench@cascade")
    clients: list[BridgeClient] = []
    with tempfile.TemporaryDirectory(prefix="rb-cascade-") as tmp:
        root = Path(tmp)
        a = Node(root, "node-a", redis_url, prefix, home)
        b = Node(root, "node-b", redis_url, prefix, home)
        http = aiohttp.ClientSession(headers={"Authorization": f"Bearer {admin}"})
        try:
            await a.start()
            await b.start()
            session_id = await _open(http, a.url, sites)
            publishers = []
            for i, site in enumerate(point_sites):
                client = BridgeClient(b.url, await _token(http, a.url, session_id, site))
                await _connect(client)
                await client.publish([SyntheticVideo(i + 1)])
                publishers.append(client)
            watchers = []
            for site in subscriber_sites:
                client = BridgeClient(a.url, await _token(http, a.url, session_id, site))
                await _connect(client)
                watchers.append(client)
            clients = publishers + watchers
            if any(c.redirects for c in clients):
                raise RuntimeError("an endpoint was redirected: no cascade")
            deadline = time.monotonic() + MEDIA_WITHIN
            while not all(
                w.frames_from(site, "video") >= 10 for w in watchers for site in point_sites
            ):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"media did not reach every subscriber:\n{b.log_tail()}")
                await asyncio.sleep(0.1)
            start_a, start_b = await _metrics(http, a.url), await _metrics(http, b.url)
            started = time.monotonic()
            await asyncio.sleep(seconds)
            end_a, end_b = await _metrics(http, a.url), await _metrics(http, b.url)
            window = time.monotonic() - started
        finally:
            for client in clients:
                await client.close()
            await http.close()
            await a.stop()
            await b.stop()
            store = aioredis.from_url(redis_url)
            keys = [k async for k in store.scan_iter(match=f"{prefix}:*")]
            if keys:
                await store.delete(*keys)
            await store.aclose()

    def delta(end: dict[str, float], start: dict[str, float], name: str) -> float:
        return end.get(name, 0.0) - start.get(name, 0.0)

    link = delta(end_b, start_b, "rb_cascade_link_bytes{direction=out}")
    streams = delta(end_b, start_b, "rb_cascade_source_bytes")
    no_cascade = delta(end_a, start_a, "rb_forwarded_bytes_total")
    return {
        "points": points,
        "subscribers": subscribers,
        "window_s": round(window, 2),
        "link_tracks": end_b.get("rb_cascade_link_tracks{direction=out}", 0.0),
        "cascade_link_bytes": int(link),
        "k_streams_bytes": int(streams),
        "cascade_streams_ratio": round(link / streams, 4) if streams else None,
        "no_cascade_bytes": int(no_cascade),
        "no_cascade_bytes_method": "measured: node A's bytes forwarded to its S subscribers",
        "no_cascade_bytes_computed": int(streams * subscribers),
        "link_kbps": round(link * 8 / window / 1000, 1),
        "no_cascade_kbps": round(no_cascade * 8 / window / 1000, 1),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=3)
    parser.add_argument("--subscribers", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    print(json.dumps(measure(args.points, args.subscribers, args.seconds)))


if __name__ == "__main__":
    main()
