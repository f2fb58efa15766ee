"""A leg whose network dies heals by itself (issue 12, item 2), with real aiortc.

The link is severed with ``rtc_internals.sever_ice`` (every datagram dropped both ways,
sockets left open), as a dead network would: ICE consent expires after about 30 s, the
server frees the leg, says ``leg_failed``, the board shows ``media_lost``, and the
client replaces the leg after a backoff. Times are printed (``pytest -s``), never
asserted: the machine is shared.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from bridge.rtc_internals import sever_ice
from core.access import Role
from signaling.client import BridgeClient
from tests.integration.conftest import HOST, Server, wait_for

MIN_FRAMES = 10
DETECTION_WITHIN = 90.0
"""Consent expires 24-36 s after the link dies; generous for a loaded machine."""
RECOVERY_WITHIN = 60.0


async def _join(server: Server, site: str, role: Role = Role.ROOM) -> BridgeClient:
    client = BridgeClient(server.url, server.token(site, role))
    await client.connect()
    return client


def _connection(client: BridgeClient, site: str) -> str | None:
    """``site``'s connection on the latest ``bridge_state`` ``client`` received."""
    if not client.states:
        return None
    points: list[dict[str, Any]] = client.states[-1]["points"]
    return next((str(p["connection"]) for p in points if p["site"] == site), None)


def _seen(client: BridgeClient, site: str) -> list[str]:
    """Every connection state of ``site`` on the board, in order, repeats collapsed."""
    out: list[str] = []
    for state in client.states:
        for point in state["points"]:
            if point["site"] == site and (not out or out[-1] != point["connection"]):
                out.append(str(point["connection"]))
    return out


def _report(what: str, **figures: Any) -> None:
    figures["load_1min"] = round(os.getloadavg()[0], 2)
    print(f"SELF_HEAL {what} " + json.dumps(figures))


async def _two_sites_and_a_console(server: Server) -> tuple[BridgeClient, ...]:
    hanoi = await _join(server, HOST)
    bac_ninh = await _join(server, "bac-ninh")
    await hanoi.publish([VideoStreamTrack(), AudioStreamTrack()])
    await bac_ninh.publish([VideoStreamTrack(), AudioStreamTrack()])
    # The console joins once the rooms are live (an operator makes later points standby).
    console = await _join(server, HOST, Role.OPERATOR)
    await wait_for(
        lambda: (
            hanoi.frames_from("bac-ninh", "video") >= MIN_FRAMES
            and bac_ninh.frames_from(HOST, "video") >= MIN_FRAMES
            and console.frames_from("bac-ninh", "video") >= MIN_FRAMES
            and _connection(console, "bac-ninh") == "connected"
        ),
        what="media both ways and the console's board",
    )
    return hanoi, bac_ninh, console


async def test_a_publish_leg_whose_network_dies_republishes_by_itself(server: Server) -> None:
    hanoi, bac_ninh, console = await _two_sites_and_a_console(server)
    try:
        offers_before = len(hanoi.offers)
        received = hanoi.tracks_from("bac-ninh", "video")[0]
        killed_at = time.monotonic()
        assert sever_ice(bac_ninh.publish_pc) > 0  # type: ignore[arg-type]

        await wait_for(
            lambda: any(f["leg"] == "publish" for f in bac_ninh.leg_failures),
            within=DETECTION_WITHIN,
            what="the dead publish leg to be noticed",
        )
        # Both ends' consent checks expire it; whichever notices first starts the repair.
        failure = next(f for f in bac_ninh.leg_failures if f["leg"] == "publish")
        # aiortc 1.16 closes a connection whose consent expired (ICE never says failed).
        assert failure["reason"] in ("closed", "ice_failed", "failed"), failure
        detected_at = failure["at"]
        frames_at_detection = received.frames
        await wait_for(
            lambda: received.frames > frames_at_detection,
            within=RECOVERY_WITHIN,
            what="bac-ninh's video to reach hanoi again",
        )
        first_frame_at = time.monotonic()
        await wait_for(
            lambda: (
                _connection(console, "bac-ninh") == "connected"
                and received.frames >= frames_at_detection + MIN_FRAMES
                and hanoi.frames_from("bac-ninh", "audio") > 0
            ),
            within=RECOVERY_WITHIN,
            what="the board to show bac-ninh connected again, media flowing",
        )
        _report(
            "publish",
            seen_by=failure["seen_by"],
            kill_to_detection_s=round(detected_at - killed_at, 2),
            detection_to_first_frame_s=round(first_frame_at - detected_at, 2),
            recoveries=[leg for leg, _ in bac_ninh.recoveries],
        )
        # The truth on the board: broken while it was, connected again after.
        seen = _seen(console, "bac-ninh")
        assert "media_lost" in seen and seen[-1] == "connected", seen
        assert seen.index("media_lost") > seen.index("connected")
        # Subscribers kept their m-line and track: no renegotiation, same track object.
        assert len(hanoi.offers) == offers_before
        assert not received.ended and hanoi.tracks_from("bac-ninh", "video") == [received]
        console_video = console.tracks_from("bac-ninh", "video")
        assert len(console_video) == 1 and not console_video[0].ended
        # The other direction never stopped.
        before = bac_ninh.frames_from(HOST, "video")
        await wait_for(
            lambda: bac_ninh.frames_from(HOST, "video") > before, what="hanoi's video at bac-ninh"
        )
    finally:
        for client in (console, bac_ninh, hanoi):
            await client.leave()


async def test_a_subscribe_leg_whose_network_dies_resubscribes_by_itself(server: Server) -> None:
    hanoi, bac_ninh, console = await _two_sites_and_a_console(server)
    try:
        old_tracks = {id(t) for t in hanoi.tracks_from("bac-ninh")}
        killed_at = time.monotonic()
        assert sever_ice(hanoi.subscribe_pc) > 0  # type: ignore[arg-type]

        await wait_for(
            lambda: any(f["leg"] == "subscribe" for f in hanoi.leg_failures),
            within=DETECTION_WITHIN,
            what="the dead subscribe leg to be noticed",
        )
        failure = next(f for f in hanoi.leg_failures if f["leg"] == "subscribe")
        detected_at = failure["at"]

        def new_video_frames() -> int:
            return sum(
                t.frames
                for t in hanoi.tracks_from("bac-ninh", "video")
                if id(t) not in old_tracks and not t.ended
            )

        await wait_for(
            lambda: new_video_frames() > 0,
            within=RECOVERY_WITHIN,
            what="bac-ninh's video on hanoi's new subscribe leg",
        )
        first_frame_at = time.monotonic()
        await wait_for(
            lambda: (
                _connection(console, HOST) == "connected"
                and new_video_frames() >= MIN_FRAMES
                and hanoi.frames_from("bac-ninh", "audio") > 0
            ),
            within=RECOVERY_WITHIN,
            what="the board to show hanoi connected again, media flowing",
        )
        _report(
            "subscribe",
            seen_by=failure["seen_by"],
            kill_to_detection_s=round(detected_at - killed_at, 2),
            detection_to_first_frame_s=round(first_frame_at - detected_at, 2),
            recoveries=[leg for leg, _ in hanoi.recoveries],
        )
        seen = _seen(console, HOST)
        assert "media_lost" in seen and seen[-1] == "connected", seen
        assert hanoi.offers[-1]["restart"] is True
        # Its publish leg was never touched: bac-ninh kept receiving it.
        before = bac_ninh.frames_from(HOST, "video")
        await wait_for(
            lambda: bac_ninh.frames_from(HOST, "video") > before, what="hanoi's video at bac-ninh"
        )
    finally:
        for client in (console, bac_ninh, hanoi):
            await client.leave()


async def test_bad_restart_and_resubscribe_requests_are_refused_and_nothing_breaks(
    server: Server,
) -> None:
    hanoi = await _join(server, HOST)
    bac_ninh = await _join(server, "bac-ninh")
    try:
        await bac_ninh.publish([VideoStreamTrack()])
        await wait_for(lambda: hanoi.frames_from("bac-ninh", "video") >= MIN_FRAMES, what="video")
        assert bac_ninh.publish_pc is not None
        sdp = bac_ninh.publish_pc.localDescription.sdp
        refused = [
            await hanoi.sio.call(
                "publish", {"type": "offer", "sdp": sdp, "restart": "yes"}, namespace="/bridge"
            ),
            await hanoi.sio.call("resubscribe", ["not", "an", "object"], namespace="/bridge"),
        ]
        assert [r["error"]["code"] for r in refused] == ["bad_request", "bad_request"]
        assert "restart" in refused[0]["error"]["message"]
        # A resubscribe of a healthy leg is obeyed: a new connection, offered with restart.
        offers = len(hanoi.offers)
        assert await hanoi.call("resubscribe", {}) == {"ok": True}
        await wait_for(
            lambda: len(hanoi.offers) > offers and hanoi.offers[-1]["restart"] is True,
            what="the restart offer",
        )
        before = hanoi.frames_from("bac-ninh", "video")
        await wait_for(
            lambda: hanoi.frames_from("bac-ninh", "video") >= before + MIN_FRAMES,
            what="bac-ninh's video on the new subscribe connection",
        )
        assert not hanoi.errors and not bac_ninh.errors
    finally:
        await hanoi.leave()
        await bac_ninh.leave()
