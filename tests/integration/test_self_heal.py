"""A leg whose network dies heals by itself (issue 12, item 2), with real aiortc.

The link is severed with ``rtc_internals.sever_ice`` (every datagram dropped both ways,
sockets left open), as a dead network would. The connection still says connected (ICE
consent would expire it only after about 30 s), but the server's media-silence watchdog
(``bridge.legs.SilenceWatch``) hears nothing for 5 s: it frees the leg, says
``leg_failed`` (reason ``silent``), the board shows ``media_lost``, and the client
replaces the leg after a backoff, in both forwarding modes (``RB_FORWARDING``). Times
are printed (``pytest -s``), never asserted: the machine is shared.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import dataclass
from typing import Any

from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from bridge.legs import MEDIA_SILENCE, REPUBLISH_GRACE, SILENCE_CHECK
from bridge.rtc_internals import sever_ice
from core.access import Role
from signaling.client import BridgeClient
from tests.integration.conftest import HOST, SESSION, Server, wait_for
from web.keys import RELAY, SETTINGS

MIN_FRAMES = 10
DETECTION_WITHIN = 60.0
"""The watchdog notices a silent leg after MEDIA_SILENCE (5 s); consent would expire it
after 24-36 s (reason ``closed``, which fails the test); generous for a loaded machine."""
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


@dataclass(slots=True)
class Kill:
    """One leg killed on purpose and what followed, times from ``time.monotonic()``."""

    leg: str
    killed_at: float
    failure: dict[str, Any]

    @property
    def detected_at(self) -> float:
        return float(self.failure["at"])


async def _kill(client: BridgeClient, leg: str) -> Kill:
    """Sever ``client``'s ``leg`` (its datagrams dropped both ways) and wait until the
    server's watchdog says it failed: nothing arrives, yet the connection still says
    connected, so it is the media silence that tells (``silent``), not ICE consent."""
    pc = client.publish_pc if leg == "publish" else client.subscribe_pc
    assert pc is not None
    killed_at = time.monotonic()
    assert sever_ice(pc) > 0
    await wait_for(
        lambda: any(f["leg"] == leg for f in client.leg_failures),
        within=DETECTION_WITHIN,
        what=f"the dead {leg} leg to be noticed",
    )
    failure = next(f for f in client.leg_failures if f["leg"] == leg)
    assert (failure["seen_by"], failure["reason"]) == ("server", "silent"), failure
    return Kill(leg, killed_at, failure)


def _report_kill(server: Server, kill: Kill, client: BridgeClient, first_frame_at: float) -> None:
    _report(
        kill.leg,
        forwarding=server.app[SETTINGS].forwarding,
        seen_by=kill.failure["seen_by"],
        reason=kill.failure["reason"],
        kill_to_detection_s=round(kill.detected_at - kill.killed_at, 2),
        detection_to_first_frame_s=round(first_frame_at - kill.detected_at, 2),
        recoveries=[leg for leg, _ in client.recoveries],
    )


async def test_a_publish_leg_whose_network_dies_republishes_by_itself(
    relay_server: Server,
) -> None:
    server = relay_server
    hanoi, bac_ninh, console = await _two_sites_and_a_console(server)
    try:
        offers_before = len(hanoi.offers)
        received = hanoi.tracks_from("bac-ninh", "video")[0]
        kill = await _kill(bac_ninh, "publish")
        frames_at_detection = received.frames
        audio_at_detection = hanoi.frames_from("bac-ninh", "audio")
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
                # The new source's audio too (its own sequence numbers and timestamps).
                and hanoi.frames_from("bac-ninh", "audio") >= audio_at_detection + MIN_FRAMES
            ),
            within=RECOVERY_WITHIN,
            what="the board to show bac-ninh connected again, media flowing",
        )
        _report_kill(server, kill, bac_ninh, first_frame_at)
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


async def test_a_subscribe_leg_whose_network_dies_resubscribes_by_itself(
    relay_server: Server,
) -> None:
    server = relay_server
    hanoi, bac_ninh, console = await _two_sites_and_a_console(server)
    try:
        old_tracks = {id(t) for t in hanoi.tracks_from("bac-ninh")}
        kill = await _kill(hanoi, "subscribe")

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
        _report_kill(server, kill, hanoi, first_frame_at)
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


class _Microphone(AudioStreamTrack):
    """An audio track that goes silent on ``mute()``: no frames, so no RTP at all (a
    browser's muted track still sends silence; this is the harder case)."""

    def __init__(self) -> None:
        super().__init__()
        self.muted = asyncio.Event()

    async def recv(self) -> Any:
        if self.muted.is_set():
            await asyncio.Event().wait()  # never: the sender waits, sending no RTP
        return await super().recv()


async def test_a_publisher_whose_track_sends_nothing_is_not_taken_for_dead(
    server: Server,
) -> None:
    """The watchdog listens for anything from the endpoint, not for media: an audio-only
    publisher whose microphone stops (no RTP) still sends RTCP and consent checks."""
    hanoi = await _join(server, HOST)
    bac_ninh = await _join(server, "bac-ninh")
    try:
        microphone = _Microphone()
        await bac_ninh.publish([microphone])
        await wait_for(lambda: hanoi.frames_from("bac-ninh", "audio") >= MIN_FRAMES, what="audio")
        microphone.muted.set()
        await asyncio.sleep(0.5)
        frames = hanoi.frames_from("bac-ninh", "audio")
        # Twice the watchdog's silence, counted on the server's own clock.
        await asyncio.sleep(2 * MEDIA_SILENCE + SILENCE_CHECK)
        assert hanoi.frames_from("bac-ninh", "audio") == frames, "the muted track sent media"
        assert not bac_ninh.leg_failures and not hanoi.leg_failures
        assert bac_ninh.recoveries == []
        state = await bac_ninh.call("state", {})
        rooms = {p["site"]: p["connection"] for p in state["state"]["points"]}
        assert rooms["bac-ninh"] == "connected", rooms
    finally:
        await hanoi.leave()
        await bac_ninh.leave()


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


async def _goes(server: Server, hanoi: BridgeClient, site: str, go: str) -> None:
    """``site`` publishes, then leaves (``leave``) or its page goes (``close``)."""
    visitor = await _join(server, site)
    await visitor.publish([VideoStreamTrack(), AudioStreamTrack()])
    await wait_for(lambda: hanoi.frames_from(site, "video") >= MIN_FRAMES, what=site)
    offers = len(hanoi.offers)
    await (visitor.leave() if go == "leave" else visitor.close())
    gone = "left" if go == "leave" else "disconnected"
    await wait_for(lambda: _connection(hanoi, site) == gone, what=f"{site} {gone}")
    # By the time the board says so, its up-tracks are over, not waiting.
    hub = server.app[RELAY].hubs[SESSION]
    tracks = [u for u in hub.uptracks.values() if u.info.site == site]
    assert tracks == [], f"{site} ({go}) still holds {tracks}"
    await wait_for(
        lambda: len(hanoi.offers) > offers and all(t.ended for t in hanoi.tracks_from(site)),
        within=REPUBLISH_GRACE / 2,
        what=f"hanoi to be offered {site}'s m-lines back",
    )


async def test_a_leaver_s_tracks_end_at_once_not_after_the_republish_grace(
    server: Server,
) -> None:
    """Only a failed leg's up-tracks wait REPUBLISH_GRACE for a republish. An endpoint
    that leaves, or whose page goes (its connections closed, RTCP BYE sent, then its
    socket), is gone: its up-tracks end as the server lets it go, and the others are
    offered their m-lines back (inactive) at once."""
    hanoi = await _join(server, HOST)
    try:
        await _goes(server, hanoi, "bac-ninh", "leave")
        await _goes(server, hanoi, "da-nang", "close")
        assert not hanoi.leg_failures
    finally:
        await hanoi.leave()
