"""A participant's two peer connections ("legs") and how one of them fails.

aiortc 1.16 (aioice) cannot restart ICE, so a leg that failed is replaced, never
repaired: the endpoint opens a new publish connection (``publish`` with ``restart``) or
asks for a new subscribe connection (``resubscribe``); see signaling/PROTOCOL.md.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiortc import RTCPeerConnection

from bridge.rtc_internals import Arrivals

REPUBLISH_GRACE = 30.0
"""How long a failed publisher's up-tracks wait for a republish (seconds). Subscribers
keep their m-lines meanwhile; past it the tracks end and the others renegotiate."""

MEDIA_SILENCE = 5.0
"""A connected leg that hears nothing at all from its endpoint for this long (seconds) is
taken for dead (reason ``silent``), long before ICE consent would expire (about 30 s).
A live endpoint sends RTCP reports every 0.5-1.5 s (aiortc) or 1-5 s (browsers) for each
stream it sends or receives, muted or not, and ICE consent checks every 2.5-6 s."""
SILENCE_CHECK = 1.0
"""How often a :class:`SilenceWatch` looks (seconds)."""


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
    SILENT = "silent"
    """The connection still said connected, but nothing arrived from the endpoint for
    :data:`MEDIA_SILENCE` seconds (its network died): the relay's watchdog noticed."""
    DTLS_FAILED = "dtls_failed"
    """The DTLS transport failed (handshake or record error)."""
    CLOSED = "closed"
    """The connection closed without failing first: ICE consent expired (aiortc 1.16
    closes the connection then, ICE never says ``failed``), or the other end closed
    DTLS (close_notify)."""


class LegWatch:
    """Follows one peer connection's states for its owner.

    ``on_change(watch)`` runs (as a task, like every aiortc event handler) after each
    connection state change. By then a connection that lost its transport may already
    have closed itself (aiortc closes one whose DTLS transports all closed), so the
    states are also noted as they happen, to tell why it went down.
    """

    def __init__(
        self, pc: RTCPeerConnection, on_change: Callable[[LegWatch], Awaitable[None]]
    ) -> None:
        self.pc = pc
        """The connection watched."""
        self.ice_failed = False
        """ICE reported ``failed`` at some point."""
        self.failed = False
        """The connection reported ``failed`` at some point."""
        pc.on("iceconnectionstatechange", self._note_ice)
        pc.on("connectionstatechange", self._note)
        pc.on("connectionstatechange", lambda: on_change(self))

    def _note_ice(self) -> None:
        self.ice_failed = self.ice_failed or self.pc.iceConnectionState == "failed"

    def _note(self) -> None:
        self.failed = self.failed or self.pc.connectionState == "failed"

    @property
    def down(self) -> bool:
        """The connection failed or closed."""
        return self.pc.connectionState in ("failed", "closed")

    def reason(self) -> FailureReason:
        """Why the connection went down (call once :attr:`down`)."""
        if self.ice_failed:
            return FailureReason.ICE_FAILED
        if self.failed:
            return FailureReason.DTLS_FAILED
        return FailureReason.CLOSED


class SilenceWatch:
    """Calls ``on_silent()`` once when a connected leg goes quiet.

    Every :data:`SILENCE_CHECK` seconds (a loop timer, no task) it looks at ``arrivals``:
    while ``armed()`` says the endpoint should be talking (it has something to send or
    receive) and the connection says ``connected``, :data:`MEDIA_SILENCE` seconds without
    a datagram fire ``on_silent`` and end the watch. ``stop()`` ends it early.
    """

    def __init__(
        self,
        pc: RTCPeerConnection,
        arrivals: Arrivals,
        armed: Callable[[], bool],
        on_silent: Callable[[], None],
        silence: float = MEDIA_SILENCE,
    ) -> None:
        self._pc = pc
        self._arrivals = arrivals
        self._armed = armed
        self._on_silent = on_silent
        self._silence = silence
        self._since = asyncio.get_running_loop().time()
        self._timer: asyncio.TimerHandle | None = None
        self._schedule()

    def _schedule(self) -> None:
        self._timer = asyncio.get_running_loop().call_later(SILENCE_CHECK, self._check)

    def _check(self) -> None:
        self._timer = None
        now = asyncio.get_running_loop().time()
        if self._pc.connectionState != "connected" or not self._armed():
            # Silence counts from when the watch is armed on a connected leg.
            self._since = now
        else:
            heard = max(self._since, self._arrivals.last or self._since)
            if now - heard >= self._silence:
                self._on_silent()
                return
        self._schedule()

    def stop(self) -> None:
        """No more checks."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    @property
    def running(self) -> bool:
        """Still watching."""
        return self._timer is not None


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
