"""Cascade (issue 10, part 6): one session's points on two nodes, one link between them.

A point whose home node is not the session's node (the *host*) stays on its home node
(a *satellite*). The two nodes are joined by ONE aiortc peer connection per (session,
pair of nodes), the link, which carries every track the other side needs once, however
many subscribers it has there:

- the satellite offers, always (one negotiation at a time): a ``sendonly`` m-line for
  each up-track of its own endpoints (all of them: the host records and decides), and a
  ``recvonly`` m-line for each track the host lists for it (the host's own endpoints',
  and those of other satellites). An m-line whose track ended turns ``inactive`` and is
  not reused; a link holds at most :data:`LINK_MLINES` m-lines;
- each side's hub sees the other side's endpoints as *remote* members behind the link
  (``Hub.set_remote``): their tracks become up-tracks there, fanned out to local
  subscribers by the normal down-track path; the link is one subscriber of each local
  up-track it carries (``Hub.add_link``);
- the host's board rules: the satellite mirrors the host's patch and mute states
  (:meth:`SatelliteEnd.apply_board`), so a patch-out on the host's console stops the
  point on both nodes, and the host forwards a track over the link only while an
  endpoint behind it receives it;
- keyframe requests cross: a PLI on a link m-line asks the up-track's own publisher.

Signaling (the satellite's credential, the events) is in :mod:`signaling.cascade`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcconfiguration import RTCBundlePolicy
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from bridge.downtrack import DownTrack
from bridge.errors import BadRequest, BadSdp
from bridge.frames import EncodedFrame, EndpointId, Kind, TrackId, TrackInfo
from bridge.hub import ConnectionState, Hub, RemoteEndpoint
from bridge.packets import PacketDownTrack
from bridge.patch import EndpointRole, PatchState
from bridge.rtc_internals import (
    capability_for,
    enlarge_receive_buffers,
    hook_keyframe_request,
    negotiated_codec,
    receive_rtp_at_once,
    send_pli,
    tap_receiver,
)
from bridge.uptrack import UpTrack

logger = logging.getLogger(__name__)

LINK_MLINES = 256
"""The most m-lines one link may hold (ended ones included: they are not reused)."""
CLOSE_TIMEOUT = 5.0


def _config(ice_servers: list[RTCIceServer]) -> RTCConfiguration:
    return RTCConfiguration(iceServers=list(ice_servers), bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


def codec_to_dict(codec: RTCRtpCodecParameters) -> dict[str, Any]:
    return {
        "mime": codec.mimeType,
        "clock_rate": codec.clockRate,
        "channels": codec.channels,
        "parameters": dict(codec.parameters),
    }


def codec_from_dict(data: Any) -> RTCRtpCodecParameters:
    if not isinstance(data, dict):
        raise BadRequest("a codec is an object")
    try:
        mime = str(data["mime"])
        clock_rate = int(data["clock_rate"])
        channels = data.get("channels")
        parameters = data.get("parameters") or {}
        if not isinstance(parameters, dict):
            raise ValueError("parameters must be an object")
        return RTCRtpCodecParameters(
            mimeType=mime,
            clockRate=clock_rate,
            channels=int(channels) if channels is not None else None,
            parameters=dict(parameters),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise BadRequest(f"a codec is malformed: {exc}") from None


@dataclass(frozen=True, slots=True)
class LinkTrack:
    """A track the host offers a satellite (from the host's board)."""

    track_id: str
    endpoint_id: EndpointId
    site: str
    kind: Kind
    codec: RTCRtpCodecParameters

    def as_dict(self) -> dict[str, Any]:
        return {
            "track_id": self.track_id,
            "endpoint_id": self.endpoint_id,
            "site": self.site,
            "kind": str(self.kind),
            "codec": codec_to_dict(self.codec),
        }

    @classmethod
    def from_uptrack(cls, uptrack: UpTrack) -> LinkTrack:
        info = uptrack.info
        return cls(info.track_id, info.endpoint_id, info.site, info.kind, uptrack.rtp_codec)

    @classmethod
    def parse(cls, data: Any) -> LinkTrack:
        if not isinstance(data, dict):
            raise BadRequest("a link track is an object")
        try:
            return cls(
                str(data["track_id"]),
                EndpointId(str(data["endpoint_id"])),
                str(data["site"]),
                Kind(data["kind"]),
                codec_from_dict(data["codec"]),
            )
        except (KeyError, ValueError) as exc:
            raise BadRequest(f"a link track is malformed: {exc}") from None


@dataclass(frozen=True, slots=True)
class SentLine:
    """A satellite's ``sendonly`` m-line: which of its endpoints' tracks it carries."""

    mid: str
    endpoint_id: EndpointId
    kind: Kind

    def as_dict(self) -> dict[str, str]:
        return {"mid": self.mid, "endpoint_id": self.endpoint_id, "kind": str(self.kind)}


@dataclass(frozen=True, slots=True)
class LinkOffer:
    """The satellite's offer on the link, and what its m-lines mean."""

    sdp: str
    send: list[SentLine] = field(default_factory=list)
    """New ``sendonly`` m-lines (satellite to host)."""
    receive: dict[str, str] = field(default_factory=dict)
    """New ``recvonly`` m-lines: mid to the host's track id."""
    stop: list[str] = field(default_factory=list)
    """m-lines turned ``inactive`` in this offer."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "sdp": self.sdp,
            "send": [s.as_dict() for s in self.send],
            "receive": [{"mid": m, "track_id": t} for m, t in self.receive.items()],
            "stop": list(self.stop),
        }

    @classmethod
    def parse(cls, data: Any) -> LinkOffer:
        if not isinstance(data, dict) or not isinstance(data.get("sdp"), str):
            raise BadRequest("an offer is an object with an sdp string")
        try:
            send = [
                SentLine(str(s["mid"]), EndpointId(str(s["endpoint_id"])), Kind(s["kind"]))
                for s in data.get("send") or []
            ]
            receive = {str(r["mid"]): str(r["track_id"]) for r in data.get("receive") or []}
            stop = [str(m) for m in data.get("stop") or []]
        except (KeyError, TypeError, ValueError) as exc:
            raise BadRequest(f"the offer's m-lines are malformed: {exc}") from None
        return cls(data["sdp"], send, receive, stop)


class _Taps:
    """A hub sink: tells ``changed`` that the hub's up-tracks changed."""

    def __init__(self, changed: Callable[[], None]) -> None:
        self._changed = changed

    def on_track(self, track: TrackInfo) -> None:
        self._changed()

    def on_frame(self, track: TrackInfo, frame: EncodedFrame) -> None:
        return None

    def on_track_ended(self, track: TrackInfo) -> None:
        self._changed()


@dataclass(slots=True)
class _Out:
    uptrack: UpTrack
    downtrack: DownTrack
    transceiver: RTCRtpTransceiver


class _End:
    """What both ends share: the link's peer connection in one hub."""

    def __init__(
        self, hub: Hub, link_id: EndpointId, ice_servers: list[RTCIceServer], forward_all: bool
    ) -> None:
        self.hub = hub
        self.link_id = link_id
        self.pc = RTCPeerConnection(_config(ice_servers))
        self.pc.on("track", self._on_track)
        hub.add_link(link_id, forward_all=forward_all)
        self._out: dict[str, _Out] = {}
        """Tracks this end sends, by mid."""
        self._in: dict[str, UpTrack] = {}
        """Up-tracks fed by this end's receivers, by mid."""
        self.closed = False
        self._buffers = False
        self._taps = _Taps(self.tracks_changed)

    def _listen(self) -> None:
        """Hear of the hub's up-tracks from now on (subclasses call it last in init)."""
        self.hub.add_sink(self._taps, frames=False)

    def tracks_changed(self) -> None:
        """The hub's up-tracks changed (a sink call)."""

    def _where(self) -> str:
        return f"session {self.hub.session_id} link {self.link_id}"

    def _enlarge_buffers(self) -> None:
        """Once the link's sockets are bound: room for every track it carries while this
        node is off the CPU (a drop here freezes every subscriber behind the link)."""
        if not self._buffers:
            self._buffers = enlarge_receive_buffers(self.pc) > 0
        receive_rtp_at_once(self.pc)  # idempotent: hooks a connection once

    def _attach(self, transceiver: RTCRtpTransceiver, uptrack: UpTrack) -> DownTrack:
        downtrack = self.hub.subscribe(self.link_id, uptrack)
        hook_keyframe_request(transceiver.sender, downtrack.request_keyframe)
        if isinstance(downtrack, PacketDownTrack):
            downtrack.bind(transceiver)
        self._out[str(transceiver.mid)] = _Out(uptrack, downtrack, transceiver)
        downtrack.request_keyframe()
        return downtrack

    def _detach(self, mid: str) -> None:
        out = self._out.pop(mid, None)
        if out is not None:
            self.hub.unsubscribe(self.link_id, out.uptrack)

    def _on_track(self, track: MediaStreamTrack) -> None:
        transceiver = next(t for t in self.pc.getTransceivers() if t.receiver.track is track)
        publisher = self._publisher_of(str(transceiver.mid))
        if publisher is None or self.closed:
            logger.warning(
                "%s: m-line %s names no endpoint; ignored", self._where(), transceiver.mid
            )
            return
        receiver = transceiver.receiver
        codec = negotiated_codec(transceiver)

        async def keyframe() -> bool:
            return await send_pli(receiver)

        uptrack = self.hub.add_uptrack(publisher, Kind(track.kind), codec, keyframe)
        self._in[str(transceiver.mid)] = uptrack
        tap_receiver(
            receiver,
            lambda _codec, data, timestamp: uptrack.on_frame(data, timestamp),
            lambda: self._ended_in(uptrack),
        )
        source = self.hub.packet_sources.get(uptrack.info.track_id)
        if source is not None:
            source.listen(receiver, cap_remb=False)

    def _ended_in(self, uptrack: UpTrack) -> None:
        if not self.closed:
            self.hub.uptrack_ended(uptrack)

    def _end_in(self, mid: str) -> None:
        uptrack = self._in.pop(mid, None)
        if uptrack is not None:
            self.hub.uptrack_ended(uptrack)

    def _publisher_of(self, mid: str) -> RemoteEndpoint | None:
        raise NotImplementedError

    async def close(self) -> None:
        """Close the link's connection; the endpoints behind it leave the hub."""
        if self.closed:
            return
        self.closed = True
        self.hub.remove_sink(self._taps)
        for mid in list(self._out):
            self._detach(mid)
        for mid in list(self._in):
            self._end_in(mid)
        await self.hub.remove_link(self.link_id)
        try:
            await asyncio.wait_for(self.pc.close(), CLOSE_TIMEOUT)
        except Exception:
            logger.exception("%s: closing the link's connection failed", self._where())


class HostEnd(_End):
    """The hosting node's end of a link: answers the satellite's offers."""

    def __init__(
        self,
        hub: Hub,
        link_id: EndpointId,
        ice_servers: list[RTCIceServer],
        on_tracks_changed: Callable[[], None] = lambda: None,
    ) -> None:
        super().__init__(hub, link_id, ice_servers, forward_all=False)
        self._lock = asyncio.Lock()
        self._lines: dict[str, SentLine] = {}
        self._on_tracks_changed = on_tracks_changed
        self._listen()

    def tracks_changed(self) -> None:
        self._on_tracks_changed()

    def tracks(self) -> list[LinkTrack]:
        """The tracks the satellite may receive: every up-track not its own."""
        return [LinkTrack.from_uptrack(u) for u in self.hub.link_uptracks(self.link_id)]

    async def set_points(self, points: list[dict[str, Any]], sites: frozenset[str]) -> None:
        """The satellite's endpoints (rooms only), as it reports them."""
        seen: set[EndpointId] = set()
        changed = False
        for point in points:
            endpoint_id = EndpointId(str(point["endpoint_id"]))
            site = str(point["site"])
            if site not in sites:
                raise BadRequest(f"site {site} does not take part in the session")
            if str(point.get("role", "room")) != EndpointRole.ROOM:
                raise BadRequest("only rooms are served by a satellite")
            member = self.hub.patch(endpoint_id)
            if member is not None and not self.hub.is_remote(endpoint_id):
                raise BadRequest(f"endpoint {endpoint_id} is connected here")
            state = ConnectionState(str(point.get("state", "connecting")))
            seen.add(endpoint_id)
            changed |= await self.hub.set_remote(
                self.link_id,
                endpoint_id,
                site=site,
                site_name=str(point.get("site_name") or site),
                role=EndpointRole.ROOM,
                state=state,
                announce=False,
            )
        for endpoint_id in self.hub.remote_endpoints(self.link_id):
            if endpoint_id not in seen:
                await self.hub.remove_remote(endpoint_id)
        if changed:
            await self.hub.announce()

    def _publisher_of(self, mid: str) -> RemoteEndpoint | None:
        line = self._lines.get(mid)
        if line is None or line.endpoint_id not in self.hub.remote_endpoints(self.link_id):
            return None
        patch = self.hub.patch(line.endpoint_id)
        return RemoteEndpoint(line.endpoint_id, patch.site) if patch else None

    async def answer(self, offer: LinkOffer) -> str:
        """Apply the satellite's offer; returns the answer's SDP."""
        from bridge.participant import check_sdp

        parsed = check_sdp(offer.sdp, "offer")
        if len(parsed.media) > LINK_MLINES:
            raise BadSdp(f"a link holds at most {LINK_MLINES} m-lines")
        async with self._lock:
            if self.closed:
                raise BadRequest("the link is closed")
            for line in offer.send:
                self._lines[line.mid] = line
            try:
                await self.pc.setRemoteDescription(RTCSessionDescription(offer.sdp, "offer"))
            except Exception as exc:
                raise BadSdp(f"offer cannot be applied: {exc}") from None
            for mid in offer.stop:
                self._end_in(mid)
                self._lines.pop(mid, None)
                out = self._out.get(mid)
                if out is not None:
                    self._detach(mid)
                    out.transceiver.direction = "inactive"
            by_mid = {t.mid: t for t in self.pc.getTransceivers()}
            for mid, track_id in offer.receive.items():
                transceiver = by_mid.get(mid)
                uptrack = self.hub.uptracks.get(TrackId(track_id))
                if transceiver is None or mid in self._out:
                    continue
                if uptrack is None or uptrack not in self.hub.link_uptracks(self.link_id):
                    logger.info(
                        "%s: track %s is gone; m-line %s idle", self._where(), track_id, mid
                    )
                    continue
                downtrack = self._attach(transceiver, uptrack)
                transceiver.sender.replaceTrack(downtrack)
                transceiver.direction = "sendonly"
            try:
                answer = await self.pc.createAnswer()
                await self.pc.setLocalDescription(answer)
                self._enlarge_buffers()
            except Exception as exc:
                raise BadSdp(f"no answer to the offer: {exc}") from None
            return str(self.pc.localDescription.sdp)


OfferSender = Callable[[LinkOffer], Awaitable[str]]
"""Sends the satellite's offer to the host; returns the answer's SDP."""


class SatelliteEnd(_End):
    """A satellite's end of a link: mirrors the host's board and offers m-lines."""

    def __init__(
        self,
        hub: Hub,
        link_id: EndpointId,
        ice_servers: list[RTCIceServer],
        send_offer: OfferSender,
        on_failed: Callable[[], None] = lambda: None,
    ) -> None:
        super().__init__(hub, link_id, ice_servers, forward_all=True)
        self._send_offer = send_offer
        self._on_failed = on_failed
        """Called when a negotiation failed: the link is left in a state no next offer
        can fix, so its owner starts it afresh."""
        self._host_tracks: dict[str, LinkTrack] = {}
        self._receiving: dict[str, str] = {}
        """Host track id to the mid receiving it."""
        self._track_of_mid: dict[str, LinkTrack] = {}
        self._sent: dict[TrackId, str] = {}
        """Local up-track id to the mid sending it."""
        self._unnamed: dict[int, _Out] = {}
        """Tracks added to the offer being made, until their mids are known."""
        self._dirty = False
        self._task: asyncio.Task[None] | None = None
        self.failed: Exception | None = None
        self.pc.on("connectionstatechange", self._on_state)
        self._listen()

    def _on_state(self) -> None:
        if self.pc.connectionState == "failed" and not self.closed:
            logger.warning("%s: the link's connection failed; starting it afresh", self._where())
            self._on_failed()

    def tracks_changed(self) -> None:
        self.renegotiate()

    def _publisher_of(self, mid: str) -> RemoteEndpoint | None:
        track = self._track_of_mid.get(mid)
        if track is None or track.endpoint_id not in self.hub.remote_endpoints(self.link_id):
            return None
        return RemoteEndpoint(track.endpoint_id, track.site)

    async def apply_board(self, members: list[dict[str, Any]], tracks: list[LinkTrack]) -> None:
        """The host's board: its endpoints appear here, and every patch and mute state
        (of this node's points too) follows the host's."""
        hub = self.hub
        seen: set[EndpointId] = set()
        changed = False
        for member in members:
            endpoint_id = EndpointId(str(member["endpoint_id"]))
            seen.add(endpoint_id)
            state = PatchState.LIVE if member.get("live") else PatchState.STANDBY
            muted = bool(member.get("muted"))
            if hub.participant(endpoint_id) is not None:
                patch = hub.patch(endpoint_id)
                if patch is not None and (patch.state, patch.muted) != (state, muted):
                    await hub.set_patch(endpoint_id, state=state, muted=muted)
                continue
            if hub.patch(endpoint_id) is not None and not hub.is_remote(endpoint_id):
                continue  # one of ours that dropped
            changed |= await hub.set_remote(
                self.link_id,
                endpoint_id,
                site=str(member["site"]),
                site_name=str(member.get("site_name") or member["site"]),
                role=EndpointRole(str(member["role"])),
                state=ConnectionState(str(member["state"])),
                patch_state=state,
                muted=muted,
                announce=False,
            )
        for endpoint_id in hub.remote_endpoints(self.link_id):
            if endpoint_id not in seen:
                await hub.remove_remote(endpoint_id)
        if changed:
            await hub.announce()
        remote = set(hub.remote_endpoints(self.link_id))
        self._host_tracks = {t.track_id: t for t in tracks if t.endpoint_id in remote}
        self.renegotiate()

    def renegotiate(self) -> None:
        """What crosses the link may have changed: offer again (one at a time)."""
        if self.closed:
            return
        self._dirty = True
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._loop())

    async def _loop(self) -> None:
        while self._dirty and not self.closed:
            self._dirty = False
            try:
                await self._negotiate()
            except Exception as exc:
                if self.closed:
                    return
                logger.exception("%s: negotiation failed", self._where())
                self.failed = exc
                self._on_failed()
                return

    async def _negotiate(self) -> None:
        pc = self.pc
        stop: list[str] = []
        added_send: list[RTCRtpTransceiver] = []
        added_receive: list[tuple[RTCRtpTransceiver, LinkTrack]] = []
        wanted_send = {u.info.track_id: u for u in self.hub.link_uptracks(self.link_id)}
        for track_id, mid in list(self._sent.items()):
            if track_id not in wanted_send:
                del self._sent[track_id]
                out = self._out.get(mid)
                self._detach(mid)
                if out is not None:
                    out.transceiver.direction = "inactive"
                stop.append(mid)
        for host_id, mid in list(self._receiving.items()):
            if host_id not in self._host_tracks:
                del self._receiving[host_id]
                self._track_of_mid.pop(mid, None)
                self._end_in(mid)
                for t in pc.getTransceivers():
                    if t.mid == mid:
                        t.direction = "inactive"
                stop.append(mid)
        lines = len(pc.getTransceivers())
        for track_id, uptrack in wanted_send.items():
            if track_id in self._sent:
                continue
            if lines >= LINK_MLINES:
                logger.warning("%s: %d m-lines, no more", self._where(), LINK_MLINES)
                break
            downtrack = self.hub.subscribe(self.link_id, uptrack)
            transceiver = pc.addTransceiver(downtrack, direction="sendonly")
            transceiver.setCodecPreferences(capability_for(uptrack.rtp_codec))
            hook_keyframe_request(transceiver.sender, downtrack.request_keyframe)
            added_send.append(transceiver)
            self._sent[track_id] = ""
            self._unnamed[id(transceiver)] = _Out(uptrack, downtrack, transceiver)
            lines += 1
        for host_id, track in self._host_tracks.items():
            if host_id in self._receiving:
                continue
            if lines >= LINK_MLINES:
                logger.warning("%s: %d m-lines, no more", self._where(), LINK_MLINES)
                break
            transceiver = pc.addTransceiver(str(track.kind), direction="recvonly")
            transceiver.setCodecPreferences(capability_for(track.codec))
            added_receive.append((transceiver, track))
            self._receiving[host_id] = ""
            lines += 1
        if not (stop or added_send or added_receive):
            return
        await pc.setLocalDescription(await pc.createOffer())
        self._enlarge_buffers()
        send = []
        for transceiver in added_send:
            mid = str(transceiver.mid)
            pending = self._unnamed.pop(id(transceiver))
            self._out[mid] = pending
            self._sent[pending.uptrack.info.track_id] = mid
            if isinstance(pending.downtrack, PacketDownTrack):
                pending.downtrack.bind(transceiver)
            send.append(SentLine(mid, pending.uptrack.info.endpoint_id, pending.uptrack.info.kind))
        receive = {}
        for transceiver, track in added_receive:
            mid = str(transceiver.mid)
            self._receiving[track.track_id] = mid
            self._track_of_mid[mid] = track
            receive[mid] = track.track_id
        offer = LinkOffer(str(pc.localDescription.sdp), send, receive, stop)
        answer = await self._send_offer(offer)
        if self.closed:
            return
        await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        for transceiver in added_send:
            self._out[str(transceiver.mid)].downtrack.request_keyframe()

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        await super().close()
