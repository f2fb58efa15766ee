"""A real server (aiohttp + Socket.IO + relay) on a free local port, and token helpers."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web

from config.settings import DEFAULT_FORWARDING, Settings
from core.access import Role
from core.ids import SessionId, SiteId
from core.sessions import MemoryDirectory, SessionInfo, SessionState, SiteInfo
from signaling.tokens import issue_token
from tests.conftest import free_port
from web.app import create_app
from web.keys import RELAY

SECRET = "integration-test-secret-of-32-bytes-or-more"
HOST = "tw-hanoi"
SITES = {
    "tw-hanoi": "Trụ sở Tiếp công dân Trung ương (Hà Nội)",
    "bac-ninh": "Ban Tiếp công dân tỉnh Bắc Ninh",
    "da-nang": "Ban Tiếp công dân thành phố Đà Nẵng",
    "ca-mau": "Ban Tiếp công dân tỉnh Cà Mau",
}
SESSION = "s-2026-11-27"
CLOSED_SESSION = "s-closed"


def _session(session_id: str, state: SessionState) -> SessionInfo:
    now = datetime.now(UTC)
    return SessionInfo(
        id=SessionId(session_id),
        title="Tiếp công dân định kỳ",
        host_site=SiteId(HOST),
        sites=frozenset(SiteId(s) for s in (HOST, "bac-ninh", "da-nang")),
        state=state,
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=3),
        site_names={SiteId(k): SiteInfo(SiteId(k), v) for k, v in SITES.items()},
    )


@dataclass(frozen=True, slots=True)
class Server:
    """A running server."""

    url: str
    app: web.Application

    def token(self, site: str, role: Role = Role.ROOM, session: str = SESSION) -> str:
        return issue_token(SECRET, role=role, site=site, session=session)


async def wait_for(
    condition: Callable[[], bool], within: float = 30.0, what: str = "condition"
) -> None:
    """Poll ``condition`` until true; fail the test after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            pytest.fail(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.1)


async def start_server(
    tmp: Path,
    max_message_bytes: int = 64 * 1024,
    redis_url: str | None = None,
    forwarding: str | None = None,
) -> tuple[Server, web.AppRunner]:
    # RB_FORWARDING=frame runs the single-mode tests in frame mode (the default is packet).
    forwarding = forwarding or os.environ.get("RB_FORWARDING", DEFAULT_FORWARDING)
    directory = MemoryDirectory(
        [_session(SESSION, SessionState.OPEN), _session(CLOSED_SESSION, SessionState.CLOSED)],
        [SiteInfo(SiteId(k), v) for k, v in SITES.items()],
    )
    port = free_port()
    settings = Settings(
        host="127.0.0.1",
        port=port,
        data_dir=tmp,
        secret=SECRET,
        max_message_bytes=max_message_bytes,
        redis_url=redis_url,
        # A node registry of its own: with Redis every server is a node, and servers
        # sharing a prefix would send a session's connections to one of them.
        cluster_prefix=f"rbtest-{uuid.uuid4().hex[:10]}",
        forwarding=forwarding,
    )
    app = create_app(settings, directory=directory)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return Server(f"http://127.0.0.1:{port}", app), runner


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    srv, runner = await start_server(tmp_path)
    yield srv
    await asyncio.wait_for(runner.cleanup(), 30)
    assert not srv.app[RELAY].hubs


@pytest.fixture(params=["frame", "packet"])
async def relay_server(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Server]:
    """A server in each forwarding mode (``RB_FORWARDING``): frames or RTP packets."""
    srv, runner = await start_server(tmp_path, forwarding=request.param)
    yield srv
    await asyncio.wait_for(runner.cleanup(), 30)
    assert not srv.app[RELAY].hubs


ServerFactory = Callable[[], Awaitable[Server]]
