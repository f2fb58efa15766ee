"""Prometheus metrics: one registry per app, collectors that read live state at scrape.

Gauges and most counters are read from the relay, the recorder, the webhooks and the
database when Prometheus scrapes (nothing is counted twice); only latencies are
observed as they happen (HTTP requests by route template, Socket.IO events by name).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select

from bridge.hub import Hub
from bridge.relay import Relay
from core.sessions import SessionState
from ops.webhooks import Webhooks
from recorder.service import Recorder
from sessions.models import ReceptionSession

LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
UNTIMED_ROUTES = frozenset({"/socket.io/"})
"""A WebSocket's request lasts the whole connection: Socket.IO events are timed instead."""


def _cascade(hubs: list[Hub]) -> Iterable[Metric]:
    """Cascade links (bridge/cascade.py): tracks and payload bytes crossing them now."""
    tracks = GaugeMetricFamily(
        "rb_cascade_link_tracks",
        "Tracks the cascade links carry now, out to other nodes or in from them",
        labels=["direction"],
    )
    size = GaugeMetricFamily(
        "rb_cascade_link_bytes",
        "Payload bytes the cascade links' current tracks carried, by direction",
        labels=["direction"],
    )
    source = GaugeMetricFamily(
        "rb_cascade_source_bytes",
        "Payload bytes received here from the publishers of the tracks links carry out",
    )
    count = {"out": 0, "in": 0}
    carried = {"out": 0, "in": 0}
    sources = 0
    for hub in hubs:
        links = hub.link_ids
        for uptrack in hub.uptracks.values():
            if hub.is_remote(uptrack.info.endpoint_id):
                count["in"] += 1
                carried["in"] += uptrack.counters.bytes_in
                continue
            out = [d for s, d in uptrack.downtracks.items() if s in links]
            if out:
                count["out"] += len(out)
                carried["out"] += sum(d.counters.bytes_out for d in out)
                sources += uptrack.counters.bytes_in
    for direction in ("in", "out"):
        tracks.add_metric([direction], count[direction])
        size.add_metric([direction], carried[direction])
    source.add_metric([], sources)
    yield tracks
    yield size
    yield source


def session_counts(engine: Engine) -> dict[str, int]:
    """Sessions in the database by state (every state present, zeros included)."""
    query = select(ReceptionSession.state, func.count()).group_by(ReceptionSession.state)
    counts = {str(state): 0 for state in SessionState}
    with engine.connect() as connection:
        for state, count in connection.execute(query):
            counts[str(state)] = int(count)
    return counts


@dataclass(slots=True, eq=False)
class LiveState(Collector):
    """Reads the relay, the recorder and the webhooks at scrape time.

    ``sessions`` holds the database's counts by state, refreshed by the ``/metrics``
    handler just before it renders (a database query does not belong in ``collect``,
    which runs on the event loop).
    """

    relay: Callable[[], Relay | None]
    recorder: Recorder
    webhooks: Webhooks
    sessions: dict[str, int] = field(default_factory=dict)

    def collect(self) -> Iterable[Metric]:
        sessions = GaugeMetricFamily(
            "rb_sessions", "Reception sessions in the database by state", labels=["state"]
        )
        for state, count in sorted(self.sessions.items()):
            sessions.add_metric([state], count)
        yield sessions
        relay = self.relay()
        hubs = list(relay.hubs.values()) if relay is not None else []
        yield GaugeMetricFamily(
            "rb_live_sessions", "Sessions with a hub (live media) in this process", len(hubs)
        )
        endpoints = GaugeMetricFamily(
            "rb_endpoints", "Endpoints in live sessions by role and state", labels=["role", "state"]
        )
        by: dict[tuple[str, str], int] = {}
        tracks = {"audio": 0, "video": 0}
        downtracks = 0
        for hub in hubs:
            for peer in hub.peers():
                key = (str(peer.role), str(peer.state))
                by[key] = by.get(key, 0) + 1
            for uptrack in hub.uptracks.values():
                tracks[str(uptrack.info.kind)] = tracks.get(str(uptrack.info.kind), 0) + 1
                downtracks += len(uptrack.downtracks)
        for (role, state), count in sorted(by.items()):
            endpoints.add_metric([role, state], count)
        yield endpoints
        up = GaugeMetricFamily("rb_tracks", "Published tracks (up-tracks) by kind", labels=["kind"])
        for kind, count in sorted(tracks.items()):
            up.add_metric([kind], count)
        yield up
        yield GaugeMetricFamily(
            "rb_downtracks", "Tracks forwarded to subscribers (down-tracks)", downtracks
        )
        yield from _cascade(hubs)
        if relay is not None:
            totals = relay.media_totals()
            counters = (
                ("rb_received_frames", "Frames received from publishers", totals.up.frames_in),
                ("rb_received_bytes", "Payload bytes received from publishers", totals.up.bytes_in),
                ("rb_forwarded_frames", "Frames sent to subscribers", totals.down.frames_out),
                ("rb_forwarded_bytes", "Payload bytes sent to subscribers", totals.down.bytes_out),
                (
                    "rb_dropped_frames",
                    "Frames dropped for subscribers (waiting for a keyframe, fell behind)",
                    totals.down.frames_dropped,
                ),
                (
                    "rb_keyframe_requests",
                    "Keyframe requests made for subscribers",
                    totals.down.keyframes_requested,
                ),
                (
                    "rb_plis_sent",
                    "Keyframe requests (PLI) sent to publishers",
                    totals.up.keyframes_requested,
                ),
            )
            for name, doc, value in counters:
                yield CounterMetricFamily(name, doc, value=value)
        yield from self._recorder()
        yield GaugeMetricFamily(
            "rb_webhook_queue_depth", "Webhook deliveries waiting to be sent", self.webhooks.depth
        )
        yield GaugeMetricFamily(
            "rb_webhook_retries_waiting",
            "Webhook deliveries waiting to be tried again",
            self.webhooks.waiting_retries,
        )
        webhook = CounterMetricFamily(
            "rb_webhook_deliveries", "Webhook deliveries by outcome", labels=["outcome"]
        )
        webhook.add_metric(["delivered"], self.webhooks.delivered)
        webhook.add_metric(["failed"], self.webhooks.failed)
        webhook.add_metric(["dropped"], self.webhooks.dropped)
        yield webhook

    def _recorder(self) -> Iterable[Metric]:
        stats = self.recorder.queue_stats()
        yield GaugeMetricFamily("rb_recordings", "Recordings running", len(stats))
        depth = GaugeMetricFamily(
            "rb_recorder_queue_messages",
            "Messages waiting for a recording's worker",
            labels=["session"],
        )
        size = GaugeMetricFamily(
            "rb_recorder_queue_bytes", "Bytes waiting for a recording's worker", labels=["session"]
        )
        lag = GaugeMetricFamily(
            "rb_recorder_queue_lag_seconds",
            "How long the oldest message for a recording's worker has waited",
            labels=["session"],
        )
        dropped = GaugeMetricFamily(
            "rb_recorder_dropped_frames",
            "Frames a running recording has dropped (full queue, dead worker)",
            labels=["session"],
        )
        for session_id, queue in sorted(stats.items()):
            depth.add_metric([session_id], queue.messages)
            size.add_metric([session_id], queue.bytes)
            lag.add_metric([session_id], queue.lag_s)
            dropped.add_metric([session_id], queue.dropped_frames)
        yield from (depth, size, lag, dropped)


class Latencies:
    """The histograms observed as requests and events happen."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.http = Histogram(
            "rb_http_request_duration_seconds",
            "HTTP request handling time by method, route template and status",
            ["method", "route", "status"],
            registry=registry,
            buckets=LATENCY_BUCKETS,
        )
        self.socketio = Histogram(
            "rb_socketio_event_duration_seconds",
            "Socket.IO event handling time by event (other: no such event)",
            ["event"],
            registry=registry,
            buckets=LATENCY_BUCKETS,
        )

    def observe_event(self, event: str, seconds: float) -> None:
        """The namespace's observer (``signaling.namespace.EventObserver``)."""
        self.socketio.labels(event).observe(seconds)

    def middleware(self) -> Middleware:
        """Times every request but Socket.IO's, labelled by the route's template (never
        the raw path: ids would make a series each)."""

        @web.middleware
        async def timed(request: web.Request, handler: Handler) -> web.StreamResponse:
            route = _template(request)
            if route in UNTIMED_ROUTES:
                return await handler(request)
            started = time.perf_counter()
            status = 500
            try:
                response = await handler(request)
                status = response.status
                return response
            except web.HTTPException as exc:
                status = exc.status
                raise
            finally:
                self.http.labels(request.method, route, str(status)).observe(
                    time.perf_counter() - started
                )

        return timed


def _template(request: web.Request) -> str:
    resource = request.match_info.route.resource
    if resource is None:
        return "unmatched"
    info = resource.get_info()
    path = info.get("formatter") or info.get("path") or info.get("prefix")
    return str(path) if path else "unmatched"
