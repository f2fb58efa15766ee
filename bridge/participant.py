"""A participant: one endpoint's two peer connections, publish and subscribe.

As in LiveKit, an endpoint publishes on one connection (it offers, the relay answers)
and receives on another that the relay drives: whenever the set of up-tracks it
should receive changes, the relay sends a new offer. One offer is outstanding at a
time; changes made meanwhile produce a new offer once the answer is in.

Subscribe m-lines are recycled, so the offer's size follows the tracks present, not
the session's history: an m-line whose track ended turns ``inactive``, and once the
endpoint has answered that (and its old sender has said RTCP BYE), the next new track
of the same kind and codec takes it over with a fresh sender (``renew_sender``).

A leg that fails (ICE failed, consent expired, DTLS failed or closed by the other end)
is freed at once and the endpoint is told (``send_leg_failed``); it stays "media lost"
until the replacement is connected (see :mod:`bridge.legs`). A new publish connection
feeds the same up-tracks (``UpTrack.rebind``), so subscribers renegotiate nothing.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.exceptions import InvalidStateError
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcconfiguration import RTCBundlePolicy
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.sdp import SessionDescription

from bridge.downtrack import DownTrack
from bridge.errors import BadRequest, BadSdp
from bridge.frames import EndpointId, Kind, TrackId
from bridge.hub import ConnectionState, Hub
from bridge.legs import (
    REPUBLISH_GRACE,
    FailureReason,
    Leg,
    LegFailure,
    LegWatch,
    SilenceWatch,
)
from bridge.packets import PacketDownTrack
from bridge.patch import EndpointRole
from bridge.rtc_internals import (
    capability_for,
    codec_preferences,
    enlarge_receive_buffers,
    floor_remb,
    hook_keyframe_request,
    negotiated_codec,
    receive_rtp_at_once,
    renew_sender,
    send_pli,
    tap_receiver,
    watch_arrivals,
)
from bridge.uptrack import UpTrack
from core.sessions import SessionEnd

logger = logging.getLogger(__name__)

PUBLISH_REMB_FLOOR_BPS = 200_000
"""The least bitrate the relay asks of a publisher (REMB), whatever aiortc's delay-based
estimate says (``rtc_internals.floor_remb``). Measured with Chromium's fake camera on a
loaded 2-core machine: asked about 180 kbit/s it kept 20 fps (480 px wide), asked 30-50
kbit/s it fell to 9-12 fps (320 px). Low enough that an overloaded relay still slows its
publishers down, by resolution rather than frame rate."""

CLOSE_TIMEOUT = 5.0
"""Longest wait for a peer connection or sender to close (seconds)."""

PUBLISH_CODECS = {"video": ["video/VP8", "video/H264"], "audio": ["audio/opus"]}
"""What the relay accepts from publishers, in order of preference."""
PUBLISH_MLINES = {"audio": 1, "video": 1}
"""The most m-lines of each kind a publish offer may carry (and no other kind)."""


@dataclass(frozen=True, slots=True)
class OfferedTrack:
    """What one m-line of a subscribe offer carries."""

    mid: str
    """The m-line's media id."""
    kind: Kind
    """Audio or video."""
    endpoint_id: EndpointId
    """The publishing endpoint."""
    site: str
    """The publishing site's id."""
    site_name: str
    """The publishing site's name, for the label."""


@dataclass(frozen=True, slots=True)
class SubscribeOffer:
    """An offer for the endpoint's subscribe connection."""

    sdp: str
    """The SDP offer."""
    revision: int
    """Increases with every offer; the answer must echo it."""
    tracks: list[OfferedTrack] = field(default_factory=list)
    """The m-lines that carry media now (inactive ones are left out)."""
    restart: bool = False
    """The first offer of a new subscribe connection that replaces a failed one."""

    def __post_init__(self) -> None:
        if self.revision < 1:
            raise ValueError("revisions start at 1")


OfferSender = Callable[[SubscribeOffer], Awaitable[None]]
"""Delivers a subscribe offer to the endpoint (signaling does it)."""
EndSender = Callable[[SessionEnd], Awaitable[None]]
"""Tells the endpoint its session's live part is over, before its connections close."""
LegSender = Callable[[LegFailure], Awaitable[None]]
"""Tells the endpoint one of its legs failed and was freed."""


async def _nobody(failure: LegFailure) -> None:
    """Where leg failures go when no one listens."""


@dataclass(slots=True)
class _Subscription:
    downtrack: DownTrack
    transceiver: RTCRtpTransceiver
    uptrack: UpTrack


@dataclass(slots=True)
class _FreeLine:
    """A subscribe m-line whose track ended, waiting to carry a new one."""

    transceiver: RTCRtpTransceiver
    stopping: asyncio.Task[None]
    """Stops the old sender (RTCP BYE); the m-line is reused only after it is done."""


def _same_codec(a: RTCRtpCodecParameters, b: RTCRtpCodecParameters) -> bool:
    return (
        a.mimeType.lower() == b.mimeType.lower()
        and a.clockRate == b.clockRate
        and a.channels == b.channels
        and a.parameters == b.parameters
    )


def check_sdp(sdp: str, expected_type: str) -> SessionDescription:
    """Parse ``sdp`` with aiortc's parser; raise :class:`BadSdp` when it cannot be used."""
    try:
        parsed = SessionDescription.parse(sdp)
    except Exception as exc:
        raise BadSdp(f"{expected_type} SDP cannot be parsed: {exc}") from None
    if not any(m.kind in ("audio", "video") for m in parsed.media):
        raise BadSdp(f"{expected_type} SDP has no audio or video section")
    if any(
        m.kind in ("audio", "video") and (m.ice is None or m.dtls is None) for m in parsed.media
    ):
        raise BadSdp(f"{expected_type} SDP lacks ICE or DTLS parameters")
    return parsed


def check_publish_sdp(parsed: SessionDescription) -> None:
    """Raise :class:`BadSdp` unless the offer has at most one audio and one video m-line.

    A publisher sends one camera and one microphone; every m-line it offered would
    become an m-line in every other endpoint's subscribe offer.
    """
    kinds = [m.kind for m in parsed.media]
    for kind in sorted(set(kinds)):
        if kinds.count(kind) > PUBLISH_MLINES.get(kind, 0):
            raise BadSdp(
                f"a publish offer carries at most one audio and one video m-line"
                f" (this one has {kinds.count(kind)} {kind})"
            )


class Participant:
    """One endpoint of a hub (a reception room's connection, or an operator's)."""

    def __init__(
        self,
        hub: Hub,
        endpoint_id: EndpointId,
        site: str,
        role: EndpointRole,
        send_offer: OfferSender,
        send_end: EndSender,
        ice_servers: list[RTCIceServer] | None = None,
        *,
        send_leg_failed: LegSender = _nobody,
    ) -> None:
        self.hub = hub
        self.endpoint_id = endpoint_id
        self.site = site
        self.role = role
        self._send_offer = send_offer
        self._send_end = send_end
        self._send_leg_failed = send_leg_failed
        self._ice_servers = ice_servers or []
        self._publish_pc: RTCPeerConnection | None = None
        self._subscribe_pc: RTCPeerConnection | None = None
        self._subscriptions: dict[TrackId, _Subscription] = {}
        self._free: list[_FreeLine] = []
        self._revision = 0
        self._outstanding: int | None = None
        self._dirty = False
        self._offer_task: asyncio.Task[None] | None = None
        self._publish_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self._published: dict[Kind, UpTrack] = {}
        """Up-tracks the current publish connection feeds."""
        self._orphans: dict[Kind, UpTrack] = {}
        """Up-tracks of a failed publish connection, waiting for a republish."""
        self._orphan_timer: asyncio.TimerHandle | None = None
        self._broken: set[Leg] = set()
        """Legs that failed and whose replacement is not connected yet."""
        self._subscribe_waits = False
        """The subscribe leg failed: no new one until the endpoint asks (``resubscribe``)."""
        self._subscribe_connections = 0
        self._silence: dict[Leg, SilenceWatch] = {}
        """Media-silence watchdogs of the current legs (see :class:`SilenceWatch`)."""

    def __repr__(self) -> str:
        return f"Participant({self.endpoint_id} {self.site} {self.role})"

    def _config(self) -> RTCConfiguration:
        return RTCConfiguration(
            iceServers=list(self._ice_servers), bundlePolicy=RTCBundlePolicy.MAX_BUNDLE
        )

    @property
    def connection_states(self) -> tuple[str, ...]:
        """The states of the connections opened so far (publish, then subscribe)."""
        return tuple(
            str(pc.connectionState)
            for pc in (self._publish_pc, self._subscribe_pc)
            if pc is not None
        )

    @property
    def broken_legs(self) -> frozenset[Leg]:
        """Legs that failed and are not replaced by a connected one yet."""
        return frozenset(self._broken)

    @property
    def subscriptions(self) -> dict[TrackId, DownTrack]:
        """The down-tracks this endpoint receives, by up-track id."""
        return {k: s.downtrack for k, s in self._subscriptions.items()}

    # -- publishing --------------------------------------------------------------------

    async def publish(self, offer_sdp: str, *, restart: bool = False) -> str:
        """Answer the endpoint's publish offer; its tracks become up-tracks.

        ``restart`` replaces the publish connection (the endpoint's one failed): the old
        one is closed, and the new one's tracks feed the same up-tracks.
        """
        parsed = check_sdp(offer_sdp, "offer")
        check_publish_sdp(parsed)
        async with self._publish_lock:
            if self._closed:
                raise BadRequest("the endpoint has left")
            pc = self._publish_pc
            if pc is not None and restart:
                self._broken.add(Leg.PUBLISH)
                self._retire_publish()
                await self._report_state()
                await _close_pc(pc, self._where("old publish connection"))
                pc = None
            if pc is None:
                pc = self._publish_pc = RTCPeerConnection(self._config())
                pc.on("track", functools.partial(self._on_track, pc))
                LegWatch(pc, self._on_publish_state)
            known = {t.mid for t in pc.getTransceivers()}
            for media in parsed.media:
                # A renegotiation keeps each m-line's mid (JSEP): a new mid would be a
                # second track of that kind, so at most one of each holds over time too.
                mids = {t.mid for t in pc.getTransceivers() if t.kind == media.kind and t.mid}
                if mids and media.rtp.muxId not in mids:
                    raise BadSdp(
                        f"the {media.kind} m-line's mid changed from {sorted(mids)[0]}"
                        f" to {media.rtp.muxId}"
                    )
            for media in parsed.media:
                if media.kind in PUBLISH_CODECS and media.rtp.muxId not in known:
                    # Pre-created so the answer carries only codecs the relay forwards.
                    transceiver = pc.addTransceiver(media.kind, direction="recvonly")
                    transceiver.setCodecPreferences(
                        codec_preferences(media.kind, PUBLISH_CODECS[media.kind])
                    )
            try:
                await pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
                answer = await pc.createAnswer()
                await pc.setLocalDescription(answer)
            except BadSdp:
                raise
            except Exception as exc:
                raise BadSdp(f"offer cannot be applied: {exc}") from None
            if Leg.PUBLISH not in self._silence:
                enlarge_receive_buffers(pc)
                receive_rtp_at_once(pc)
                self._watch_silence(Leg.PUBLISH, pc, lambda: bool(self._published))
            return str(pc.localDescription.sdp)

    def _on_track(self, pc: RTCPeerConnection, track: MediaStreamTrack) -> None:
        # Synchronous on purpose: the receiver must be tapped before it starts.
        if self._closed:
            # A publish offer still being applied when the endpoint went: the hub has
            # let it go, and a receiver that never starts would never end the up-track.
            return
        transceiver = next(t for t in pc.getTransceivers() if t.receiver.track is track)
        receiver = transceiver.receiver
        codec = negotiated_codec(transceiver)
        kind = Kind(track.kind)

        async def keyframe() -> bool:
            return await send_pli(receiver)

        orphan = self._orphans.pop(kind, None)
        if orphan is not None and not orphan.ended and _same_codec(orphan.rtp_codec, codec):
            orphan.rebind(keyframe)
            uptrack = orphan
        else:
            if orphan is not None:
                self.hub.uptrack_ended(orphan)
            uptrack = self.hub.add_uptrack(self, kind, codec, keyframe)
        if not self._orphans and self._orphan_timer is not None:
            self._orphan_timer.cancel()
            self._orphan_timer = None
        self._published[kind] = uptrack
        tap_receiver(
            receiver,
            lambda _codec, data, timestamp: uptrack.on_frame(data, timestamp),
            lambda: self._receiver_ended(pc, uptrack),
        )
        source = self.hub.packet_sources.get(uptrack.info.track_id)
        if source is not None:
            source.listen(receiver)
        # Outside the packet source's cap: the relay's own estimate of the uplink never
        # asks for less than the floor either (on a busy host it measures the relay's
        # scheduling).
        floor_remb(receiver, PUBLISH_REMB_FLOOR_BPS)

    def _receiver_ended(self, pc: RTCPeerConnection, uptrack: UpTrack) -> None:
        # A receiver stops when its connection goes down (the transport was lost, or
        # aiortc closed the connection as consent expired) well before the connection
        # state says so, and when the publisher ends the track: either way the up-track
        # waits REPUBLISH_GRACE for a new publish connection to feed it.
        if pc is self._publish_pc and self._published.get(uptrack.info.kind) is uptrack:
            del self._published[uptrack.info.kind]
            self._orphan(uptrack)

    async def _on_publish_state(self, watch: LegWatch) -> None:
        pc = watch.pc
        logger.info("%s publish connection %s", self._where("endpoint"), pc.connectionState)
        if pc is not self._publish_pc or self._closed:
            return
        if pc.connectionState == "connected":
            self._broken.discard(Leg.PUBLISH)
            await self._report_state()
        elif watch.down:
            self._retire_publish()
            await self._leg_failed(Leg.PUBLISH, pc, watch.reason())

    def _retire_publish(self) -> None:
        """The publish connection is no longer used; its up-tracks wait for a new one."""
        self._publish_pc = None
        self._stop_silence(Leg.PUBLISH)
        for uptrack in self._published.values():
            self._orphan(uptrack)
        self._published.clear()

    def _orphan(self, uptrack: UpTrack) -> None:
        """``uptrack`` lost its source: it waits for a republish, at most REPUBLISH_GRACE."""
        previous = self._orphans.get(uptrack.info.kind)
        if previous is not None and previous is not uptrack:
            self.hub.uptrack_ended(previous)
        self._orphans[uptrack.info.kind] = uptrack
        if self._orphan_timer is None:
            self._orphan_timer = asyncio.get_running_loop().call_later(
                REPUBLISH_GRACE, self._end_orphans
            )

    def _end_orphans(self) -> None:
        self._orphan_timer = None
        if self._orphans:
            logger.info("%s did not republish in time: its tracks end", self._where("endpoint"))
        for uptrack in self._orphans.values():
            self.hub.uptrack_ended(uptrack)
        self._orphans.clear()

    def _watch_silence(self, leg: Leg, pc: RTCPeerConnection, armed: Callable[[], bool]) -> None:
        """Start ``leg``'s media-silence watchdog on its new connection ``pc`` (its local
        description set): silence while ``armed()`` fails the leg like ICE would."""
        previous = self._silence.pop(leg, None)
        if previous is not None:
            previous.stop()
        if self._closed:
            return

        def silent() -> None:
            self._silence.pop(leg, None)
            if self._closed or pc not in (self._publish_pc, self._subscribe_pc):
                return
            if leg is Leg.PUBLISH:
                self._retire_publish()
            else:
                self._retire_subscribe()
            self._spawn(self._leg_failed(leg, pc, FailureReason.SILENT))

        self._silence[leg] = SilenceWatch(pc, watch_arrivals(pc), armed, silent)

    def _stop_silence(self, leg: Leg) -> None:
        watch = self._silence.pop(leg, None)
        if watch is not None:
            watch.stop()

    async def _leg_failed(self, leg: Leg, pc: RTCPeerConnection, reason: FailureReason) -> None:
        """The connection ``pc`` (already retired) failed: say so, show it, free it."""
        failure = LegFailure(leg, reason)
        logger.warning(
            "%s %s connection failed (%s): freed, waiting for the endpoint to replace it",
            self._where("endpoint"),
            leg,
            failure.reason,
        )
        self._broken.add(leg)
        await self._report_state()
        try:
            await self._send_leg_failed(failure)
        except Exception:
            logger.warning("%s was not told its %s leg failed", self._where("endpoint"), leg)
        await _close_pc(pc, self._where(f"failed {leg} connection"))

    async def _report_state(self) -> None:
        """Tell the hub the truth: media lost while a leg is broken, else connected once
        the publish leg is (or the subscribe leg, for an endpoint that only watches)."""
        if self._closed:
            return
        if self._broken:
            state = ConnectionState.MEDIA_LOST
        else:
            leg = self._publish_pc or self._subscribe_pc
            if leg is None or leg.connectionState != "connected":
                return
            state = ConnectionState.CONNECTED
        await self.hub.set_connection_state(self.endpoint_id, state)

    def _where(self, what: str) -> str:
        return f"session {self.hub.session_id} site {self.site}: {what} {self.endpoint_id}"

    # -- subscribing -------------------------------------------------------------------

    async def _on_subscribe_state(self, watch: LegWatch) -> None:
        pc = watch.pc
        if pc is not self._subscribe_pc or self._closed:
            return
        if pc.connectionState == "connected":
            self._broken.discard(Leg.SUBSCRIBE)
            await self._report_state()
        elif watch.down:
            self._retire_subscribe()
            await self._leg_failed(Leg.SUBSCRIBE, pc, watch.reason())

    def _retire_subscribe(self) -> None:
        """Free the subscribe connection's down-tracks; no new one until ``resubscribe``."""
        self._subscribe_pc = None
        self._stop_silence(Leg.SUBSCRIBE)
        self._subscribe_waits = True
        for sub in self._subscriptions.values():
            self.hub.unsubscribe(self.endpoint_id, sub.uptrack)
        self._subscriptions.clear()
        self._free.clear()
        if self._offer_task is not None:
            self._offer_task.cancel()
            self._offer_task = None
        self._outstanding = None

    async def resubscribe(self) -> None:
        """The endpoint wants a new subscribe connection (its old one failed): the old
        one is closed, and a fresh offer (``restart``) follows when there is something
        to receive."""
        if self._closed:
            raise BadRequest("the endpoint has left")
        pc = self._subscribe_pc
        if pc is not None:
            self._retire_subscribe()
            await _close_pc(pc, self._where("old subscribe connection"))
        self._subscribe_waits = False
        if self.hub.wanted_uptracks(self.endpoint_id):
            self._broken.add(Leg.SUBSCRIBE)
        else:
            self._broken.discard(Leg.SUBSCRIBE)
        await self._report_state()
        self.renegotiate()

    def renegotiate(self) -> None:
        """The set of wanted up-tracks may have changed: offer again when allowed."""
        if self._closed:
            return
        self._dirty = True
        if self._outstanding is None and (self._offer_task is None or self._offer_task.done()):
            self._offer_task = asyncio.ensure_future(self._offer_loop())

    async def _offer_loop(self) -> None:
        while self._dirty and self._outstanding is None and not self._closed:
            self._dirty = False
            try:
                offer = await self._make_offer()
            except InvalidStateError:
                # The subscribe connection closed under the offer (the endpoint closed
                # its DTLS, or it is leaving): its leg watch or close() takes over.
                logger.info(
                    "%s: subscribe connection closed while an offer was made",
                    self._where("endpoint"),
                )
                return
            except Exception:
                logger.exception(
                    "session %s site %s: endpoint %s subscribe offer failed",
                    self.hub.session_id,
                    self.site,
                    self.endpoint_id,
                )
                return
            if offer is None:
                continue
            if self._closed:
                return
            try:
                await self._send_offer(offer)
            except Exception:
                # The signaling connection is going away; its disconnect closes us.
                logger.warning(
                    "session %s site %s: endpoint %s subscribe offer %d not delivered",
                    self.hub.session_id,
                    self.site,
                    self.endpoint_id,
                    offer.revision,
                )
                return

    def _sync_subscriptions(self, pc: RTCPeerConnection) -> bool:
        wanted = {u.info.track_id: u for u in self.hub.wanted_uptracks(self.endpoint_id)}
        changed = False
        for track_id in [t for t in self._subscriptions if t not in wanted]:
            sub = self._subscriptions.pop(track_id)
            self.hub.unsubscribe(self.endpoint_id, sub.uptrack)
            sub.transceiver.direction = "inactive"
            stopping = self._spawn(_stop_sender(sub.transceiver.sender, sub.transceiver.mid))
            self._free.append(_FreeLine(sub.transceiver, stopping))
            changed = True
        for track_id, uptrack in wanted.items():
            if track_id in self._subscriptions:
                continue
            downtrack = self.hub.subscribe(self.endpoint_id, uptrack)
            transceiver = self._take_free_line(uptrack)
            if transceiver is None:
                transceiver = pc.addTransceiver(downtrack, direction="sendonly")
            else:
                renew_sender(transceiver, downtrack)
                transceiver.direction = "sendonly"
            transceiver.setCodecPreferences(capability_for(uptrack.rtp_codec))
            hook_keyframe_request(transceiver.sender, downtrack.request_keyframe)
            if isinstance(downtrack, PacketDownTrack):
                downtrack.bind(transceiver)
            self._subscriptions[track_id] = _Subscription(downtrack, transceiver, uptrack)
            downtrack.request_keyframe()
            changed = True
        return changed

    def _take_free_line(self, uptrack: UpTrack) -> RTCRtpTransceiver | None:
        """A free m-line that can carry ``uptrack`` now, taken out of the pool, or None.

        It must be of the track's kind, its old sender stopped, its ``inactive`` state
        answered (so the endpoint has ended the old track before the new one comes, and
        a browser fires ``track`` again), and its negotiated codec the track's own.
        """
        for line in self._free:
            transceiver = line.transceiver
            if (
                transceiver.kind != uptrack.info.kind
                or transceiver.currentDirection != "inactive"
                or not line.stopping.done()
            ):
                continue
            try:
                codec = negotiated_codec(transceiver)
            except RuntimeError:  # the answer left it without a codec: never reused
                continue
            if _same_codec(codec, uptrack.rtp_codec):
                self._free.remove(line)
                return transceiver
        return None

    async def _make_offer(self) -> SubscribeOffer | None:
        pc = self._subscribe_pc
        if pc is None:
            if self._subscribe_waits or not self.hub.wanted_uptracks(self.endpoint_id):
                return None
            pc = self._subscribe_pc = RTCPeerConnection(self._config())
            LegWatch(pc, self._on_subscribe_state)
            self._subscribe_connections += 1
        restart = pc.localDescription is None and self._subscribe_connections > 1
        stopping = [
            line.stopping
            for line in self._free
            if line.transceiver.currentDirection == "inactive" and not line.stopping.done()
        ]
        if stopping:
            # Free m-lines are reused once their old sender has stopped (normally done
            # long before the endpoint answered; the stop is bounded by CLOSE_TIMEOUT).
            await asyncio.wait(stopping)
            if self._closed or pc is not self._subscribe_pc:
                return None
        if not self._sync_subscriptions(pc):
            return None
        await pc.setLocalDescription(await pc.createOffer())
        if Leg.SUBSCRIBE not in self._silence:
            self._watch_silence(Leg.SUBSCRIBE, pc, lambda: bool(self._subscriptions))
        self._revision += 1
        self._outstanding = self._revision
        tracks = [
            OfferedTrack(
                mid=str(sub.transceiver.mid),
                kind=sub.uptrack.info.kind,
                endpoint_id=sub.uptrack.info.endpoint_id,
                site=sub.uptrack.info.site,
                site_name=self.hub.site_name_of(sub.uptrack.info.endpoint_id),
            )
            for sub in self._subscriptions.values()
        ]
        return SubscribeOffer(str(pc.localDescription.sdp), self._revision, tracks, restart)

    async def accept_answer(self, answer_sdp: str, revision: int) -> None:
        """Apply the endpoint's answer to offer ``revision``; offer again if needed."""
        if self._outstanding is None or revision != self._outstanding:
            raise BadRequest(
                f"no subscribe offer with revision {revision} is outstanding"
                f" (outstanding: {self._outstanding})"
            )
        check_sdp(answer_sdp, "answer")
        pc = self._subscribe_pc
        assert pc is not None
        try:
            await pc.setRemoteDescription(RTCSessionDescription(answer_sdp, "answer"))
        except Exception as exc:
            raise BadSdp(f"answer cannot be applied: {exc}") from None
        self._outstanding = None
        if self._dirty:
            self.renegotiate()

    # -- closing -----------------------------------------------------------------------

    def _spawn(self, coro: Awaitable[None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def end(self, end: SessionEnd) -> None:
        """The session is over: tell the endpoint why, then close both connections."""
        if self._closed:
            return
        try:
            await self._send_end(end)
        except Exception:
            logger.warning(
                "session %s site %s: endpoint %s was not told of the end (%s)",
                self.hub.session_id,
                self.site,
                self.endpoint_id,
                end.reason,
            )
        await self.close()

    async def close(self) -> None:
        """Close both connections; never waits longer than :data:`CLOSE_TIMEOUT` each.

        A negotiation under way (a publish answer or a subscribe offer being made) is
        let finish first, never cancelled nor closed under: aioice binds a connection's
        UDP sockets while it gathers and hands them to the connection only at the end,
        so a close or a cancellation meanwhile left them open for good (issue 12).
        """
        if self._closed:
            return
        self._closed = True
        where = f"{self.hub.session_id}/{self.site}/{self.endpoint_id}"
        for leg in list(self._silence):
            self._stop_silence(leg)
        for sub in self._subscriptions.values():
            self.hub.unsubscribe(self.endpoint_id, sub.uptrack)
        self._subscriptions.clear()
        self._free.clear()
        if self._orphan_timer is not None:
            self._orphan_timer.cancel()
            self._orphan_timer = None
        self._orphans.clear()
        self._published.clear()
        if self._offer_task is not None and not self._offer_task.done():
            _, pending = await asyncio.wait({self._offer_task}, timeout=CLOSE_TIMEOUT)
            if pending:
                logger.warning("%s: subscribe offer still under way at close", where)
                self._offer_task.cancel()
        locked = False
        try:
            await asyncio.wait_for(self._publish_lock.acquire(), CLOSE_TIMEOUT)
            locked = True
        except TimeoutError:
            logger.warning("%s: publish answer still under way at close", where)
        try:
            for pc in (self._publish_pc, self._subscribe_pc):
                if pc is not None:
                    await _close_pc(pc, where)
        finally:
            if locked:
                self._publish_lock.release()
        for task in list(self._tasks):
            task.cancel()


async def _stop_sender(sender: RTCRtpSender, mid: str | None) -> None:
    try:
        await asyncio.wait_for(sender.stop(), CLOSE_TIMEOUT)
    except (TimeoutError, asyncio.CancelledError):
        logger.warning("sender of m-line %s did not stop in time", mid)


async def _close_pc(pc: RTCPeerConnection, where: str) -> None:
    try:
        await asyncio.wait_for(pc.close(), CLOSE_TIMEOUT)
    except TimeoutError:
        logger.warning("%s: peer connection did not close within %ss", where, CLOSE_TIMEOUT)
    except Exception:
        logger.exception("%s: closing the peer connection failed", where)
