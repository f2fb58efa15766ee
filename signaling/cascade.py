"""Cascade signaling (issue 10, part 6): the ``/cascade`` namespace between two nodes.

A satellite node (where a point's home node is, the session being hosted elsewhere)
connects to the hosting node's ``/cascade`` namespace with a link credential: a token
signed with the shared ``RB_SECRET`` under an issuer of its own, so it opens nothing
else (``/bridge`` and REST refuse it, and ``/cascade`` refuses every other token). Then:

- the satellite reports its points (``points``), the host sends its board (``board``:
  every endpoint with its patch state, and the tracks the satellite may receive) on
  every change;
- the satellite offers the link's one peer connection (``offer``), the host answers.

Media is :mod:`bridge.cascade`. See PROTOCOL.md, "Cascade between nodes".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import socketio
from aiortc import RTCIceServer

from bridge.cascade import HostEnd, LinkOffer, LinkTrack, SatelliteEnd
from bridge.errors import BadRequest, BridgeError
from bridge.frames import EndpointId
from bridge.hub import Hub
from bridge.patch import EndpointRole
from bridge.relay import Relay, SessionEnded
from config.settings import IceServer
from core.sessions import Directory, SessionEnd, SessionInfo, SessionState
from signaling.messages import error
from signaling.placement import Placement

logger = logging.getLogger(__name__)

CASCADE_NAMESPACE = "/cascade"
LINK_ISSUER = "reception-bridge/cascade"
"""Issuer of link credentials: not the issuer of user tokens, so neither opens the other."""
LINK_ROLE = "cascade"
LINK_TOKEN_TTL = timedelta(minutes=5)
"""A link credential is made for each connection; it only needs to outlive the connect."""
OFFER_TIMEOUT = 15.0
RETRY_FIRST = 0.25
RETRY_MAX = 2.0

Result = dict[str, Any]


class LinkRefused(Exception):
    """A link connection refused; ``code`` goes to the satellite."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def issue_link_token(
    secret: str, session_id: str, node_id: str, *, now: datetime | None = None
) -> str:
    """The credential a satellite node presents to the host of ``session_id``."""
    start = now or datetime.now(UTC)
    payload = {
        "iss": LINK_ISSUER,
        "role": LINK_ROLE,
        "node": node_id,
        "session": session_id,
        "jti": uuid.uuid4().hex,
        "nbf": int(start.timestamp()) - 5,
        "exp": int((start + LINK_TOKEN_TTL).timestamp()),
    }
    return jwt.encode(payload, secret, algorithm="HS256")


def verify_link_token(secret: str, token: object) -> tuple[str, str]:
    """``(session id, satellite node id)`` of a valid link credential; raises
    :class:`LinkRefused` (``token_missing``, ``token_invalid``, ``token_expired``,
    ``forbidden_role``)."""
    if not token:
        raise LinkRefused("token_missing", "no link credential was given")
    if not isinstance(token, str) or len(token) > 4096:
        raise LinkRefused("token_invalid", "a link credential is a short string")
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            issuer=LINK_ISSUER,
            options={"require": ["exp", "nbf", "iss"]},
        )
    except jwt.ExpiredSignatureError:
        raise LinkRefused("token_expired", "the link credential has expired") from None
    except jwt.InvalidIssuerError:
        raise LinkRefused(
            "forbidden_role", "only a node's link credential opens /cascade"
        ) from None
    except jwt.PyJWTError as exc:
        raise LinkRefused("token_invalid", f"link credential refused: {exc}") from None
    if payload.get("role") != LINK_ROLE:
        raise LinkRefused("forbidden_role", "only a node's link credential opens /cascade")
    session, node = payload.get("session"), payload.get("node")
    if not isinstance(session, str) or not session or not isinstance(node, str) or not node:
        raise LinkRefused("token_invalid", "the link credential names no session or node")
    return session, node


def _ice(servers: tuple[IceServer, ...]) -> list[RTCIceServer]:
    return [RTCIceServer(list(s.urls), s.username, s.credential) for s in servers]


def _error(exc: BridgeError) -> Result:
    return {"error": error(exc.code, exc.message)}


def board(hub: Hub, end: HostEnd) -> dict[str, Any]:
    """What the host tells a satellite: every endpoint and the tracks it may receive."""
    return {
        "members": [p.as_dict() for p in hub.peers()],
        "tracks": [t.as_dict() for t in end.tracks()],
    }


@dataclass(slots=True)
class _HostLink:
    session: SessionInfo
    node: str
    hub: Hub
    end: HostEnd
    push: asyncio.Handle | None = None


class CascadeHost(socketio.AsyncNamespace):  # type: ignore[misc]
    """The hosting node's side: satellites' links to the sessions placed here."""

    def __init__(
        self,
        *,
        secret: str,
        directory: Directory,
        relay: Relay,
        placement: Placement,
        ice_servers: tuple[IceServer, ...] = (),
    ) -> None:
        super().__init__(CASCADE_NAMESPACE)
        self._secret = secret
        self._directory = directory
        self._relay = relay
        self._placement = placement
        self._ice_servers = ice_servers
        self.links: dict[str, _HostLink] = {}
        """Links by socket id."""
        self._tasks: set[asyncio.Task[None]] = set()

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        try:
            link = await self._admit(token)
        except LinkRefused as exc:
            logger.info("cascade link %s refused: %s (%s)", sid, exc.code, exc.message)
            raise socketio.exceptions.ConnectionRefusedError(
                exc.message, {"code": exc.code, "message": exc.message}
            ) from None
        session, node, hub = link
        link_id = EndpointId(f"cascade-{node}")
        for old_sid, old in list(self.links.items()):
            if old.hub is hub and old.node == node:
                # The satellite came back before its old socket was seen to go.
                self.links.pop(old_sid, None)
                await old.end.close()
                self._spawn(self.disconnect(old_sid))
        end = HostEnd(hub, link_id, _ice(self._ice_servers), lambda: self._push_later(sid))
        self.links[sid] = _HostLink(session, node, hub, end)
        hub.add_presence_listener(self._presence)
        logger.info("session %s: cascade link from node %s", session.id, node)
        self._spawn(self._first_board(sid))

    async def _admit(self, token: object) -> tuple[SessionInfo, str, Hub]:
        session_id, node = verify_link_token(self._secret, token)
        session = await self._directory.session(session_id)
        if session is None:
            raise LinkRefused("unknown_session", f"no session {session_id}")
        if session.state is not SessionState.OPEN:
            raise LinkRefused("session_closed", f"session {session.id} is {session.state}")
        url = await self._placement.locate(session)
        if url is not None:
            raise LinkRefused("not_host", f"session {session.id} is hosted by {url}")
        try:
            hub = self._relay.hub(session.id, session.host_site)
        except SessionEnded as exc:
            raise LinkRefused(exc.code, exc.message) from None
        if hub.upstream is not None:
            raise LinkRefused("not_host", f"session {session.id} is a satellite here")
        return session, node, hub

    async def _first_board(self, sid: str) -> None:
        for _ in range(100):
            if self.server.manager.is_connected(sid, self.namespace):
                break
            await asyncio.sleep(0.01)
        await self._push(sid)

    def _push_later(self, sid: str) -> None:
        link = self.links.get(sid)
        if link is None or link.push is not None:
            return
        link.push = asyncio.get_running_loop().call_soon(lambda: self._spawn(self._push(sid)))

    async def _push(self, sid: str) -> None:
        link = self.links.get(sid)
        if link is None:
            return
        link.push = None
        await self.emit("board", board(link.hub, link.end), to=sid)

    async def _presence(self, hub: Hub) -> None:
        for sid, link in list(self.links.items()):
            if link.hub is hub:
                await self._push(sid)

    def _link(self, sid: str) -> _HostLink:
        link = self.links.get(sid)
        if link is None:
            raise BadRequest("the link is not connected")
        return link

    async def on_points(self, sid: str, payload: Any = None) -> Result:
        try:
            link = self._link(sid)
            points = payload.get("points") if isinstance(payload, dict) else None
            if not isinstance(points, list) or not all(isinstance(p, dict) for p in points):
                raise BadRequest("points is a list of objects")
            try:
                await link.end.set_points(points, frozenset(link.session.sites))
            except (KeyError, ValueError) as exc:
                raise BadRequest(f"a point is malformed: {exc}") from None
            return {"ok": True}
        except BridgeError as exc:
            return _error(exc)

    async def on_offer(self, sid: str, payload: Any = None) -> Result:
        try:
            link = self._link(sid)
            answer = await link.end.answer(LinkOffer.parse(payload))
            return {"type": "answer", "sdp": answer}
        except BridgeError as exc:
            logger.info("cascade link %s: offer refused (%s): %s", sid, exc.code, exc.message)
            return _error(exc)
        except Exception:
            logger.exception("cascade link %s: offer failed", sid)
            return {"error": error("internal", "the offer failed on the host")}

    async def drop(self, endpoint_id: EndpointId) -> bool:
        """An operator dropped ``endpoint_id``, a point of a satellite: the satellite
        disconnects it. Returns whether a link holds it."""
        for sid, link in list(self.links.items()):
            if endpoint_id in link.hub.remote_endpoints(link.end.link_id):
                logger.info(
                    "session %s: endpoint %s dropped through node %s",
                    link.session.id,
                    endpoint_id,
                    link.node,
                )
                await self.emit("drop", {"endpoint_id": endpoint_id}, to=sid)
                return True
        return False

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        link = self.links.pop(sid, None)
        if link is not None:
            logger.info("session %s: cascade link from node %s gone", link.session.id, link.node)
            await link.end.close()

    async def session_opened(self, session: SessionInfo) -> None:
        return None

    async def session_ended(self, session: SessionInfo, end: SessionEnd) -> None:
        """The session ended here: its links are told and closed."""
        for sid, link in list(self.links.items()):
            if link.session.id != session.id:
                continue
            self.links.pop(sid, None)
            with contextlib.suppress(Exception):
                await self.emit("session_closed", end.as_dict(), to=sid)
            await link.end.close()
            self._spawn(self._disconnect_later(sid))

    async def _disconnect_later(self, sid: str) -> None:
        await asyncio.sleep(0.2)
        await self.disconnect(sid)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for link in list(self.links.values()):
            await link.end.close()
        self.links.clear()
        for task in list(self._tasks):
            task.cancel()


class SatelliteLink:
    """One session's link from this node (a satellite) to the session's host.

    Runs until stopped: connects, keeps the link up, and after a loss (the host died or
    drained) asks where the session is now and connects there; if the session is now
    placed on this node, this node becomes its host and the link ends.
    """

    def __init__(
        self,
        hub: Hub,
        session: SessionInfo,
        host_url: str,
        *,
        token: Callable[[], str],
        locate: Callable[[], Awaitable[str | None]],
        ice_servers: tuple[IceServer, ...] = (),
        drop: Callable[[EndpointId], Awaitable[bool]] | None = None,
    ) -> None:
        self.hub = hub
        self._drop = drop
        self.session = session
        self.host_url = host_url
        self._token = token
        self._locate = locate
        self._ice_servers = ice_servers
        self.end: SatelliteEnd | None = None
        self._client: socketio.AsyncClient | None = None
        self._sent_points: list[dict[str, Any]] | None = None
        self._stopped = False
        self.connected = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run())

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self) -> None:
        delay = RETRY_FIRST
        self.hub.add_presence_listener(self._local_presence)
        while not self._stopped:
            try:
                await self._once()
                delay = RETRY_FIRST
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning(
                    "session %s: cascade link to %s failed: %s", self.session.id, self.host_url, exc
                )
            await self._teardown()
            if self._stopped:
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)
            try:
                url = await self._locate()
            except Exception:
                logger.exception("session %s: placement failed", self.session.id)
                continue
            if url is None:
                logger.info("session %s: placed on this node now; the link ends", self.session.id)
                self.hub.upstream = None
                return
            self.host_url = url
            self.hub.upstream = url

    async def _once(self) -> None:
        client = self._client = socketio.AsyncClient(reconnection=False)
        self._sent_points = None

        async def send_offer(offer: LinkOffer) -> str:
            answer = await client.call(
                "offer", offer.as_dict(), namespace=CASCADE_NAMESPACE, timeout=OFFER_TIMEOUT
            )
            if not isinstance(answer, dict) or not isinstance(answer.get("sdp"), str):
                raise RuntimeError(f"the host refused the offer: {answer}")
            return str(answer["sdp"])

        def failed() -> None:
            # Start the link afresh: the loop tears it down and connects again.
            self._spawn(client.disconnect())

        boards: asyncio.Queue[Any] = asyncio.Queue()

        async def on_board(payload: Any) -> None:
            await boards.put(payload)

        async def on_closed(payload: Any) -> None:
            logger.info("session %s: the host ended it", self.session.id)

        async def on_drop(payload: Any) -> None:
            endpoint_id = payload.get("endpoint_id") if isinstance(payload, dict) else None
            if not isinstance(endpoint_id, str) or self._drop is None:
                return
            if self.hub.participant(EndpointId(endpoint_id)) is None:
                logger.info("session %s: drop of %s, not here", self.session.id, endpoint_id)
                return
            await self._drop(EndpointId(endpoint_id))

        client.on("board", on_board, namespace=CASCADE_NAMESPACE)
        client.on("drop", on_drop, namespace=CASCADE_NAMESPACE)
        client.on("session_closed", on_closed, namespace=CASCADE_NAMESPACE)
        await client.connect(
            self.host_url,
            auth={"token": self._token()},
            namespaces=[CASCADE_NAMESPACE],
            transports=["websocket"],
            wait_timeout=10,
        )
        logger.info("session %s: cascade link up to %s", self.session.id, self.host_url)
        # The host hears of the points first, then of the m-lines that name them; the
        # link's end offers as soon as it exists (it hears of the hub's tracks at once).
        await self._send_points()
        end = self.end = SatelliteEnd(
            self.hub, EndpointId("cascade-host"), _ice(self._ice_servers), send_offer, failed
        )
        self.connected.set()
        applier = asyncio.get_running_loop().create_task(self._apply(end, boards))
        try:
            await client.wait()
        finally:
            applier.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await applier

    async def _apply(self, end: SatelliteEnd, boards: asyncio.Queue[Any]) -> None:
        while True:
            payload = await boards.get()
            while not boards.empty():
                payload = boards.get_nowait()  # only the latest board matters
            try:
                members = payload["members"]
                tracks = [LinkTrack.parse(t) for t in payload["tracks"]]
                await end.apply_board(members, tracks)
            except Exception:
                logger.exception("session %s: a board from the host is unusable", self.session.id)

    def _points(self) -> list[dict[str, Any]]:
        return [p.as_dict() for p in self.hub.local_peers() if p.role is EndpointRole.ROOM]

    async def _local_presence(self, hub: Hub) -> None:
        await self._send_points()

    async def _send_points(self) -> None:
        client = self._client
        if client is None or not client.connected:
            return
        points = self._points()
        if points == self._sent_points:
            return
        self._sent_points = points
        try:
            answer = await client.call(
                "points", {"points": points}, namespace=CASCADE_NAMESPACE, timeout=OFFER_TIMEOUT
            )
        except Exception as exc:
            logger.warning("session %s: points not sent to the host: %s", self.session.id, exc)
            self._sent_points = None
            return
        if isinstance(answer, dict) and "error" in answer:
            logger.warning("session %s: the host refused points: %s", self.session.id, answer)

    async def _teardown(self) -> None:
        self.connected.clear()
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.disconnect()
        end, self.end = self.end, None
        if end is not None:
            await end.close()

    async def stop(self) -> None:
        self._stopped = True
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        await self._teardown()


class Satellites:
    """This node's side as a satellite: which connections it serves although their
    session is hosted elsewhere (a room whose site's home node is this one), and the
    links to the hosts."""

    def __init__(
        self,
        *,
        secret: str,
        relay: Relay,
        placement: Placement,
        home_nodes: dict[str, str],
        node_id: Callable[[], str],
        serving: Callable[[], Awaitable[dict[str, str]]],
        ice_servers: tuple[IceServer, ...] = (),
    ) -> None:
        self._serving = serving
        """The serving nodes now: id to address."""
        self._secret = secret
        self._relay = relay
        self._placement = placement
        self._home_nodes = home_nodes
        self._node_id = node_id
        self._ice_servers = ice_servers
        self.links: dict[str, SatelliteLink] = {}
        """Links by session id."""
        self.drop: Callable[[EndpointId], Awaitable[bool]] | None = None
        """Disconnects an endpoint of this node (the ``/bridge`` namespace sets it)."""

    async def serves(self, session: SessionInfo, site: str, role: str, host_url: str) -> bool:
        """Whether this node serves a connection of ``site`` although ``session`` is on
        ``host_url``: a room whose home node is this one. Opens the local hub and the
        link to the host on the first one."""
        if role != EndpointRole.ROOM or self._home_nodes.get(site) != self._node_id():
            return False
        if self._node_id() not in await self._serving():
            return False  # draining: the session's node takes new rooms
        try:
            hub = self._relay.hub(session.id, session.host_site)
        except SessionEnded:
            return False
        link = self.links.get(session.id)
        if link is None:
            hub.upstream = host_url
            node = self._node_id()

            async def locate() -> str | None:
                return await self._placement.locate(session)

            link = self.links[session.id] = SatelliteLink(
                hub,
                session,
                host_url,
                token=lambda: issue_link_token(self._secret, session.id, node),
                locate=locate,
                ice_servers=self._ice_servers,
                drop=self._drop_local,
            )
            link.start()
            logger.info("session %s: served here as a satellite of %s", session.id, host_url)
        return hub.upstream is not None

    async def home_url(self, session: SessionInfo, site: str, role: str) -> str | None:
        """The address of ``site``'s home node when it is another serving node (rooms
        only); a room reaching this node is sent there, where it joins the session as a
        satellite's point or as the host's."""
        home = self._home_nodes.get(site)
        if role != EndpointRole.ROOM or home is None or home == self._node_id():
            return None
        return (await self._serving()).get(home)

    async def _drop_local(self, endpoint_id: EndpointId) -> bool:
        return await self.drop(endpoint_id) if self.drop is not None else False

    async def session_opened(self, session: SessionInfo) -> None:
        return None

    async def session_ended(self, session: SessionInfo, end: SessionEnd) -> None:
        link = self.links.pop(session.id, None)
        if link is not None:
            await link.stop()

    async def close(self) -> None:
        for link in list(self.links.values()):
            await link.stop()
        self.links.clear()
