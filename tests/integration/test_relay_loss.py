"""Loss repair in packet mode: 5 % of the packets on one subscriber's path are lost, and
the up-track's retransmission cache answers its NACKs."""

from __future__ import annotations

import asyncio
import hashlib
import random
from pathlib import Path
from typing import Any

import pytest
from aioice.ice import StunProtocol

from bench.relay import PatternTrack
from bridge import packets
from bridge.rtc_internals import tap_sender
from signaling.client import BridgeClient
from tests.integration.conftest import HOST, SESSION, start_server, wait_for
from web.keys import RELAY

LOSS = 0.05
WINDOW = 8.0


def _lossy(client: BridgeClient, rng: random.Random) -> dict[str, int]:
    """Drop ``LOSS`` of the RTP/RTCP datagrams reaching ``client``'s subscribe connection
    (STUN and DTLS pass, so the connection itself stays up), as a lossy path would."""
    pc = client.subscribe_pc
    assert pc is not None
    connection = pc.getTransceivers()[0].receiver.transport.transport._connection
    counts = {"passed": 0, "dropped": 0}
    for protocol in connection._protocols:
        assert isinstance(protocol, StunProtocol)
        deliver = protocol.datagram_received

        def datagram_received(data: bytes, addr: Any, deliver: Any = deliver) -> None:
            if 127 < data[0] < 192 and rng.random() < LOSS:
                counts["dropped"] += 1
                return
            counts["passed"] += 1
            deliver(data, addr)

        protocol.datagram_received = datagram_received  # type: ignore[method-assign,assignment]
    return counts


async def _complete_share(tmp: Path) -> tuple[float, dict[str, Any]]:
    """Share of the publisher's frames the lossy subscriber got whole (byte-identical)."""
    server, runner = await start_server(tmp, forwarding="packet")
    publisher = BridgeClient(server.url, server.token(HOST))
    viewer = BridgeClient(server.url, server.token("bac-ninh"))
    sent: list[bytes] = []
    received: set[bytes] = set()
    window = {"open": False}

    def key(data: bytes) -> bytes:
        return hashlib.blake2b(data, digest_size=16).digest()

    def on_sent(data: bytes) -> None:
        if window["open"]:
            sent.append(key(data))

    try:
        await publisher.connect()
        await viewer.connect()
        viewer.frame_listener = lambda _track, data: received.add(key(data))
        await publisher.publish([PatternTrack()])
        assert publisher.publish_pc is not None
        tap_sender(publisher.publish_pc.getTransceivers()[0].sender, on_sent)
        await wait_for(lambda: viewer.frames_from(HOST, "video") >= 30, what="video at the viewer")
        counts = _lossy(viewer, random.Random(13))
        window["open"] = True
        await asyncio.sleep(WINDOW)
        window["open"] = False
        await asyncio.sleep(1.0)  # the last frames' repairs
        hub = server.app[RELAY].hubs[SESSION]
        downtrack = next(
            d for p in hub.participants for d in p.subscriptions.values() if d.info.kind == "video"
        )
        assert isinstance(downtrack, packets.PacketDownTrack)
        figures = {
            **counts,
            "retransmitted": downtrack.retransmitted,
            "nack_misses": downtrack.nack_misses,
            "frames_sent": len(sent),
        }
        share = sum(1 for k in sent if k in received) / max(1, len(sent))
        return share, figures
    finally:
        await publisher.leave()
        await viewer.leave()
        await asyncio.wait_for(runner.cleanup(), 30)


async def test_nack_cache_repairs_five_percent_loss(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_cache, repaired = await _complete_share(tmp_path / "cache")
    monkeypatch.setattr(packets, "CACHE_PACKETS", 0)
    without, unrepaired = await _complete_share(tmp_path / "none")
    print(f"complete frames with the cache {with_cache:.3f} {repaired}")
    print(f"complete frames without it {without:.3f} {unrepaired}")
    assert repaired["frames_sent"] > 100 and unrepaired["frames_sent"] > 100
    assert repaired["dropped"] > 0 and unrepaired["dropped"] > 0
    assert repaired["retransmitted"] > 0 and unrepaired["retransmitted"] == 0
    assert with_cache >= 0.95
    assert without < with_cache
