"""Subscribe SDP size under churn: one site stays, another joins and leaves many times.

    python -m bench.churn_sdp --cycles 300

Issue 12, item 1: subscribe m-lines used to be never reused, so the offer a long-lived
site gets grew by two m-lines (about 2,600 characters) with every site that came and
went, and past the 256 KiB message cap its answers were refused. Now an m-line whose
track ended is recycled for the next track of its kind and codec.

The real app runs in this process on a free local port (in-memory directory, no
recording); every endpoint is a ``signaling.client.BridgeClient`` (aiortc) over
Socket.IO and real peer connections. The long-lived site is the host ``tw-hanoi``,
publishing VP8 video and Opus audio. One cycle: ``bac-ninh`` joins, publishes video and
audio, the host receives frames of both on its subscribe connection, ``bac-ninh``
leaves and the host gets the offer that ends its tracks. After the cycles ``da-nang``
joins and the host must receive its media too.

The baseline, in the same run, is the same churn with recycling switched off in the
relay (``Participant._take_free_line`` returns None, as before the change), for fewer
cycles: its offers grow linearly; the figures give the growth per cycle and the cycle at
which the offer would pass the 200,000-character limit. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from bridge.participant import Participant
from config.settings import Settings
from core.access import Role
from core.ids import SessionId, SiteId
from core.sessions import MemoryDirectory, SessionInfo, SessionState, SiteInfo
from signaling.client import BridgeClient
from signaling.tokens import issue_token
from web.app import create_app

HOST = "tw-hanoi"
VISITOR = "bac-ninh"
NEWCOMER = "da-nang"
SITES = {
    HOST: "Trụ sở Tiếp công dân Trung ương (Hà Nội)",
    VISITOR: "Ban Tiếp công dân tỉnh Bắc Ninh",
    NEWCOMER: "Ban Tiếp công dân thành phố Đà Nẵng",
}
SESSION = "bench-churn-sdp"
SECRET = "bench-churn-sdp-secret-of-32-bytes-or-more"
SDP_LIMIT = 200_000
"""The offer size past which the old relay's sessions broke (answers over the cap)."""
STEP_TIMEOUT = 30.0
"""Longest wait for one step of a cycle (join, media, leave)."""

TokenFor = Callable[[str], str]


class ChurnError(RuntimeError):
    """A cycle did not reach the state it waits for in time."""


@dataclass(slots=True)
class ChurnResult:
    """What the long-lived site saw."""

    cycles: int = 0
    """Cycles completed (join, media, leave)."""
    seconds: float = 0.0
    """Wall time of the cycles."""
    offer_chars: list[int] = field(default_factory=list)
    """Length of every subscribe offer the host got, oldest first."""
    mlines: list[int] = field(default_factory=list)
    """m-lines in each of those offers."""
    mids: set[str] = field(default_factory=set)
    """Every mid that carried a track at the host (the figures list the first eight)."""
    newcomer_frames: dict[str, int] = field(default_factory=dict)
    """Frames the host received from the site that joined last, by kind."""

    def figures(self) -> dict[str, Any]:
        """The JSON-ready summary."""
        chars = self.offer_chars
        return {
            "cycles": self.cycles,
            "seconds": round(self.seconds, 1),
            "seconds_per_cycle": round(self.seconds / self.cycles, 2) if self.cycles else None,
            "offers": len(chars),
            "offer_chars_first": chars[0] if chars else None,
            "offer_chars_max": max(chars) if chars else None,
            "offer_chars_last": chars[-1] if chars else None,
            "mlines_max": max(self.mlines) if self.mlines else None,
            "mlines_last": self.mlines[-1] if self.mlines else None,
            "mids_used": len(self.mids),
            "mids": sorted(self.mids, key=lambda m: (len(m), m))[:8],
            "newcomer_frames": self.newcomer_frames,
        }


async def _until(condition: Callable[[], bool], what: str, within: float = STEP_TIMEOUT) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            raise ChurnError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.02)


def _receiving(host: BridgeClient, endpoint_id: str) -> bool:
    """The host gets frames of both kinds from ``endpoint_id``'s current tracks."""
    kinds = {
        t.kind
        for t in host.received.values()
        if t.endpoint_id == endpoint_id and t.frames > 0 and not t.ended
    }
    return kinds == {"audio", "video"}


def visit_over(host: BridgeClient, endpoint_id: str) -> Callable[[], bool]:
    """Whether the host's latest offer carries nothing of ``endpoint_id`` any more."""

    def over() -> bool:
        return all(t["endpoint_id"] != endpoint_id for t in host.offers[-1]["tracks"])

    return over


async def _visit(url: str, token: str, host: BridgeClient) -> BridgeClient:
    """A site joins and publishes; returns once the host receives its media."""
    visitor = BridgeClient(url, token)
    try:
        await visitor.connect()
        await visitor.publish([VideoStreamTrack(), AudioStreamTrack()])
        endpoint_id = str(visitor.welcome["endpoint_id"]) if visitor.welcome else ""
        await _until(lambda: _receiving(host, endpoint_id), f"the host to receive {endpoint_id}")
    except BaseException:
        await visitor.close()
        raise
    return visitor


async def churn(
    url: str,
    token_for: TokenFor,
    cycles: int,
    *,
    within: float | None = None,
    newcomer: bool = True,
) -> ChurnResult:
    """Run up to ``cycles`` cycles (fewer when ``within`` seconds are used up), then let a
    new site join; returns what the host saw. The host and the newcomer leave at the end."""
    result = ChurnResult()
    host = BridgeClient(url, token_for(HOST))
    await host.connect()
    try:
        await host.publish([VideoStreamTrack(), AudioStreamTrack()])
        start = time.monotonic()
        for _ in range(cycles):
            visitor = await _visit(url, token_for(VISITOR), host)
            endpoint_id = str(visitor.welcome["endpoint_id"]) if visitor.welcome else ""
            result.mids |= {t.mid for t in host.received.values() if t.endpoint_id == endpoint_id}
            await visitor.leave()
            await _until(visit_over(host, endpoint_id), "the offer that ends the visit")
            result.cycles += 1
            if within is not None and time.monotonic() - start > within:
                break
        result.seconds = time.monotonic() - start
        if newcomer:
            last = await _visit(url, token_for(NEWCOMER), host)
            endpoint_id = str(last.welcome["endpoint_id"]) if last.welcome else ""
            result.mids |= {t.mid for t in host.received.values() if t.endpoint_id == endpoint_id}
            result.newcomer_frames = {
                t.kind: t.frames for t in host.received.values() if t.endpoint_id == endpoint_id
            }
            await last.leave()
    finally:
        result.offer_chars = [len(o["sdp"]) for o in host.offers]
        result.mlines = [str(o["sdp"]).count("\r\nm=") for o in host.offers]
        await host.leave()
    return result


# -- a server in this process ----------------------------------------------------------


def _directory() -> MemoryDirectory:
    now = datetime.now(UTC)
    session = SessionInfo(
        id=SessionId(SESSION),
        title="Bench: SDP churn",
        host_site=SiteId(HOST),
        sites=frozenset(SiteId(s) for s in SITES),
        state=SessionState.OPEN,
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=6),
        site_names={SiteId(k): SiteInfo(SiteId(k), v) for k, v in SITES.items()},
    )
    return MemoryDirectory([session], [SiteInfo(SiteId(k), v) for k, v in SITES.items()])


@asynccontextmanager
async def serve(data_dir: Path) -> AsyncIterator[str]:
    """The real app on a free local port; yields its URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    settings = Settings(
        host="127.0.0.1", port=port, data_dir=data_dir, secret=SECRET, record_on_open=False
    )
    app = create_app(settings, directory=_directory())
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await asyncio.wait_for(runner.cleanup(), 60)


def _token(site: str) -> str:
    return issue_token(SECRET, role=Role.ROOM, site=site, session=SESSION)


async def _run(cycles: int, data_dir: Path, *, recycle: bool) -> ChurnResult:
    original = Participant._take_free_line
    if not recycle:
        Participant._take_free_line = lambda self, uptrack: None  # type: ignore[method-assign]
    try:
        async with serve(data_dir) as url:
            return await churn(url, _token, cycles, newcomer=recycle)
    finally:
        Participant._take_free_line = original  # type: ignore[method-assign]


async def bench(cycles: int, baseline_cycles: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="rb-churn-sdp-") as tmp:
        baseline = await _run(baseline_cycles, Path(tmp) / "baseline", recycle=False)
        recycled = await _run(cycles, Path(tmp) / "recycled", recycle=True)
    chars = baseline.offer_chars
    growth = (max(chars) - chars[0]) / max(baseline.cycles, 1) if chars else 0.0
    return {
        "bench": "churn_sdp",
        "recycled": recycled.figures(),
        "baseline_no_recycling": {
            **baseline.figures(),
            "chars_per_cycle": round(growth),
            "cycles_to_200000_chars": round((SDP_LIMIT - chars[0]) / growth) if growth else None,
        },
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=300)
    parser.add_argument("--baseline-cycles", type=int, default=30)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    figures = asyncio.run(bench(args.cycles, args.baseline_cycles))
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
