"""Soak: a server kept busy for minutes, the way an office uses it; is it flat?

    nice python -m bench.soak --minutes 10 [--warmup-minutes 2]

Issue 12: "sessions open and close, sites join and leave, operator commands, recordings;
prints RSS, fds, UDP sockets and asyncio tasks at start, middle and end (goal: flat
within 10 % after warm-up)". The server is ``reception-bridge serve`` in a child process
(``bench.lifecycle.ServerProcess`` with ``bench.probe``, so its asyncio tasks are counted
on its own loop; SQLite and recordings in a temporary data folder). Rounds follow each
other until the time is up; one round, all over the wire:

1. book a recorded session of the host ``tw-hanoi`` and three provinces over REST, open
   it, take room tokens; the host and two provinces join with real aiortc media
   (synthetic VP8 and Opus);
2. once everyone receives everyone, the host's operator joins the console's way; it
   patches a province out and in, mutes and unmutes it, marks a case, stops and
   restarts the recording;
3. the third province visits twice (joins on standby, is previewed by the operator,
   patched in, received by the host, leaves) and one province leaves and comes back
   (in the patch state it left in);
4. media flows a few seconds more, then the session is closed over REST and every
   endpoint must be let go (``session_closed``, socket and peer connections closed).

The server is sampled between rounds, with no session open, once its descriptors have
been still for two seconds: after the first round ("first_round", shown but not judged),
after the first round that ends past the warm-up (``--warmup-minutes``, default 2: code
paths, connection pools, allocator arenas and caches filled; this sample is "start"),
after the round that crosses half of the time left, and after the last. The goal
("flat within 10 % after warm-up") is judged from "start" to "end".
Prints one JSON object: the samples, growth from start to end in %, the 1-minute
load average before and after, rounds, visits, commands and the media moved. A round
that fails (media not flowing in time: on a machine loaded far past its cores ICE
consent can expire, issue 12 item 2) is counted with its reason, its session is
closed over REST, and the soak goes on; more than ``MAX_FAILED`` end it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiortc.mediastreams import AudioStreamTrack

from bench.lifecycle import (
    HOST,
    JOIN_WITHIN,
    MIN_FRAMES,
    PROVINCES,
    RELEASE_WITHIN,
    SECRET,
    Churn,
    ChurnClient,
    CycleError,
    Sample,
    ServerProcess,
    SyntheticVideo,
    load_average,
    settle,
    until,
)
from core.access import Role
from signaling.client import BridgeClient
from signaling.tokens import issue_token

HOLD = 4.0
"""Seconds of media with everyone present, once per round."""
VISITS = 2
"""Visits of the third province per round."""
MAX_FAILED = 5
"""Failed rounds after which the soak gives up."""
PING_TASK = "AsyncSocket._send_ping"
PING_DRAIN = 35.0
"""Longest wait for Engine.IO's ping tasks of closed sockets to end (seconds)."""


@dataclass(frozen=True, slots=True)
class Point:
    """The server between rounds."""

    label: str
    round: int
    elapsed_s: float
    rss_mb: float
    fds: int
    udp_sockets: int
    asyncio_tasks: int
    tasks_by_coroutine: dict[str, int]
    fd_kinds: dict[str, int]
    children: int
    objects: dict[str, int] = field(default_factory=dict)
    """Live Python objects by type (the commonest), after a full collection."""


@dataclass(slots=True)
class Tally:
    rounds: int = 0
    visits: int = 0
    rejoins: int = 0
    commands: int = 0
    recordings_restarted: int = 0
    media_bytes: int = 0
    media_frames: int = 0
    media_seconds: float = 0.0
    points: list[Point] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    """Rounds that did not complete (media did not flow in time, say), with why."""


def _received(clients: list[BridgeClient]) -> tuple[int, int]:
    tracks = [t for c in clients for t in c.received.values()]
    return sum(t.payload_bytes for t in tracks), sum(t.frames for t in tracks)


def _hears(receiver: BridgeClient, site: str) -> Callable[[], bool]:
    return lambda: (
        receiver.frames_from(site, "video") >= MIN_FRAMES
        and receiver.frames_from(site, "audio") >= MIN_FRAMES
    )


async def _wait(condition: Callable[[], bool], what: str, within: float = JOIN_WITHIN) -> None:
    if not await until(condition, within):
        raise CycleError(f"{what} within {within}s")


class Soak:
    def __init__(self, server: ServerProcess, churn: Churn) -> None:
        self.server = server
        self.churn = churn
        self.tally = Tally()

    async def _join(self, token: str, site: str, publish: bool = True) -> ChurnClient:
        client = ChurnClient(self.server.url, token, site)
        await client.connect(wait=30)
        if publish:
            seed = self.tally.rounds * 10 + self.tally.visits
            await client.publish([SyntheticVideo(seed), AudioStreamTrack()])
            client.watch("publish", client.publish_pc)
        return client

    async def _leave(self, client: ChurnClient) -> None:
        await client.leave()
        await _wait(client.disconnected.is_set, f"{client.observed.site} let go after leave")
        self._count(client)

    def _count(self, client: BridgeClient) -> None:
        moved, frames = _received([client])
        self.tally.media_bytes += moved
        self.tally.media_frames += frames

    async def round(self, index: int) -> None:
        provinces = list(PROVINCES[:3])
        sites = [HOST, *provinces]
        session_id, tokens = await self.churn.open_session(
            f"Phiên thử tải #{index}", provinces, sites
        )
        token = dict(zip(sites, tokens, strict=True))
        operator_token = issue_token(
            SECRET, role=Role.OPERATOR, site=HOST, session=session_id, subject="soak@tw-hanoi"
        )
        host_site, first, second, visitor = HOST, *provinces
        clients: list[ChurnClient] = []
        closed = False
        t0 = time.monotonic()
        try:
            rooms = await asyncio.gather(*(self._join(token[s], s) for s in sites[:3]))
            clients += rooms
            host = rooms[0]
            for receiver in rooms:
                for site in (host_site, first, second):
                    if site != receiver.observed.site:
                        await _wait(_hears(receiver, site), f"{receiver.observed.site} <- {site}")
            # The operator comes in: from now on a point that joins is on standby
            # (previewed by the operator only) until it is patched in.
            operator = await self._join(operator_token, HOST, publish=False)
            clients.append(operator)
            await _wait(_hears(operator, first), "the operator's view of a province")
            for op, fields in (
                ("patch_out", {"site": first}),
                ("patch_in", {"site": first}),
                ("mute", {"site": first}),
                ("unmute", {"site": first}),
                ("mark_case", {"case_number": f"KN-2026/{index:04d}", "text": "Thử tải"}),
                ("record_stop", {}),
                ("record_start", {}),
            ):
                await operator.command(op, **fields)
                self.tally.commands += 1
            self.tally.recordings_restarted += 1

            for _ in range(VISITS):
                guest = await self._join(token[visitor], visitor)
                await _wait(_hears(operator, visitor), "the operator's preview of the visitor")
                await operator.command("patch_in", site=visitor)
                self.tally.commands += 1
                await _wait(_hears(host, visitor), "the host <- the visiting province")
                await self._leave(guest)
                self.tally.visits += 1
            leaving = rooms[2]
            clients.remove(leaving)
            await self._leave(leaving)
            back = await self._join(token[second], second)
            clients.append(back)
            await _wait(_hears(host, second), "the host <- the province that came back")
            self.tally.rejoins += 1
            await asyncio.sleep(HOLD)
            for c in clients:
                c.watch("subscribe", c.subscribe_pc)

            closed = True
            await self.churn.close_session(session_id, "soak")
            if not await until(lambda: all(c.released() for c in clients), RELEASE_WITHIN):
                raise CycleError(
                    f"round {index}: endpoints not let go: "
                    + "; ".join(f"{c.observed.site} {c.observed}" for c in clients)
                )
        finally:
            if not closed:
                # A round that failed half-way still ends its session over REST.
                with contextlib.suppress(CycleError, aiohttp.ClientError):
                    await self.churn.close_session(session_id, "soak")
            await asyncio.gather(
                *(asyncio.wait_for(c.close(), 20) for c in clients), return_exceptions=True
            )
            for c in clients:
                self._count(c)
            self.tally.media_seconds += time.monotonic() - t0
        self.tally.rounds += 1

    async def sample(self, label: str, started: float) -> Point:
        sample: Sample = await settle(self.server.pid)
        census = await self.server.task_census()
        # Engine.IO's ping task of a closed socket ends by itself one ping interval
        # (25 s) after the socket's last ping: wait for those, they are not kept.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PING_DRAIN
        while census["by_coroutine"].get(PING_TASK) and loop.time() < deadline:
            await asyncio.sleep(1.0)
            census = await self.server.task_census()
        point = Point(
            label=label,
            round=self.tally.rounds,
            elapsed_s=round(time.monotonic() - started, 1),
            rss_mb=round(sample.rss_mb, 1),
            fds=sample.fds,
            udp_sockets=sample.fd_kinds.get("udp", 0),
            asyncio_tasks=int(census["tasks"]),
            tasks_by_coroutine=dict(census["by_coroutine"]),
            fd_kinds=sample.fd_kinds,
            children=sample.children,
            objects=await self.server.object_census(),
        )
        self.tally.points.append(point)
        return point


def _growth(start: float, end: float) -> float | None:
    return round((end / start - 1) * 100, 1) if start else (0.0 if end == start else None)


def _point(point: Point) -> dict[str, Any]:
    """A sample as printed (its object census only through the growth below)."""
    out = asdict(point)
    del out["objects"]
    return out


def figures(
    tally: Tally, load_before: float, minutes: float, warmup_minutes: float
) -> dict[str, Any]:
    first, start, middle, end = tally.points
    growth = {
        name: _growth(getattr(start, name), getattr(end, name))
        for name in ("rss_mb", "fds", "udp_sockets", "asyncio_tasks")
    }
    flat = all(g is not None and abs(g) <= 10.0 for g in growth.values())
    # Half time to the end shows whether it keeps growing.
    late = {
        name: _growth(getattr(middle, name), getattr(end, name))
        for name in ("rss_mb", "fds", "udp_sockets", "asyncio_tasks")
    }
    grown = {
        name: end.objects.get(name, 0) - start.objects.get(name, 0)
        for name in set(start.objects) | set(end.objects)
    }
    top_grown = dict(sorted(grown.items(), key=lambda kv: -kv[1])[:15])
    return {
        "bench": "soak",
        "minutes": minutes,
        "warmup_minutes": warmup_minutes,
        "rounds": tally.rounds,
        "rounds_failed": len(tally.failed),
        "failures": tally.failed,
        "sessions_opened_and_closed": tally.rounds,
        "visits": tally.visits,
        "rejoins": tally.rejoins,
        "operator_commands": tally.commands,
        "recordings_restarted": tally.recordings_restarted,
        "first_round": _point(first),
        "growth_percent_first_round_to_start": {
            name: _growth(getattr(first, name), getattr(start, name))
            for name in ("rss_mb", "fds", "udp_sockets", "asyncio_tasks")
        },
        "start": _point(start),
        "middle": _point(middle),
        "end": _point(end),
        "growth_percent_start_to_end": growth,
        "objects_grown_start_to_end": top_grown,
        "flat_within_10_percent": flat,
        "growth_percent_middle_to_end": late,
        "media_mbit_per_s_received": round(
            tally.media_bytes * 8 / 1e6 / max(tally.media_seconds, 1e-9), 3
        ),
        "media_frames_received": tally.media_frames,
        "media_mb_received": round(tally.media_bytes / 1e6, 1),
        "load_average_1min_before": load_before,
        "load_average_1min_after": load_average(),
        "cpus": os.cpu_count(),
    }


async def run(
    root: Path,
    minutes: float,
    progress: Callable[[str], None] | None = None,
    warmup_minutes: float = 2.0,
) -> dict[str, Any]:
    """Soak a fresh server under ``root`` for ``minutes``, the first ``warmup_minutes``
    of them not judged (at least three rounds after the warm-up)."""
    if not 0 <= warmup_minutes < minutes:
        raise ValueError("the warm-up must be shorter than the soak")
    load_before = load_average()
    server = ServerProcess(root, probe=True)
    await server.start()
    started = time.monotonic()
    deadline = started + minutes * 60
    warm = started + warmup_minutes * 60
    halfway = warm + (deadline - warm) / 2
    try:
        async with Churn(server) as churn:
            soak = Soak(server, churn)
            await soak.round(1)
            await soak.sample("first_round", started)
            start_taken = time.monotonic() >= warm
            if start_taken:  # no warm-up asked for (or it was shorter than one round)
                soak.tally.points.append(soak.tally.points[-1])
            middle_taken = False
            index = 1
            judged_rounds = 0
            while time.monotonic() < deadline or judged_rounds < 3:
                index += 1
                try:
                    await soak.round(index)
                except CycleError as exc:
                    # Counted, and the soak goes on: a failed round's clean-up is a path
                    # whose leaks the samples must show too.
                    soak.tally.failed.append(f"round {index}: {str(exc)[:200]}")
                    if len(soak.tally.failed) > MAX_FAILED:
                        raise
                if progress is not None:
                    progress(f"round {index} done at {time.monotonic() - started:.0f}s")
                if not start_taken:
                    if time.monotonic() >= warm:
                        await soak.sample("start", started)
                        start_taken = True
                    continue
                judged_rounds += 1
                if not middle_taken and time.monotonic() >= halfway:
                    await soak.sample("middle", started)
                    middle_taken = True
            if not middle_taken:
                await soak.sample("middle", started)
            await soak.sample("end", started)
    except CycleError as exc:
        raise CycleError(f"{exc} [server log: {server.log_path}]") from exc
    finally:
        await server.stop()
    return figures(soak.tally, load_before, minutes, warmup_minutes)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument(
        "--warmup-minutes",
        type=float,
        default=2.0,
        help="the first minutes, not judged: the 'start' sample is taken after them",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="progress on stderr")
    args = parser.parse_args(argv)

    def progress(line: str) -> None:
        if args.verbose:
            print(line, file=sys.stderr, flush=True)

    tmp = Path(tempfile.mkdtemp(prefix="rb-soak-"))
    try:
        result = asyncio.run(run(tmp, args.minutes, progress, args.warmup_minutes))
    except CycleError as exc:
        print(json.dumps({"error": str(exc)}, ensure_ascii=False))
        raise SystemExit(1) from None
    shutil.rmtree(tmp)  # kept when a round fails: the error names the server's log
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
