"""A participant's two peer connections ("legs") and how one of them fails.

aiortc 1.16 (aioice) cannot restart ICE, so a leg that failed is replaced, never
repaired: the endpoint opens a new publish connection (``publish`` with ``restart``) or
asks for a new subscribe connection (``resubscribe``); see signaling/PROTOCOL.md.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from aiortc import RTCPeerConnection

REPUBLISH_GRACE = 30.0
"""How long a failed publisher's up-tracks wait for a republish (seconds). Subscribers
keep their m-lines meanwhile; past it the tracks end and the others renegotiate."""


class Leg(enum.StrEnum):
    """One of an endpoint's two peer connections."""

    PUBLISH = "publish"
    """The endpoint sends its camera and microphone (it offers)."""
    SUBSCRIBE = "subscribe"
    """The endpoint receives the others (the relay offers)."""


class FailureReason(enum.StrEnum):
    """Why a leg is gone, as far as aiortc tells."""

    ICE_FAILED = "ice_failed"
    """ICE failed: no candidate pair works, or consent to send expired (RFC 7675: the
    other end stopped answering for about 30 s)."""
    DTLS_FAILED = "dtls_failed"
    """The DTLS transport failed (handshake or record error)."""
    CLOSED = "closed"
    """The other end closed the connection (DTLS close_notify)."""


def failure_reason(pc: RTCPeerConnection) -> FailureReason:
    """Why ``pc`` (whose connection state is ``failed`` or ``closed``) went down."""
    if pc.iceConnectionState == "failed":
        return FailureReason.ICE_FAILED
    if pc.connectionState == "closed":
        return FailureReason.CLOSED
    return FailureReason.DTLS_FAILED


@dataclass(frozen=True, slots=True)
class LegFailure:
    """A leg of an endpoint failed; the relay freed it and waits for its replacement."""

    leg: Leg
    """Which connection."""
    reason: FailureReason
    """Why, as far as aiortc tells."""

    def as_dict(self) -> dict[str, str]:
        """The protocol's ``leg_failed`` payload."""
        return {"leg": str(self.leg), "reason": str(self.reason)}
