"""This process as a node: the registry, placement for signaling, draining on SIGTERM.

With ``REDIS_URL`` the node registers in Redis (``cluster.registry.RedisCluster``); a
connection whose session is placed on another node is sent there (``redirect``). Without
it there is one node, in memory, and nothing changes for ``make serve``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.web_runner import GracefulExit

from bridge.hub import Hub
from bridge.relay import Relay, SessionEnded
from cluster.registry import (
    DRAINING,
    REFRESH,
    Cluster,
    LocalCluster,
    NoNodeServing,
    RedisCluster,
    Stats,
    new_node_id,
)
from config.settings import Settings
from core.sessions import Directory, EndReason, SessionEnd, SessionInfo, SessionState
from sessions.lifecycle import Lifecycle
from signaling.namespace import LEAVE_GRACE, BridgeNamespace
from signaling.placement import PlacementError

logger = logging.getLogger(__name__)

CLUSTER = web.AppKey("cluster", Cluster)


class BoardKeeper:
    """A hub's presence listener: on every change of the board (patch, mute, markers,
    who directs) the hosting node writes it to the registry beside the placement, so the
    node that takes the session over after this one dies continues it (issue 10, part 5).
    One write per session at a time, of the latest board; a failed write is logged (the
    next change writes again)."""

    def __init__(self, cluster: Cluster) -> None:
        self._cluster = cluster
        self._writing: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()

    async def changed(self, hub: Hub) -> None:
        session_id = hub.session_id
        if session_id in self._writing:
            self._again.add(session_id)
            return
        task = asyncio.get_running_loop().create_task(self._write(hub))
        self._writing[session_id] = task

    async def _write(self, hub: Hub) -> None:
        session_id = hub.session_id
        try:
            while True:
                self._again.discard(session_id)
                kept = {"node": self._cluster.node.id, "board": hub.board()}
                board = json.dumps(kept, separators=(",", ":"))
                try:
                    await self._cluster.save_board(session_id, board)
                except Exception as exc:
                    logger.warning("session %s: board not kept in Redis: %s", session_id, exc)
                if session_id not in self._again:
                    return
        finally:
            self._writing.pop(session_id, None)

    async def settle(self) -> None:
        """Wait for writes under way (shutdown)."""
        await asyncio.gather(*self._writing.values(), return_exceptions=True)


class ClusterPlacement:
    """Signaling's placement question answered by the registry. With ``relay`` (a node
    of a Redis cluster), a session placed here whose hub is not open yet opens it with
    the board the previous node kept, and every hub here keeps its board."""

    def __init__(
        self,
        cluster: Cluster,
        home_nodes: dict[str, str],
        relay: Relay | None = None,
        *,
        continue_recording: Callable[[str], None] | None = None,
        release_recording: Callable[[str], Awaitable[bool]] | None = None,
    ) -> None:
        self._cluster = cluster
        self._home_nodes = home_nodes
        self._relay = relay
        self._continue_recording = continue_recording
        """Told of a session taken over from a node that died or drains, before its hub
        opens here."""
        self.release_recording = release_recording
        """A draining node closes its part of a session's recording with this, unsealed,
        before it moves the session (the next node continues the recording)."""
        self.keeper = BoardKeeper(cluster)

    async def locate(self, session: SessionInfo) -> str | None:
        try:
            node = await self._cluster.place(session.id, self._home_nodes.get(session.host_site))
        except NoNodeServing as exc:
            raise PlacementError(NoNodeServing.code, str(exc)) from None
        if node.id != self._cluster.node.id:
            return node.url
        await self._hold(session)
        return None

    async def _hold(self, session: SessionInfo) -> None:
        """The session is placed here: open its hub with the board kept in Redis (a
        session taken over from a dead or drained node), and keep its board from now."""
        if self._relay is None:
            return
        hub = self._relay.hubs.get(session.id)
        if hub is None:
            try:
                kept = await self._cluster.load_board(session.id)
            except Exception as exc:
                logger.warning("session %s: kept board unreadable: %s", session.id, exc)
                kept = None
            board, writer = _parse_kept(session.id, kept)
            if writer is not None and writer != self._cluster.node.id:
                await self._taken_over(session.id, writer)
            if session.id in self._relay.hubs:
                hub = self._relay.hubs[session.id]  # opened meanwhile by another join
            else:
                try:
                    hub = self._relay.hub(session.id, session.host_site)
                except SessionEnded:
                    return  # the namespace refuses the connection
                if board is not None:
                    try:
                        hub.restore_board(board)
                    except (ValueError, TypeError, AttributeError) as exc:
                        logger.error("session %s: kept board not restored: %s", session.id, exc)
        hub.add_presence_listener(self.keeper.changed)

    async def _taken_over(self, session_id: str, writer: str) -> None:
        """``session_id`` was held by node ``writer``: if that node is gone (died) or
        drains (it moved the session here), its recording continues here. The recorder
        takes the recording over only once its writer let it go (``recorder/ownership.py``)."""
        if self._continue_recording is None:
            return
        try:
            live = {n.id: n.state for n in await self._cluster.nodes()}
        except Exception as exc:
            logger.warning("session %s: nodes unreadable: %s", session_id, exc)
            return
        if writer not in live or live[writer] == DRAINING:
            how = "gone" if writer not in live else "draining"
            logger.warning("session %s: taken over from node %s, %s", session_id, writer, how)
            self._continue_recording(session_id)


def _parse_kept(session_id: str, kept: str | None) -> tuple[dict[str, Any] | None, str | None]:
    """The board and the node that wrote it, from what :class:`BoardKeeper` wrote."""
    if not kept:
        return None, None
    try:
        data = json.loads(kept)
        board, writer = data["board"], data["node"]
        if not isinstance(board, dict) or not isinstance(writer, str):
            raise TypeError("board must be an object and node a string")
    except (ValueError, TypeError, KeyError) as exc:
        logger.error("session %s: kept board unreadable: %s", session_id, exc)
        return None, None
    return board, writer


class ReleasePlacement:
    """A session listener: a session that ended here lets go of its placement and its
    kept board."""

    def __init__(self, cluster: Cluster) -> None:
        self._cluster = cluster

    async def session_opened(self, session: SessionInfo) -> None:
        return None

    async def session_ended(self, session: SessionInfo, end: SessionEnd) -> None:
        try:
            await self._cluster.release(session.id)
            if end.reason is not EndReason.SERVER_SHUTDOWN:
                await self._cluster.forget_board(session.id)
        except Exception:
            logger.exception("session %s: releasing its placement failed", session.id)


def make_cluster(settings: Settings, relay: Relay) -> Cluster:
    """The registry for ``settings``: Redis when configured, else this node alone."""

    def stats() -> Stats:
        hubs = list(relay.hubs.values())
        return Stats(sessions=len(hubs), tracks=sum(len(h.uptracks) for h in hubs))

    node_id = settings.node_id or new_node_id()
    if settings.redis_url:
        return RedisCluster(
            settings.redis_url,
            node_id,
            settings.advertised_url,
            stats,
            prefix=settings.cluster_prefix,
        )
    return LocalCluster(node_id, settings.advertised_url, stats)


class EndedElsewhere:
    """Sessions held here but closed through another node (a REST close reaching node A
    for a session on node B) end here too: every ``interval`` seconds each hub's session
    is looked up and, once closed or cancelled, ended through this node's lifecycle."""

    def __init__(
        self, relay: Relay, directory: Directory, lifecycle: Lifecycle, interval: float
    ) -> None:
        self._relay = relay
        self._directory = directory
        self._lifecycle = lifecycle
        self._interval = interval

    async def check(self) -> list[str]:
        ended = []
        for session_id in list(self._relay.hubs):
            info = await self._directory.session(session_id)
            if info is None or info.state not in (SessionState.CLOSED, SessionState.CANCELLED):
                continue
            if session_id in self._relay.hubs:
                await self._lifecycle.ended_elsewhere(info)
                ended.append(session_id)
        return ended

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.check()
            except Exception:
                logger.exception("looking for sessions ended on other nodes failed")


class Drain:
    """SIGTERM on a node of a cluster: no new placements, sessions go on until they end
    or ``seconds`` pass; then their endpoints are sent to another node and the server
    stops (a second SIGTERM, or SIGINT, stops it at once)."""

    def __init__(
        self,
        cluster: Cluster,
        placement: ClusterPlacement,
        relay: Relay,
        namespace: BridgeNamespace,
        seconds: float,
    ) -> None:
        self._cluster = cluster
        self._placement = placement
        self._relay = relay
        self._namespace = namespace
        self._seconds = seconds
        self.task: asyncio.Task[None] | None = None

    def on_sigterm(self) -> None:
        if self.task is not None:
            logger.info("second SIGTERM: stopping now")
            _stop()
            return
        self.task = asyncio.get_running_loop().create_task(self.run())

    async def run(self) -> None:
        try:
            await self._cluster.drain()
            deadline = asyncio.get_running_loop().time() + self._seconds
            # The relay has no event for "last hub gone"; a look twice a second will do.
            while self._relay.hubs and asyncio.get_running_loop().time() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.5)
            await self._move_rest()
        except Exception:
            logger.exception("draining failed; stopping")
        logger.info("node %s drained: stopping", self._cluster.node.id)
        _stop()

    async def _move_rest(self) -> None:
        for session_id, hub in list(self._relay.hubs.items()):
            await self._cluster.release(session_id)
            try:
                node = await self._cluster.place(session_id, None)
            except NoNodeServing:
                logger.warning("session %s: no other node serves; it ends here", session_id)
                continue
            release = self._placement.release_recording
            if release is not None:
                # The part recorded here is closed, not sealed: the next node continues
                # the same recording (sealed when the session really ends).
                try:
                    await release(session_id)
                except Exception:
                    logger.exception("session %s: letting its recording go failed", session_id)
            moved = await self._namespace.move(session_id, node.url)
            logger.info(
                "session %s (host %s): %d endpoints sent to node %s",
                session_id,
                hub.host_site,
                moved,
                node.id,
            )
        await asyncio.sleep(LEAVE_GRACE * 2)


def _stop() -> None:
    def raise_exit() -> None:
        raise GracefulExit()

    asyncio.get_running_loop().call_soon(raise_exit)


def setup_cluster(
    app: web.Application,
    cluster: Cluster,
    placement: ClusterPlacement,
    relay: Relay,
    namespace: BridgeNamespace,
    settings: Settings,
    lifecycle: Lifecycle,
    directory: Directory,
) -> None:
    """Register the node while the app runs; with Redis, SIGTERM drains and sessions
    closed through other nodes end here too."""
    app[CLUSTER] = cluster

    async def node(app: web.Application) -> AsyncIterator[None]:
        await cluster.start()
        watcher = None
        if settings.redis_url:
            ended = EndedElsewhere(relay, directory, lifecycle, REFRESH)
            watcher = asyncio.get_running_loop().create_task(ended.run())
        drain = Drain(cluster, placement, relay, namespace, settings.drain_seconds)
        loop = asyncio.get_running_loop()
        handled = False
        if settings.redis_url:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signal.SIGTERM, drain.on_sigterm)
                handled = True
        yield
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        if handled:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signal.SIGTERM)
        await placement.keeper.settle()  # the last board written before Redis goes
        await cluster.stop()

    app.cleanup_ctx.append(node)
