"""Errors the relay reports to the signaling layer, each with a stable protocol code."""

from __future__ import annotations


class BridgeError(Exception):
    """A request the relay refused; ``code`` is one of signaling/PROTOCOL.md's codes."""

    code = "internal"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadSdp(BridgeError):
    """SDP that cannot be parsed or has no media the relay can forward."""

    code = "bad_sdp"


class BadRequest(BridgeError):
    """A request that does not fit the endpoint's state (a stale answer, say)."""

    code = "bad_request"
