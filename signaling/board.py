"""The ``bridge_state`` object: a session's patch matrix and director board, as sent.

Operators get everything; rooms get the same picture without the markers' free text
and authors (case content can name a denouncer, who must stay confidential).
"""

from __future__ import annotations

from typing import Any

from bridge.hub import ConnectionState, Hub, Peer
from bridge.patch import EndpointRole, PatchState
from core.ids import SiteId
from core.sessions import SessionInfo

ABSENT = "absent"
"""Connection state of a session site that has not joined yet."""

_PREFERENCE = {
    ConnectionState.CONNECTED: 0,
    ConnectionState.MEDIA_LOST: 1,
    ConnectionState.CONNECTING: 2,
    ConnectionState.DISCONNECTED: 3,
    ConnectionState.LEFT: 4,
}


def _room_peers(hub: Hub) -> dict[str, Peer]:
    """Each site's room endpoint as presence shows it, the most connected one first."""
    best: dict[str, Peer] = {}
    for peer in hub.peers():
        if peer.role is not EndpointRole.ROOM:
            continue
        known = best.get(peer.site)
        if known is None or _PREFERENCE[peer.state] < _PREFERENCE[known.state]:
            best[peer.site] = peer
    return best


def points(hub: Hub, session: SessionInfo) -> list[dict[str, Any]]:
    """Every site of the session (host first), with connection and patch state."""
    peers = _room_peers(hub)
    sites = sorted(session.sites | set(peers), key=lambda s: (s != hub.host_site, s))
    out = []
    for site in sites:
        peer = peers.get(site)
        patch = hub.point_patch(site)
        state = patch.state if patch else hub.default_state(site)
        info = session.site_names.get(SiteId(site))
        out.append(
            {
                "site": site,
                "site_name": peer.site_name if peer else (info.name if info else site),
                "host": site == hub.host_site,
                "endpoint_id": peer.endpoint_id if peer else None,
                "connection": str(peer.state) if peer else ABSENT,
                "patch": str(state),
                "live": state is PatchState.LIVE,
                "muted": patch.muted if patch else False,
            }
        )
    return out


def bridge_state(hub: Hub, session: SessionInfo, *, full: bool) -> dict[str, Any]:
    """The protocol's ``BridgeState`` for operators (``full``) or rooms."""
    direction = hub.direction
    current = direction.current_case
    recording = direction.recording
    state: dict[str, Any] = {
        "session_id": hub.session_id,
        "host_site": hub.host_site,
        "revision": direction.revision,
        "opened_at": direction.opened_at.isoformat(),
        "now": hub.clock().isoformat(),
        "directed": direction.directed,
        "points": points(hub, session),
        "recording": {
            "active": recording,
            "since": direction.recording_since.isoformat()
            if recording and direction.recording_since
            else None,
        },
        "current_case": current.as_dict(with_text=full) if current else None,
    }
    if full:
        state["markers"] = [m.as_dict() for m in direction.markers]
        state["operators"] = [
            p.as_dict()
            for p in hub.peers()
            if p.role is EndpointRole.OPERATOR and p.state is not ConnectionState.LEFT
        ]
    return state
