"""The ``/bridge`` Socket.IO namespace: parse, check, delegate to the relay.

See PROTOCOL.md for the events. Handlers hold no media logic: admission lives in
:mod:`signaling.admission`, payloads in :mod:`signaling.messages`, media in ``bridge/``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import socketio
from aiortc import RTCIceServer

from bridge.errors import BridgeError
from bridge.frames import EndpointId
from bridge.hub import Hub
from bridge.legs import LegFailure
from bridge.participant import Participant, SubscribeOffer
from bridge.patch import EndpointRole
from bridge.relay import Relay, SessionEnded
from config.settings import IceServer
from core.sessions import Directory, SessionEnd, SessionInfo
from signaling.admission import Admission, AdmissionError, admit
from signaling.commands import Commands
from signaling.messages import PublishOffer, SubscribeAnswer, error, parse_empty
from signaling.placement import Here, Placement, PlacementError, Satellite
from signaling.wire import MALFORMED_EVENT

logger = logging.getLogger(__name__)

NAMESPACE = "/bridge"
EventObserver = Callable[[str, float], None]
"""Told each event's name (``other`` for one with no handler) and seconds it took."""
JOIN_TIMEOUT = 5.0
"""Longest wait for a new endpoint to be in its hub before it may publish (seconds)."""
LEAVE_GRACE = 0.5
"""Time between a ``leave`` ack and the server closing the socket (seconds)."""
ACK_WAIT = 15.0
"""Longest a socket told to go waits for its own events still being handled."""

LOGGED_CHARS = 120
"""Longest part of a client-chosen event name or message that goes into the log."""

Result = dict[str, Any]


@dataclass(slots=True)
class _Endpoint:
    admission: Admission
    hub: Hub
    participant: Participant
    joined: asyncio.Event = field(default_factory=asyncio.Event)
    leaving: bool = False


def _error_result(code: str, message: str) -> Result:
    return {"error": error(code, message)}


def _audience(session_id: str, role: EndpointRole) -> str:
    """The Socket.IO room of a session's operators or of its reception rooms."""
    return f"{session_id}/{role}"


class BridgeNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    """Signaling for reception rooms and operators (PROTOCOL.md)."""

    def __init__(
        self,
        *,
        secret: str,
        directory: Directory,
        relay: Relay,
        ice_servers: tuple[IceServer, ...] = (),
        commands: Commands,
        max_message_bytes: int = 256 * 1024,
        placement: Placement | None = None,
        observe: EventObserver | None = None,
        satellite: Satellite | None = None,
        drop_elsewhere: Callable[[EndpointId], Awaitable[bool]] | None = None,
    ) -> None:
        super().__init__(NAMESPACE)
        self._satellite = satellite
        self._drop_elsewhere = drop_elsewhere
        """Drops an endpoint connected to another node (a cascade's satellite)."""
        self._placement: Placement = placement if placement is not None else Here()
        self._observe = observe
        self._commands = commands
        self._secret = secret
        self._directory = directory
        self._relay = relay
        self._ice_servers = ice_servers
        self._max_message_bytes = max_message_bytes
        self._endpoints: dict[str, _Endpoint] = {}
        self._sessions: dict[str, SessionInfo] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_flight: dict[str, int] = {}
        """Events of a socket still being handled, whose acks must get out before the
        server disconnects it (an operator's ``close_session`` outlasts the grace)."""

    # -- dispatch ----------------------------------------------------------------------

    async def trigger_event(self, event: str, *args: Any) -> Any:
        """Route events (timed for ``observe``: an event with no handler is ``other``)."""
        if self._observe is None:
            return await self._route(event, *args)
        started = time.perf_counter()
        try:
            return await self._route(event, *args)
        finally:
            name = event if hasattr(self, f"on_{event}") else "other"
            self._observe(name, time.perf_counter() - started)

    async def _route(self, event: str, *args: Any) -> Any:
        """Route events; unknown and oversized ones get a clear ``error``."""
        sid = args[0] if args else ""
        if event == "connect" and sid in self._endpoints:
            # Only the server raises "connect", once per socket; a client that sends
            # an event of that name must not open a second endpoint.
            return await self._refuse(sid, event, "unknown_event", "connect is not an event")
        if event == "disconnect" and self.server.manager.is_connected(sid, self.namespace):
            # The server raises "disconnect" once the socket is going (no longer
            # connected); a client that sends an event of that name stays as it is.
            return await self._refuse(sid, event, "unknown_event", "disconnect is not an event")
        if event in ("connect", "disconnect"):
            return await super().trigger_event(event, *args)
        if event == MALFORMED_EVENT:
            return await self._refuse(sid, event, "bad_request", "the message is not valid JSON")
        if not hasattr(self, f"on_{event}"):
            return await self._refuse(
                sid, event, "unknown_event", f"no such event: {event[:LOGGED_CHARS]}"
            )
        if len(args) > 2:
            return await self._refuse(
                sid, event, "bad_request", f"{event} takes one payload, not {len(args) - 1}"
            )
        try:
            size = len(json.dumps(args[1:], default=str))
        except (RecursionError, ValueError):
            return await self._refuse(sid, event, "bad_request", "the payload cannot be read")
        if size > self._max_message_bytes:
            return await self._refuse(
                sid,
                event,
                "message_too_large",
                f"{event} payload is {size} bytes, more than {self._max_message_bytes}",
            )
        return await super().trigger_event(event, *args)

    async def _refuse(self, sid: str, event: str, code: str, message: str) -> Result:
        # The name and the message may carry what a client sent: quoted and cut short,
        # so that no line break or lone surrogate of theirs reaches the log as is.
        logger.info(
            "%s: %r refused: %r", self._where(sid), event[:LOGGED_CHARS], message[:LOGGED_CHARS]
        )
        await self.emit("error", error(code, message, event), to=sid)
        return _error_result(code, message)

    def _where(self, sid: str) -> str:
        endpoint = self._endpoints.get(sid)
        if endpoint is None:
            return f"sid {sid}"
        return (
            f"session {endpoint.hub.session_id} site {endpoint.participant.site}"
            f" endpoint {endpoint.participant.endpoint_id}"
        )

    async def _delegate(
        self, sid: str, event: str, action: Callable[[], Awaitable[Result]]
    ) -> Result:
        self._in_flight[sid] = self._in_flight.get(sid, 0) + 1
        try:
            return await action()
        except BridgeError as exc:
            logger.info("%s: %s refused (%s): %s", self._where(sid), event, exc.code, exc.message)
            return _error_result(exc.code, exc.message)
        except Exception:
            logger.exception("%s: %s failed", self._where(sid), event)
            return _error_result("internal", f"{event} failed on the server")
        finally:
            left = self._in_flight.pop(sid, 1) - 1
            if left:
                self._in_flight[sid] = left

    # -- connection --------------------------------------------------------------------

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        try:
            admission = await admit(self._secret, self._directory, token)
        except AdmissionError as exc:
            logger.info("connection %s refused: %s (%s)", sid, exc.code, exc.message)
            raise socketio.exceptions.ConnectionRefusedError(exc.message, exc.as_dict()) from None
        session = admission.session
        await self._locate(sid, session, admission)
        try:
            hub = self._relay.hub(session.id, session.host_site)
        except SessionEnded as exc:
            logger.info("connection %s refused: %s", sid, exc.message)
            raise socketio.exceptions.ConnectionRefusedError(
                exc.message, {"code": exc.code, "message": exc.message}
            ) from None
        hub.add_presence_listener(self._broadcast_presence)
        participant = Participant(
            hub,
            EndpointId(uuid.uuid4().hex[:12]),
            admission.site.id,
            EndpointRole(str(admission.claims.role)),
            lambda offer: self._send_offer(sid, offer),
            lambda end: self._send_end(sid, end),
            [RTCIceServer(list(s.urls), s.username, s.credential) for s in self._ice_servers],
            send_leg_failed=lambda failure: self._send_leg_failed(sid, failure),
        )
        endpoint = _Endpoint(admission, hub, participant)
        self._endpoints[sid] = endpoint
        self._sessions[session.id] = session
        await self.enter_room(sid, session.id)
        await self.enter_room(sid, _audience(session.id, participant.role))
        self._spawn(self._welcome(sid, endpoint))

    async def _locate(self, sid: str, session: SessionInfo, admission: Admission) -> None:
        """Refuse with ``redirect`` (and the node's URL) when the session is elsewhere,
        unless this node serves the connection as a satellite (a cascade); a room whose
        site's home node is another serving node is sent there."""
        try:
            url = await self._placement.locate(session)
        except PlacementError as exc:
            logger.info("connection %s refused: %s (%s)", sid, exc.code, exc.message)
            raise socketio.exceptions.ConnectionRefusedError(
                exc.message, {"code": exc.code, "message": exc.message}
            ) from None
        except Exception:
            logger.exception("connection %s: placement of session %s failed", sid, session.id)
            message = "the session cannot be placed now; try again"
            raise socketio.exceptions.ConnectionRefusedError(
                message, {"code": "unavailable", "message": message}
            ) from None
        if self._satellite is not None:
            role, site = str(admission.claims.role), admission.site.id
            try:
                home = await self._satellite.home_url(session, site, role)
                if home is not None:
                    url = home  # a room goes to its home node, which joins the session's
                elif url is not None and await self._satellite.serves(session, site, role, url):
                    return
            except Exception:
                logger.exception("connection %s: cascade of session %s failed", sid, session.id)
        if url is not None:
            logger.info("connection %s: session %s is on %s, redirected", sid, session.id, url)
            message = f"session {session.id} is served by {url}"
            raise socketio.exceptions.ConnectionRefusedError(
                message, {"code": "redirect", "message": message, "url": url}
            )

    async def move(self, session_id: str, url: str) -> int:
        """Tell every endpoint of ``session_id`` here to reconnect at ``url`` (``redirect``
        event), then close their sockets; returns how many were told."""
        sids = [s for s, e in self._endpoints.items() if e.hub.session_id == session_id]
        for sid in sids:
            self._endpoints[sid].leaving = True
            await self.emit("redirect", {"url": url}, to=sid)
            self._spawn(self._disconnect_later(sid))
        return len(sids)

    async def _welcome(self, sid: str, endpoint: _Endpoint) -> None:
        # The CONNECT packet goes out after on_connect returns; welcome must follow it.
        for _ in range(100):
            if self.server.manager.is_connected(sid, self.namespace):
                break
            await asyncio.sleep(0.01)
        admission = endpoint.admission
        session = admission.session
        participant = endpoint.participant
        await self.emit(
            "welcome",
            {
                "endpoint_id": participant.endpoint_id,
                "role": str(participant.role),
                "site": {"id": admission.site.id, "name": admission.site.name},
                "session": {
                    "id": session.id,
                    "title": session.title,
                    "host_site": session.host_site,
                    "starts_at": session.starts_at.isoformat(),
                    "ends_at": session.ends_at.isoformat(),
                    "recorded": session.record,
                },
                "ice_servers": [s.as_client_dict() for s in self._ice_servers],
                "peers": [p.as_dict() for p in endpoint.hub.peers()],
            },
            to=sid,
        )
        if self._endpoints.get(sid) is endpoint:
            await endpoint.hub.join(participant, admission.site.name)
            endpoint.joined.set()

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        endpoint = self._endpoints.pop(sid, None)
        if endpoint is None:
            return
        await endpoint.hub.leave(endpoint.participant.endpoint_id, dropped=not endpoint.leaving)
        await endpoint.participant.close()
        # Events still waiting for the join go on now and find the endpoint gone
        # instead of holding their task for JOIN_TIMEOUT.
        endpoint.joined.set()
        session_id = endpoint.hub.session_id
        if not any(e.hub.session_id == session_id for e in self._endpoints.values()):
            # Nobody of the session is connected here: its info is looked up again on
            # the next connect, so no entry outlives the session.
            self._sessions.pop(session_id, None)

    async def _broadcast_presence(self, hub: Hub) -> None:
        await self.emit(
            "presence", {"peers": [p.as_dict() for p in hub.peers()]}, room=hub.session_id
        )
        session = self._sessions.get(hub.session_id)
        if session is None:
            return
        for role in EndpointRole:
            state = self._commands.state(hub, session, full=role is EndpointRole.OPERATOR)
            await self.emit("bridge_state", state, room=_audience(hub.session_id, role))

    async def _send_offer(self, sid: str, offer: SubscribeOffer) -> None:
        await self.emit(
            "subscribe_offer",
            {
                "type": "offer",
                "sdp": offer.sdp,
                "revision": offer.revision,
                "restart": offer.restart,
                "tracks": [
                    {
                        "mid": t.mid,
                        "kind": str(t.kind),
                        "endpoint_id": t.endpoint_id,
                        "site": t.site,
                        "site_name": t.site_name,
                    }
                    for t in offer.tracks
                ],
            },
            to=sid,
        )

    async def _send_leg_failed(self, sid: str, failure: LegFailure) -> None:
        await self.emit("leg_failed", failure.as_dict(), to=sid)

    async def _send_end(self, sid: str, end: SessionEnd) -> None:
        # The endpoint hears why first; the hub closes its connections next, and the
        # socket goes a moment later so the event (and a pending ack) get out.
        endpoint = self._endpoints.get(sid)
        if endpoint is not None:
            endpoint.leaving = True
        await self.emit("session_closed", end.as_dict(), to=sid)
        self._spawn(self._disconnect_later(sid))

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _endpoint(self, sid: str) -> _Endpoint:
        endpoint = self._endpoints.get(sid)
        if endpoint is None:
            raise BridgeError("the endpoint is not joined")
        try:
            await asyncio.wait_for(endpoint.joined.wait(), JOIN_TIMEOUT)
        except TimeoutError:
            raise BridgeError("the endpoint did not finish joining") from None
        if self._endpoints.get(sid) is not endpoint:
            raise BridgeError("the endpoint has left")
        return endpoint

    # -- events ------------------------------------------------------------------------

    async def on_publish(self, sid: str, payload: Any = None) -> Result:
        async def action() -> Result:
            offer = PublishOffer.parse(payload)
            endpoint = await self._endpoint(sid)
            answer = await endpoint.participant.publish(offer.sdp, restart=offer.restart)
            return {"type": "answer", "sdp": answer}

        return await self._delegate(sid, "publish", action)

    async def on_subscribe_answer(self, sid: str, payload: Any = None) -> Result:
        async def action() -> Result:
            answer = SubscribeAnswer.parse(payload)
            endpoint = await self._endpoint(sid)
            await endpoint.participant.accept_answer(answer.sdp, answer.revision)
            return {"ok": True}

        return await self._delegate(sid, "subscribe_answer", action)

    async def on_resubscribe(self, sid: str, payload: Any = None) -> Result:
        async def action() -> Result:
            parse_empty(payload)
            endpoint = await self._endpoint(sid)
            await endpoint.participant.resubscribe()
            return {"ok": True}

        return await self._delegate(sid, "resubscribe", action)

    async def on_command(self, sid: str, payload: Any = None) -> Result:
        async def action() -> Result:
            endpoint = await self._endpoint(sid)
            outcome = await self._commands.run(
                endpoint.admission, endpoint.hub, payload, self._drop
            )
            return outcome.as_ack()

        return await self._delegate(sid, "command", action)

    async def on_state(self, sid: str, payload: Any = None) -> Result:
        async def action() -> Result:
            endpoint = await self._endpoint(sid)
            full = endpoint.participant.role is EndpointRole.OPERATOR
            return {
                "state": self._commands.state(endpoint.hub, endpoint.admission.session, full=full)
            }

        return await self._delegate(sid, "state", action)

    async def _drop(self, endpoint_id: EndpointId) -> None:
        if not await self.drop(endpoint_id) and self._drop_elsewhere is not None:
            await self._drop_elsewhere(endpoint_id)

    async def drop(self, endpoint_id: EndpointId) -> bool:
        """Disconnect ``endpoint_id`` if it is connected here; returns whether it was."""
        dropped = False
        for sid, endpoint in list(self._endpoints.items()):
            if endpoint.participant.endpoint_id == endpoint_id:
                logger.info("%s: dropped by an operator", self._where(sid))
                await self.disconnect(sid)
                dropped = True
        return dropped

    async def on_leave(self, sid: str, payload: Any = None) -> Result:
        async def action() -> Result:
            endpoint = await self._endpoint(sid)
            endpoint.leaving = True
            await endpoint.hub.leave(endpoint.participant.endpoint_id)
            self._spawn(self._disconnect_later(sid))
            return {"ok": True}

        return await self._delegate(sid, "leave", action)

    async def _disconnect_later(self, sid: str) -> None:
        await asyncio.sleep(LEAVE_GRACE)
        # A handler of this socket still running (the close it asked for is still
        # going through its listeners) answers first; its ack leaves with the return.
        waited = 0.0
        while self._in_flight.get(sid) and waited < ACK_WAIT:
            await asyncio.sleep(0.05)
            waited += 0.05
        if waited:
            await asyncio.sleep(0.1)
        await self.disconnect(sid)

    async def close(self) -> None:
        """Shutdown, after the lifecycle ended every session: end what is left."""
        await self._relay.close()
        for task in list(self._tasks):
            task.cancel()
        self._endpoints.clear()
        self._sessions.clear()
