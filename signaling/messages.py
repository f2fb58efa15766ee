"""Client payloads parsed into values; anything else is a ``bad_request``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bridge.errors import BadRequest

MAX_SDP_CHARS = 200_000


def _object(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise BadRequest("payload must be a JSON object")
    return payload


def _sdp(payload: dict[str, Any], expected_type: str) -> str:
    if payload.get("type") != expected_type:
        raise BadRequest(f'field "type" must be "{expected_type}"')
    sdp = payload.get("sdp")
    if not isinstance(sdp, str) or not sdp:
        raise BadRequest('field "sdp" must be a non-empty string')
    if len(sdp) > MAX_SDP_CHARS:
        raise BadRequest(f"sdp longer than {MAX_SDP_CHARS} characters")
    return sdp


@dataclass(frozen=True, slots=True)
class PublishOffer:
    """``publish``: the endpoint's offer for its publish connection."""

    sdp: str
    """The SDP offer."""
    restart: bool = False
    """Replace the publish connection (the old one failed): the tracks carry on."""

    @classmethod
    def parse(cls, payload: Any) -> PublishOffer:
        data = _object(payload)
        restart = data.get("restart", False)
        if not isinstance(restart, bool):
            raise BadRequest('field "restart" must be true or false')
        return cls(_sdp(data, "offer"), restart)


@dataclass(frozen=True, slots=True)
class SubscribeAnswer:
    """``subscribe_answer``: the answer to the relay's subscribe offer."""

    sdp: str
    """The SDP answer."""
    revision: int
    """The offer's revision."""

    @classmethod
    def parse(cls, payload: Any) -> SubscribeAnswer:
        data = _object(payload)
        revision = data.get("revision")
        if not isinstance(revision, int) or isinstance(revision, bool) or revision < 1:
            raise BadRequest('field "revision" must be a positive integer')
        return cls(_sdp(data, "answer"), revision)


def parse_empty(payload: Any) -> None:
    """A request without fields (``{}``); anything but an object is a ``bad_request``."""
    _object(payload)


def error(code: str, message: str, event: str | None = None) -> dict[str, Any]:
    """An error object (``{code, message}``, plus ``event`` when it has no ack)."""
    body: dict[str, Any] = {"code": code, "message": message}
    if event is not None:
        body["event"] = event
    return body
