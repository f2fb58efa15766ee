"""Wires operations into the app: metrics, health and readiness, signed webhooks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from bridge.relay import HubListener
from core.sessions import SessionListener
from ops.webhooks import SessionEvents, Webhooks
from recorder.service import Recorder
from signaling.namespace import EventObserver
from web.keys import RELAY, SETTINGS
from web.ops import api
from web.ops.events import EndpointEvents, recording_sealed
from web.ops.keys import OPERATIONS, Operations
from web.ops.metrics import Latencies, LiveState


@dataclass(frozen=True, slots=True)
class Hooks:
    """What the live part hands on to operations (``web.live.setup.setup_live``)."""

    session_listeners: tuple[SessionListener, ...]
    hub_listeners: tuple[HubListener, ...]
    observe: EventObserver


def setup_ops(
    app: web.Application, engine: Engine, recorder: Recorder, *, webhooks: Webhooks | None = None
) -> Hooks:
    """Register the routes, the latency middleware and the webhooks' workers; needs
    SETTINGS. ``webhooks`` replaces the one built from the settings (tests shorten its
    timeout and backoff)."""
    settings = app[SETTINGS]
    if webhooks is None:
        webhooks = Webhooks(engine, settings.webhook_urls, settings.webhook_secret)
    registry = CollectorRegistry(auto_describe=False)
    live = LiveState(lambda: app.get(RELAY), recorder, webhooks)
    registry.register(live)
    latencies = Latencies(registry)
    app[OPERATIONS] = Operations(engine, registry, live, latencies, webhooks, recorder)
    # Outermost: the time includes the sign-in lookup and its refusals.
    app.middlewares.insert(0, latencies.middleware())
    app.router.add_routes(api.routes)
    recorder.sealed_listeners.append(recording_sealed(webhooks))

    async def deliveries(app: web.Application) -> AsyncIterator[None]:
        await webhooks.start()
        yield
        await webhooks.close()

    app.cleanup_ctx.append(deliveries)
    return Hooks((SessionEvents(webhooks),), (EndpointEvents(webhooks),), latencies.observe_event)
