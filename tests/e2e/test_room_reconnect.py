"""A room whose connection breaks comes back by itself; one the server drops can rejoin."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import OpenRoom
from tests.e2e.final_window import assert_steady, measure_final_window
from tests.e2e.harness import MEDIA_TIMEOUT_S, LiveServer, RoomPage, wait_until
from web.keys import SIO

pytestmark = pytest.mark.chromium


def _break_transport(room: RoomPage) -> None:
    """Close the page's transport as a network failure would (socket.io reconnects).

    Done in the page: a server-side Engine.IO disconnect is only noticed by the
    client at its ping timeout, about 45 s later.
    """
    room.evaluate("() => window.rb.breakTransport()")


def _drop(server: LiveServer, room: RoomPage) -> None:
    """Disconnect the page at the Socket.IO level, as an operator's drop does."""
    sid = room.state()["socketId"]
    server.run(server.app[SIO].disconnect(sid, namespace="/bridge"))


def test_a_broken_connection_reconnects_and_media_flows_again(
    open_room: OpenRoom, live_server: LiveServer
) -> None:
    hanoi = open_room("tw-hanoi")
    bac_ninh = open_room("bac-ninh")
    hanoi.wait_joined()
    first = bac_ninh.wait_joined()
    hanoi.wait_receiving("bac-ninh")

    _break_transport(bac_ninh)

    rejoined = wait_until(
        lambda: (
            (s := bac_ninh.state())["phase"] == "joined"
            and s["endpointId"] != first["endpointId"]
            and s["publishState"] == "connected"
            and s
        ),
        timeout=MEDIA_TIMEOUT_S,
        message=lambda: f"bac-ninh did not come back: {bac_ninh.state()}{bac_ninh.log_tail()}",
    )
    bac_ninh.wait_receiving("tw-hanoi")
    wait_until(
        lambda: (
            [r["endpoint_id"] for r in hanoi.state()["remotes"] if r["key"] == "bac-ninh"]
            == [rejoined["endpointId"]]
        ),
        timeout=MEDIA_TIMEOUT_S,
        message=lambda: (
            f"tw-hanoi does not show the new bac-ninh alone: {hanoi.state()['remotes']}"
        ),
    )
    hanoi.wait_receiving("bac-ninh")
    # Back in: steady media both ways again (the reconnect is over before the window).
    assert_steady(measure_final_window((hanoi, "bac-ninh"), (bac_ninh, "tw-hanoi")))


def test_a_dropped_room_says_so_and_can_rejoin(
    open_room: OpenRoom, live_server: LiveServer
) -> None:
    hanoi = open_room("tw-hanoi")
    bac_ninh = open_room("bac-ninh")
    hanoi.wait_joined()
    bac_ninh.wait_joined()

    _drop(live_server, bac_ninh)

    bac_ninh.wait_phase("dropped")
    assert bac_ninh.page.locator("#rejoin").is_visible()
    assert bac_ninh.page.locator("#leave").is_hidden()
    assert bac_ninh.page.locator("#phase").inner_text() == "Máy chủ đã ngắt kết nối điểm cầu này"
    wait_until(
        lambda: "bac-ninh" not in hanoi.remote_keys(),
        timeout=MEDIA_TIMEOUT_S,
        message="tw-hanoi still shows the dropped site",
    )

    bac_ninh.page.locator("#rejoin").click()
    bac_ninh.wait_joined()
    bac_ninh.wait_receiving("tw-hanoi")
    hanoi.wait_receiving("bac-ninh")
    assert_steady(measure_final_window((hanoi, "bac-ninh"), (bac_ninh, "tw-hanoi")))
