"""How Socket.IO packets are read: JSON that never raises past the namespace.

python-socketio decodes every packet with the codec it is given, before any handler
runs; a payload nested deeper than Python's parser can follow raised RecursionError
there (and text that is not JSON at all raised ValueError), out of reach of the
namespace's error handling. This codec turns such a packet
into the event :data:`MALFORMED_EVENT`, which the namespace answers with ``bad_request``
(and its ack, when one was asked for).
"""

from __future__ import annotations

import json
from typing import Any

from socketio.packet import Packet

MALFORMED_EVENT = "__malformed__"
"""The event name a packet whose JSON could not be read arrives as."""


class SafeJson:
    """A ``json``-like codec for ``socketio.AsyncServer(json=...)``."""

    @staticmethod
    def dumps(obj: Any, **kwargs: Any) -> str:
        return json.dumps(obj, **kwargs)

    @staticmethod
    def loads(text: str | bytes, **kwargs: Any) -> Any:
        try:
            return json.loads(text, **kwargs)
        except (RecursionError, ValueError):
            return [MALFORMED_EVENT]


class SafePacket(Packet):  # type: ignore[misc]
    """Socket.IO's packet, decoded with :class:`SafeJson` (``AsyncServer(serializer=...)``).

    Only Socket.IO's packets: Engine.IO reads its own frames with plain ``json`` and
    relies on its ValueError to tell text from JSON.
    """

    json = SafeJson
