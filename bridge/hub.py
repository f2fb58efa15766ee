"""A hub: one reception session's endpoints, their up-tracks and who receives what."""

from __future__ import annotations

import asyncio
import enum
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from bridge.counters import MediaTotals
from bridge.director import Direction
from bridge.downtrack import DownTrack
from bridge.frames import EndpointId, FrameSink, Kind, TrackId, TrackInfo
from bridge.packets import PacketDownTrack, PacketSource
from bridge.patch import EndpointRole, Patch, PatchState, forwards, negotiates
from bridge.uptrack import KeyframeSender, UpTrack
from core.cases import CaseMarker
from core.sessions import SessionEnd

if TYPE_CHECKING:
    from bridge.participant import Participant

logger = logging.getLogger(__name__)


class ConnectionState(enum.StrEnum):
    """An endpoint's connection as presence reports it."""

    CONNECTING = "connecting"
    """Signaling is up, nothing published yet."""
    CONNECTED = "connected"
    """The publish connection is up."""
    MEDIA_LOST = "media_lost"
    """Signaling is up but a peer connection failed and is not back yet ("mất hình")."""
    DISCONNECTED = "disconnected"
    """Dropped without leaving; its site may come back."""
    LEFT = "left"
    """Left on purpose."""


@dataclass(frozen=True, slots=True)
class Peer:
    """One endpoint as presence shows it to everyone in the session."""

    endpoint_id: EndpointId
    """The endpoint (one connection of a site)."""
    site: str
    """Its site id."""
    site_name: str
    """Its site's name, for labels."""
    role: EndpointRole
    """Room or operator."""
    state: ConnectionState
    """Connection state."""
    live: bool
    """Patched into the live bridge (else standby)."""
    muted: bool
    """Audio cut."""

    def as_dict(self) -> dict[str, object]:
        """The protocol's ``Peer`` object."""
        return {
            "endpoint_id": self.endpoint_id,
            "site": self.site,
            "site_name": self.site_name,
            "role": str(self.role),
            "state": str(self.state),
            "live": self.live,
            "muted": self.muted,
        }


@dataclass(slots=True)
class _Member:
    participant: Participant | None
    patch: Patch
    site_name: str
    state: ConnectionState
    link: str | None = None
    """For an endpoint of another node (a cascade, :mod:`bridge.cascade`): the link its
    media comes through; None for an endpoint connected here."""


class Publisher(Protocol):
    """Who publishes an up-track: a participant here, or an endpoint behind a link."""

    @property
    def endpoint_id(self) -> EndpointId: ...

    @property
    def site(self) -> str: ...


@dataclass(frozen=True, slots=True)
class RemoteEndpoint:
    """An endpoint connected to another node, as a publisher of tracks crossing a link."""

    endpoint_id: EndpointId
    site: str


@dataclass(slots=True)
class _Link:
    forward_all: bool
    """Forward every track it carries (a satellite's link to the host, which decides);
    else a track crosses only while an endpoint behind the link receives it."""


PresenceListener = Callable[["Hub"], Awaitable[None]]
FORWARDING_MODES = ("frame", "packet")
"""How media reaches subscribers (the ``forwarding`` setting)."""


def _changed(patch: Patch, state: PatchState | None, muted: bool | None) -> Patch:
    """``patch`` with the given state and mute applied (None keeps the current one)."""
    return replace(
        patch,
        state=patch.state if state is None else state,
        muted=patch.muted if muted is None else muted,
    )


class Hub:
    """The relay of one reception session.

    Up-tracks come from participants' publish connections; the hub decides, from the
    patch matrix (:mod:`bridge.patch`), which participants get a down-track of each
    and whether it forwards. Frame sinks (the recorder) see every up-track.
    """

    def __init__(
        self,
        session_id: str,
        host_site: str,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        forwarding: str = "frame",
    ) -> None:
        if forwarding not in FORWARDING_MODES:
            raise ValueError(f"forwarding must be one of {FORWARDING_MODES}, got {forwarding!r}")
        self.session_id = session_id
        """The reception session."""
        self.host_site = host_site
        """The site whose feed goes to everyone and whose operators patch."""
        self.clock = clock
        """Wall clock (UTC) for the session clock and case markers."""
        self.direction = Direction(opened_at=clock())
        """The operators' board: standby default, recording, case markers."""
        self.uptracks: dict[TrackId, UpTrack] = {}
        """Live up-tracks by id."""
        self._members: dict[EndpointId, _Member] = {}
        self._remembered: dict[tuple[str, EndpointRole], Patch] = {}
        self._sinks: list[FrameSink] = []
        self._frame_sinks: list[FrameSink] = []
        self._presence_listeners: list[PresenceListener] = []
        self.forwarding = forwarding
        """``frame`` (subscribers' aiortc senders packetise each frame again) or ``packet``
        (RTP packets forwarded with rewritten headers, :mod:`bridge.packets`)."""
        self.packet_sources: dict[TrackId, PacketSource] = {}
        """Up-tracks' packet fan-outs and retransmission caches (packet mode only)."""
        self._ended_totals = MediaTotals()
        self._links: dict[EndpointId, _Link] = {}
        self.upstream: str | None = None
        """For a satellite's hub (cascade): the host node's URL; the host's board rules
        here and this node does not record. None on the hosting node."""

    # -- sinks -------------------------------------------------------------------------

    def add_sink(self, sink: FrameSink, *, frames: bool = True) -> None:
        """Tap every up-track's frames; the sink hears of tracks already running first.

        ``frames`` False: the sink only follows tracks starting and ending, and its
        ``on_frame`` may miss frames (in packet mode, frames are reassembled only while a
        sink wants them: see :attr:`wants_frames`).
        """
        self._sinks.append(sink)
        if frames:
            self._frame_sinks.append(sink)
            self._frames_changed()
        for uptrack in self.uptracks.values():
            sink.on_track(uptrack.info)

    def remove_sink(self, sink: FrameSink) -> None:
        """Stop tapping; the sink gets no more calls (a sink the hub let go is ignored)."""
        if sink in self._sinks:
            self._sinks.remove(sink)
        if sink in self._frame_sinks:
            self._frame_sinks.remove(sink)
            self._frames_changed()

    @property
    def wants_frames(self) -> bool:
        """Whether publishers' packets must be reassembled into whole frames: always in
        frame mode; in packet mode while a sink (the recorder) wants them."""
        return self.forwarding == "frame" or bool(self._frame_sinks)

    def _frames_changed(self) -> None:
        wanted = self.wants_frames
        for source in self.packet_sources.values():
            source.frames = wanted

    # -- presence ----------------------------------------------------------------------

    def add_presence_listener(self, listener: PresenceListener) -> None:
        """``listener(hub)`` runs whenever an endpoint joins, leaves or changes state
        (added once however often it is given)."""
        if listener not in self._presence_listeners:
            self._presence_listeners.append(listener)

    def peers(self) -> list[Peer]:
        """Every endpoint of the session, as presence shows it."""
        return [
            Peer(
                endpoint_id=endpoint_id,
                site=m.patch.site,
                site_name=m.site_name,
                role=m.patch.role,
                state=m.state,
                live=m.patch.state is PatchState.LIVE,
                muted=m.patch.muted,
            )
            for endpoint_id, m in self._members.items()
        ]

    async def _announce(self) -> None:
        self.direction.revision += 1
        for listener in list(self._presence_listeners):
            try:
                await listener(self)
            except Exception:
                logger.exception("session %s: presence listener failed", self.session_id)

    # -- membership --------------------------------------------------------------------

    @property
    def participants(self) -> list[Participant]:
        """Endpoints with open connections."""
        return [m.participant for m in self._members.values() if m.participant is not None]

    def participant(self, endpoint_id: EndpointId) -> Participant | None:
        """The open endpoint ``endpoint_id``, if any."""
        member = self._members.get(endpoint_id)
        return member.participant if member else None

    def default_state(self, site: str) -> PatchState:
        """Where a point that never joined before starts.

        Without an operator every point is live, so rooms see each other. Once an
        operator has joined the session, new points start on standby: as in a broadcast
        gallery, the director previews a source before putting it on air.
        """
        if site == self.host_site or not self.direction.directed:
            return PatchState.LIVE
        return PatchState.STANDBY

    async def join(self, participant: Participant, site_name: str) -> None:
        """Add an endpoint; a site that dropped comes back in its previous patch state."""
        key = (participant.site, participant.role)
        previous = self._remembered.get(key)
        if participant.role is EndpointRole.OPERATOR:
            self.direction.directed = True
        patch = Patch(
            endpoint_id=participant.endpoint_id,
            site=participant.site,
            role=participant.role,
            host=participant.site == self.host_site,
            state=previous.state if previous else self.default_state(participant.site),
            muted=previous.muted if previous else False,
        )
        # A dropped endpoint of the same site and role is replaced by the new one.
        for endpoint_id, member in list(self._members.items()):
            if (
                member.participant is None
                and member.link is None
                and (member.patch.site, member.patch.role) == key
            ):
                del self._members[endpoint_id]
        self._members[participant.endpoint_id] = _Member(
            participant, patch, site_name, ConnectionState.CONNECTING
        )
        logger.info(
            "session %s site %s: endpoint %s joined as %s (%s)",
            self.session_id,
            participant.site,
            participant.endpoint_id,
            participant.role,
            patch.state,
        )
        participant.renegotiate()
        await self._announce()

    async def leave(self, endpoint_id: EndpointId, *, dropped: bool = False) -> None:
        """Remove an endpoint: its up-tracks end, the others renegotiate.

        ``dropped`` keeps it in presence as disconnected (it may come back); otherwise
        presence shows it as left once and forgets it.
        """
        member = self._members.get(endpoint_id)
        if member is None or member.participant is None:
            return
        participant = member.participant
        member.participant = None
        self._remembered[(member.patch.site, member.patch.role)] = member.patch
        for uptrack in [u for u in self.uptracks.values() if u.info.endpoint_id == endpoint_id]:
            uptrack.end()
            self._forget_uptrack(uptrack)
        await participant.close()
        member.state = ConnectionState.DISCONNECTED if dropped else ConnectionState.LEFT
        logger.info(
            "session %s site %s: endpoint %s %s",
            self.session_id,
            member.patch.site,
            endpoint_id,
            member.state,
        )
        for other in self.participants:
            other.renegotiate()
        await self._announce()
        if not dropped:
            self._members.pop(endpoint_id, None)

    async def set_connection_state(self, endpoint_id: EndpointId, state: ConnectionState) -> None:
        """Record an endpoint's connection state and tell everyone."""
        member = self._members.get(endpoint_id)
        if member is None or member.participant is None or member.state == state:
            return
        member.state = state
        await self._announce()

    async def end(self, end: SessionEnd) -> None:
        """The session's live part is over: every endpoint hears why and is closed.

        Up-tracks end, sinks are let go, nothing is remembered: the relay forgets the
        hub afterwards.
        """
        participants = self.participants
        logger.info(
            "session %s: ending (%s), %d endpoints", self.session_id, end.reason, len(participants)
        )
        await asyncio.gather(*(p.end(end) for p in participants), return_exceptions=True)
        for uptrack in list(self.uptracks.values()):
            uptrack.end()
            self._forget_uptrack(uptrack)
        self._members.clear()
        self._remembered.clear()
        self._links.clear()
        self._sinks.clear()
        self._frame_sinks.clear()
        self._presence_listeners.clear()

    # -- tracks ------------------------------------------------------------------------

    def add_uptrack(
        self,
        publisher: Publisher,
        kind: Kind,
        codec: RTCRtpCodecParameters,
        send_keyframe_request: KeyframeSender,
    ) -> UpTrack:
        """Register a publisher's new track; subscribers renegotiate to receive it."""
        info = TrackInfo(
            track_id=TrackId(f"{publisher.endpoint_id}-{kind}-{uuid.uuid4().hex[:6]}"),
            session_id=self.session_id,
            endpoint_id=publisher.endpoint_id,
            site=publisher.site,
            kind=kind,
            codec=codec.mimeType.split("/")[1],
            clock_rate=codec.clockRate,
        )
        packets = self.forwarding == "packet"
        uptrack = UpTrack(
            info, codec, send_keyframe_request, self._sinks, forwards_frames=not packets
        )
        self.uptracks[info.track_id] = uptrack
        if packets:
            source = PacketSource(info, uptrack.counters, frames=self.wants_frames)
            if kind is Kind.VIDEO:
                source.on_keyframe = uptrack.keyframe_arrived
            self.packet_sources[info.track_id] = source
        logger.info(
            "session %s site %s track %s: published %s %s",
            self.session_id,
            info.site,
            info.track_id,
            kind,
            codec,
        )
        for sink in list(self._sinks):
            try:
                sink.on_track(info)
            except Exception:
                logger.exception("session %s: sink %r failed on a track", self.session_id, sink)
        for other in self.participants:
            if other is not publisher:
                other.renegotiate()
        return uptrack

    def subscribe(self, subscriber: EndpointId, uptrack: UpTrack) -> DownTrack:
        """A new down-track of ``uptrack`` for ``subscriber``, forwarding as the patch says.

        The hub alone adds and removes down-tracks (:meth:`unsubscribe`).
        """
        source = self.packet_sources.get(uptrack.info.track_id)
        downtrack: DownTrack
        if source is not None:
            downtrack = PacketDownTrack(
                uptrack.info,
                subscriber,
                uptrack.request_keyframe,
                source,
                forwarding=self.forwards(uptrack, subscriber),
            )
        else:
            downtrack = DownTrack(
                uptrack.info,
                subscriber,
                uptrack.request_keyframe,
                forwarding=self.forwards(uptrack, subscriber),
            )
        uptrack.attach(downtrack)
        return downtrack

    def unsubscribe(self, subscriber: EndpointId, uptrack: UpTrack) -> None:
        """``subscriber`` no longer receives ``uptrack``; its down-track ends."""
        uptrack.detach(subscriber)

    def uptrack_ended(self, uptrack: UpTrack) -> None:
        """A publisher's track stopped on its own (receiver stopped, transport lost)."""
        uptrack.end()
        if self._forget_uptrack(uptrack):
            for participant in self.participants:
                participant.renegotiate()

    def _forget_uptrack(self, uptrack: UpTrack) -> bool:
        source = self.packet_sources.pop(uptrack.info.track_id, None)
        if source is not None:
            source.end()
        if self.uptracks.pop(uptrack.info.track_id, None) is None:
            return False
        self._ended_totals.add(uptrack.totals())
        for sink in list(self._sinks):
            try:
                sink.on_track_ended(uptrack.info)
            except Exception:
                logger.exception("session %s: sink %r failed on track end", self.session_id, sink)
        return True

    def media_totals(self) -> MediaTotals:
        """Frame counts of every track this hub has had (metrics)."""
        totals = MediaTotals()
        totals.add(self._ended_totals)
        for uptrack in self.uptracks.values():
            totals.add(uptrack.totals())
        return totals

    def wanted_uptracks(self, subscriber: EndpointId) -> list[UpTrack]:
        """Up-tracks ``subscriber`` should have m-lines for, in publication order."""
        member = self._members.get(subscriber)
        if member is None or member.participant is None:
            return []
        out = []
        for uptrack in self.uptracks.values():
            publisher = self._members.get(uptrack.info.endpoint_id)
            if publisher is not None and negotiates(publisher.patch, member.patch):
                out.append(uptrack)
        return out

    def forwards(self, uptrack: UpTrack, subscriber: EndpointId) -> bool:
        """Whether ``uptrack``'s frames go to ``subscriber`` now (the patch matrix).

        A cascade link (``subscriber`` is a link id) carries a track while any endpoint
        behind it receives it, or always when the link forwards everything.
        """
        publisher = self._members.get(uptrack.info.endpoint_id)
        link = self._links.get(subscriber)
        if link is not None:
            if publisher is None or publisher.link == subscriber:
                return False
            if link.forward_all:
                return True
            return any(
                forwards(publisher.patch, m.patch, uptrack.info.kind)
                for m in self._members.values()
                if m.link == subscriber and m.state is not ConnectionState.DISCONNECTED
            )
        member = self._members.get(subscriber)
        if publisher is None or member is None:
            return False
        return forwards(publisher.patch, member.patch, uptrack.info.kind)

    # -- cascade links -----------------------------------------------------------------

    def add_link(self, link_id: EndpointId, *, forward_all: bool) -> None:
        """A cascade link to another node (:mod:`bridge.cascade`) subscribes as
        ``link_id``; endpoints behind it are added with :meth:`set_remote`."""
        self._links[link_id] = _Link(forward_all)

    async def remove_link(self, link_id: EndpointId) -> None:
        """The link is gone: the endpoints behind it and their up-tracks go too."""
        if self._links.pop(link_id, None) is None:
            return
        for uptrack in list(self.uptracks.values()):
            uptrack.detach(link_id)
        gone = [e for e, m in self._members.items() if m.link == link_id]
        for endpoint_id in gone:
            self._drop_remote(endpoint_id)
        for participant in self.participants:
            participant.renegotiate()
        await self._announce()

    @property
    def link_ids(self) -> frozenset[EndpointId]:
        """The cascade links of this hub (metrics tell their down-tracks apart)."""
        return frozenset(self._links)

    def link_uptracks(self, link_id: EndpointId) -> list[UpTrack]:
        """Up-tracks a link carries to the other node: those not coming from it."""
        out = []
        for uptrack in self.uptracks.values():
            publisher = self._members.get(uptrack.info.endpoint_id)
            if publisher is not None and publisher.link != link_id:
                out.append(uptrack)
        return out

    def remote_endpoints(self, link_id: EndpointId) -> list[EndpointId]:
        """Endpoints behind ``link_id``."""
        return [e for e, m in self._members.items() if m.link == link_id]

    def local_peers(self) -> list[Peer]:
        """Endpoints connected to this node (not behind a link)."""
        return [p for p in self.peers() if self._members[p.endpoint_id].link is None]

    def is_remote(self, endpoint_id: EndpointId) -> bool:
        """Whether ``endpoint_id`` is behind a cascade link."""
        member = self._members.get(endpoint_id)
        return member is not None and member.link is not None

    async def set_remote(
        self,
        link_id: EndpointId,
        endpoint_id: EndpointId,
        *,
        site: str,
        site_name: str,
        role: EndpointRole,
        state: ConnectionState,
        patch_state: PatchState | None = None,
        muted: bool | None = None,
        announce: bool = True,
    ) -> bool:
        """Add or update an endpoint of another node behind ``link_id``; returns whether
        anything changed. A new one starts as a point that joined here would
        (:meth:`default_state`) unless ``patch_state`` says otherwise."""
        if link_id not in self._links:
            raise KeyError(f"no link {link_id}")
        member = self._members.get(endpoint_id)
        if member is not None and member.link != link_id:
            raise KeyError(f"endpoint {endpoint_id} is not behind link {link_id}")
        changed = False
        if member is None:
            if role is EndpointRole.OPERATOR:
                self.direction.directed = True
            previous = self._remembered.get((site, role))
            patch = Patch(
                endpoint_id=endpoint_id,
                site=site,
                role=role,
                host=site == self.host_site,
                state=previous.state if previous else self.default_state(site),
                muted=previous.muted if previous else False,
            )
            member = self._members[endpoint_id] = _Member(
                None, patch, site_name, state, link=link_id
            )
            logger.info(
                "session %s site %s: endpoint %s of another node (link %s) as %s",
                self.session_id,
                site,
                endpoint_id,
                link_id,
                role,
            )
            changed = True
        elif member.state != state:
            member.state = state
            changed = True
        new_patch = _changed(member.patch, patch_state, muted)
        if new_patch != member.patch:
            member.patch = new_patch
            self._remembered[(site, role)] = new_patch
            self._apply_patch()
            changed = True
        if changed and announce:
            await self._announce()
        return changed

    async def remove_remote(self, endpoint_id: EndpointId) -> None:
        """An endpoint of another node left; its up-tracks end."""
        member = self._members.get(endpoint_id)
        if member is None or member.link is None:
            return
        self._drop_remote(endpoint_id)
        for participant in self.participants:
            participant.renegotiate()
        await self._announce()

    def _drop_remote(self, endpoint_id: EndpointId) -> None:
        member = self._members.pop(endpoint_id)
        self._remembered[(member.patch.site, member.patch.role)] = member.patch
        for uptrack in [u for u in self.uptracks.values() if u.info.endpoint_id == endpoint_id]:
            uptrack.end()
            self._forget_uptrack(uptrack)

    def _apply_patch(self) -> None:
        for uptrack in self.uptracks.values():
            for subscriber, downtrack in uptrack.downtracks.items():
                downtrack.set_forwarding(self.forwards(uptrack, subscriber))

    def site_name_of(self, endpoint_id: EndpointId) -> str:
        """The site name of an endpoint, for track labels."""
        member = self._members.get(endpoint_id)
        return member.site_name if member else ""

    # -- patch -------------------------------------------------------------------------

    def patch(self, endpoint_id: EndpointId) -> Patch | None:
        """An endpoint's current patch state."""
        member = self._members.get(endpoint_id)
        return member.patch if member else None

    async def announce(self) -> None:
        """Tell the listeners the session's state changed (recording, case markers)."""
        await self._announce()

    async def add_marker(self, marker: CaseMarker) -> None:
        """Put a case marker on the board (the recorder tells the hub of every one)."""
        self.direction.markers.append(marker)
        await self._announce()

    async def set_recording(self, since: datetime | None) -> bool:
        """Put on the board that the session is recorded since ``since``, or not (None).

        The recorder's start time, not the time the news arrives: the console's
        recording clock counts from it. Tells the listeners (every client gets the new
        state) only when it changes; returns whether it did.
        """
        direction = self.direction
        if direction.recording_since == since:
            return False
        direction.recording_since = since
        logger.info(
            "session %s: %s",
            self.session_id,
            f"recording since {since.isoformat()}" if since else "not recording",
        )
        await self._announce()
        return True

    def board(self) -> dict[str, object]:
        """The board as plain data, for another node to take the session over (issue 10):
        whether an operator directs, each room point's patch and mute state, the case
        markers. Connections, tracks and the recording state are not in it."""
        points: dict[str, dict[str, object]] = {}
        for (site, role), patch in self._remembered.items():
            if role is EndpointRole.ROOM:
                points[site] = {"state": str(patch.state), "muted": patch.muted}
        for member in self._members.values():
            patch = member.patch
            if patch.role is EndpointRole.ROOM:
                points[patch.site] = {"state": str(patch.state), "muted": patch.muted}
        return {
            "directed": self.direction.directed,
            "points": points,
            "markers": [m.as_dict() for m in self.direction.markers],
        }

    def restore_board(self, board: dict[str, object]) -> None:
        """Take over :meth:`board` from the node that held the session before, on a hub
        no endpoint has joined yet: points come back in their patch and mute state, the
        case markers (the latest is the case under discussion) and the operator's
        direction stay. Raises ValueError (nothing changed) on a malformed board."""
        if self._members or self._remembered or self.direction.markers:
            raise ValueError("a board is restored only on a fresh hub")
        points = board.get("points", {})
        markers = board.get("markers", [])
        if not isinstance(points, dict) or not isinstance(markers, list):
            raise ValueError("board points must be an object and markers a list")
        remembered: dict[tuple[str, EndpointRole], Patch] = {}
        for site, point in points.items():
            if not isinstance(site, str) or not isinstance(point, dict):
                raise ValueError("each board point must be an object by site")
            remembered[(site, EndpointRole.ROOM)] = Patch(
                endpoint_id=EndpointId(""),
                site=site,
                role=EndpointRole.ROOM,
                host=site == self.host_site,
                state=PatchState(point.get("state", PatchState.LIVE)),
                muted=bool(point.get("muted", False)),
            )
        restored = []
        for m in markers:
            if not isinstance(m, dict):
                raise ValueError("each board marker must be an object")
            restored.append(
                CaseMarker(
                    case_number=str(m.get("case_number", "")),
                    text=str(m.get("text", "")),
                    at=datetime.fromisoformat(str(m.get("at", ""))),
                    by=str(m.get("by", "")),
                    archived=bool(m.get("archived", False)),
                    archive_note=str(m.get("archive_note", "")),
                )
            )
        self._remembered.update(remembered)
        self.direction.markers.extend(restored)
        self.direction.directed = bool(board.get("directed", False))
        logger.info(
            "session %s: board taken over (%d points, %d markers)",
            self.session_id,
            len(remembered),
            len(restored),
        )

    def point_patch(self, site: str) -> Patch | None:
        """The patch state of ``site``'s room, connected or not (None if never seen)."""
        for member in self._members.values():
            if member.patch.site == site and member.patch.role is EndpointRole.ROOM:
                return member.patch
        return self._remembered.get((site, EndpointRole.ROOM))

    def point_endpoints(self, site: str) -> list[EndpointId]:
        """Open endpoints of ``site``'s room (normally one), here or behind a cascade link."""
        return [
            endpoint_id
            for endpoint_id, m in self._members.items()
            if (
                m.participant is not None
                or (m.link is not None and m.state is not ConnectionState.DISCONNECTED)
            )
            and m.patch.site == site
            and m.patch.role is EndpointRole.ROOM
        ]

    async def set_point(
        self, site: str, *, state: PatchState | None = None, muted: bool | None = None
    ) -> Patch:
        """Patch ``site``'s room in or out, mute or unmute it.

        The state belongs to the site for the whole session: a point that is not
        connected now gets it when it rejoins. Raises KeyError for a site never seen.
        """
        for endpoint_id, member in self._members.items():
            if member.patch.site == site and member.patch.role is EndpointRole.ROOM:
                return await self.set_patch(endpoint_id, state=state, muted=muted)
        key = (site, EndpointRole.ROOM)
        patch = _changed(self._remembered[key], state, muted)
        self._remembered[key] = patch
        logger.info(
            "session %s site %s: patched %s%s while away",
            self.session_id,
            site,
            patch.state,
            " muted" if patch.muted else "",
        )
        await self._announce()
        return patch

    async def set_patch(
        self,
        endpoint_id: EndpointId,
        *,
        state: PatchState | None = None,
        muted: bool | None = None,
    ) -> Patch:
        """Patch a point in or out, mute or unmute it; forwarding follows at once.

        Down-tracks that resume ask for a keyframe immediately. Raises KeyError for an
        unknown endpoint.
        """
        member = self._members[endpoint_id]
        member.patch = _changed(member.patch, state, muted)
        self._remembered[(member.patch.site, member.patch.role)] = member.patch
        self._apply_patch()
        logger.info(
            "session %s site %s: endpoint %s patched %s%s",
            self.session_id,
            member.patch.site,
            endpoint_id,
            member.patch.state,
            " muted" if member.patch.muted else "",
        )
        await self._announce()
        return member.patch
