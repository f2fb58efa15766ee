"""Session lifecycle churn: open, join aiortc endpoints, close, many times over; does the
server give back its memory and file descriptors?

    python -m bench.lifecycle --cycles 50 --endpoints 4

Issue 8: "50 cycles of open, join 4 aiortc endpoints, close: the server's RSS after the
cycles is within 15 % of after the first cycle, and open file descriptors return to
their level". ``tests/integration/test_lifecycle_churn.py`` asserts exactly that with
the machinery here; this module prints the figures.

The server is ``reception-bridge serve`` in a child process of its own (SQLite and
recordings in a temporary data folder, ``RB_RECORD_ON_OPEN=true``, a fixed secret), so
its RSS (``/proc/PID/status``) and open descriptors (``/proc/PID/fd``) are its alone.
One cycle, all over the wire:

1. book a session over REST as an administrator (the host ``tw-hanoi`` and provinces),
   open it, ask ``POST /api/sessions/{id}/room-token`` for each site's room token;
2. connect the endpoints (``signaling.client.BridgeClient``): every one publishes
   synthetic VP8 video and Opus audio, and the cycle waits until each receives both from
   every other one;
3. close the session over REST and wait until every endpoint has heard
   ``session_closed`` (PROTOCOL.md), its socket was disconnected by the server, and both
   of its peer connections reached ``closed`` (``BridgeClient`` closes them on
   ``session_closed``, as the room page does; the endpoint never disconnects first).
   That the server closed its side too shows in its descriptors: no UDP socket is left.

The same measurements are taken first for cycles with no endpoint (book, open, close:
the scheduler's and the recorder's bookkeeping), on a fresh server, so the cost of media
is told apart from the cost of bookkeeping. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from subprocess import PIPE, STDOUT
from typing import Any

import aiohttp
from aiortc import RTCPeerConnection
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack
from av import VideoFrame

from bench.probe import PROBE_FILE_ENV, objects_paths
from core.access import Role
from signaling.client import BridgeClient
from signaling.namespace import NAMESPACE
from signaling.tokens import issue_token
from tests.conftest import free_port

SECRET = "lifecycle-bench-secret-lifecycle-bench-secret"
HOST = "tw-hanoi"
PROVINCES = ("bac-ninh", "da-nang", "ca-mau", "hai-phong", "hue", "can-tho", "nghe-an")
"""Sites booked with the host; an endpoint is the host's room or one of these."""
MIN_FRAMES = 10
"""Video and audio frames each endpoint must receive from every other one."""
JOIN_WITHIN = 45.0
"""Longest wait for every endpoint to receive everyone's media (seconds)."""
RELEASE_WITHIN = 30.0
"""Longest wait, after the REST close, for every endpoint to be let go (seconds)."""
WIDTH, HEIGHT = 320, 240
"""Synthetic video size: small, so that four encoders fit a loaded 2-core machine."""
REPO = Path(__file__).resolve().parent.parent


class CycleError(RuntimeError):
    """A cycle did not get where it had to (media did not flow, endpoints not let go)."""


# -- the server's process ----------------------------------------------------------------


def rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def fd_count(pid: int) -> int:
    """Open file descriptors of ``pid``."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def _socket_inodes(pid: int) -> dict[str, str]:
    """Socket inode -> protocol, from the process's network namespace tables."""
    kinds: dict[str, str] = {}
    for table, kind, column in (
        ("udp", "udp", 9),
        ("udp6", "udp", 9),
        ("tcp", "tcp", 9),
        ("tcp6", "tcp", 9),
        ("unix", "unix", 6),
    ):
        path = Path(f"/proc/{pid}/net/{table}")
        with contextlib.suppress(OSError):
            for line in path.read_text().splitlines()[1:]:
                fields = line.split()
                if len(fields) > column:
                    kinds[fields[column]] = kind
    return kinds


def fd_kinds(pid: int) -> dict[str, int]:
    """Open descriptors of ``pid`` by kind: udp, tcp, unix, pipe, anon (epoll, eventfd),
    sqlite, recording (files under the archive), file, other."""
    sockets = _socket_inodes(pid)
    counts: dict[str, int] = {}
    folder = Path(f"/proc/{pid}/fd")
    for name in os.listdir(folder):
        try:
            target = os.readlink(folder / name)
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            kind = sockets.get(target[8:-1], "other_socket")
        elif target.startswith("pipe:"):
            kind = "pipe"
        elif target.startswith("anon_inode:"):
            kind = "anon"
        elif ".sqlite3" in target:
            kind = "sqlite"
        elif "/archive/" in target:
            kind = "recording"
        elif target.startswith("/"):
            kind = "file"
        else:
            kind = "other"
        counts[kind] = counts.get(kind, 0) + 1
    return dict(sorted(counts.items()))


def child_pids(pid: int) -> list[int]:
    """Direct children of ``pid`` (recording workers, multiprocessing's tracker)."""
    pids: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                text = Path(f"/proc/{pid}/task/{task}/children").read_text()
                pids.extend(int(p) for p in text.split())
    return sorted(set(pids))


def load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


@dataclass(frozen=True, slots=True)
class Sample:
    """The server process at one moment."""

    rss_mb: float
    fds: int
    fd_kinds: dict[str, int]
    children: int

    @classmethod
    def of(cls, pid: int) -> Sample:
        return cls(rss_mb(pid), fd_count(pid), fd_kinds(pid), len(child_pids(pid)))


async def settle(pid: int, quiet: float = 2.0, within: float = 20.0) -> Sample:
    """Wait until the descriptor count has not moved for ``quiet`` seconds (at most
    ``within``), then sample. Nothing can make the server collect garbage from outside,
    so this is the only settling there is."""
    loop = asyncio.get_running_loop()
    start = stable_since = loop.time()
    last = fd_count(pid)
    while loop.time() - start < within:
        await asyncio.sleep(0.25)
        now = fd_count(pid)
        if now != last:
            last, stable_since = now, loop.time()
        elif loop.time() - stable_since >= quiet:
            break
    return Sample.of(pid)


class ServerProcess:
    """``reception-bridge serve`` in a child process with its own data folder."""

    def __init__(self, root: Path, *, probe: bool = False) -> None:
        self.root = root
        self.data_dir = root / "data"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = root / "server.log"
        self.probe_path = root / "probe.json" if probe else None
        """Where ``bench.probe`` writes the server's asyncio task count (``probe=True``)."""
        self.command = [sys.executable, "-m", "bench.probe" if probe else "web.cli"]
        """How to run ``reception-bridge`` (``load-sites``, ``serve`` are appended)."""
        self.process: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def _env(self) -> dict[str, str]:
        # The caller's RB_ settings stay out (each server gets its own), except the relay's
        # forwarding mode: RB_FORWARDING=frame pytest ... runs child servers in frame mode.
        env = {
            k: v for k, v in os.environ.items() if not k.startswith("RB_") or k == "RB_FORWARDING"
        }
        env.update(
            RB_DATA_DIR=str(self.data_dir),
            RB_HOST="127.0.0.1",
            RB_PORT=str(self.port),
            RB_SECRET=SECRET,
            RB_RECORD_ON_OPEN="true",
            DATABASE_URL="",  # the embedded SQLite in the data folder
            REDIS_URL="",  # the in-memory Socket.IO manager
        )
        if self.probe_path is not None:
            env[PROBE_FILE_ENV] = str(self.probe_path)
        return env

    async def tasks(self, within: float = 10.0) -> int:
        """The server's live asyncio tasks, counted after this call (needs ``probe``)."""
        return int((await self.task_census(within))["tasks"])

    async def object_census(self, within: float = 60.0) -> dict[str, int]:
        """Live Python objects of the server by type (the commonest), counted by the
        probe on the server's loop after a full collection (needs ``probe``)."""
        assert self.probe_path is not None, "started without the probe"
        request, answer = objects_paths(self.probe_path)
        answer.unlink(missing_ok=True)
        request.touch()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            if answer.exists():
                return dict(json.loads(answer.read_text())["objects"])
            await asyncio.sleep(0.5)
        raise RuntimeError(f"the probe counted no objects in {within}s")

    async def task_census(self, within: float = 10.0) -> dict[str, Any]:
        """The probe's count after this call: ``tasks`` and ``by_coroutine``."""
        assert self.probe_path is not None, "started without the probe"
        asked = time.time()
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError, KeyError):
                data = json.loads(self.probe_path.read_text())
                if float(data["at"]) > asked:
                    return dict(data)
            await asyncio.sleep(0.2)
        raise RuntimeError(f"the probe wrote no task count in {within}s")

    def log_tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    async def start(self) -> None:
        exe = self.command
        env = self._env()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        loading = await asyncio.create_subprocess_exec(
            *exe, "load-sites", env=env, cwd=REPO, stdout=PIPE, stderr=STDOUT
        )
        output, _ = await loading.communicate()
        if loading.returncode != 0:
            raise RuntimeError(f"load-sites failed: {output.decode(errors='replace')}")
        with self.log_path.open("wb") as log:
            self.process = await asyncio.create_subprocess_exec(
                *exe, "serve", env=env, cwd=REPO, stdout=log, stderr=STDOUT
            )
        deadline = time.monotonic() + 60
        async with aiohttp.ClientSession() as http:
            while True:
                if self.process.returncode is not None:
                    raise RuntimeError(f"the server exited at start:\n{self.log_tail()}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"{self.url}/api/sites/{HOST}") as resp:
                        if resp.status == 200:
                            return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not answer in 60 s:\n{self.log_tail()}")
                await asyncio.sleep(0.2)

    async def stop(self) -> int | None:
        """SIGTERM (a graceful shutdown), SIGKILL after 30 s; returns the exit code."""
        process = self.process
        if process is None:
            return None
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await asyncio.wait_for(process.wait(), 10)
        return process.returncode

    def recordings_sealed(self) -> int:
        return sum(1 for _ in (self.data_dir / "archive").glob("recordings/*/manifest.json"))


# -- endpoints ---------------------------------------------------------------------------


class SyntheticVideo(VideoStreamTrack):
    """Small frames with moving content, so VP8 sends real keyframes and deltas."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        rng = random.Random(seed)
        band = bytes(rng.randrange(256) for _ in range(WIDTH * 16))
        chroma = bytes([rng.randrange(256)]) * (WIDTH * HEIGHT // 4)
        self._frames: list[VideoFrame] = []
        for i in range(15):
            luma = bytearray(bytes((x + 8 * i) & 0xFF for x in range(WIDTH)) * HEIGHT)
            top = (i * 14) % (HEIGHT - 16)
            luma[top * WIDTH : (top + 16) * WIDTH] = band
            frame = VideoFrame(WIDTH, HEIGHT, "yuv420p")
            frame.planes[0].update(bytes(luma))
            frame.planes[1].update(chroma)
            frame.planes[2].update(chroma)
            self._frames.append(frame)
        self._sent = 0

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = self._frames[self._sent % len(self._frames)]
        frame.pts, frame.time_base = pts, Fraction(time_base)
        self._sent += 1
        return frame


@dataclass(slots=True)
class Observed:
    """What one endpoint saw of the end of its session."""

    site: str
    session_closed: dict[str, Any] | None = None
    """The ``session_closed`` payload, if it came."""
    disconnected: bool = False
    """The socket was disconnected (by the server: the endpoint never disconnects first)."""
    pc_states: dict[str, list[str]] = field(default_factory=dict)
    """Connection states of the publish and subscribe peer connections, in order."""

    @property
    def pcs_closed(self) -> bool:
        return bool(self.pc_states) and all(s[-1] == "closed" for s in self.pc_states.values())


class ChurnClient(BridgeClient):
    """A ``BridgeClient`` that notes ``session_closed`` and its peer connections' states."""

    def __init__(self, url: str, token: str, site: str) -> None:
        super().__init__(url, token, video_codecs=("video/VP8",))
        self.observed = Observed(site)
        self._watched: dict[str, RTCPeerConnection] = {}
        handlers = self.sio.handlers.get(NAMESPACE, {})
        previous: Callable[..., Any] | None = handlers.get("session_closed")

        async def on_session_closed(data: dict[str, Any]) -> None:
            self.observed.session_closed = data
            if previous is not None:  # BridgeClient's own handler, once it has one
                result = previous(data)
                if asyncio.iscoroutine(result):
                    await result

        self.sio.on("session_closed", on_session_closed, namespace=NAMESPACE)

    def watch(self, name: str, pc: RTCPeerConnection | None) -> None:
        """Record ``pc``'s connection state from now on."""
        if pc is None or name in self._watched:
            return
        self._watched[name] = pc
        states = self.observed.pc_states.setdefault(name, [pc.connectionState])

        def changed() -> None:
            states.append(pc.connectionState)

        pc.on("connectionstatechange", changed)

    def released(self) -> bool:
        """Let go: ``session_closed`` heard, socket disconnected, both pcs closed."""
        self.observed.disconnected = self.disconnected.is_set()
        return (
            self.observed.session_closed is not None
            and self.observed.disconnected
            and self.observed.pcs_closed
        )


def _missing(clients: list[ChurnClient], sites: list[str], kind: str) -> list[str]:
    return [
        f"{c.observed.site}<-{s}"
        for c in clients
        for s in sites
        if s != c.observed.site and c.frames_from(s, kind) < MIN_FRAMES
    ]


async def until(condition: Callable[[], bool], within: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


# -- one cycle ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CycleResult:
    session_id: str
    seconds: float
    """Book to all endpoints let go."""
    release_seconds: float
    """REST close to all endpoints let go."""
    observed: tuple[Observed, ...]


Post = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
"""POST ``path`` with a JSON body as an administrator; the answer's JSON (raises on an
error status)."""


async def open_session(
    post: Post, title: str, participants: list[str], host: str = HOST, *, record: bool
) -> str:
    """Book a session of ``host`` and ``participants`` running from 5 minutes ago for 2
    hours, open it through ``post``, and return its id (benchmarks and tests share it)."""
    now = datetime.now(UTC).replace(microsecond=0)
    session = await post(
        "/api/sessions",
        {
            "title": title,
            "host_site": host,
            "starts_at": (now - timedelta(minutes=5)).isoformat(),
            "ends_at": (now + timedelta(hours=2)).isoformat(),
            "participants": participants,
            "allow_day_off": True,
            "record": record,
        },
    )
    session_id = str(session["id"])
    await post(f"/api/sessions/{session_id}/open", {})
    return session_id


class Churn:
    """Drives cycles against one server over REST and ``/bridge``."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        admin = issue_token(SECRET, role=Role.ADMINISTRATOR, site=HOST, subject="bench@lifecycle")
        self._headers = {"Authorization": f"Bearer {admin}"}
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Churn:
        # No keep-alive: an idle HTTP connection would count among the server's fds.
        self._http = aiohttp.ClientSession(
            headers=self._headers, connector=aiohttp.TCPConnector(force_close=True)
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._http is not None:
            await self._http.close()

    async def _post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        assert self._http is not None
        async with self._http.post(f"{self.server.url}{path}", json=body or {}) as resp:
            answer: dict[str, Any] = await resp.json()
            if resp.status >= 300:
                raise CycleError(f"POST {path}: {resp.status} {answer}")
            return answer

    async def open_session(
        self, title: str, provinces: list[str], sites: list[str]
    ) -> tuple[str, list[str]]:
        """Book a recorded session of ``HOST`` and ``provinces`` over REST, open it, and
        return its id and a room token for each of ``sites``."""
        session_id = await open_session(self._post, title, provinces, record=True)
        tokens = await asyncio.gather(
            *(self._post(f"/api/sessions/{session_id}/room-token", {"site": s}) for s in sites)
        )
        return session_id, [str(t["token"]) for t in tokens]

    async def close_session(self, session_id: str, reason: str = "bench") -> None:
        await self._post(f"/api/sessions/{session_id}/close", {"reason": reason})

    async def cycle(self, index: int, endpoints: int) -> CycleResult:
        t0 = time.monotonic()
        provinces = list(PROVINCES[: max(3, endpoints - 1)])
        sites = [HOST, *provinces][:endpoints]
        session_id, tokens = await self.open_session(
            f"Chu trình mở, kết nối, đóng #{index}", provinces, sites
        )
        clients = [ChurnClient(self.server.url, t, s) for s, t in zip(sites, tokens, strict=True)]
        try:
            await asyncio.gather(*(c.connect(wait=30) for c in clients))
            await asyncio.gather(
                *(c.publish([SyntheticVideo(i), AudioStreamTrack()]) for i, c in enumerate(clients))
            )
            for c in clients:
                c.watch("publish", c.publish_pc)
            flowing = await until(
                lambda: (
                    not _missing(clients, sites, "video") and not _missing(clients, sites, "audio")
                ),
                JOIN_WITHIN,
            )
            if not flowing:
                video, audio = _missing(clients, sites, "video"), _missing(clients, sites, "audio")
                raise CycleError(
                    f"cycle {index}: media did not flow within {JOIN_WITHIN}s; "
                    f"missing video {video}, audio {audio}"
                )
            for c in clients:
                c.watch("subscribe", c.subscribe_pc)
            t_close = time.monotonic()
            await self.close_session(session_id)
            released = await until(lambda: all(c.released() for c in clients), RELEASE_WITHIN)
            release_seconds = time.monotonic() - t_close
            if not released:
                raise CycleError(
                    f"cycle {index}: endpoints not let go {RELEASE_WITHIN}s after "
                    f"the REST close: "
                    + "; ".join(
                        f"{c.observed.site}: session_closed="
                        f"{c.observed.session_closed is not None}, "
                        f"disconnected={c.observed.disconnected}, pcs={c.observed.pc_states}"
                        for c in clients
                    )
                )
        finally:
            await asyncio.gather(
                *(asyncio.wait_for(c.close(), 20) for c in clients), return_exceptions=True
            )
        return CycleResult(
            session_id,
            time.monotonic() - t0,
            release_seconds,
            tuple(c.observed for c in clients),
        )


# -- a run -------------------------------------------------------------------------------


@dataclass(slots=True)
class Phase:
    """One server, ``cycles`` cycles of ``endpoints`` endpoints."""

    cycles: int
    endpoints: int
    before: Sample | None = None
    after_first: Sample | None = None
    after_last: Sample | None = None
    results: list[CycleResult] = field(default_factory=list)
    fds_after_each: list[int] = field(default_factory=list)
    rss_after_each: list[float] = field(default_factory=list)
    children_after_last: list[str] = field(default_factory=list)
    recordings_sealed: int = 0
    server_exit_code: int | None = None

    @property
    def rss_growth_percent(self) -> float:
        assert self.after_first is not None and self.after_last is not None
        return (self.after_last.rss_mb / self.after_first.rss_mb - 1) * 100

    def figures(self) -> dict[str, Any]:
        assert self.before and self.after_first and self.after_last
        seconds = [r.seconds for r in self.results]
        release = [r.release_seconds for r in self.results]
        observed = [o for r in self.results for o in r.observed]
        return {
            "cycles": self.cycles,
            "endpoints": self.endpoints,
            "rss_mb_before": round(self.before.rss_mb, 1),
            "rss_mb_after_first": round(self.after_first.rss_mb, 1),
            "rss_mb_after_last": round(self.after_last.rss_mb, 1),
            "rss_growth_percent": round(self.rss_growth_percent, 1),
            "fds_before": self.before.fds,
            "fds_after_first": self.after_first.fds,
            "fds_after_last": self.after_last.fds,
            "fd_kinds_before": self.before.fd_kinds,
            "fd_kinds_after_first": self.after_first.fd_kinds,
            "fd_kinds_after_last": self.after_last.fd_kinds,
            "children_after_first": self.after_first.children,
            "children_after_last": self.after_last.children,
            "children_after_last_cmdlines": self.children_after_last,
            "seconds_per_cycle": round(sum(seconds) / len(seconds), 2),
            "seconds_per_cycle_max": round(max(seconds), 2),
            "release_seconds_mean": round(sum(release) / len(release), 2),
            "release_seconds_max": round(max(release), 2),
            "session_closed_heard": sum(o.session_closed is not None for o in observed),
            "peer_connections_closed": sum(o.pcs_closed for o in observed),
            "endpoint_cycles": len(observed),
            "recordings_sealed": self.recordings_sealed,
            "fds_after_each_cycle": self.fds_after_each,
            "rss_mb_after_each_cycle": self.rss_after_each,
            "server_exit_code": self.server_exit_code,
        }


def _cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:120]
    return "?"


async def run_phase(
    root: Path,
    cycles: int,
    endpoints: int,
    progress: Callable[[str], None] | None = None,
) -> Phase:
    """Start a server under ``root``, run the cycles, sample, stop the server."""
    phase = Phase(cycles, endpoints)
    server = ServerProcess(root)
    await server.start()
    try:
        phase.before = await settle(server.pid)
        async with Churn(server) as churn:
            for index in range(1, cycles + 1):
                result = await churn.cycle(index, endpoints)
                phase.results.append(result)
                if index == 1:
                    phase.after_first = await settle(server.pid)
                if index == cycles:
                    phase.after_last = await settle(server.pid)
                    phase.children_after_last = [_cmdline(p) for p in child_pids(server.pid)]
                phase.fds_after_each.append(fd_count(server.pid))
                phase.rss_after_each.append(round(rss_mb(server.pid), 1))
                if progress is not None:
                    progress(
                        f"{endpoints} endpoints, cycle {index}/{cycles}: {result.seconds:.1f}s, "
                        f"fds {phase.fds_after_each[-1]}, rss {phase.rss_after_each[-1]} MB"
                    )
    except CycleError as exc:
        raise CycleError(f"{exc} [server log: {server.log_path}]") from exc
    finally:
        phase.server_exit_code = await server.stop()
        phase.recordings_sealed = server.recordings_sealed()
    return phase


async def bench(cycles: int, endpoints: int, verbose: bool) -> dict[str, Any]:
    def progress(line: str) -> None:
        if verbose:
            print(line, file=sys.stderr, flush=True)

    load_before = load_average()
    tmp = Path(tempfile.mkdtemp(prefix="rb-lifecycle-"))
    baseline = await run_phase(tmp / "baseline", cycles, 0, progress)
    media = await run_phase(tmp / "media", cycles, endpoints, progress)
    shutil.rmtree(tmp)  # kept when a cycle fails: the error names the server's log
    return {
        **media.figures(),
        "baseline_no_endpoints": baseline.figures(),
        "load_average_1min_before": load_before,
        "load_average_1min_after": load_average(),
        "cpus": os.cpu_count(),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=50)
    parser.add_argument("--endpoints", type=int, default=4, help=f"1 to {len(PROVINCES) + 1}")
    parser.add_argument("-v", "--verbose", action="store_true", help="progress on stderr")
    args = parser.parse_args(argv)
    if not 1 <= args.endpoints <= len(PROVINCES) + 1 or args.cycles < 1:
        parser.error("need at least one cycle and 1 to 8 endpoints")
    try:
        figures = asyncio.run(bench(args.cycles, args.endpoints, args.verbose))
    except CycleError as exc:
        print(json.dumps({"error": str(exc)}, ensure_ascii=False))
        raise SystemExit(1) from None
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
