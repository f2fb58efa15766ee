"""How Socket.IO packets are read: JSON that never raises past the namespace.

python-socketio decodes every packet with the codec it is given, before any handler
runs; a payload nested deeper than Python's parser can follow raised RecursionError
there (and text that is not JSON at all raised ValueError), out of reach of the
namespace's error handling. This codec turns such a packet
into the event :data:`MALFORMED_EVENT`, which the namespace answers with ``bad_request``
(and its ack, when one was asked for).

The fuzz test (issue 12) found more packets that raised inside python-socketio 5.18
and reached the log as "message async handler error": an event whose data is not a
list starting with a name (``2/bridge,42``, ``2/bridge,{}``, ``2/bridge,``), a packet
type that does not exist (``9/bridge,[]``) or that only a server sends (CONNECT_ERROR),
a binary event announcing no attachment, an attachment with no binary event before
it, and placeholders naming attachments that are not there. :class:`SafePacket` turns
each into :data:`MALFORMED_EVENT` too (keeping the ack id when it could be read), and
:class:`SafeServer` refuses what only the server can see (a binary packet for a
namespace the socket is not in) with an INFO line instead of an error.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import socketio
from socketio import packet as sio_packet
from socketio.packet import Packet

logger = logging.getLogger(__name__)

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
    packet_type: int
    data: Any
    id: int | None
    namespace: str | None

    def decode(self, encoded_packet: Any) -> int:
        try:
            attachments = int(super().decode(encoded_packet))
        except Exception:
            self._malformed(encoded_packet)
            return 0
        kind: int = self.packet_type
        if kind in (sio_packet.EVENT, sio_packet.BINARY_EVENT):
            data = self.data
            if not isinstance(data, list) or not data or not isinstance(data[0], str):
                self.data = [MALFORMED_EVENT]
        elif kind not in (
            sio_packet.CONNECT,
            sio_packet.DISCONNECT,
            sio_packet.ACK,
            sio_packet.BINARY_ACK,
        ):
            self.packet_type = sio_packet.EVENT
            self.data = [MALFORMED_EVENT]
        if self.packet_type in (sio_packet.BINARY_EVENT, sio_packet.BINARY_ACK) and not attachments:
            # A binary packet with no attachment would swallow the next packet whole.
            self.packet_type -= 3  # BINARY_EVENT -> EVENT, BINARY_ACK -> ACK
            if self.packet_type == sio_packet.EVENT:
                self.data = [MALFORMED_EVENT]
        return attachments

    def _malformed(self, encoded_packet: Any) -> None:
        self.packet_type = sio_packet.EVENT
        self.data = [MALFORMED_EVENT]
        self.id = None
        self.namespace = None
        if isinstance(encoded_packet, str):
            found = _HEADER.match(encoded_packet)
            if found:
                self.namespace = found.group("namespace")
                self.id = int(found.group("id")) if found.group("id") else None

    def add_attachment(self, attachment: Any) -> bool:
        try:
            return bool(super().add_attachment(attachment))
        except Exception:
            # A placeholder naming an attachment that is not there (or of a wrong type).
            self.data = [MALFORMED_EVENT] if self.packet_type == sio_packet.BINARY_EVENT else []
            return True


_HEADER = re.compile(r"^\d(?:\d{1,10}-)?(?P<namespace>/[^,?]{0,100})[^,]*,(?P<id>\d{1,20})?")
"""Namespace and ack id of a text packet whose data could not be read."""


class SafeServer(socketio.AsyncServer):  # type: ignore[misc]
    """``socketio.AsyncServer`` that refuses a packet it cannot handle with an INFO line.

    What :class:`SafePacket` cannot see raises in ``_handle_eio_message`` (an
    attachment with no binary event before it, a binary packet for a namespace the
    socket is not in): the packet is dropped with an INFO line, as a refused event is,
    instead of Engine.IO's "message async handler error" at ERROR. The one place this
    module reaches into python-socketio's internals (``tests/unit/test_wire.py``).
    """

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        try:
            await super()._handle_eio_message(eio_sid, data)
        except ValueError as exc:
            self._binary_packet.pop(eio_sid, None)
            logger.info("Engine.IO sid %s: packet refused: %s", eio_sid, exc)
