"""The operations part's application state."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from ops.webhooks import Webhooks
from recorder.service import Recorder
from web.ops.metrics import Latencies, LiveState


@dataclass(frozen=True, slots=True)
class Operations:
    """What /metrics, /readyz and the delivery log read."""

    engine: Engine
    registry: CollectorRegistry
    """This app's own registry (several apps may run in one process)."""
    live: LiveState
    latencies: Latencies
    webhooks: Webhooks
    recorder: Recorder


OPERATIONS = web.AppKey("operations", Operations)
