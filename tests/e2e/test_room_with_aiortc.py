"""A Python (aiortc) endpoint and a browser join the same session and exchange media."""

from __future__ import annotations

import pytest
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from signaling.client import BridgeClient
from tests.e2e.conftest import OpenRoom
from tests.e2e.final_window import assert_steady, measure_final_window
from tests.e2e.harness import MEDIA_TIMEOUT_S, LiveServer, LoopThread, wait_until

pytestmark = pytest.mark.chromium


def test_aiortc_client_and_browser_see_each_other(
    open_room: OpenRoom, live_server: LiveServer, client_loop: LoopThread
) -> None:
    hanoi = open_room("tw-hanoi")
    hanoi.wait_joined()

    async def make_client() -> BridgeClient:
        # Built on its loop: the Socket.IO client binds to the loop it is created on.
        return BridgeClient(live_server.url, live_server.token("bac-ninh"), decode=True)

    agent = client_loop.run(make_client())
    try:
        welcome = client_loop.run(agent.connect(wait=30))
        assert welcome["site"]["id"] == "bac-ninh"
        client_loop.run(agent.publish([AudioStreamTrack(), VideoStreamTrack()]))

        received = hanoi.wait_receiving("bac-ninh")
        assert received["frameWidth"] == 640
        assert received["videoCodec"] == "video/VP8"
        assert_steady(measure_final_window((hanoi, "bac-ninh")))

        first = wait_until(
            lambda: agent.frames_from("tw-hanoi", "video"),
            timeout=MEDIA_TIMEOUT_S,
            message=lambda: f"the aiortc client decoded nothing: {agent.received}",
        )
        wait_until(
            lambda: (
                agent.frames_from("tw-hanoi", "video") > first
                and agent.frames_from("tw-hanoi", "audio") > 0
            ),
            timeout=MEDIA_TIMEOUT_S,
            message=lambda: f"the aiortc client's frames stopped: {agent.received}",
        )
    finally:
        client_loop.run(agent.leave())
    wait_until(
        lambda: "bac-ninh" not in hanoi.remote_keys(),
        timeout=MEDIA_TIMEOUT_S,
        message="the browser still shows the aiortc client after it left",
    )
