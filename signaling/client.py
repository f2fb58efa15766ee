"""A Python endpoint of the ``/bridge`` protocol: headless room agents, tests, the bench.

It publishes the tracks it is given and answers every subscribe offer. Received
media is either counted as encoded frames (no decoding, see ``tap``) or decoded by
aiortc and counted.

A leg that fails (``leg_failed`` from the server, or its own connection state
``failed``) is replaced by itself after a backoff (:func:`backoff`): a new publish
connection with the same tracks (``publish`` with ``restart``), or a new subscribe
connection (``resubscribe``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import socketio
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.exceptions import InvalidStateError
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcconfiguration import RTCBundlePolicy
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from bridge.rtc_internals import codec_preferences, renew_receiver, tap_receiver
from signaling.namespace import NAMESPACE

logger = logging.getLogger(__name__)


RECOVERY_FIRST_DELAY = 0.5
"""Wait before the first attempt to replace a failed leg (seconds); doubled each time."""
RECOVERY_MAX_DELAY = 8.0
"""The longest wait between two attempts (seconds)."""
RECOVERY_JITTER = 0.25
"""Each wait is the nominal one times 1 ± this, so endpoints that failed together do
not come back all at once."""


def backoff(attempt: int, rng: Callable[[], float] = random.random) -> float:
    """Seconds to wait before attempt ``attempt`` (0 first) to replace a failed leg."""
    nominal = min(RECOVERY_FIRST_DELAY * 2.0**attempt, RECOVERY_MAX_DELAY)
    return nominal * (1 - RECOVERY_JITTER + 2 * RECOVERY_JITTER * rng())


def _config() -> RTCConfiguration:
    # aiortc's default (balanced) bundle policy leaves the second m-line of a kind on a
    # transport it then discards when one offer brings several: max-bundle avoids that.
    return RTCConfiguration(bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


class _Feed(MediaStreamTrack):
    """Sends a source track's frames. aiortc stops the track of a sender that stops (the
    publish connection closed): it stops this one, never the source, so a republish (or
    a reconnection) sends the source again. One feed reads a source at a time (the old connection is
    closed before the new one opens)."""

    def __init__(self, source: MediaStreamTrack) -> None:
        super().__init__()
        self.kind = source.kind
        self._source = source

    async def recv(self) -> Any:
        if self.readyState != "live":
            raise MediaStreamError
        return await self._source.recv()


MAX_REDIRECTS = 3
"""Redirects followed for one connection before giving up."""
BACKOFF_FIRST = 0.1
BACKOFF_MAX = 0.4
"""Reconnection waits (seconds): doubled after each failure up to the maximum."""


def _redirect_url(refusal: Any) -> str | None:
    """The node named by a ``redirect`` refusal (``{message, data: {code, url}}``)."""
    data = refusal.get("data") if isinstance(refusal, dict) else None
    if isinstance(data, dict) and data.get("code") == "redirect" and data.get("url"):
        return str(data["url"])
    return None


class ClientError(Exception):
    """The server answered a request with an error object."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(slots=True)
class ReceivedTrack:
    """What arrived on one m-line of the subscribe connection."""

    mid: str
    """The m-line."""
    kind: str
    """Audio or video."""
    site: str
    """The publishing site, from the offer's track list."""
    endpoint_id: str
    """The publishing endpoint."""
    frames: int = 0
    """Frames received (encoded, or decoded when decoding)."""
    payload_bytes: int = 0
    """Encoded payload bytes received (not counted when decoding)."""
    codec: str = ""
    """MIME type of the frames."""
    keyframe: bytes | None = field(default=None, repr=False)
    """The first frame's payload (a keyframe for video), kept to prove it decodes."""
    ended: bool = False
    """Whether the track ended."""


@dataclass(slots=True)
class _Offer:
    payload: dict[str, Any]
    done: asyncio.Event = field(default_factory=asyncio.Event)


class BridgeClient:
    """One endpoint: a Socket.IO connection, a publish and a subscribe connection."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        decode: bool = False,
        video_codecs: tuple[str, ...] = ("video/VP8", "video/H264"),
        reconnect: bool = False,
        keep_messages: bool = True,
    ) -> None:
        self.keep_messages = keep_messages
        """Whether ``states``, ``presence``, ``offers`` and ``errors`` keep every message
        (what tests look back on); False keeps the last of each. A session's messages
        grow with its endpoints: with 144 endpoints, 48 clients keeping every one grew
        a process by about 50 MB/s (bench.cluster's subscribers)."""
        self.entry_url = url
        """The address given: where a reconnection starts over."""
        self.url = url
        """The node connected to (after redirects)."""
        self.reconnect = reconnect
        """Whether a lost connection (node gone, ``redirect`` event) is made again."""
        self.redirects: list[str] = []
        """Every redirect followed, oldest first."""
        self.reconnections = 0
        """Connections made again after a loss."""
        self.reconnected = asyncio.Event()
        """Set after each reconnection has published again (cleared at each loss)."""
        self.history: list[dict[str, ReceivedTrack]] = []
        """``received`` of each earlier connection."""
        self._tracks: list[MediaStreamTrack] = []
        self._move_to: str | None = None
        self._reconnecting: asyncio.Task[None] | None = None
        self.token = token
        self.decode = decode
        self.video_codecs = video_codecs
        self.sio = self._new_socket()
        self.welcome: dict[str, Any] | None = None
        self.presence: list[list[dict[str, Any]]] = []
        self.errors: list[dict[str, Any]] = []
        self.offers: list[dict[str, Any]] = []
        self.states: list[dict[str, Any]] = []
        """Every ``bridge_state`` received, oldest first."""
        self.received: dict[str, ReceivedTrack] = {}
        self.connect_error: Any = None
        self.disconnected = asyncio.Event()
        self.session_closed: dict[str, Any] | None = None
        """The ``session_closed`` event, once the session's live part is over."""
        self.ended = asyncio.Event()
        """Set once ``session_closed`` came and both connections are closed."""
        self.publish_pc: RTCPeerConnection | None = None
        self.subscribe_pc: RTCPeerConnection | None = None
        self.frame_listener: Callable[[ReceivedTrack, bytes], None] | None = None
        """Called with every encoded frame received (not when decoding); benchmarks
        time frames with it."""
        self._welcomed = asyncio.Event()
        self._offer_lock = asyncio.Lock()
        self._pending_tracks: dict[str, dict[str, Any]] = {}
        self._carrying: dict[str, str] = {}
        """mid -> the endpoint whose track the last offer put on it (active m-lines)."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self.leg_failures: list[dict[str, Any]] = []
        """Every leg failure: each ``leg_failed`` received (``seen_by: "server"``) and each
        one this client saw first (``seen_by: "client"``), with ``at`` (``time.monotonic()``)."""
        self.recoveries: list[tuple[str, float]] = []
        """(leg, ``time.monotonic()``) each time a replacement leg was asked for and
        acknowledged."""
        self._recovering: dict[str, asyncio.Task[None]] = {}
        self._attempts = {"publish": 0, "subscribe": 0}

    def _new_socket(self) -> socketio.AsyncClient:
        sio = socketio.AsyncClient(reconnection=False)
        on = sio.on
        on("welcome", self._on_welcome, namespace=NAMESPACE)
        on("presence", self._on_presence, namespace=NAMESPACE)
        on("bridge_state", self._on_bridge_state, namespace=NAMESPACE)
        on("error", self._on_error, namespace=NAMESPACE)
        on("subscribe_offer", self._on_offer, namespace=NAMESPACE)
        on("connect_error", self._on_connect_error, namespace=NAMESPACE)
        on("disconnect", self._on_disconnect, namespace=NAMESPACE)
        on("session_closed", self._on_session_closed, namespace=NAMESPACE)
        on("leg_failed", self._on_leg_failed, namespace=NAMESPACE)
        on("redirect", self._on_redirect, namespace=NAMESPACE)
        return sio

    async def connect(self, wait: float = 10.0, url: str | None = None) -> dict[str, Any]:
        """Connect (to ``url``, by default the address given) following ``redirect``
        refusals, and wait for ``welcome``; raises ``socketio.exceptions.ConnectionError``."""
        target = url or self.url
        for _ in range(MAX_REDIRECTS + 1):
            self.connect_error = None
            try:
                await self.sio.connect(
                    target,
                    auth={"token": self.token},
                    namespaces=[NAMESPACE],
                    transports=["websocket"],
                    wait_timeout=wait,
                )
            except socketio.exceptions.ConnectionError:
                target = _redirect_url(self.connect_error) or ""
                if not target:
                    raise
                self.redirects.append(target)
                logger.info("redirected to %s", target)
                await self._reset_socket()
                continue
            self.url = target
            await asyncio.wait_for(self._welcomed.wait(), wait)
            assert self.welcome is not None
            return self.welcome
        raise socketio.exceptions.ConnectionError(f"more than {MAX_REDIRECTS} redirects")

    async def _reset_socket(self) -> None:
        old = self.sio
        self.sio = self._new_socket()
        if old.connected:
            await old.disconnect()

    async def call(self, event: str, payload: Any, wait: float = 20.0) -> Any:
        """Send ``event`` and return its ack; raise :class:`ClientError` on an error ack."""
        result = await self.sio.call(event, payload, namespace=NAMESPACE, timeout=wait)
        if isinstance(result, dict) and "error" in result:
            raise ClientError(result["error"]["code"], result["error"]["message"])
        return result

    async def publish(self, tracks: list[MediaStreamTrack]) -> None:
        """Open the publish connection with ``tracks`` (published again after a
        reconnection)."""
        self._tracks = list(tracks)
        await self._open_publish(restart=False)

    async def _open_publish(self, *, restart: bool) -> None:
        pc = self.publish_pc = RTCPeerConnection(_config())
        pc.on("connectionstatechange", lambda: self._on_leg_state("publish", pc))
        for source in self._tracks:
            track = _Feed(source)
            transceiver = pc.addTransceiver(track, direction="sendonly")
            if track.kind == "video":
                transceiver.setCodecPreferences(codec_preferences("video", list(self.video_codecs)))
        await pc.setLocalDescription(await pc.createOffer())
        offer = {"type": "offer", "sdp": pc.localDescription.sdp, "restart": restart}
        answer = await self.call("publish", offer)
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))

    async def command(self, op: str, **fields: Any) -> dict[str, Any]:
        """Run an operator command; returns its ack (``{state, warning?}``)."""
        result: dict[str, Any] = await self.call("command", {"op": op, **fields})
        return result

    async def leave(self) -> None:
        """Say goodbye and close both connections."""
        if self.sio.connected:
            try:
                await self.call("leave", {}, wait=10)
            except (ClientError, socketio.exceptions.TimeoutError):
                logger.warning("leave was not acknowledged")
        await self.close()

    async def close(self) -> None:
        """Close connections without saying goodbye."""
        self._closed = True
        if self._reconnecting is not None:
            self._reconnecting.cancel()
        for task in list(self._tasks):
            task.cancel()
        for pc in (self.publish_pc, self.subscribe_pc):
            if pc is not None:
                await asyncio.wait_for(pc.close(), 10)
        if self.sio.connected:
            await self.sio.disconnect()

    # -- events ------------------------------------------------------------------------

    def _trim(self, messages: list[Any]) -> None:
        if not self.keep_messages:
            del messages[:-1]

    async def _on_welcome(self, data: dict[str, Any]) -> None:
        self.welcome = data
        self._welcomed.set()

    async def _on_presence(self, data: dict[str, Any]) -> None:
        self.presence.append(data["peers"])
        self._trim(self.presence)

    async def _on_bridge_state(self, data: dict[str, Any]) -> None:
        self.states.append(data)
        self._trim(self.states)

    async def _on_error(self, data: dict[str, Any]) -> None:
        self.errors.append(data)
        self._trim(self.errors)

    async def _on_connect_error(self, data: Any) -> None:
        self.connect_error = data

    async def _on_disconnect(self, *args: Any) -> None:
        self.disconnected.set()
        if self.reconnect and not self._closed and self._reconnecting is None:
            self.reconnected.clear()
            self._reconnecting = asyncio.ensure_future(self._reconnect())

    async def _on_redirect(self, data: dict[str, Any]) -> None:
        # The node lets go of the session (draining): the socket closes next, then
        # the reconnection starts at the address given here.
        self._move_to = str(data.get("url") or "") or None

    async def _reconnect(self) -> None:
        """Start over: close both connections, connect again (the address given, or the
        one a ``redirect`` named), publish the same tracks again."""
        try:
            for pc in (self.publish_pc, self.subscribe_pc):
                if pc is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(pc.close(), 10)
            self.publish_pc = self.subscribe_pc = None
            self.history.append(self.received)
            self.received = {}
            self._carrying = {}
            self._pending_tracks = {}
            self.welcome = None
            self._welcomed = asyncio.Event()
            delay = BACKOFF_FIRST
            target = self._move_to or self.entry_url
            self._move_to = None
            while not self._closed:
                await self._reset_socket()
                try:
                    await self.connect(url=target)
                    break
                except (socketio.exceptions.ConnectionError, TimeoutError) as exc:
                    logger.info(
                        "reconnecting to %s failed (%s); again in %.2f s", target, exc, delay
                    )
                    target = self.entry_url
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, BACKOFF_MAX)
            if self._closed:
                return
            self.disconnected.clear()
            self.reconnections += 1
            if self._tracks:
                await self.publish(self._tracks)
            self.reconnected.set()
        except Exception:
            logger.exception("reconnection failed")
        finally:
            self._reconnecting = None

    async def _on_session_closed(self, data: dict[str, Any]) -> None:
        # As the room page does: the session is over, so let go of both connections
        # (the server closes its side and the socket right after).
        self.session_closed = data
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        for pc in (self.publish_pc, self.subscribe_pc):
            if pc is not None:
                await asyncio.wait_for(pc.close(), 10)
        self.ended.set()

    # -- recovering a failed leg ---------------------------------------------------------

    async def _on_leg_failed(self, data: dict[str, Any]) -> None:
        self.leg_failures.append({**data, "seen_by": "server", "at": time.monotonic()})
        logger.info("the server says the %s leg failed (%s)", data["leg"], data["reason"])
        self._recover(str(data["leg"]))

    def _on_leg_state(self, leg: str, pc: RTCPeerConnection) -> None:
        current = self.publish_pc if leg == "publish" else self.subscribe_pc
        if pc is not current:
            return
        if pc.connectionState == "connected":
            self._attempts[leg] = 0
        elif pc.connectionState in ("failed", "closed") and not self._closed:
            # aiortc closes a connection whose ICE consent expired (it never says
            # failed); connections this client closes itself are no longer current.
            logger.info("the %s leg %s here", leg, pc.connectionState)
            reason = "closed" if pc.connectionState == "closed" else "failed"
            self.leg_failures.append(
                {"leg": leg, "reason": reason, "seen_by": "client", "at": time.monotonic()}
            )
            self._recover(leg)

    def _recover(self, leg: str) -> None:
        """Replace the failed ``leg`` after a backoff, unless that is under way."""
        running = self._recovering.get(leg)
        if self._closed or leg not in self._attempts or (running and not running.done()):
            return
        task = asyncio.ensure_future(self._recovery(leg))
        self._recovering[leg] = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _recovery(self, leg: str) -> None:
        while not self._closed and self.sio.connected:
            delay = backoff(self._attempts[leg])
            self._attempts[leg] += 1
            await asyncio.sleep(delay)
            try:
                if leg == "publish":
                    await self._republish()
                else:
                    await self._resubscribe()
            except (ClientError, socketio.exceptions.SocketIOError) as exc:
                logger.warning("replacing the %s leg failed (%s); trying again", leg, exc)
                continue
            self.recoveries.append((leg, time.monotonic()))
            return

    async def _republish(self) -> None:
        old = self.publish_pc
        self.publish_pc = None
        if old is not None:
            await asyncio.wait_for(old.close(), 10)
        await self._open_publish(restart=True)

    async def _resubscribe(self) -> None:
        async with self._offer_lock:
            await self._drop_subscribe_pc()
        await self.call("resubscribe", {})

    async def _drop_subscribe_pc(self) -> None:
        old = self.subscribe_pc
        self.subscribe_pc = None
        for mid in self._carrying:
            if mid in self.received:
                self.received[mid].ended = True
        self._carrying = {}
        if old is not None:
            await asyncio.wait_for(old.close(), 10)

    # -- subscribe offers --------------------------------------------------------------

    async def _on_offer(self, data: dict[str, Any]) -> None:
        self.offers.append(data)
        self._trim(self.offers)
        if self._closed:
            return
        task = asyncio.ensure_future(self._answer(data))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, data: dict[str, Any]) -> None:
        async with self._offer_lock:
            if data.get("restart") and self.subscribe_pc is not None:
                # The first offer of a new subscribe connection: the old one is gone.
                await self._drop_subscribe_pc()
            pc = self.subscribe_pc
            if pc is None:
                pc = self.subscribe_pc = RTCPeerConnection(_config())
                pc.on("track", self._on_track)
                pc.on("connectionstatechange", lambda: self._on_leg_state("subscribe", pc))
            offered = {str(t["mid"]): t for t in data["tracks"]}
            for mid in self._carrying.keys() - offered.keys():
                # The m-line turned inactive: its track is over (RTCP BYE says so too).
                if mid in self.received:
                    self.received[mid].ended = True
            by_mid = {t.mid: t for t in pc.getTransceivers() if t.mid is not None}
            for mid, track in offered.items():
                transceiver = by_mid.get(mid)
                if (
                    transceiver is not None
                    and transceiver.receiver.track is not None
                    and self._carrying.get(mid) != str(track["endpoint_id"])
                ):
                    # The server reuses this m-line for a new track: aiortc's receiver
                    # stopped for good at the old one's RTCP BYE, so take a new one (it
                    # fires "track" and starts with the new SSRC).
                    await renew_receiver(transceiver)
            self._carrying = {mid: str(t["endpoint_id"]) for mid, t in offered.items()}
            self._pending_tracks.update(offered)
            try:
                await pc.setRemoteDescription(RTCSessionDescription(data["sdp"], "offer"))
                await pc.setLocalDescription(await pc.createAnswer())
            except InvalidStateError:
                # The connection closed under the offer (the server freed the leg; its
                # leg_failed, or this client's own watch, has the leg replaced).
                logger.info(
                    "subscribe offer %s not answered: its connection closed", data["revision"]
                )
                return
            await self.call(
                "subscribe_answer",
                {"type": "answer", "sdp": pc.localDescription.sdp, "revision": data["revision"]},
            )

    def _on_track(self, track: MediaStreamTrack) -> None:
        pc = self.subscribe_pc
        assert pc is not None
        transceiver = next(t for t in pc.getTransceivers() if t.receiver.track is track)
        mid = str(transceiver.mid)
        info = self._pending_tracks.get(mid, {})
        received = ReceivedTrack(
            mid, track.kind, str(info.get("site", "")), str(info.get("endpoint_id", ""))
        )
        self.received[mid] = received
        if self.decode:
            task = asyncio.ensure_future(self._consume(track, received))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return

        def on_frame(codec: RTCRtpCodecParameters, data: bytes, timestamp: int) -> None:
            received.frames += 1
            received.payload_bytes += len(data)
            received.codec = codec.mimeType
            if received.keyframe is None:
                received.keyframe = data
            if self.frame_listener is not None:
                self.frame_listener(received, data)

        def on_end() -> None:
            received.ended = True

        tap_receiver(transceiver.receiver, on_frame, on_end)

    async def _consume(self, track: MediaStreamTrack, received: ReceivedTrack) -> None:
        try:
            while True:
                await track.recv()
                received.frames += 1
        except MediaStreamError:
            received.ended = True

    # -- queries -----------------------------------------------------------------------

    def tracks_from(self, site: str, kind: str | None = None) -> list[ReceivedTrack]:
        """Received tracks published by ``site`` (of ``kind``), newest last."""
        return [
            t for t in self.received.values() if t.site == site and (kind is None or t.kind == kind)
        ]

    def frames_from(self, site: str, kind: str) -> int:
        """Frames received from ``site``'s live tracks of ``kind``."""
        return sum(t.frames for t in self.tracks_from(site, kind) if not t.ended)
