"""Wires the live part: the relay, the session lifecycle, operator commands and the
``/bridge`` namespace, built in that order and handed to each other at construction."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta

from aiohttp import web

from bridge.hub import Hub
from bridge.relay import HubListener, Relay
from cluster.registry import SERVING
from core.sessions import Directory, SessionEnd, SessionInfo, SessionListener, SessionState
from recorder.service import Recorder
from sessions.lifecycle import Lifecycle
from sessions.store import Store
from signaling.cascade import CascadeHost, Satellites
from signaling.commands import Commands
from signaling.namespace import BridgeNamespace, EventObserver
from signaling.placement import Placement
from web.keys import DIRECTORY, LIFECYCLE, RELAY, SECRET, SETTINGS, SIO
from web.live.cluster import ClusterPlacement, ReleasePlacement, make_cluster, setup_cluster
from web.live.memory import ReturnMemory

logger = logging.getLogger(__name__)

NAMESPACE = web.AppKey("bridge_namespace", BridgeNamespace)

HARD_LIMIT_FACTOR = 4
"""Engine.IO drops a connection past ``max_message_bytes`` times this; between the two
limits the namespace answers ``message_too_large`` and the connection stays up."""


class RecordingHook:
    """The recorder's part in a session's life: record from the opening, seal at the end.

    The session is placed when it opens; only its node records it (another node's
    recorder starts when the first endpoint arrives there, see :class:`RecordWhenOpen`).
    """

    def __init__(self, recorder: Recorder, relay: Relay, placement: Placement) -> None:
        self._recorder = recorder
        self._relay = relay
        self._placement = placement

    async def session_opened(self, session: SessionInfo) -> None:
        try:
            elsewhere = await self._placement.locate(session)
        except Exception:
            logger.exception("session %s: placement at opening failed", session.id)
            return
        if elsewhere is not None:
            logger.info("session %s opened; placed on %s", session.id, elsewhere)
            return
        await self._recorder.on_session_open(
            session, self._relay.hub(session.id, session.host_site)
        )

    async def session_ended(self, session: SessionInfo, end: SessionEnd) -> None:
        await self._recorder.on_session_close(session.id)


class RecordWhenOpen:
    """A hub opened (its first endpoint came): record it if its session is open.

    That is how recording resumes after a restart, and how a session opened before
    anyone joined gets its recording when the recorder was not running then.
    """

    def __init__(self, recorder: Recorder, directory: Directory) -> None:
        self._recorder = recorder
        self._directory = directory
        self._tasks: set[asyncio.Task[None]] = set()

    def __call__(self, hub: Hub) -> None:
        task = asyncio.get_running_loop().create_task(self._check(hub))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _check(self, hub: Hub) -> None:
        if hub.upstream is not None:
            return  # a satellite's hub (cascade): its host records
        info = await self._directory.session(hub.session_id)
        if info is not None and info.state is SessionState.OPEN:
            await self._recorder.on_session_open(info, hub)

    async def settle(self) -> None:
        """Wait for checks under way (shutdown)."""
        await asyncio.gather(*self._tasks, return_exceptions=True)


def setup_live(
    app: web.Application,
    store: Store,
    recorder: Recorder,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    session_listeners: Sequence[SessionListener] = (),
    hub_listeners: Sequence[HubListener] = (),
    observe: EventObserver | None = None,
) -> None:
    """Build the live part; needs SETTINGS, SECRET, DIRECTORY and SIO set. Sessions past
    their end are closed while the app runs; on shutdown every session's live part ends
    through the lifecycle (recordings sealed, endpoints told, connections closed).

    ``session_listeners`` hear of sessions after the recorder and the relay (webhooks),
    ``hub_listeners`` of every new hub; ``observe`` times Socket.IO events (metrics)."""
    settings = app[SETTINGS]
    record_when_open = RecordWhenOpen(recorder, app[DIRECTORY])
    relay = Relay([record_when_open, *hub_listeners], forwarding=settings.forwarding)
    cluster = make_cluster(settings, relay)
    # With Redis a session may move between nodes: its board travels through Redis.
    placement = ClusterPlacement(
        cluster,
        settings.home_nodes,
        relay if settings.redis_url else None,
        continue_recording=recorder.continue_recording,
        release_recording=recorder.release,
    )

    async def serving_nodes() -> dict[str, str]:
        return {n.id: n.url for n in await cluster.nodes() if n.state == SERVING}

    cascade_host = CascadeHost(
        secret=app[SECRET],
        directory=app[DIRECTORY],
        relay=relay,
        placement=placement,
        ice_servers=settings.ice_servers,
    )
    satellites = Satellites(
        secret=app[SECRET],
        relay=relay,
        placement=placement,
        home_nodes=settings.home_nodes,
        node_id=lambda: cluster.node.id,
        serving=serving_nodes,
        ice_servers=settings.ice_servers,
    )
    lifecycle = Lifecycle(
        store,
        [
            RecordingHook(recorder, relay, placement),
            relay,
            ReleasePlacement(cluster),
            cascade_host,
            satellites,
            ReturnMemory(),
            *session_listeners,
        ],
        grace=timedelta(minutes=settings.close_grace_minutes),
        clock=clock,
    )
    namespace = BridgeNamespace(
        secret=app[SECRET],
        directory=app[DIRECTORY],
        relay=relay,
        commands=Commands(recorder, lifecycle),
        ice_servers=settings.ice_servers,
        max_message_bytes=settings.max_message_bytes,
        placement=placement,
        observe=observe,
        satellite=satellites if settings.redis_url else None,
        drop_elsewhere=cascade_host.drop,
    )
    satellites.drop = namespace.drop
    sio = app[SIO]
    sio.eio.max_http_buffer_size = settings.max_message_bytes * HARD_LIMIT_FACTOR
    sio.register_namespace(namespace)
    sio.register_namespace(cascade_host)
    app[RELAY] = relay
    app[LIFECYCLE] = lifecycle
    app[NAMESPACE] = namespace

    async def live(app: web.Application) -> AsyncIterator[None]:
        clock = asyncio.get_running_loop().create_task(lifecycle.run())
        yield
        clock.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await clock
        await record_when_open.settle()
        await satellites.close()
        await cascade_host.close()
        await namespace.close()

    async def end_live_sessions(app: web.Application) -> None:
        # On shutdown, before the server closes its connections, so every endpoint
        # still hears `session_closed` (server_shutdown) and reconnects later. The
        # sessions live in this process are those with a hub here.
        live = [await app[DIRECTORY].session(session_id) for session_id in list(relay.hubs)]
        logger.info("ending the live part of %d sessions", len(live))
        await lifecycle.shutdown(info for info in live if info is not None)

    app.cleanup_ctx.append(live)
    setup_cluster(app, cluster, placement, relay, namespace, settings, lifecycle, app[DIRECTORY])
    app.on_shutdown.append(end_live_sessions)
