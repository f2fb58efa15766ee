"""The patch matrix: which endpoint's media reaches which other endpoint.

Routing is a pure function of each endpoint's patch state, so the operator console
(issue 3) only changes states; the hub re-applies :func:`forwards` to every down-track.

- A point is ``live`` (patched in: its media goes to the host site and to the other
  live points) or on ``standby`` (connected; only operators see and hear it).
- The host site's own feed goes to every endpoint.
- Operators receive everyone, standby points included (their preview).
- A muted endpoint's audio goes to no one.
Everyone starts live, so without an operator every point sees and hears every other.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from bridge.frames import EndpointId, Kind


class PatchState(enum.StrEnum):
    """Whether a point is patched into the live bridge."""

    LIVE = "live"
    STANDBY = "standby"


class EndpointRole(enum.StrEnum):
    """How an endpoint takes part (mirrors the token roles that may join media)."""

    ROOM = "room"
    OPERATOR = "operator"


@dataclass(frozen=True, slots=True)
class Patch:
    """One endpoint's place in the matrix."""

    endpoint_id: EndpointId
    """The endpoint."""
    site: str
    """Its site id."""
    role: EndpointRole
    """Room (a point) or operator (the bridge's director)."""
    host: bool
    """Whether the site is the session's host site (its feed goes to everyone)."""
    state: PatchState = PatchState.LIVE
    """Live or standby."""
    muted: bool = False
    """Whether its audio is cut."""

    def __post_init__(self) -> None:
        if not self.site:
            raise ValueError("a patch needs a site")


def forwards(publisher: Patch, subscriber: Patch, kind: Kind) -> bool:
    """Whether ``publisher``'s media of ``kind`` goes to ``subscriber`` right now."""
    if publisher.endpoint_id == subscriber.endpoint_id:
        return False
    if kind is Kind.AUDIO and publisher.muted:
        return False
    if subscriber.role is EndpointRole.OPERATOR or publisher.host:
        return True
    if publisher.state is not PatchState.LIVE:
        return False
    return subscriber.host or subscriber.state is PatchState.LIVE


def negotiates(publisher: Patch, subscriber: Patch) -> bool:
    """Whether ``subscriber`` gets m-lines for ``publisher``'s tracks at all.

    Everyone is negotiated with everyone else, so patching in or out only pauses or
    resumes forwarding (plus a keyframe request) and never waits for renegotiation.
    """
    return publisher.endpoint_id != subscriber.endpoint_id
