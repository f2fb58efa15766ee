"""Relay benchmark: frame- and packet-level forwarding against aiortc's MediaRelay.

    python -m bench.relay --subscribers 16 --seconds 20 [--modes frame,packet,transcode]

For each mode, starts a server process (the real app with ``RB_FORWARDING`` frame or
packet; a bench-only MediaRelay server, decode + encode, for the baseline), then one
640x480 VP8 publisher in this process, held at 1 Mbit/s in every mode (``--publish-kbps``),
and N subscribers in worker processes. The
subscribers are light: real aiortc connections (ICE, DTLS-SRTP, RTCP) whose receivers
only count complete frames (every packet from a frame's first to its marker arrived,
no sequence gap), without jitter buffer or depacketising, so 32 of them fit on the
machine beside the server. Server CPU comes from
/proc/<pid>/stat. Prints one JSON object, with the bitrate the publisher sent and the
relay forwarded (figures from machines whose encoders make other bitrates compare through
``streams_per_core_at_1mbps``), and the latency the relay adds to a frame
(``relay_latency_ms_p50``/``_p95``: one more subscriber in this process times frames from
the publisher's sender to its receiver, minus the same over a direct peer connection;
it joins after the CPU window, so the window's server forwards to N subscribers, as the
transcoding server does).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.codecs import vpx
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamTrack, VideoStreamTrack
from av import VideoFrame
from av.video.frame import PictureType

from bench.loopback import measure as measure_loopback
from bridge.rtc_internals import codec_preferences, tap_receiver, tap_rtp, tap_sender

if TYPE_CHECKING:
    from bench.frame_index import Windows

SESSION = "bench"
SITES = ["tw-hanoi", *[f"site-{i}" for i in range(64)]]
SECRET = "bench-secret-bench-secret-bench-secret"
WIDTH, HEIGHT, FPS = 640, 480, 30
WARMUP = 6.0
LATENCY_WARMUP = 3.0
"""Seconds from the latency probe's connection to its first timed frame."""
LATENCY_SECONDS = 10.0
"""Longest latency window (after the CPU window)."""


class PatternTrack(VideoStreamTrack):
    """640x480 frames with moving content (a drifting gradient and a noisy band), so
    VP8 has real work to do and a real bitrate."""

    def __init__(self) -> None:
        super().__init__()
        rng = random.Random(1)
        band = bytes(rng.randrange(256) for _ in range(WIDTH * 32))
        chroma = bytes([128]) * (WIDTH * HEIGHT // 4)
        self.frames: list[VideoFrame] = []
        """One second of the pattern, sent in a loop."""
        for i in range(FPS):
            rows = [bytes((x + y + 8 * i) & 0xFF for x in range(WIDTH)) for y in range(HEIGHT)]
            luma = bytearray(b"".join(rows))
            top = (i * 12) % (HEIGHT - 32)
            luma[top * WIDTH : (top + 32) * WIDTH] = band
            frame = VideoFrame(WIDTH, HEIGHT, "yuv420p")
            frame.planes[0].update(bytes(luma))
            frame.planes[1].update(chroma)
            frame.planes[2].update(chroma)
            self.frames.append(frame)
        self.sent = 0

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = self.frames[self.sent % FPS]
        frame.pts, frame.time_base = pts, time_base
        # aiortc's VP8 encoder forces a keyframe by setting the frame's picture type to
        # I; on a frame sent again every second that would stay, and each keyframe
        # request would add a keyframe a second for good (it did: the publisher sent
        # 1.1-1.3 Mbit/s at a 1 Mbit/s target into the servers that ask for keyframes).
        frame.pict_type = PictureType.NONE
        self.sent += 1
        return frame


class FrameTimes:
    """Time each video frame from the publisher's sender to one subscriber's receiver.

    Frames are matched by their encoded bytes, which the relay forwards unchanged (the
    publisher side sees them just before packetising, the subscriber once its jitter
    buffer has the whole frame). Both ends live in this process, so one monotonic clock
    serves both. The same measure over a direct peer connection, without the server, is
    subtracted to give what the server adds.
    """

    def __init__(self) -> None:
        self.sent: dict[bytes, float] = {}
        self.latencies_ms: list[float] = []
        self.recording = False

    @staticmethod
    def _key(data: bytes) -> bytes:
        return hashlib.blake2b(data, digest_size=16).digest()

    def on_sent(self, data: bytes) -> None:
        self.sent[self._key(data)] = time.monotonic()
        if len(self.sent) > 4 * FPS * 60:
            self.sent.pop(next(iter(self.sent)))

    def on_received(self, data: bytes) -> None:
        sent = self.sent.get(self._key(data))
        if sent is not None and self.recording:
            self.latencies_ms.append((time.monotonic() - sent) * 1000)

    def percentiles(self) -> tuple[float, float]:
        if len(self.latencies_ms) < 20:
            return float("nan"), float("nan")
        cuts = statistics.quantiles(self.latencies_ms, n=20)
        return statistics.median(self.latencies_ms), cuts[18]


async def direct_latency(seconds: float) -> FrameTimes:
    """The same frames over one peer connection with no server between, for the
    baseline of the relay-added latency."""
    times = FrameTimes()
    publisher, subscriber = RTCPeerConnection(), RTCPeerConnection()

    @subscriber.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        transceiver = next(t for t in subscriber.getTransceivers() if t.receiver.track is track)
        tap_receiver(
            transceiver.receiver, lambda _c, data, _t: times.on_received(data), lambda: None
        )

    transceiver = publisher.addTransceiver(PatternTrack(), direction="sendonly")
    transceiver.setCodecPreferences(codec_preferences("video", ["video/VP8"]))
    tap_sender(transceiver.sender, times.on_sent)
    await publisher.setLocalDescription(await publisher.createOffer())
    await subscriber.setRemoteDescription(publisher.localDescription)
    await subscriber.setLocalDescription(await subscriber.createAnswer())
    await publisher.setRemoteDescription(subscriber.localDescription)
    try:
        await asyncio.sleep(WARMUP)
        times.recording = True
        await asyncio.sleep(seconds)
    finally:
        times.recording = False
        await publisher.close()
        await subscriber.close()
    return times


# -- server side -------------------------------------------------------------------------


def serve_forward(port: int, forwarding: str) -> None:
    """The real app: /bridge signaling and the relay, forwarding frames or packets."""
    from config.settings import Settings
    from core.ids import SessionId, SiteId
    from core.sessions import MemoryDirectory, SessionInfo, SessionState, SiteInfo
    from web.app import create_app

    now = datetime.now(UTC)
    session = SessionInfo(
        SessionId(SESSION),
        "bench",
        SiteId(SITES[0]),
        frozenset(SiteId(s) for s in SITES),
        SessionState.OPEN,
        now,
        now + timedelta(hours=1),
    )
    directory = MemoryDirectory([session], [SiteInfo(SiteId(s), s) for s in SITES])
    data = Path(os.environ.get("TMPDIR", "/tmp")) / f"rb-bench-{port}"
    app = create_app(
        Settings(
            port=port, secret=SECRET, data_dir=data, record_on_open=False, forwarding=forwarding
        ),
        directory=directory,
    )
    web.run_app(app, host="127.0.0.1", port=port, print=None)


def serve_transcode(port: int) -> None:
    """Baseline: aiortc as usual, every subscriber gets a decoded and re-encoded copy."""
    relay = MediaRelay()
    state: dict[str, Any] = {"track": None, "pcs": set()}

    async def publish(request: web.Request) -> web.Response:
        body = await request.json()
        pc = RTCPeerConnection()
        state["pcs"].add(pc)
        pc.on("track", lambda track: state.__setitem__("track", track))
        await pc.setRemoteDescription(RTCSessionDescription(body["sdp"], "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        return web.json_response({"sdp": pc.localDescription.sdp})

    async def subscribe(request: web.Request) -> web.Response:
        body = await request.json()
        pc = RTCPeerConnection()
        state["pcs"].add(pc)
        await pc.setRemoteDescription(RTCSessionDescription(body["sdp"], "offer"))
        for transceiver in pc.getTransceivers():
            transceiver.sender.replaceTrack(relay.subscribe(state["track"]))
            transceiver.direction = "sendonly"
        await pc.setLocalDescription(await pc.createAnswer())
        return web.json_response({"sdp": pc.localDescription.sdp})

    app = web.Application()
    app.router.add_post("/publish", publish)
    app.router.add_post("/subscribe", subscribe)
    web.run_app(app, host="127.0.0.1", port=port, print=None)


# -- measurement -------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def system_cpu_seconds(pid: int) -> float:
    """The kernel's share of :func:`cpu_seconds` (on loopback, a ``sendto`` also pays for
    delivering the datagram to the receiving socket)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[12]) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Run:
    published_fps: float
    delivered_fps: list[float]
    cpu_percent: float
    rss_per_subscriber_mb: float
    published_mbps: float
    published_packets_per_second: float
    latency: FrameTimes | None = None
    system_cpu_percent: float = 0.0


SentCounters = Callable[[], Awaitable[tuple[int, int]]]
"""The publisher's RTP payload bytes and packets sent so far (its sender's stats)."""


def sent_counters(pc: RTCPeerConnection) -> SentCounters:
    async def read() -> tuple[int, int]:
        octets = packets = 0
        for sender in pc.getSenders():
            for stats in (await sender.getStats()).values():
                if getattr(stats, "type", "") == "outbound-rtp":
                    octets += stats.bytesSent
                    packets += stats.packetsSent
        return octets, packets

    return read


def start_server(mode: str, port: int) -> subprocess.Popen[bytes]:
    """The server process; with ``BENCH_PROFILE=<dir>`` it runs under cProfile and leaves
    ``<dir>/<mode>.prof`` when it stops (the figures then include the profiler's cost)."""
    profile = os.environ.get("BENCH_PROFILE")
    prefix = ["-m", "cProfile", "-o", str(Path(profile) / f"{mode}.prof")] if profile else []
    return subprocess.Popen(
        [sys.executable, *prefix, "-m", "bench.relay", "--serve", mode, "--port", str(port)],
        cwd=Path(__file__).resolve().parent.parent,
    )


async def wait_port(port: int) -> None:
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not start")


class FrameCounter:
    """Counts the frames whose packets all arrived (no sequence gap from the packet after
    the previous frame's marker to this frame's marker), from RTP packets alone."""

    def __init__(self) -> None:
        self.complete = 0
        self.packets = 0
        self.last_sequence: int | None = None
        self._whole = False

    def on_packet(self, seq: int, timestamp: int, marker: int, _payload: bytes) -> None:
        self.packets += 1
        if self.last_sequence is not None and (seq - self.last_sequence) & 0xFFFF != 1:
            self._whole = False
        self.last_sequence = seq
        if marker:
            if self._whole:
                self.complete += 1
                self.frame_complete(timestamp)
            self._whole = True

    def frame_complete(self, timestamp: int) -> None:
        """A frame whose packets all arrived ended, with RTP ``timestamp`` (for
        subclasses that keep more than the count)."""


def count_frames(pc: RTCPeerConnection, track: MediaStreamTrack) -> FrameCounter:
    """Replace ``track``'s receiver handling with a :class:`FrameCounter`."""
    counter = FrameCounter()
    transceiver = next(t for t in pc.getTransceivers() if t.receiver.track is track)
    tap_rtp(transceiver.receiver, counter.on_packet, lambda _ntp, _rtp: None, light=True)
    return counter


def counting_pc(counts: Any, index: int) -> RTCPeerConnection:
    pc = RTCPeerConnection()
    counters: list[FrameCounter] = []

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        counters.append(count_frames(pc, track))

    async def publish_counts() -> None:
        while True:
            counts[index] = sum(c.complete for c in counters)
            await asyncio.sleep(0.05)

    task = asyncio.ensure_future(publish_counts())
    pc.on(
        "connectionstatechange", lambda: task.cancel() if pc.connectionState == "closed" else None
    )
    return pc


def token_for(site: str) -> str:
    from core.access import Role
    from signaling.tokens import issue_token

    return issue_token(SECRET, role=Role.ROOM, site=site, session=SESSION)


CONNECT_ATTEMPTS = 3
"""Tries a bench client gets to connect before its process gives up."""


async def connect_patiently(client: Any, wait: float = 30.0) -> None:
    """``client.connect(wait)`` (a ``BridgeClient``), tried again on a fresh socket after
    a pause when it fails: a server busy with a batch's connections can leave a
    namespace connection unanswered past ``wait`` (Socket.IO's "Unexpected connection
    error") without anything being wrong."""
    import socketio

    for attempt in range(1, CONNECT_ATTEMPTS + 1):
        try:
            await client.connect(wait=wait)
            return
        except (socketio.exceptions.ConnectionError, TimeoutError) as exc:
            if attempt == CONNECT_ATTEMPTS:
                raise
            print(f"bench client: connect failed ({exc!r}), again", file=sys.stderr, flush=True)
            await client._reset_socket()
            await asyncio.sleep(attempt)


async def light_subscribers(
    url: str,
    tokens: list[str],
    indices: list[int],
    counts: Any,
    ready: Any,
    stop: Any,
    *,
    at_socket: bool = False,
    windows: Windows | None = None,
    sessions: list[int] | None = None,
) -> None:
    """Light ``/bridge`` subscribers, one per token, that count complete frames from RTP
    packets (no reassembly); ``counts[indices[k]]`` follows the frames of ``tokens[k]``,
    ``ready`` counts the clients connected, ``stop`` ends them (``bench.cluster`` too).
    ``at_socket``: once a subscribe connection is up (ICE and DTLS), its frames are
    counted from the SRTP headers at its sockets, read every 50 ms, and it sends a
    receiver report every second (:mod:`bench.socket_frames`). With ``windows`` (and
    ``at_socket``), ``tokens[k]`` receives session ``sessions[k]``'s publisher and the
    subscribers answer the benchmark's windows by frame number
    (:class:`bench.frame_index.Windows`)."""
    from bench.frame_index import merged_count
    from bench.socket_frames import SocketFrames
    from signaling.client import BridgeClient

    class LightClient(BridgeClient):
        """Counts complete frames from RTP packets instead of reassembling them."""

        counters: list[FrameCounter]

        def _on_track(self, track: MediaStreamTrack) -> None:
            super()._on_track(track)
            assert self.subscribe_pc is not None
            self.counters.append(count_frames(self.subscribe_pc, track))

    clients = []
    for token in tokens:
        client = LightClient(url, token, keep_messages=False)
        client.counters = []
        clients.append(client)
    for client in clients:
        await connect_patiently(client)
        with ready.get_lock():
            ready.value += 1
    at_sockets: dict[RTCPeerConnection, SocketFrames] = {}
    of_client: dict[int, list[SocketFrames]] = {i: [] for i in indices}
    slots = sessions if sessions is not None else [0] * len(clients)
    reports: set[asyncio.Task[None]] = set()
    tick = 0
    answered = windows.request[0] if windows is not None else 0
    pauses: list[tuple[float, float]] = []
    """(when, seconds since the previous drain) of each drain."""
    last = time.monotonic()
    while not stop.is_set():
        now = time.monotonic()
        pauses.append((now, now - last))
        last = now
        generation = windows.request[0] if windows is not None else 0
        for i, client, slot in zip(indices, clients, slots, strict=True):
            pc = client.subscribe_pc
            ready_pc = pc if pc is not None and pc.connectionState == "connected" else None
            if at_socket and ready_pc is not None and ready_pc not in at_sockets:
                published = None
                if windows is not None:
                    shared = windows.published
                    published = lambda shared=shared, slot=slot: int(shared[slot])  # noqa: E731
                sockets = SocketFrames(ready_pc, client.counters, published=published)
                sockets.poll()
                at_sockets[ready_pc] = sockets
                of_client[i].append(sockets)
            counts[i] = sum(c.complete for c in client.counters)
        tick += 1
        for pc, sockets in at_sockets.items():
            sockets.drain()
            if tick % 20 == 0 and pc.connectionState == "connected":
                task = asyncio.ensure_future(sockets.report())
                reports.add(task)
                task.add_done_callback(reports.discard)
        if windows is not None and generation != answered:
            # Every datagram that arrived before this tick began has been read.
            start = windows.start.value
            pause = max((p for t, p in pauses if t >= start), default=0.0)
            pauses = [(t, p) for t, p in pauses if t >= start]
            request = windows.request
            for i, slot in zip(indices, slots, strict=True):
                first, end = request[1 + 2 * slot], request[2 + 2 * slot]
                indexes = [x for sockets in of_client[i] for x in sockets.indexes]
                windows.counts[i], windows.lags[i] = merged_count(indexes, first, end)
                windows.gaps[i] = pause
                windows.answered[i] = generation
            answered = generation
        elif len(pauses) > 4000:
            pauses = pauses[-2000:]
        await asyncio.sleep(0.05)
    await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)


async def _subscribe_forward(
    url: str, indices: list[int], counts: Any, ready: Any, stop: Any
) -> None:
    tokens = [token_for(SITES[i + 1]) for i in indices]
    await light_subscribers(url, tokens, indices, counts, ready, stop)


async def _subscribe_transcode(
    url: str, indices: list[int], counts: Any, ready: Any, stop: Any
) -> None:
    pcs = []
    async with aiohttp.ClientSession() as http:
        for i in indices:
            pc = counting_pc(counts, i)
            t = pc.addTransceiver("video", direction="recvonly")
            t.setCodecPreferences(codec_preferences("video", ["video/VP8"]))
            await pc.setLocalDescription(await pc.createOffer())
            async with http.post(f"{url}/subscribe", json={"sdp": pc.localDescription.sdp}) as r:
                answer = (await r.json())["sdp"]
            await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
            pcs.append(pc)
            with ready.get_lock():
                ready.value += 1
        await asyncio.get_running_loop().run_in_executor(None, stop.wait)
    await asyncio.gather(*(pc.close() for pc in pcs), return_exceptions=True)


def subscriber_worker(
    mode: str, url: str, indices: list[int], counts: Any, ready: Any, stop: Any
) -> None:
    """A process holding some of the subscribers (one Python process cannot receive
    16 streams and publish one on a loaded 2-core machine without dropping packets)."""
    run = _subscribe_transcode if mode == "transcode" else _subscribe_forward
    asyncio.run(run(url, indices, counts, ready, stop))


@dataclass
class Window:
    published_fps: float
    delivered_fps: list[float]
    cpu_percent: float
    published_mbps: float
    published_packets_per_second: float
    system_cpu_percent: float


async def measure(
    pid: int,
    track: PatternTrack,
    counts: Any,
    seconds: float,
    sent: SentCounters,
) -> Window:
    await asyncio.sleep(WARMUP)
    sent0, counts0, cpu0, t0 = track.sent, list(counts), cpu_seconds(pid), time.monotonic()
    system0 = system_cpu_seconds(pid)
    octets0, packets0 = await sent()
    await asyncio.sleep(seconds)
    elapsed = time.monotonic() - t0
    octets1, packets1 = await sent()
    cpu = (cpu_seconds(pid) - cpu0) / elapsed * 100
    system = (system_cpu_seconds(pid) - system0) / elapsed * 100
    delivered = [(c - c0) / elapsed for c, c0 in zip(list(counts), counts0, strict=True)]
    return Window(
        (track.sent - sent0) / elapsed,
        delivered,
        cpu,
        (octets1 - octets0) * 8 / elapsed / 1e6,
        (packets1 - packets0) / elapsed,
        system,
    )


Publisher = tuple[Callable[[], Awaitable[Any]], SentCounters]
"""How to close a publisher, and how to read what it has sent."""


async def _publish_forward(
    url: str, track: PatternTrack, times: FrameTimes | None = None
) -> Publisher:
    from signaling.client import BridgeClient

    publisher = BridgeClient(url, token_for(SITES[0]), video_codecs=("video/VP8",))
    await publisher.connect()
    await publisher.publish([track])
    assert publisher.publish_pc is not None
    if times is not None:
        for sender in publisher.publish_pc.getSenders():
            tap_sender(sender, times.on_sent)
    return publisher.close, sent_counters(publisher.publish_pc)


async def _latency_probe(url: str, times: FrameTimes) -> Callable[[], Awaitable[Any]]:
    """One more subscriber, in this process, that times the publisher's frames."""
    from signaling.client import BridgeClient

    probe = BridgeClient(url, token_for(SITES[-1]))
    probe.frame_listener = lambda _track, data: times.on_received(data)
    await probe.connect(wait=30)
    return probe.close


async def _publish_transcode(
    url: str, track: PatternTrack, times: FrameTimes | None = None
) -> Publisher:
    pc = RTCPeerConnection()
    transceiver = pc.addTransceiver(track, direction="sendonly")
    transceiver.setCodecPreferences(codec_preferences("video", ["video/VP8"]))
    await pc.setLocalDescription(await pc.createOffer())
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{url}/publish", json={"sdp": pc.localDescription.sdp}) as r,
    ):
        answer = (await r.json())["sdp"]
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    return pc.close, sent_counters(pc)


async def run_mode(mode: str, port: int, pid: int, n: int, seconds: float, workers: int) -> Run:
    url = f"http://127.0.0.1:{port}"
    track = PatternTrack()
    publish = _publish_transcode if mode == "transcode" else _publish_forward
    times = None if mode == "transcode" else FrameTimes()
    close, sent = await publish(url, track, times)
    close_probe: Callable[[], Awaitable[Any]] | None = None
    await asyncio.sleep(2)
    rss0 = rss_mb(pid)
    ctx = multiprocessing.get_context("spawn")
    counts, ready, stop = ctx.Array("l", n), ctx.Value("i", 0), ctx.Event()
    procs = [
        ctx.Process(
            target=subscriber_worker,
            args=(mode, url, list(range(w, n, workers)), counts, ready, stop),
        )
        for w in range(workers)
    ]
    for proc in procs:
        proc.start()
    try:
        while ready.value < n:
            if not all(p.is_alive() for p in procs):
                raise RuntimeError("a subscriber worker died")
            await asyncio.sleep(0.2)
        window = await measure(pid, track, counts, seconds, sent)
        rss = (rss_mb(pid) - rss0) / n
        if times is not None:
            # Latency is timed after the CPU window, by one more subscriber: in the
            # window the server forwards to N subscribers, as the transcoding one does.
            close_probe = await _latency_probe(url, times)
            await asyncio.sleep(LATENCY_WARMUP)
            times.recording = True
            await asyncio.sleep(min(seconds, LATENCY_SECONDS))
            times.recording = False
    finally:
        stop.set()
        for proc in procs:
            proc.join(20)
            if proc.is_alive():
                proc.kill()
        await close()
        if close_probe is not None:
            await close_probe()
    return Run(
        window.published_fps,
        window.delivered_fps,
        window.cpu_percent,
        rss,
        window.published_mbps,
        window.published_packets_per_second,
        times,
        window.system_cpu_percent,
    )


def forwarding_figures(
    run: Run, transcode: Run | None, direct: FrameTimes, n: int
) -> dict[str, Any]:
    """What one forwarding mode's run shows, normalised to the bitrate it moved."""
    assert run.latency is not None
    relayed_p50, relayed_p95 = run.latency.percentiles()
    direct_p50, direct_p95 = direct.percentiles()
    # What the forwarding server moved, so figures from machines (and encoders) that
    # produce different bitrates can be compared: each subscriber receives the
    # publisher's stream, scaled by the share of frames it was delivered.
    delivered_share = sum(run.delivered_fps) / n / max(run.published_fps, 0.01)
    mbps_per_subscriber = run.published_mbps * delivered_share
    out: dict[str, Any] = {
        "published_fps": round(run.published_fps, 2),
        "delivered_fps_min": round(min(run.delivered_fps), 2),
        "delivered_fps_mean": round(sum(run.delivered_fps) / n, 2),
        "delivered_share": round(delivered_share, 4),
        "server_cpu_percent": round(run.cpu_percent, 1),
        "server_system_cpu_percent": round(run.system_cpu_percent, 1),
        "cpu_per_subscriber": round(run.cpu_percent / n, 2),
        "rss_mb_per_subscriber": round(run.rss_per_subscriber_mb, 2),
        "published_mbps": round(run.published_mbps, 3),
        "bitrate_mbps_per_subscriber": round(mbps_per_subscriber, 3),
        "forwarded_mbps": round(mbps_per_subscriber * n, 2),
        "packets_per_second": round(run.published_packets_per_second * delivered_share * n),
        # Server CPU time per packet it forwarded (fixed costs included): the figure that
        # depends least on how loaded the machine was.
        "cpu_us_per_forwarded_packet": round(
            run.cpu_percent
            / 100
            * 1e6
            / max(run.published_packets_per_second * delivered_share * n, 1),
            1,
        ),
        # Streams one core could forward at 1 Mbit/s each, if CPU scaled with bytes.
        "streams_per_core_at_1mbps": round(
            n * mbps_per_subscriber / max(run.cpu_percent / 100, 0.0001)
        ),
        # Frame time from the publisher's sender to a subscriber's receiver (one more
        # subscriber, in the bench process) through the server, and over a direct
        # peer connection; the difference is what the relay adds.
        "relay_latency_ms_p50": round(relayed_p50 - direct_p50, 2),
        "relay_latency_ms_p95": round(relayed_p95 - direct_p95, 2),
        "relayed_latency_ms_p50": round(relayed_p50, 2),
        "relayed_latency_ms_p95": round(relayed_p95, 2),
        "latency_frames": len(run.latency.latencies_ms),
    }
    if transcode is not None:
        out["ratio"] = round(transcode.cpu_percent / max(run.cpu_percent, 0.01), 1)
        # CPU per delivered frame, transcode over forward: fair when the transcoding
        # server cannot keep up and delivers fewer frames than were published.
        out["ratio_per_delivered_frame"] = round(
            (transcode.cpu_percent / max(sum(transcode.delivered_fps), 0.01))
            / (max(run.cpu_percent, 0.01) / max(sum(run.delivered_fps), 0.01)),
            1,
        )
    return out


PUBLISH_BPS = 1_000_000
"""The publisher's VP8 bitrate in every mode (``--publish-kbps``)."""


def pin_publish_bitrate(bps: int) -> None:
    """Hold this process's VP8 encoders at ``bps``: aiortc's encoder starts at
    ``DEFAULT_BITRATE`` and follows the REMBs it gets within ``MIN_BITRATE`` and
    ``MAX_BITRATE``, module constants read at each use. Left free, the publisher's rate
    follows each server's REMBs (1.07 Mbit/s into MediaRelay, 1.37 into the packet relay
    in one run), and the modes would not forward the same stream."""
    for name in ("DEFAULT_BITRATE", "MIN_BITRATE", "MAX_BITRATE"):
        if not isinstance(getattr(vpx, name, None), int):
            raise RuntimeError(f"aiortc.codecs.vpx.{name} is gone")
        setattr(vpx, name, bps)


async def bench(
    n: int, seconds: float, workers: int, modes: list[str], publish_bps: int = PUBLISH_BPS
) -> dict[str, Any]:
    from tests.conftest import free_port

    pin_publish_bitrate(publish_bps)
    results: dict[str, Run] = {}
    load_before = round(os.getloadavg()[0], 2)
    for mode in modes:
        port = free_port()
        server = start_server(mode, port)
        try:
            await wait_port(port)
            results[mode] = await run_mode(mode, port, server.pid, n, seconds, workers)
        finally:
            server.terminate()
            server.wait(10)
    direct = await direct_latency(min(seconds, 10.0))
    direct_p50, direct_p95 = direct.percentiles()
    # This machine's cost of one datagram sent on loopback, in the sender: part of every
    # mode's server CPU, and what differs most between machines (see bench.loopback).
    loopback = await asyncio.to_thread(measure_loopback, n, 3.0, ("sendto",))
    transcode = results.get("transcode")
    out: dict[str, Any] = {
        "subscribers": n,
        "seconds": seconds,
        "publish_target_mbps": publish_bps / 1e6,
    }
    for mode in ("frame", "packet"):
        if mode in results:
            out[mode] = forwarding_figures(results[mode], transcode, direct, n)
    if transcode is not None:
        out["transcode"] = {
            "server_cpu_percent": round(transcode.cpu_percent, 1),
            "published_fps": round(transcode.published_fps, 2),
            "delivered_fps_min": round(min(transcode.delivered_fps), 2),
            "delivered_fps_mean": round(sum(transcode.delivered_fps) / n, 2),
            "published_mbps": round(transcode.published_mbps, 3),
        }
    out.update(
        {
            "direct_latency_ms_p50": round(direct_p50, 2),
            "direct_latency_ms_p95": round(direct_p95, 2),
            "loopback_sendto_us_per_datagram": loopback["sendto"]["us_per_datagram"],
            "subscriber_processes": workers,
            "load_average_before": load_before,
            "load_average_after": round(os.getloadavg()[0], 2),
            "cpus": os.cpu_count(),
        }
    )
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=2, help="subscriber processes")
    parser.add_argument(
        "--publish-kbps",
        type=int,
        default=PUBLISH_BPS // 1000,
        help="the publisher's VP8 bitrate, the same in every mode",
    )
    parser.add_argument(
        "--modes", default="frame,packet,transcode", help="comma-separated, run in this order"
    )
    parser.add_argument("--serve", choices=["frame", "packet", "transcode"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve == "transcode":
        serve_transcode(args.port)
    elif args.serve:
        serve_forward(args.port, args.serve)
    else:
        modes = [m for m in args.modes.split(",") if m]
        unknown = set(modes) - {"frame", "packet", "transcode"}
        if unknown:
            parser.error(f"unknown modes: {', '.join(sorted(unknown))}")
        print(
            json.dumps(
                asyncio.run(
                    bench(
                        args.subscribers,
                        args.seconds,
                        args.workers,
                        modes,
                        args.publish_kbps * 1000,
                    )
                )
            )
        )


if __name__ == "__main__":
    main()
