"""Scale-out benchmark (issue 10): forwarded streams with one node process and with two.

    python -m bench.cluster [--forwarding packet] [--start 16] [--step 16]
        [--max-per-session 256] [--seconds 8] [--bitrate-kbps 1000] [--verbose] [--logs DIR]

(a) For 1 and then 2 node processes (``reception-bridge serve --workers N`` with
``REDIS_URL``; the one-process run also has Redis, so both run the same code), two
sessions are opened, each hosted by its own site, each with one publisher. With two
workers the host sites' home nodes (``RB_HOME_NODES``) put one session on each worker,
checked in Redis. The servers forward with ``--forwarding`` (``RB_FORWARDING``, default
``packet``, the faster relay; printed as ``forwarding``).

The clients are made cheap so that the servers, whose work is unchanged (real aiortc
peer connections with ICE, DTLS and SRTP to every subscriber), are the limit:

- each publisher replays ``--clip-seconds`` of 640x480 VP8 encoded once by aiortc's own
  encoder at ``--bitrate-kbps`` (:mod:`bench.replay`; ``clip_mbps`` and each batch's
  ``published_mbps`` print the bitrate), instead of encoding in real time;
- light subscribers (``bench.relay.light_subscribers``) connect as usual, then count
  frames from the plaintext SRTP headers at their sockets, drained every 20 ms, without
  decrypting (:mod:`bench.socket_frames`; STUN, DTLS and SRTCP still reach aioice and
  aiortc).

Subscribers are added ``--start`` then ``--step`` per session at a time, at most
``--step`` per session in one process (the two-process run starts a step below the
one-process run's limit), one subscriber process connecting at a time (a client whose
connection fails tries twice more), through the entry port (a redirect sends each to its
session's node).
After each batch and a warm-up, a ``--seconds`` window is measured: each subscriber
counts, of its publisher's frames published in the window, those that reached its socket
complete, whenever they arrived (by frame number, :mod:`bench.frame_index`; asked for 1 s
after the window), so each subscriber's share is at most 1 by construction. The batch
passes when the subscribers receive on average >= 99 % of the frames published and every
subscriber process answered. ``arrived_share_max`` prints the old count (frames arriving
during the window over those published in it: above 1 when the relay delivers a backlog
late), ``delivery_lag_max_seconds`` how much later than its stream's fastest a counted
frame arrived, ``client_lag_max_seconds`` the longest pause between two socket drains of
a subscriber process (``client_limited`` above 1 s: a starved client, not the server, may
have lost those frames). ``streams_one_process`` and
``streams_two_processes`` are the most subscribers (forwarded video streams) of a
passing batch, ``scaling_ratio`` their ratio. A failed batch is measured once more
before it counts as the limit (the machine is shared).

Each batch prints the servers' CPU (the node processes, from /proc) and the clients'
(the publishers in this process and the subscriber processes), in cores and in CPU
microseconds per forwarded RTP packet (``server_cpu_us_per_packet``,
``client_cpu_us_per_packet``). The clients share the machine's cores with the servers:
with S and C those costs, one node process saturates its core at 1/S packets/s, two at
2/(S+C) on 2 cores, so there the ratio cannot pass 2S/(S+C), printed as
``scaling_ratio_ceiling`` (from the one-process run's best batch). It needs C <= 0.18 S
for 1.7. ``streams_per_server_core`` (streams over the server cores used at the best
batch) and ``scaling_ratio_server_cpu`` (one process's server CPU per forwarded Mbit/s
over two processes' together, times two, at the most streams both runs passed) leave
the clients out.

(b) The cascade is measured by ``bench.cascade.measure`` when that module exists; its
keys are merged in, else they are null with the reason.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import importlib.util
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from subprocess import PIPE, STDOUT
from typing import Any

import aiohttp
import redis.asyncio as aioredis
from aiortc import RTCPeerConnection

from bench.frame_index import Windows
from bench.lifecycle import open_session
from bench.relay import (
    FPS,
    WARMUP,
    cpu_seconds,
    light_subscribers,
    sent_counters,
)
from bench.replay import Clip, ReplayTrack, encode_clip
from core.access import Role
from signaling.client import BridgeClient
from signaling.tokens import issue_token
from tests.conftest import DEFAULT_REDIS_URL

SECRET = "cluster-bench-secret-cluster-bench-secret"
HOSTS = ("bench-host-0", "bench-host-1")
"""One host site per session (a site receives in one session at a time)."""
DELIVERED_GOAL = 0.99
GRACE = 1.0
"""Seconds after a window before its frames are counted (the last ones in flight)."""
ANSWER_WAIT = 30.0
"""Seconds the subscriber processes have to answer a window (a starved one is slow)."""
CLIENT_LAG_LIMIT = 1.0
"""A batch whose subscriber processes paused longer between two socket drains in the
window is flagged ``client_limited`` (its datagrams waited that long in the sockets)."""
REPO = Path(__file__).resolve().parent.parent
CASCADE_KEYS = ("cascade_link_bytes", "no_cascade_bytes", "cascade_streams_ratio")


def _sites_toml(per_session: int) -> str:
    """A site tree for the bench: the two hosts and ``per_session`` sites per session."""
    blocks = []
    for host in HOSTS:
        blocks.append(
            f'[[site]]\nid = "{host}"\nname = "Trụ sở {host}"\nname_en = "{host}"\n'
            'level = "central"\nrooms = ["Phòng 1"]\n'
        )
    for s in range(len(HOSTS)):
        for i in range(per_session):
            site = f"bench-{s}-{i}"
            blocks.append(
                f'[[site]]\nid = "{site}"\nname = "Điểm {site}"\nname_en = "{site}"\n'
                'level = "province"\nvalid_from = "2025-07-01"\nrooms = ["Phòng 1"]\n'
            )
    return "\n".join(blocks)


def _site(session: int, index: int) -> str:
    return f"bench-{session}-{index}"


def _children(pid: int) -> list[int]:
    with contextlib.suppress(OSError):
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        return [int(p) for p in text.split()]
    return []


def _cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            total += cpu_seconds(pid)
    return total


def _free_ports(count: int) -> int:
    """A port with ``count`` free ports from it (the entry port and the workers')."""
    import socket

    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base: int = probe.getsockname()[1]
        if base + count > 65535:
            continue
        ok = True
        for port in range(base, base + count):
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no run of free ports")


class Cluster:
    """``reception-bridge serve --workers N`` with Redis, on a site tree of the bench's."""

    def __init__(
        self, root: Path, workers: int, per_session: int, redis_url: str, forwarding: str
    ) -> None:
        self.root = root
        self.workers = workers
        self.forwarding = forwarding
        self.per_session = per_session
        self.redis_url = redis_url
        self.prefix = f"rbbench-{uuid.uuid4().hex[:10]}"
        self.port = _free_ports(workers + 2)
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: asyncio.subprocess.Process | None = None
        self.log_path = root / "server.log"

    def node_ids(self) -> list[str]:
        return [f"bench-{i}" for i in range(self.workers)] if self.workers > 1 else ["bench"]

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RB_")}
        homes = {h: n for h, n in zip(HOSTS, self.node_ids(), strict=False)}
        env.update(
            RB_DATA_DIR=str(self.root / "data"),
            RB_HOST="127.0.0.1",
            RB_PORT=str(self.port),
            RB_SECRET=SECRET,
            RB_RECORD_ON_OPEN="false",
            RB_FORWARDING=self.forwarding,
            RB_NODE_ID="bench",
            RB_CLUSTER_PREFIX=self.prefix,
            RB_HOME_NODES=json.dumps(homes if self.workers > 1 else {}),
            RB_WORKERS=str(self.workers),
            DATABASE_URL="",
            REDIS_URL=self.redis_url,
        )
        return env

    def pids(self) -> list[int]:
        """The node processes (the workers, or the one server)."""
        assert self.process is not None
        return _children(self.process.pid) if self.workers > 1 else [self.process.pid]

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    async def start(self) -> None:
        env = self._env()
        (self.root / "data").mkdir(parents=True, exist_ok=True)
        tree = self.root / "sites.toml"
        tree.write_text(_sites_toml(self.per_session))
        cli = [sys.executable, "-m", "web.cli"]
        loading = await asyncio.create_subprocess_exec(
            *cli, "load-sites", str(tree), env=env, cwd=REPO, stdout=PIPE, stderr=STDOUT
        )
        output, _ = await loading.communicate()
        if loading.returncode != 0:
            raise RuntimeError(f"load-sites failed: {output.decode(errors='replace')}")
        with self.log_path.open("wb") as log:
            self.process = await asyncio.create_subprocess_exec(
                *cli,
                "serve",
                "--workers",
                str(self.workers),
                env=env,
                cwd=REPO,
                stdout=log,
                stderr=STDOUT,
            )
        deadline = time.monotonic() + 90
        own = [self.port + 1 + i for i in range(self.workers)] if self.workers > 1 else []
        async with aiohttp.ClientSession() as http:
            for port in [self.port, *own]:
                while True:
                    if self.process.returncode is not None:
                        raise RuntimeError(f"the server exited at start:\n{self.log_tail()}")
                    with contextlib.suppress(aiohttp.ClientError):
                        async with http.get(f"http://127.0.0.1:{port}/readyz") as resp:
                            if resp.status == 200:
                                break
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"the server did not get ready:\n{self.log_tail()}")
                    await asyncio.sleep(0.3)
        # Every node registered (a worker's record appears at its start).
        redis = aioredis.from_url(self.redis_url)
        try:
            while True:
                keys = [f"{self.prefix}:node:{n}" for n in self.node_ids()]
                if await redis.exists(*keys) == len(keys):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"nodes not registered:\n{self.log_tail()}")
                await asyncio.sleep(0.3)
        finally:
            await redis.aclose()

    async def placement(self, session_id: str) -> str | None:
        redis = aioredis.from_url(self.redis_url)
        try:
            value = await redis.get(f"{self.prefix}:placement:{session_id}")
        finally:
            await redis.aclose()
        return (value.decode() if isinstance(value, bytes) else str(value)) if value else None

    async def stop(self) -> None:
        if self.process is None:
            return
        if self.process.returncode is None:
            # SIGINT stops at once (SIGTERM would drain).
            self.process.send_signal(2)
            try:
                await asyncio.wait_for(self.process.wait(), 30)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        redis = aioredis.from_url(self.redis_url)
        try:
            keys = [k async for k in redis.scan_iter(match=f"{self.prefix}:*")]
            if keys:
                await redis.delete(*keys)
        finally:
            await redis.aclose()


class Admin:
    def __init__(self, url: str) -> None:
        self.url = url
        token = issue_token(SECRET, role=Role.ADMINISTRATOR, site=HOSTS[0], subject="bench@cluster")
        self._http = aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"})

    async def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        async with self._http.post(f"{self.url}{path}", json=body or {}) as resp:
            answer: dict[str, Any] = await resp.json()
            if resp.status >= 300:
                raise RuntimeError(f"POST {path}: {resp.status} {answer}")
            return answer

    async def close(self) -> None:
        await self._http.close()


class ReplayPublisher(BridgeClient):
    """Publishes a :class:`ReplayTrack`, answering keyframe requests on every publish
    connection it opens (a failed leg is published again on a new one)."""

    def __init__(self, url: str, token: str, track: ReplayTrack) -> None:
        super().__init__(url, token, video_codecs=("video/VP8",))
        self.track = track
        self.pcs: list[RTCPeerConnection] = []

    async def _open_publish(self, *, restart: bool) -> None:
        await super()._open_publish(restart=restart)
        assert self.publish_pc is not None
        self.pcs.append(self.publish_pc)
        for sender in self.publish_pc.getSenders():
            if sender.kind == "video":
                self.track.hook(sender)

    async def sent(self) -> tuple[int, int]:
        """RTP payload bytes and packets sent so far, over every publish connection."""
        octets = packets = 0
        for pc in self.pcs:
            o, p = await sent_counters(pc)()
            octets, packets = octets + o, packets + p
        return octets, packets


class SharedReplay(ReplayTrack):
    """A :class:`ReplayTrack` that keeps ``published[slot]`` at its count of frames
    handed to the sender (before the frame is packetised), for the subscriber processes
    (:class:`bench.frame_index.Windows`)."""

    def __init__(self, clip: Clip, published: Any, slot: int) -> None:
        super().__init__(clip)
        self.published = published
        self.slot = slot

    async def next_frame(self) -> tuple[bytes, int]:
        frame = await super().next_frame()
        self.published[self.slot] = self.sent
        return frame


def _subscriber_process(url: str, tokens: list[str], indices: list[int], sessions: list[int],
                        counts: Any, ready: Any, stop: Any, windows: Windows) -> None:  # fmt: skip
    run = light_subscribers(
        url, tokens, indices, counts, ready, stop, at_socket=True, windows=windows,
        sessions=sessions,
    )  # fmt: skip
    asyncio.run(run)


def _windows(ctx: Any, sessions: int, total: int) -> Windows:
    return Windows(
        published=ctx.Array("l", sessions, lock=False),
        request=ctx.Array("l", 1 + 2 * sessions, lock=False),
        start=ctx.Value("d", 0.0, lock=False),
        counts=ctx.Array("l", total, lock=False),
        lags=ctx.Array("l", total, lock=False),
        gaps=ctx.Array("d", total, lock=False),
        answered=ctx.Array("l", total, lock=False),
    )


@dataclass
class Batch:
    """One measured window with ``streams`` subscribers in all."""

    streams: int
    published_fps: list[float]
    published_mbps: list[float]
    delivered_share: float
    """The mean over subscribers of each one's share of its publisher's frames of the
    window that it received complete (counted by frame number: at most 1 each)."""
    delivered_share_min: float
    delivered_share_max: float
    arrived_share_max: float
    """The largest share of frames *arriving* during the window (the old count, which
    frames published earlier and delivered late push above 1), for comparison."""
    delivery_lag_max: float
    """Seconds: the most a counted frame was seen after the fastest of its stream
    (relay queueing and the subscriber process's own lag)."""
    client_lag_max: float
    """Seconds: the longest pause between two socket drains of a subscriber process in
    the window."""
    unanswered: int
    """Subscribers whose process did not answer the window in time (counted as 0)."""
    server_cores: float
    client_cores: float
    forwarded_mbps: float
    forwarded_pps: float
    """RTP packets the servers forwarded per second (each publisher's packets times the
    share of its frames each subscriber received)."""
    republished: int = 0
    """Publish connections opened again in the window (a publish leg failed)."""

    @property
    def passed(self) -> bool:
        return self.delivered_share >= DELIVERED_GOAL and not self.unanswered

    @property
    def client_limited(self) -> bool:
        return self.client_lag_max > CLIENT_LAG_LIMIT

    def figures(self) -> dict[str, Any]:
        pps = max(self.forwarded_pps, 1.0)
        return {
            "streams": self.streams,
            "published_fps": [round(f, 2) for f in self.published_fps],
            "published_mbps": [round(m, 3) for m in self.published_mbps],
            "delivered_share": round(self.delivered_share, 4),
            "delivered_share_min": round(self.delivered_share_min, 4),
            "delivered_share_max": round(self.delivered_share_max, 4),
            "arrived_share_max": round(self.arrived_share_max, 4),
            "delivery_lag_max_seconds": round(self.delivery_lag_max, 2),
            "client_lag_max_seconds": round(self.client_lag_max, 2),
            "client_limited": self.client_limited,
            "unanswered": self.unanswered,
            "server_cpu_cores": round(self.server_cores, 3),
            "client_cpu_cores": round(self.client_cores, 3),
            "forwarded_mbps": round(self.forwarded_mbps, 2),
            "forwarded_packets_per_second": round(self.forwarded_pps),
            "server_cpu_us_per_packet": round(self.server_cores * 1e6 / pps, 1),
            "client_cpu_us_per_packet": round(self.client_cores * 1e6 / pps, 1),
            "publishers_republished": self.republished,
            "passed": self.passed,
        }


async def ramp(
    workers: int,
    step: int,
    max_per_session: int,
    seconds: float,
    redis_url: str,
    progress: Any = None,
    *,
    clip: Clip | None = None,
    forwarding: str = "packet",
    start: int | None = None,
    logs: Path | None = None,
) -> dict[str, Any]:
    """Start with ``start`` (default ``step``) subscribers per session, add ``step`` at a
    time until a batch fails (or ``max_per_session``); returns the batches and the most
    streams of a passing one. The publishers replay ``clip`` (encoded here if None);
    the server's log is kept in ``logs`` when given."""
    if clip is None:
        clip = encode_clip()
    root = Path(tempfile.mkdtemp(prefix=f"rb-cluster-bench-{workers}-"))
    cluster = Cluster(root, workers, max_per_session, redis_url, forwarding)
    ctx = multiprocessing.get_context("spawn")
    total = len(HOSTS) * max_per_session
    counts, ready, stop = ctx.Array("l", total), ctx.Value("i", 0), ctx.Event()
    windows = _windows(ctx, len(HOSTS), total)
    procs: list[Any] = []
    publishers: list[ReplayPublisher] = []
    batches: list[Batch] = []
    admin: Admin | None = None
    placements: list[str | None] = []
    stopped = ""
    try:
        await cluster.start()
        admin = Admin(cluster.url)
        session_ids = []
        for s, host in enumerate(HOSTS):
            sites = [_site(s, i) for i in range(max_per_session)]
            session_ids.append(
                await open_session(admin.post, f"Phiên đo {s}", sites, host, record=False)
            )
        placements = [await cluster.placement(sid) for sid in session_ids]
        if workers > 1 and len(set(placements)) < 2:
            raise RuntimeError(f"sessions not on both nodes: {placements}")
        for s, host in enumerate(HOSTS):
            token = issue_token(SECRET, role=Role.ROOM, site=host, session=session_ids[s])
            track = SharedReplay(clip, windows.published, s)
            publisher = ReplayPublisher(cluster.url, token, track)
            await publisher.connect(wait=30)
            await publisher.publish([track])
            publishers.append(publisher)
        per_session = 0
        while per_session < max_per_session:
            first = start if start is not None else step
            new = min(step if per_session else first, max_per_session - per_session)
            # At most ``step`` subscribers per session in one process (a large first
            # batch is spread over several).
            for low in range(per_session, per_session + new, step):
                tokens, indices, sessions = [], [], []
                for s in range(len(HOSTS)):
                    for i in range(low, min(low + step, per_session + new)):
                        site = _site(s, i)
                        tokens.append(
                            issue_token(SECRET, role=Role.ROOM, site=site, session=session_ids[s])
                        )
                        indices.append(s * max_per_session + i)
                        sessions.append(s)
                proc = ctx.Process(
                    target=_subscriber_process,
                    args=(cluster.url, tokens, indices, sessions, counts, ready, stop, windows),
                )
                proc.start()
                procs.append(proc)
                # One subscriber process connects at a time: ten connecting 32 clients
                # each at once took up to 10.5 s per connection at load 9, and a
                # namespace connection unanswered for 30 s ends a client with Socket.IO's
                # "Unexpected connection error" (the two-process run's first batch).
                connected = len(HOSTS) * min(low + step, per_session + new)
                while ready.value < connected:
                    if not all(p.is_alive() for p in procs):
                        break
                    await asyncio.sleep(0.2)
            per_session += new
            if not all(p.is_alive() for p in procs):
                # A subscriber could not connect (signaling timed out on a busy server):
                # the batch counts as the limit.
                stopped = f"a subscriber process died connecting batch {per_session}/session"
                break
            await asyncio.sleep(WARMUP)
            batch = await _window(cluster, procs, publishers, counts, windows, per_session,
                                  max_per_session, seconds)  # fmt: skip
            if not batch.passed:
                # Once more before calling it the limit: the machine is shared and noisy.
                batches.append(batch)
                batch = await _window(cluster, procs, publishers, counts, windows, per_session,
                                      max_per_session, seconds)  # fmt: skip
            batches.append(batch)
            if progress is not None:
                progress(f"workers={workers} {json.dumps(batch.figures())}")
            if not batch.passed:
                break
    finally:
        stop.set()
        for proc in procs:
            proc.join(20)
            if proc.is_alive():
                proc.kill()
        for publisher in publishers:
            with contextlib.suppress(Exception):
                await publisher.close()
        if admin is not None:
            await admin.close()
        await cluster.stop()
        if logs is not None:
            os.makedirs(logs, exist_ok=True)
            shutil.copy(cluster.log_path, os.path.join(logs, f"server-{workers}.log"))
        shutil.rmtree(root, ignore_errors=True)
    passing = [b for b in batches if b.passed]
    best = passing[-1] if passing else None
    return {
        "workers": workers,
        "forwarding": forwarding,
        "placements": placements,
        "streams": best.streams if best else 0,
        "stopped": stopped or None,
        "streams_per_server_core": (
            round(best.streams / max(best.server_cores, 0.001), 1) if best else None
        ),
        "batches": [b.figures() for b in batches],
    }


async def _window(
    cluster: Cluster,
    procs: list[Any],
    publishers: list[ReplayPublisher],
    counts: Any,
    windows: Windows,
    per_session: int,
    max_per_session: int,
    seconds: float,
) -> Batch:
    """Measure one window: each subscriber's count of its publisher's frames published
    in it (by frame number, whenever they arrived: :mod:`bench.frame_index`)."""
    servers = cluster.pids()
    clients = [os.getpid(), *(p.pid for p in procs)]
    tracks = [p.track for p in publishers]
    subscribers = [s * max_per_session + i for s in range(len(tracks)) for i in range(per_session)]
    stats0 = [await p.sent() for p in publishers]
    legs0 = [len(p.pcs) for p in publishers]
    server0, client0 = _cpu(servers), _cpu(clients)
    windows.start.value = t0 = time.monotonic()
    first = [t.sent for t in tracks]
    counts0 = list(counts)
    await asyncio.sleep(seconds)
    end = [t.sent for t in tracks]
    counts1 = list(counts)
    elapsed = time.monotonic() - t0
    server1, client1 = _cpu(servers), _cpu(clients)
    stats1 = [await p.sent() for p in publishers]
    # The window's last frames are still in flight: count them a little later.
    await asyncio.sleep(GRACE)
    for s in range(len(tracks)):
        windows.request[1 + 2 * s], windows.request[2 + 2 * s] = first[s], end[s]
    generation = windows.request[0] + 1
    windows.request[0] = generation
    deadline = time.monotonic() + ANSWER_WAIT
    while time.monotonic() < deadline:
        if all(windows.answered[k] == generation for k in subscribers):
            break
        await asyncio.sleep(0.1)
    answered = [k for k in subscribers if windows.answered[k] == generation]
    published = [(e - f) / elapsed for f, e in zip(first, end, strict=True)]
    published_mbps, shares, arrived, mbps, pps = [], [], [], 0.0, 0.0
    for s in range(len(tracks)):
        frames = max(end[s] - first[s], 1)
        session_mbps = (stats1[s][0] - stats0[s][0]) * 8 / elapsed / 1e6
        session_pps = (stats1[s][1] - stats0[s][1]) / elapsed
        published_mbps.append(session_mbps)
        for i in range(per_session):
            k = s * max_per_session + i
            share = windows.counts[k] / frames if windows.answered[k] == generation else 0.0
            shares.append(share)
            arrived.append((counts1[k] - counts0[k]) / frames)
            mbps += session_mbps * share
            pps += session_pps * share
    return Batch(
        streams=per_session * len(tracks),
        published_fps=published,
        published_mbps=published_mbps,
        delivered_share=sum(shares) / len(shares),
        delivered_share_min=min(shares),
        delivered_share_max=max(shares),
        arrived_share_max=max(arrived),
        delivery_lag_max=max((windows.lags[k] for k in answered), default=0) / FPS,
        client_lag_max=max((windows.gaps[k] for k in answered), default=0.0),
        unanswered=len(subscribers) - len(answered),
        server_cores=(server1 - server0) / elapsed,
        client_cores=(client1 - client0) / elapsed,
        forwarded_mbps=mbps,
        forwarded_pps=pps,
        republished=sum(len(p.pcs) for p in publishers) - sum(legs0),
    )


def _server_cpu_ratio(one: dict[str, Any], two: dict[str, Any]) -> dict[str, Any]:
    """What two node processes would carry against one if each had a core of its own
    and the clients ran elsewhere: at the most streams both runs passed, one process's
    server CPU per forwarded Mbit/s over two processes' (together), times two (2.0 when
    splitting the work costs nothing). Per Mbit/s, since a starved publisher sends less."""

    def cost(run: dict[str, Any]) -> dict[int, float]:
        return {
            b["streams"]: b["server_cpu_cores"] / b["forwarded_mbps"]
            for b in run["batches"]
            if b["passed"] and b["forwarded_mbps"] > 0
        }

    cost_one, cost_two = cost(one), cost(two)
    common = sorted(set(cost_one) & set(cost_two))
    if not common or not cost_two[common[-1]]:
        return {"scaling_ratio_server_cpu": None, "server_cpu_compared_at_streams": None}
    n = common[-1]
    return {
        "scaling_ratio_server_cpu": round(2 * cost_one[n] / cost_two[n], 2),
        "server_cpu_compared_at_streams": n,
    }


def _ceiling(run: dict[str, Any], cores: int) -> dict[str, Any]:
    """The scaling ratio this machine allows when CPU is the only limit, from one run's
    costs per forwarded packet at its best passing batch: the servers' S and the clients'
    C (subscribers and publishers), in CPU microseconds. One node process saturates at
    one core, N1 = min(1/S, cores/(S+C)) packets/s; two at N2 = min(2/S, cores/(S+C)); so
    with 2 cores the ratio is 2S/(S+C) (when C < S): 1.7 needs C <= 0.18 S."""
    passing = [b for b in run["batches"] if b["passed"]]
    if not passing:
        return {"scaling_ratio_ceiling": None}
    best = passing[-1]
    server, client = best["server_cpu_us_per_packet"], best["client_cpu_us_per_packet"]
    one = min(1 / server, cores / (server + client))
    two = min(2 / server, cores / (server + client))
    return {
        "scaling_ratio_ceiling": round(two / one, 2),
        "ceiling_server_cpu_us_per_packet": server,
        "ceiling_client_cpu_us_per_packet": client,
        "ceiling_from_streams": best["streams"],
    }


async def cascade(points: int, subscribers: int, seconds: float) -> dict[str, Any]:
    """Part (b) from ``bench.cascade`` (written with the cascade) when it exists."""
    if importlib.util.find_spec("bench.cascade") is None:
        return {k: None for k in CASCADE_KEYS} | {
            "cascade_reason": "bench/cascade.py is not in this tree (the cascade, part 6)"
        }
    module = importlib.import_module("bench.cascade")
    # measure_async: bench() runs in an event loop (measure() would start another).
    figures: dict[str, Any] = await module.measure_async(points, subscribers, seconds)
    out = {k: figures.get(k) for k in CASCADE_KEYS}
    out["cascade"] = figures
    return out


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    def progress(line: str) -> None:
        if args.verbose:
            print(line, file=sys.stderr, flush=True)

    load_before = os.getloadavg()
    clip = encode_clip(args.clip_seconds, args.bitrate_kbps * 1000)
    runs: list[dict[str, Any]] = []
    for workers in (1, 2):
        start = args.start
        if runs and runs[0]["streams"]:
            # Two processes carry at least what one did, less noise: start a step below.
            below = runs[0]["streams"] // len(HOSTS) - args.step
            start = max(start or args.step, below)
        runs.append(
            await ramp(
                workers,
                args.step,
                args.max_per_session,
                args.seconds,
                args.redis,
                progress,
                clip=clip,
                forwarding=args.forwarding,
                start=start,
                logs=args.logs,
            )
        )
    one, two = runs
    load_mid = os.getloadavg()
    cores = os.cpu_count() or 1
    out: dict[str, Any] = {
        "streams_one_process": one["streams"],
        "streams_two_processes": two["streams"],
        "scaling_ratio": round(two["streams"] / one["streams"], 2) if one["streams"] else None,
        "streams_per_server_core_one_process": one["streams_per_server_core"],
        "streams_per_server_core_two_processes": two["streams_per_server_core"],
        **_server_cpu_ratio(one, two),
        **_ceiling(one, cores),
        "forwarding": args.forwarding,
        "clip_mbps": round(clip.mbps, 3),
        "clip_frames": len(clip.frames),
        "delivered_goal": DELIVERED_GOAL,
        "start_per_session": args.start if args.start is not None else args.step,
        "two_processes_started_at": two["batches"][0]["streams"] if two["batches"] else None,
        "step_per_session": args.step,
        "sessions": len(HOSTS),
        "seconds": args.seconds,
        "one_process": one,
        "two_processes": two,
        "cpus": cores,
        "load_average_before": round(load_before[0], 2),
        "load_average_after_scaling": round(load_mid[0], 2),
    }
    if args.cascade:
        out.update(await cascade(args.points, args.subscribers, args.seconds))
    else:
        out.update({k: None for k in CASCADE_KEYS} | {"cascade_reason": "--no-cascade"})
    out["load_average_after"] = round(os.getloadavg()[0], 2)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--start", type=int, help="subscribers per session at first (--step)")
    parser.add_argument("--step", type=int, default=16, help="subscribers added per session")
    parser.add_argument("--max-per-session", type=int, default=256)
    parser.add_argument("--forwarding", choices=["frame", "packet"], default="packet")
    parser.add_argument("--bitrate-kbps", type=int, default=1000, help="the replayed clip's")
    parser.add_argument("--clip-seconds", type=float, default=5.0)
    parser.add_argument("--seconds", type=float, default=8.0, help="measured window")
    parser.add_argument("--redis", default=os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL)
    parser.add_argument("--points", type=int, default=4, help="cascade: points on node B")
    parser.add_argument("--subscribers", type=int, default=8, help="cascade: on node A")
    parser.add_argument("--no-cascade", dest="cascade", action="store_false")
    parser.add_argument("--logs", type=Path, help="keep the servers' logs in this folder")
    parser.add_argument("--verbose", action="store_true", help="each batch on stderr")
    print(json.dumps(asyncio.run(bench(parser.parse_args(argv)))))


if __name__ == "__main__":
    main()
