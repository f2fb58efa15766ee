"""The packet-mode forwarding loop alone: server CPU per packet and subscriber.

    python -m bench.forward_loop --subscribers 16 --packets 2000

Two real aiortc peer connections on loopback (ICE, DTLS-SRTP); one PacketSource fans
1150-byte VP8 packets out to N PacketDownTracks, all sending on the same connection's
sender (header rewrite, SRTP protect, sendto). Prints the process CPU per packet and
subscriber, the marginal cost that ``bench.relay``'s whole-server figures include.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from typing import Any

from aiortc import RTCPeerConnection
from aiortc.mediastreams import VideoStreamTrack

from bridge import rtc_internals
from bridge.frames import EndpointId, Kind, TrackId, TrackInfo
from bridge.packets import PacketDownTrack, PacketSource


async def run(subscribers: int, packets: int) -> dict[str, Any]:
    a, b = RTCPeerConnection(), RTCPeerConnection()
    offered = a.addTransceiver(VideoStreamTrack(), direction="sendrecv")
    offered.setCodecPreferences(rtc_internals.codec_preferences("video", ["video/VP8"]))
    await a.setLocalDescription(await a.createOffer())
    await b.setRemoteDescription(a.localDescription)
    transceiver = b.getTransceivers()[0]
    transceiver.direction = "sendrecv"
    info = TrackInfo(TrackId("t"), "bench", EndpointId("p"), "site", Kind.VIDEO, "VP8", 90000)
    source = PacketSource(info)
    downtracks = []
    for i in range(subscribers):
        # Bound before the connection starts the sender, as the relay binds a subscriber's
        # m-line before answering (its reports come from the source's batches).
        downtrack = PacketDownTrack(info, EndpointId(f"s{i}"), lambda: None, source)
        downtrack.bind(transceiver)
        downtracks.append(downtrack)
    await b.setLocalDescription(await b.createAnswer())
    connected = asyncio.Event()

    @b.on("connectionstatechange")
    def on_state() -> None:
        if b.connectionState == "connected":
            connected.set()

    await a.setRemoteDescription(b.localDescription)
    await asyncio.wait_for(connected.wait(), 30)
    for downtrack in downtracks:
        # What next_frame does when the sender first reads; its report loop is not run.
        downtrack._link = rtc_internals.Downlink(transceiver, downtrack.lane)
        downtrack._started = True
        downtrack._needs_keyframe = False
        source.add(downtrack)
    payload = b"\x10\x00" + bytes(1150)
    cpu0 = time.process_time()
    for i in range(packets):
        source.on_packet((1000 + i) & 0xFFFF, 3000 * (i // 5), int(i % 5 == 4), payload)
        if i % 50 == 0:
            await asyncio.sleep(0)  # let the loop breathe, as between datagrams
    cpu = time.process_time() - cpu0
    sent = sum(d.packets_out for d in downtracks)
    await a.close()
    await b.close()
    per_packet_us = cpu / max(sent, 1) * 1e6
    return {
        "subscribers": subscribers,
        "packets_sent": sent,
        "cpu_us_per_packet_and_subscriber": round(per_packet_us, 2),
        # 1 Mbit/s of 1150-byte payloads is about 109 packets/s.
        "marginal_streams_per_core_at_1mbps": round(1e6 / per_packet_us / 109),
        "load_average": round(os.getloadavg()[0], 2),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=16)
    parser.add_argument("--packets", type=int, default=2000)
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(run(args.subscribers, args.packets))))


if __name__ == "__main__":
    main()
