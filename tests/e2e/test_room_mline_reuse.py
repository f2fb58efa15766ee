"""A room page that stays gets every visiting site on the same two recycled m-lines.

Issue 12, item 1: the relay recycles a subscribe m-line whose track ended (PROTOCOL.md,
``subscribe_offer``). Chromium must label a reused ``mid`` from the latest offer's
``tracks``, fire ``track`` again for it and decode the new SSRC's media. Visitors are
aiortc endpoints, then a Chromium room page whose media is judged over the final 10 s
like every other stream (a reused m-line must not freeze).
"""

from __future__ import annotations

from typing import Any

import pytest
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from signaling.client import BridgeClient
from tests.e2e.conftest import OpenRoom
from tests.e2e.final_window import assert_steady, measure_final_window
from tests.e2e.harness import (
    JOIN_TIMEOUT_S,
    MEDIA_TIMEOUT_S,
    LiveServer,
    LoopThread,
    RoomPage,
    wait_until,
)

pytestmark = pytest.mark.chromium

VISITOR = "bac-ninh"
MORE_FRAMES = 20
"""Frames decoded after the first ones of a visit: the new SSRC's media keeps coming."""

TRACK_EVENTS = """
(() => {
  // Record every "track" event of the page's peer connections (mid, track id).
  const Native = window.RTCPeerConnection;
  window.__trackEvents = [];
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("track", (ev) =>
        window.__trackEvents.push({ mid: ev.transceiver.mid, track: ev.track.id }),
      );
    }
  };
})();
"""


def _shown_endpoint(page: RoomPage) -> list[str]:
    return [r["endpoint_id"] for r in page.state()["remotes"] if r["key"] == VISITOR]


def _receive_visit(hanoi: RoomPage, endpoint_id: str) -> list[str]:
    """Wait until the page shows ``endpoint_id`` and decodes more and more of it; its mids."""
    wait_until(
        lambda: _shown_endpoint(hanoi) == [endpoint_id],
        timeout=MEDIA_TIMEOUT_S,
        message=lambda: f"the page does not show {endpoint_id}: {hanoi.state()['remotes']}",
    )

    def decoding(more: int) -> dict[str, Any] | None:
        entry = hanoi.stats().get(VISITOR)
        if (
            entry
            and entry["endpoint_id"] == endpoint_id
            and entry["framesDecoded"] > more
            and entry["audioPacketsReceived"] > 0
        ):
            return entry
        return None

    first = wait_until(
        lambda: decoding(0),
        timeout=MEDIA_TIMEOUT_S,
        interval=0.5,
        message=lambda: f"no media from {endpoint_id}: {hanoi.stats()}{hanoi.log_tail()}",
    )
    wait_until(
        lambda: decoding(first["framesDecoded"] + MORE_FRAMES),
        timeout=MEDIA_TIMEOUT_S,
        interval=0.5,
        message=lambda: f"media from {endpoint_id} stopped: {hanoi.stats()}",
    )
    return sorted(t["mid"] for t in hanoi.state()["tracks"] if t["endpoint_id"] == endpoint_id)


def _gone(hanoi: RoomPage) -> None:
    wait_until(
        lambda: (
            VISITOR not in hanoi.remote_keys()
            and all(t["site"] != VISITOR for t in hanoi.state()["tracks"])
        ),
        timeout=MEDIA_TIMEOUT_S,
        message=lambda: f"the page still shows {VISITOR}: {hanoi.state()['remotes']}",
    )


def test_visits_reuse_the_same_m_lines_with_new_labels_and_track_events(
    open_room: OpenRoom, live_server: LiveServer, client_loop: LoopThread
) -> None:
    hanoi = open_room("tw-hanoi")
    hanoi.wait_joined()
    # Instrument the page, then load it again (a new endpoint) with the hook in place.
    hanoi.page.add_init_script(TRACK_EVENTS)
    hanoi.page.reload()
    hanoi.wait_joined(timeout=JOIN_TIMEOUT_S)

    async def make_client() -> BridgeClient:
        return BridgeClient(live_server.url, live_server.token(VISITOR))

    visits: list[tuple[str, list[str]]] = []
    for by in ["aiortc", "aiortc", "aiortc", "chromium"]:
        if by == "aiortc":
            agent = client_loop.run(make_client())
            try:
                welcome = client_loop.run(agent.connect(wait=30))
                client_loop.run(agent.publish([AudioStreamTrack(), VideoStreamTrack()]))
                mids = _receive_visit(hanoi, welcome["endpoint_id"])
            finally:
                client_loop.run(agent.leave())
        else:
            # Chromium to Chromium on recycled m-lines, judged like every other stream.
            page = open_room(VISITOR)
            joined = page.wait_joined()
            mids = _receive_visit(hanoi, joined["endpointId"])
            assert_steady(measure_final_window((hanoi, VISITOR)))
            page.leave()
        visits.append((by, mids))
        _gone(hanoi)

    events: list[dict[str, str]] = hanoi.evaluate("() => window.__trackEvents")
    print({"visits": visits, "track_events": events})
    first_mids = visits[0][1]
    assert len(first_mids) == 2
    assert all(mids == first_mids for _, mids in visits), visits
    # Every visit fired "track" again on each of the two mids (the same receiver tracks).
    for mid in first_mids:
        on_mid = [e for e in events if e["mid"] == mid]
        assert len(on_mid) == len(visits), events
        assert len({e["track"] for e in on_mid}) == 1, events
