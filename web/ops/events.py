"""What the webhooks hear from the relay: endpoints joining, leaving, dropping."""

from __future__ import annotations

from collections.abc import Callable

from bridge.hub import ConnectionState, Hub, Peer
from ops.webhooks import Event, Webhooks
from recorder.manifest import Manifest


class EndpointEvents:
    """A relay hub listener: follows each hub's presence and sends
    ``endpoint.joined``, ``endpoint.left`` (on purpose) and ``endpoint.failed`` (its
    connection dropped without leaving, or one of its media legs failed: its site may
    come back, its media may heal)."""

    def __init__(self, webhooks: Webhooks) -> None:
        self._webhooks = webhooks

    def __call__(self, hub: Hub) -> None:
        known: dict[str, ConnectionState] = {}

        async def presence(hub: Hub) -> None:
            seen = set()
            for peer in hub.peers():
                seen.add(peer.endpoint_id)
                before = known.get(peer.endpoint_id)
                if before is None and peer.state not in _GONE:
                    self._send("endpoint.joined", hub, peer)
                elif before is not None and before is not peer.state and peer.state in _GONE:
                    self._send(_GONE[peer.state], hub, peer)
                known[peer.endpoint_id] = peer.state
            for endpoint_id in set(known) - seen:
                del known[endpoint_id]

        hub.add_presence_listener(presence)

    def _send(self, kind: str, hub: Hub, peer: Peer) -> None:
        data = {"session_id": hub.session_id, **peer.as_dict()}
        del data["live"], data["muted"]
        self._webhooks.emit(Event(kind, data))


_GONE = {
    ConnectionState.LEFT: "endpoint.left",
    ConnectionState.DISCONNECTED: "endpoint.failed",
    ConnectionState.MEDIA_LOST: "endpoint.failed",
}
"""States that send an event when an endpoint reaches them. ``media_lost``: signaling is
up but a leg failed (``data.state`` tells it from ``disconnected``); the endpoint
replaces the leg by itself, and may fail again later (one event per failure)."""


def recording_sealed(webhooks: Webhooks) -> Callable[[Manifest], None]:
    """A recorder sealed-listener sending ``recording.sealed``."""

    def sealed(manifest: Manifest) -> None:
        webhooks.emit(
            Event(
                "recording.sealed",
                {
                    "session_id": manifest.session_id,
                    "state": str(manifest.state),
                    "started_at": manifest.started_at,
                    "ended_at": manifest.ended_at,
                    "files": len(manifest.files),
                    "gaps": len(manifest.gaps),
                },
            )
        )

    return sealed
