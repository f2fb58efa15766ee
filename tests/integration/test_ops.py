"""Operations through the real app: /metrics after real aiortc media, /healthz and
/readyz (503 when the database goes away), and signed webhooks received by a real
aiohttp receiver on 127.0.0.1, retried, logged, never holding up a session's close.

The webhook tests run on SQLite and on PostgreSQL (a schema of their own), where the
delivery log lives.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, create_engine, inspect, text

from bridge.rtc_internals import sever_ice
from config.settings import Settings
from core.access import Role
from core.db import Base, alembic_config, make_engine, missing_heads
from ops.webhooks import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    STOPPED,
    DeliveryLog,
    Webhooks,
    verify,
)
from signaling.client import BridgeClient
from signaling.tokens import issue_token
from tests.conftest import free_port
from tests.integration.conftest import wait_for
from tests.integration.sched_support import BACKENDS, schema_url
from web.app import create_app
from web.database import BRANCHES, migrate_all
from web.keys import RELAY, STORE

SECRET = "ops-test-secret-0123456789abcdef"
HOOK_SECRET = "hook-secret-0123456789"
METRICS_TOKEN = "scrape-token-0123456789"
HOST = "tw-hanoi"
ROOMS = ("bac-ninh", "hai-phong")


# -- a webhook receiver ----------------------------------------------------------------


@dataclass
class Receiver:
    """A real HTTP server taking webhooks; ``behaviour`` answers each request."""

    url: str = ""
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    behaviour: Callable[[int], int | None] = lambda n: 200
    """Status for the n-th request (1-based); None: never answer."""
    hanging: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append((dict(request.headers), body))
        status = self.behaviour(len(self.received))
        if status is None:
            self.hanging.set()
            await asyncio.Event().wait()
        return web.Response(status=status or 200)

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.received]

    def types(self) -> list[str]:
        return [e["type"] for e in self.events()]


def _failed_states(receiver: Receiver) -> list[str]:
    """``data.state`` of every ``endpoint.failed`` received, in the order they happened
    (their ``time``): the webhook workers deliver concurrently, so two events emitted
    together (a leg's media_lost and the connection's disconnected) may arrive swapped."""
    failed = [e for e in receiver.events() if e["type"] == "endpoint.failed"]
    failed.sort(key=lambda e: datetime.fromisoformat(e["time"]))
    return [str(e["data"]["state"]) for e in failed]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    rec.url = f"http://127.0.0.1:{port}/hook"
    yield rec
    await runner.cleanup()


# -- databases and the app -------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ops.sqlite3'}"
        return
    base: str = request.getfixturevalue("postgres_url")
    schema = f"ops_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield schema_url(base, schema)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@dataclass
class Live:
    url: str
    app: web.Application
    http: aiohttp.ClientSession

    def token(self, site: str, role: Role, session: str | None = None) -> str:
        return issue_token(SECRET, role=role, site=site, session=session, subject=f"{role}@{site}")

    async def call(
        self, method: str, path: str, token: str | None = None, **kw: Any
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.http.request(method, self.url + path, headers=headers, **kw) as resp:
            if resp.content_type == "application/json":
                return resp.status, await resp.json()
            return resp.status, await resp.text()

    async def open_session(self) -> str:
        now = datetime.now(UTC)
        body = {
            "title": "Tiếp công dân trực tuyến",
            "host_site": HOST,
            "starts_at": (now - timedelta(minutes=5)).isoformat(),
            "ends_at": (now + timedelta(minutes=60)).isoformat(),
            "participants": list(ROOMS),
            "allow_day_off": True,
        }
        admin = self.token(HOST, Role.ADMINISTRATOR)
        status, booked = await self.call("POST", "/api/sessions", admin, json=body)
        assert status == 201, booked
        session_id = str(booked["id"])
        status, opened = await self.call(
            "POST", f"/api/sessions/{session_id}/open", self.token(HOST, Role.OPERATOR)
        )
        assert status == 200, opened
        return session_id

    async def close_session(self, session_id: str) -> None:
        status, closed = await self.call(
            "POST", f"/api/sessions/{session_id}/close", self.token(HOST, Role.OPERATOR)
        )
        assert status == 200, closed

    async def join(self, session_id: str, site: str) -> BridgeClient:
        client = BridgeClient(self.url, self.token(site, Role.ROOM, session_id))
        await client.connect()
        await client.publish([VideoStreamTrack(), AudioStreamTrack()])
        return client

    async def deliveries(self, **query: str) -> list[dict[str, Any]]:
        status, body = await self.call(
            "GET",
            "/api/webhooks/deliveries",
            self.token(HOST, Role.ADMINISTRATOR),
            params=query,
        )
        assert status == 200, body
        return list(body["deliveries"])


@contextlib.asynccontextmanager
async def running(
    tmp_path: Path,
    database_url: str = "",
    hook_urls: tuple[str, ...] = (),
    **hook_options: Any,
) -> AsyncIterator[Live]:
    port = free_port()
    settings = Settings(
        port=port,
        data_dir=tmp_path,
        secret=SECRET,
        database_url=database_url,
        metrics_token=METRICS_TOKEN,
        webhook_urls=hook_urls,
        webhook_secret=HOOK_SECRET if hook_urls else "",
    )

    def webhooks(engine: Engine) -> Webhooks:
        return Webhooks(engine, hook_urls, HOOK_SECRET, **hook_options)

    app = create_app(settings, webhooks=webhooks)
    runner = web.AppRunner(app)
    await runner.setup()
    await asyncio.to_thread(app[STORE].load_tree)
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession() as http:
            yield Live(f"http://127.0.0.1:{port}", app, http)
    finally:
        await asyncio.wait_for(runner.cleanup(), 60)


def _metrics(body: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return out


def _value(
    metrics: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str
) -> float:
    return sum(
        v for lab, v in metrics.get(name, []) if all(lab.get(k) == x for k, x in labels.items())
    )


# -- /metrics --------------------------------------------------------------------------


async def test_metrics_after_real_media_flowed(tmp_path: Path) -> None:
    async with running(tmp_path) as live:
        session_id = await live.open_session()
        rooms = [await live.join(session_id, site) for site in ROOMS]
        await wait_for(
            lambda: all(
                c.frames_from(other, "video") >= 10
                for c in rooms
                for other in ROOMS
                if c.welcome is not None and c.welcome["site"]["id"] != other
            ),
            what="both rooms receiving each other's video",
        )
        # Who may read: the scraper's token or an administrator, nobody else.
        status, _ = await live.call("GET", "/metrics")
        assert status == 401
        status, _ = await live.call("GET", "/metrics", "not-the-token")
        assert status == 401
        status, _ = await live.call("GET", "/metrics", live.token(HOST, Role.OPERATOR))
        assert status == 403
        status, _ = await live.call("GET", "/metrics", live.token(HOST, Role.ADMINISTRATOR))
        assert status == 200
        status, body = await live.call("GET", "/metrics", METRICS_TOKEN)
        assert status == 200
        during = _metrics(body)
        assert _value(during, "rb_sessions", state="open") == 1
        assert _value(during, "rb_live_sessions") == 1
        assert _value(during, "rb_tracks", kind="video") == 2
        assert _value(during, "rb_tracks", kind="audio") == 2
        assert _value(during, "rb_endpoints", role="room") == 2
        assert _value(during, "rb_downtracks") == 4
        forwarded = _value(during, "rb_forwarded_frames_total")
        assert forwarded > 0
        assert _value(during, "rb_forwarded_bytes_total") > forwarded
        assert _value(during, "rb_received_frames_total") > 0
        assert _value(during, "rb_recordings") == 1
        assert ("rb_recorder_queue_messages", session_id) in {
            (name, lab.get("session")) for name, rows in during.items() for lab, _ in rows
        }
        # Latency by route template (never the raw path) and by event name.
        routes = {lab["route"] for lab, _ in during["rb_http_request_duration_seconds_count"]}
        assert "/api/sessions/{session_id}/open" in routes
        assert not any(session_id in r for r in routes)
        assert "/socket.io/" not in routes
        events = {lab["event"] for lab, _ in during["rb_socketio_event_duration_seconds_count"]}
        assert {"connect", "publish"} <= events
        # A hostile event name is counted as "other", not as a series of its own.
        await rooms[0].sio.emit("no-such-event-" + uuid.uuid4().hex, {}, namespace="/bridge")
        await live.close_session(session_id)
        for client in rooms:
            await asyncio.wait_for(client.ended.wait(), 20)
        status, body = await live.call("GET", "/metrics", METRICS_TOKEN)
        after = _metrics(body)
        # Counters keep what ended sessions forwarded; gauges show what is live.
        assert _value(after, "rb_forwarded_frames_total") >= forwarded
        assert _value(after, "rb_live_sessions") == 0
        assert _value(after, "rb_tracks") == 0
        assert _value(after, "rb_sessions", state="closed") == 1
        events = {lab["event"] for lab, _ in after["rb_socketio_event_duration_seconds_count"]}
        assert "other" in events and not any(e.startswith("no-such-event") for e in events)
        for client in rooms:
            await client.close()


# -- /healthz and /readyz --------------------------------------------------------------


class Proxy:
    """A TCP relay to PostgreSQL that a test can cut: the database goes away for real."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers += [writer, up_writer]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        self._writers.clear()


@pytest.mark.postgres
async def test_readyz_answers_503_with_reasons_when_the_database_is_gone(
    tmp_path: Path, postgres_url: str
) -> None:
    schema = f"ops_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    proxy = Proxy(admin.url.port or 5432)
    await proxy.start()
    proxied = schema_url(
        postgres_url.replace(f":{admin.url.port or 5432}/", f":{proxy.port}/"), schema
    )
    assert str(proxy.port) in proxied
    try:
        async with running(tmp_path, proxied) as live:
            status, body = await live.call("GET", "/readyz")
            assert status == 200 and body["ready"] is True, body
            assert body["checks"] == {"database": "ok", "recorder": "ok"}
            # A migration the database lacks: not ready, and says which.
            with admin.connect() as conn:
                conn.execute(
                    text(f"DELETE FROM \"{schema}\".alembic_version WHERE version_num = '0001_ops'")
                )
            status, body = await live.call("GET", "/readyz")
            assert status == 503
            assert body["error"]["code"] == "not_ready"
            assert body["error"]["reasons"] == ["database migration 0001_ops not applied"]
            await proxy.cut()
            status, body = await live.call("GET", "/readyz")
            assert status == 503
            assert body["error"]["checks"]["database"] == "unreachable"
            assert any(r.startswith("database unreachable") for r in body["error"]["reasons"])
            # The process itself is alive, and metrics still answer (without the database).
            status, body = await live.call("GET", "/healthz")
            assert status == 200 and body == {"alive": True}
            status, text_body = await live.call("GET", "/metrics", METRICS_TOKEN)
            assert status == 200 and "rb_live_sessions" in text_body
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.mark.redis
async def test_readyz_checks_redis_when_configured(tmp_path: Path, redis_url: str) -> None:
    port = free_port()
    for url, ready in ((redis_url, True), (f"redis://127.0.0.1:{free_port()}/0", False)):
        settings = Settings(port=port, data_dir=tmp_path, secret=SECRET, redis_url=url)
        app = create_app(settings)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.get(f"http://127.0.0.1:{port}/readyz") as resp,
            ):
                body = await resp.json()
                assert (resp.status == 200) is ready, body
                checks = body["checks"] if ready else body["error"]["checks"]
                assert checks["redis"] == ("ok" if ready else "unreachable")
        finally:
            await asyncio.wait_for(runner.cleanup(), 60)


# -- webhooks --------------------------------------------------------------------------


def _signed(headers: dict[str, str], body: bytes) -> bool:
    """What the README tells a receiver to do, written out without the server's code."""
    parts = dict(p.split("=", 1) for p in headers[SIGNATURE_HEADER].split(","))
    mac = hmac.new(HOOK_SECRET.encode(), parts["t"].encode() + b"." + body, hashlib.sha256)
    return hmac.compare_digest(mac.hexdigest(), parts["v1"])


async def test_webhooks_are_signed_and_follow_a_session(
    tmp_path: Path, database_url: str, receiver: Receiver
) -> None:
    async with running(tmp_path, database_url, (receiver.url,), backoff=0.1) as live:
        session_id = await live.open_session()
        room = await live.join(session_id, "bac-ninh")
        await wait_for(lambda: "endpoint.joined" in receiver.types(), what="endpoint.joined")
        hub = live.app[RELAY].hubs[session_id]
        await wait_for(
            lambda: hub.media_totals().up.frames_in >= 60, what="the room's media recorded"
        )
        await room.leave()
        await wait_for(lambda: "endpoint.left" in receiver.types(), what="endpoint.left")
        # A room whose publish leg's network dies: endpoint.failed (media_lost), then it
        # republishes by itself.
        dropped = await live.join(session_id, "hai-phong")
        await wait_for(lambda: receiver.types().count("endpoint.joined") == 2, what="2nd join")
        publish_pc = dropped.publish_pc
        assert publish_pc is not None
        await wait_for(lambda: publish_pc.connectionState == "connected", what="its publish leg")
        await asyncio.sleep(1)  # the server's end hears it too
        assert sever_ice(publish_pc) > 0
        await wait_for(lambda: "endpoint.failed" in receiver.types(), what="endpoint.failed")
        await wait_for(lambda: bool(dropped.recoveries), what="the republish")
        # A room whose connection drops without leaving: endpoint.failed (disconnected).
        await dropped.close()
        await wait_for(
            lambda: _failed_states(receiver)[-1:] == ["disconnected"],
            what=f"endpoint.failed (disconnected) {receiver.types()}",
        )
        await live.close_session(session_id)
        await wait_for(
            lambda: {"session.closed", "recording.sealed"} <= set(receiver.types()),
            what="session.closed and recording.sealed",
        )
        await room.close()
        events = receiver.events()
        types = receiver.types()
        assert types.index("session.opened") < types.index("endpoint.joined")
        assert types.index("endpoint.joined") < types.index("endpoint.left")
        for (headers, body), event in zip(receiver.received, events, strict=True):
            assert _signed(headers, body)
            assert verify(HOOK_SECRET, headers[SIGNATURE_HEADER], body)
            assert not verify("another-secret-0123456", headers[SIGNATURE_HEADER], body)
            assert not verify(HOOK_SECRET, headers[SIGNATURE_HEADER], body + b" ")
            assert headers[EVENT_ID_HEADER] == event["id"]
            assert set(event) == {"id", "type", "time", "data"}
            assert event["data"]["session_id"] == session_id
        joined = events[types.index("endpoint.joined")]["data"]
        assert joined["site"] == "bac-ninh" and joined["role"] == "room"
        failed = [e["data"] for e in events if e["type"] == "endpoint.failed"]
        assert {f["site"] for f in failed} == {"hai-phong"}
        # Its dead leg, then (the client's close may end its new leg before its socket:
        # media_lost again) its connection.
        states = _failed_states(receiver)
        assert states[0] == "media_lost" and states[-1] == "disconnected", states
        assert set(states) == {"media_lost", "disconnected"}, states
        closed = events[types.index("session.closed")]["data"]
        assert closed["reason"] == "closed" and closed["by"] == f"{Role.OPERATOR}@{HOST}"
        sealed = events[types.index("recording.sealed")]["data"]
        assert sealed["state"] == "complete" and sealed["files"] >= 1
        log = await live.deliveries()
        assert len(log) == len(events)
        assert {row["status"] for row in log} == {"delivered"}
        assert {row["attempts"] for row in log} == {1}
        assert {row["event_id"] for row in log} == {e["id"] for e in events}
        # Bad input to the log's query is refused with the one error shape.
        status, body = await live.call(
            "GET", "/api/webhooks/deliveries?limit=x", live.token(HOST, Role.ADMINISTRATOR)
        )
        assert status == 400 and body["error"]["code"] == "bad_limit"
        status, body = await live.call(
            "GET", "/api/webhooks/deliveries?status=lost", live.token(HOST, Role.ADMINISTRATOR)
        )
        assert status == 400 and body["error"]["code"] == "bad_status"


async def test_a_receiver_that_fails_twice_gets_the_event_on_the_third_attempt(
    tmp_path: Path, database_url: str, receiver: Receiver
) -> None:
    receiver.behaviour = lambda n: 500 if n <= 2 else 200
    async with running(tmp_path, database_url, (receiver.url,), backoff=0.05) as live:
        await live.open_session()
        await wait_for(lambda: len(receiver.received) >= 3, what="three attempts")
        events = receiver.events()
        assert [e["type"] for e in events[:3]] == ["session.opened"] * 3
        assert len({e["id"] for e in events[:3]}) == 1, "retries carry the same event id"

        async def delivered() -> list[dict[str, Any]]:
            return await live.deliveries(event_id=events[0]["id"])

        for _ in range(100):
            rows = await delivered()
            if rows and rows[0]["status"] == "delivered":
                break
            await asyncio.sleep(0.1)
        assert len(rows) == 1
        assert rows[0]["status"] == "delivered"
        assert rows[0]["attempts"] == 3
        assert rows[0]["last_code"] == 200


async def test_a_receiver_that_never_answers_does_not_hold_up_a_session(
    tmp_path: Path, receiver: Receiver
) -> None:
    receiver.behaviour = lambda n: None
    async with running(
        tmp_path, "", (receiver.url,), timeout=120.0, max_attempts=1, workers=1, queue_size=1
    ) as live:
        session_id = await live.open_session()
        await asyncio.wait_for(receiver.hanging.wait(), 20)
        room = await live.join(session_id, "bac-ninh")
        # The only worker is stuck on session.opened and the queue (one place) fills up:
        # joining, leaving and closing still go through while the receiver has not answered.
        await room.leave()
        await live.close_session(session_id)
        await room.close()
        status, view = await live.call(
            "GET", f"/api/sessions/{session_id}", live.token(HOST, Role.ADMINISTRATOR)
        )
        assert status == 200 and view["state"] == "closed"
        assert len(receiver.received) == 1
        rows = await live.deliveries()
        assert [r["status"] for r in rows] == ["pending"]
        assert rows[0]["attempts"] == 0
        # The queue holds one: the events past it were dropped, and counted.
        status, body = await live.call("GET", "/metrics", METRICS_TOKEN)
        scraped = _metrics(body)
        assert _value(scraped, "rb_webhook_queue_depth") == 1
        assert _value(scraped, "rb_webhook_deliveries_total", outcome="dropped") >= 2
    # Stopping gives the undelivered one up, and the log says so.
    engine = make_engine(Settings(data_dir=tmp_path).effective_database_url)
    try:
        stored = DeliveryLog(engine).list()
    finally:
        engine.dispose()
    assert [(r.status, r.last_error) for r in stored] == [("failed", STOPPED)]


# -- the delivery log's migration ------------------------------------------------------


def test_the_ops_branch_matches_the_model_and_goes_down_and_up(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        migrate_all(engine)
        cfg = alembic_config(BRANCHES, engine)
        assert missing_heads(engine, BRANCHES) == []
        with engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
            )
        assert "ops_webhook_deliveries" in Base.metadata.tables
        assert [d for d in diff if "ops_webhook" in repr(d)] == []
        command.downgrade(cfg, "ops@base")
        tables = set(inspect(engine).get_table_names())
        assert "ops_webhook_deliveries" not in tables and "reception_sessions" in tables
        assert missing_heads(engine, BRANCHES) == ["0001_ops"]
        migrate_all(engine)
        assert "ops_webhook_deliveries" in set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
