"""Routes: ``/metrics`` (Prometheus), ``/healthz``, ``/readyz`` and the webhook log."""

from __future__ import annotations

import asyncio
import hmac

import redis.asyncio as aioredis
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from core.access import Role
from core.db import missing_heads
from web.database import BRANCHES
from web.http.auth import require, token_from_request
from web.http.errors import bad, error_body
from web.http.parse import query_integer
from web.keys import SETTINGS
from web.ops.keys import OPERATIONS
from web.ops.metrics import session_counts

routes = web.RouteTableDef()

CHECK_TIMEOUT = 3.0
"""Seconds each readiness check may take before it counts as failed."""
DELIVERY_STATUSES = ("pending", "delivered", "failed")


def _metrics_reader(request: web.Request) -> None:
    """The scraper's bearer token (``RB_METRICS_TOKEN``), else an administrator."""
    wanted = request.app[SETTINGS].metrics_token
    sent = token_from_request(request)
    if wanted and sent is not None and hmac.compare_digest(sent.encode(), wanted.encode()):
        return
    require(request, [Role.ADMINISTRATOR])


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    _metrics_reader(request)
    ops = request.app[OPERATIONS]
    try:
        ops.live.sessions = await asyncio.wait_for(
            asyncio.to_thread(session_counts, ops.engine), CHECK_TIMEOUT
        )
    except Exception:
        # The database is away: the live figures are still worth scraping; the
        # session gauge is left out rather than shown stale (see /readyz for why).
        ops.live.sessions = {}
    body = generate_latest(ops.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """The process answers: nothing else is checked (a liveness probe)."""
    return web.json_response({"alive": True})


def _database(request: web.Request) -> list[str]:
    engine = request.app[OPERATIONS].engine
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    missing = missing_heads(engine, BRANCHES)
    return [f"database migration {head} not applied" for head in missing]


async def _redis(url: str) -> None:
    client = aioredis.from_url(url, socket_connect_timeout=CHECK_TIMEOUT)
    try:
        await client.ping()
    finally:
        await client.aclose()


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    """Ready to serve: the database answers with every migration in, every recording
    worker runs, Redis answers when configured. 503 with the reasons otherwise."""
    ops = request.app[OPERATIONS]
    reasons: list[str] = []
    checks: dict[str, str] = {}
    try:
        found = await asyncio.wait_for(asyncio.to_thread(_database, request), CHECK_TIMEOUT)
        reasons += found
        checks["database"] = "ok" if not found else "migrations missing"
    except Exception as exc:
        checks["database"] = "unreachable"
        reasons.append(f"database unreachable: {type(exc).__name__}: {exc}"[:300])
    dead = ops.recorder.dead_workers()
    checks["recorder"] = "ok" if not dead else "worker down"
    reasons += [f"recording worker of session {sid} is not running" for sid in dead]
    url = request.app[SETTINGS].redis_url
    if url:
        try:
            await asyncio.wait_for(_redis(url), CHECK_TIMEOUT)
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = "unreachable"
            reasons.append(f"redis unreachable: {type(exc).__name__}: {exc}"[:300])
    if reasons:
        return web.Response(
            status=503,
            text=error_body("not_ready", "; ".join(reasons), reasons=reasons, checks=checks),
            content_type="application/json",
        )
    return web.json_response({"ready": True, "checks": checks})


@routes.get("/api/webhooks/deliveries")
async def deliveries(request: web.Request) -> web.Response:
    """The webhook delivery log, newest first (administrators)."""
    require(request, [Role.ADMINISTRATOR])
    limit = query_integer(request, "limit", 100)
    if not 1 <= limit <= 1000:
        raise bad("bad_limit", "limit must be 1-1000")
    status = request.query.get("status")
    if status is not None and status not in DELIVERY_STATUSES:
        raise bad("bad_status", f"status must be one of {', '.join(DELIVERY_STATUSES)}")
    event_id = request.query.get("event_id")
    if event_id is not None and not (0 < len(event_id) <= 32 and event_id.isalnum()):
        raise bad("bad_event_id", "event_id is the 32 hexadecimal digits of an event")
    ops = request.app[OPERATIONS]
    rows = await asyncio.to_thread(
        ops.webhooks.log.list, event_id=event_id, status=status, limit=limit
    )
    return web.json_response(
        {"urls": list(ops.webhooks.urls), "deliveries": [r.as_dict() for r in rows]}
    )
