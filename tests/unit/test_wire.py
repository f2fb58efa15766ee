"""signaling/wire.py: every packet the fuzz test found raising inside python-socketio
decodes to an event the namespace answers, and the one override of python-socketio's
internals (``SafeServer._handle_eio_message``) is still where it is."""

from __future__ import annotations

import inspect
import logging

import pytest
import socketio
from socketio import packet as sio_packet

from signaling.wire import MALFORMED_EVENT, SafePacket, SafeServer


def _decoded(encoded: str | bytes) -> SafePacket:
    return SafePacket(encoded_packet=encoded)


@pytest.mark.parametrize(
    ("encoded", "namespace", "ack_id"),
    [
        ("2/bridge,42", "/bridge", 42),
        ('2/bridge,{"event":"state"}', "/bridge", None),
        ("2/bridge,", "/bridge", None),
        ("2/bridge,[]", "/bridge", None),
        ("2/bridge,[5,{}]", "/bridge", None),
        ("2/bridge,7[null]", "/bridge", 7),
        ('2/bridge,["state",{"not json', "/bridge", None),
        ('2/bridge,3["state",' + "[" * 3000 + "]" * 3000 + "]", "/bridge", 3),
        ("9/bridge,[]", "/bridge", None),
        ('4/bridge,{"message":"forged"}', "/bridge", None),
        ('5/bridge,["state",{}]', "/bridge", None),
    ],
)
def test_packets_that_raised_become_the_malformed_event(
    encoded: str, namespace: str, ack_id: int | None
) -> None:
    pkt = _decoded(encoded)
    assert pkt.packet_type == sio_packet.EVENT
    assert pkt.data == [MALFORMED_EVENT]
    assert pkt.namespace == namespace
    assert pkt.id == ack_id


def test_a_binary_frame_with_no_binary_event_before_it() -> None:
    pkt = _decoded(b"\x05\x00garbage")
    assert pkt.packet_type == sio_packet.EVENT and pkt.data == [MALFORMED_EVENT]


@pytest.mark.parametrize("num", ["3", "-7", '"a"', "null"])
def test_a_placeholder_naming_a_missing_attachment(num: str) -> None:
    pkt = _decoded('51-/bridge,["state",{"_placeholder":true,"num":' + num + "}]")
    assert pkt.packet_type == sio_packet.BINARY_EVENT
    assert pkt.add_attachment(b"\x00") is True
    assert pkt.data == [MALFORMED_EVENT]


def test_good_packets_are_left_as_they_are() -> None:
    pkt = _decoded('2/bridge,1["state",{"a":1}]')
    assert (pkt.packet_type, pkt.namespace, pkt.id, pkt.data) == (
        sio_packet.EVENT,
        "/bridge",
        1,
        ["state", {"a": 1}],
    )
    binary = _decoded('51-/bridge,["publish",{"_placeholder":true,"num":0}]')
    assert binary.add_attachment(b"abc") is True
    assert binary.data == ["publish", b"abc"]
    ack = _decoded("3/bridge,4[]")
    assert (ack.packet_type, ack.id) == (sio_packet.ACK, 4)


async def test_the_server_refuses_what_the_packet_cannot_see(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert "_handle_eio_message" in vars(socketio.AsyncServer)
    assert list(inspect.signature(socketio.AsyncServer._handle_eio_message).parameters) == [
        "self",
        "eio_sid",
        "data",
    ]
    server = SafeServer(async_mode="aiohttp", serializer=SafePacket)
    # A binary event for a namespace the (unknown) socket is not in raised ValueError.
    with caplog.at_level(logging.INFO, logger="signaling.wire"):
        await server._handle_eio_message(
            "no-such-sid", '51-/bridge,["state",{"_placeholder":true,"num":0}]'
        )
    assert "packet refused" in caplog.text
    assert "no-such-sid" not in server._binary_packet
