"""A relay connection's UDP sockets get the receive buffer asked for (as far as the kernel's
``net.core.rmem_max`` lets them): rtc_internals.enlarge_receive_buffers."""

from __future__ import annotations

import socket
from pathlib import Path

from aiortc import RTCPeerConnection

from bridge import rtc_internals

SIZE = 1 << 20
RMEM_MAX = int(Path("/proc/sys/net/core/rmem_max").read_text())
"""The most a socket may ask for (Linux)."""


async def test_every_ice_socket_gets_the_buffer_the_kernel_allows() -> None:
    pc = RTCPeerConnection()
    pc.addTransceiver("video", direction="recvonly")
    try:
        assert rtc_internals.enlarge_receive_buffers(pc, SIZE) == 0  # no socket bound yet
        await pc.setLocalDescription(await pc.createOffer())
        granted = rtc_internals.enlarge_receive_buffers(pc, SIZE)
        ice = pc.getTransceivers()[0].receiver.transport.transport
        connection = getattr(ice, rtc_internals.ICE_CONNECTION_ATTR)
        assert getattr(connection, rtc_internals.ICE_PROTOCOLS_ATTR)  # sockets were bound
    finally:
        await pc.close()
    # Linux doubles what it grants (its bookkeeping), after capping it at rmem_max.
    assert granted == 2 * min(SIZE, RMEM_MAX)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as plain:
        assert granted > plain.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
