"""Scale-out benchmark (issue 10): forwarded streams with one node process and with two.

    python -m bench.cluster [--step 4] [--max-per-session 48] [--seconds 10]

(a) For 1 and then 2 node processes (``reception-bridge serve --workers N`` with
``REDIS_URL``; the one-process run also has Redis, so both run the same code), two
sessions are opened, each hosted by its own site, each with one 640x480 VP8 publisher
(``bench.relay.PatternTrack``, in this process). With two workers the host sites' home
nodes (``RB_HOME_NODES``) put one session on each worker, checked in Redis. Light
subscribers (``bench.relay.light_subscribers``: real aiortc connections counting complete
frames from RTP packets) are added ``--step`` per session at a time, each batch in a
process of its own, through the entry port (a redirect sends each to its session's node).
After each batch and a warm-up, a ``--seconds`` window measures the delivered frame rate
of every subscriber against its publisher's; the batch passes when the subscribers
receive on average >= 99 % of the frames published. ``streams_one_process`` and
``streams_two_processes`` are the most subscribers (forwarded video streams) of a passing
batch, ``scaling_ratio`` their ratio.

The clients share the machine's cores with the servers, and a light subscriber costs
about as much CPU per packet as the relay spends forwarding it, so on a 2-core machine
the limit is the servers' and the clients' CPU together, and a second node process has
no idle core to use: ``scaling_ratio`` there says little about the relay. The JSON
therefore also gives, per batch, the servers' CPU (the node processes, from /proc) and
the clients' (the publishers in this process and the subscriber processes),
``streams_per_server_core`` (streams over the server cores used at the best batch: the
figure that leaves the clients out) and ``scaling_ratio_server_cpu``: at the most
streams both runs passed, one process's server CPU per forwarded Mbit/s over two
processes' together, times two; the ratio if each node process had a core of its own and
the clients ran elsewhere (2.0 when splitting a load over two processes costs nothing).
A failed batch is measured once more before it counts as the limit (the machine is
shared).

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
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import PIPE, STDOUT
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from bench.lifecycle import open_session
from bench.relay import (
    WARMUP,
    PatternTrack,
    SentCounters,
    cpu_seconds,
    light_subscribers,
    sent_counters,
)
from core.access import Role
from signaling.client import BridgeClient
from signaling.tokens import issue_token
from tests.conftest import DEFAULT_REDIS_URL

SECRET = "cluster-bench-secret-cluster-bench-secret"
HOSTS = ("bench-host-0", "bench-host-1")
"""One host site per session (a site receives in one session at a time)."""
DELIVERED_GOAL = 0.99
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

    def __init__(self, root: Path, workers: int, per_session: int, redis_url: str) -> None:
        self.root = root
        self.workers = workers
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


def _subscriber_process(url: str, tokens: list[str], indices: list[int], counts: Any,
                        ready: Any, stop: Any) -> None:  # fmt: skip
    asyncio.run(light_subscribers(url, tokens, indices, counts, ready, stop))


@dataclass
class Batch:
    """One measured window with ``streams`` subscribers in all."""

    streams: int
    published_fps: list[float]
    delivered_share: float
    delivered_share_min: float
    server_cores: float
    client_cores: float
    forwarded_mbps: float
    per_node_streams: dict[str, int] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.delivered_share >= DELIVERED_GOAL

    def figures(self) -> dict[str, Any]:
        return {
            "streams": self.streams,
            "published_fps": [round(f, 2) for f in self.published_fps],
            "delivered_share": round(self.delivered_share, 4),
            "delivered_share_min": round(self.delivered_share_min, 4),
            "server_cpu_cores": round(self.server_cores, 3),
            "client_cpu_cores": round(self.client_cores, 3),
            "forwarded_mbps": round(self.forwarded_mbps, 2),
            "passed": self.passed,
        }


async def ramp(
    workers: int,
    step: int,
    max_per_session: int,
    seconds: float,
    redis_url: str,
    progress: Any = None,
) -> dict[str, Any]:
    """Add ``step`` subscribers per session at a time until a batch fails (or
    ``max_per_session``); returns the batches and the most streams of a passing one."""
    root = Path(tempfile.mkdtemp(prefix=f"rb-cluster-bench-{workers}-"))
    cluster = Cluster(root, workers, max_per_session, redis_url)
    ctx = multiprocessing.get_context("spawn")
    total = len(HOSTS) * max_per_session
    counts, ready, stop = ctx.Array("l", total), ctx.Value("i", 0), ctx.Event()
    procs: list[Any] = []
    publishers: list[BridgeClient] = []
    tracks: list[PatternTrack] = []
    sents: list[SentCounters] = []
    batches: list[Batch] = []
    admin: Admin | None = None
    placements: list[str | None] = []
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
            track = PatternTrack()
            publisher = BridgeClient(cluster.url, token, video_codecs=("video/VP8",))
            await publisher.connect(wait=30)
            await publisher.publish([track])
            assert publisher.publish_pc is not None
            publishers.append(publisher)
            tracks.append(track)
            sents.append(sent_counters(publisher.publish_pc))
        per_session = 0
        while per_session < max_per_session:
            new = min(step, max_per_session - per_session)
            tokens, indices = [], []
            for s in range(len(HOSTS)):
                for i in range(per_session, per_session + new):
                    site = _site(s, i)
                    tokens.append(
                        issue_token(SECRET, role=Role.ROOM, site=site, session=session_ids[s])
                    )
                    indices.append(s * max_per_session + i)
            proc = ctx.Process(
                target=_subscriber_process,
                args=(cluster.url, tokens, indices, counts, ready, stop),
            )
            proc.start()
            procs.append(proc)
            per_session += new
            while ready.value < per_session * len(HOSTS):
                if not all(p.is_alive() for p in procs):
                    raise RuntimeError(f"a subscriber process died\n{cluster.log_tail()}")
                await asyncio.sleep(0.2)
            await asyncio.sleep(WARMUP)
            batch = await _window(cluster, procs, tracks, sents, counts, per_session,
                                  max_per_session, seconds)  # fmt: skip
            if not batch.passed:
                # Once more before calling it the limit: the machine is shared and noisy.
                batches.append(batch)
                batch = await _window(cluster, procs, tracks, sents, counts, per_session,
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
        shutil.rmtree(root, ignore_errors=True)
    passing = [b for b in batches if b.passed]
    best = passing[-1] if passing else None
    return {
        "workers": workers,
        "placements": placements,
        "streams": best.streams if best else 0,
        "streams_per_server_core": (
            round(best.streams / max(best.server_cores, 0.001), 1) if best else None
        ),
        "batches": [b.figures() for b in batches],
    }


async def _window(
    cluster: Cluster,
    procs: list[Any],
    tracks: list[PatternTrack],
    sents: list[SentCounters],
    counts: Any,
    per_session: int,
    max_per_session: int,
    seconds: float,
) -> Batch:
    servers = cluster.pids()
    clients = [os.getpid(), *(p.pid for p in procs)]
    sent0 = [t.sent for t in tracks]
    counts0 = list(counts)
    octets0 = [(await s())[0] for s in sents]
    server0, client0, t0 = _cpu(servers), _cpu(clients), time.monotonic()
    await asyncio.sleep(seconds)
    elapsed = time.monotonic() - t0
    server1, client1 = _cpu(servers), _cpu(clients)
    counts1 = list(counts)
    octets1 = [(await s())[0] for s in sents]
    published = [(t.sent - s0) / elapsed for t, s0 in zip(tracks, sent0, strict=True)]
    shares, mbps = [], 0.0
    for s in range(len(tracks)):
        session_mbps = (octets1[s] - octets0[s]) * 8 / elapsed / 1e6
        for i in range(per_session):
            k = s * max_per_session + i
            share = (counts1[k] - counts0[k]) / elapsed / max(published[s], 0.01)
            shares.append(share)
            mbps += session_mbps * min(share, 1.0)
    return Batch(
        streams=per_session * len(tracks),
        published_fps=published,
        delivered_share=sum(shares) / len(shares),
        delivered_share_min=min(shares),
        server_cores=(server1 - server0) / elapsed,
        client_cores=(client1 - client0) / elapsed,
        forwarded_mbps=mbps,
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


def cascade(points: int, subscribers: int, seconds: float) -> dict[str, Any]:
    """Part (b) from ``bench.cascade`` (written with the cascade) when it exists."""
    if importlib.util.find_spec("bench.cascade") is None:
        return {k: None for k in CASCADE_KEYS} | {
            "cascade_reason": "bench/cascade.py is not in this tree (the cascade, part 6)"
        }
    module = importlib.import_module("bench.cascade")
    figures: dict[str, Any] = module.measure(points, subscribers, seconds)
    out = {k: figures.get(k) for k in CASCADE_KEYS}
    out["cascade"] = figures
    return out


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    def progress(line: str) -> None:
        if args.verbose:
            print(line, file=sys.stderr, flush=True)

    load_before = os.getloadavg()
    one = await ramp(1, args.step, args.max_per_session, args.seconds, args.redis, progress)
    two = await ramp(2, args.step, args.max_per_session, args.seconds, args.redis, progress)
    load_mid = os.getloadavg()
    out: dict[str, Any] = {
        "streams_one_process": one["streams"],
        "streams_two_processes": two["streams"],
        "scaling_ratio": round(two["streams"] / one["streams"], 2) if one["streams"] else None,
        "streams_per_server_core_one_process": one["streams_per_server_core"],
        "streams_per_server_core_two_processes": two["streams_per_server_core"],
        **_server_cpu_ratio(one, two),
        "delivered_goal": DELIVERED_GOAL,
        "step_per_session": args.step,
        "sessions": len(HOSTS),
        "seconds": args.seconds,
        "one_process": one,
        "two_processes": two,
        "cpus": os.cpu_count(),
        "load_average_before": round(load_before[0], 2),
        "load_average_after_scaling": round(load_mid[0], 2),
    }
    if args.cascade:
        out.update(cascade(args.points, args.subscribers, args.seconds))
    else:
        out.update({k: None for k in CASCADE_KEYS} | {"cascade_reason": "--no-cascade"})
    out["load_average_after"] = round(os.getloadavg()[0], 2)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--step", type=int, default=4, help="subscribers added per session")
    parser.add_argument("--max-per-session", type=int, default=48)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window")
    parser.add_argument("--redis", default=os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL)
    parser.add_argument("--points", type=int, default=4, help="cascade: points on node B")
    parser.add_argument("--subscribers", type=int, default=8, help="cascade: on node A")
    parser.add_argument("--no-cascade", dest="cascade", action="store_false")
    parser.add_argument("--verbose", action="store_true", help="each batch on stderr")
    print(json.dumps(asyncio.run(bench(parser.parse_args(argv)))))


if __name__ == "__main__":
    main()
