"""Reception rooms in headless Chromium see and hear each other through the relay.

Each page runs Chromium's fake camera (about 20 fps) and microphone. Only the frame rate
is asserted as a number (the issue asks for at least 15 fps); everything else is polled
with generous timeouts, since two shared cores also run other tests.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import OpenRoom
from tests.e2e.harness import MEDIA_TIMEOUT_S, RoomPage, wait_until

pytestmark = pytest.mark.chromium

MIN_FPS = 15.0
MEASURE_SECONDS = 5.0
FPS_TIMEOUT_S = 120.0


def assert_receives(
    room: RoomPage, key: str, publisher: RoomPage | None = None
) -> dict[str, float]:
    """``room`` decodes video from ``key`` at ``MIN_FPS`` or more and receives its audio.

    The rate is measured over windows of ``MEASURE_SECONDS``; a window starved by other
    processes on the shared machine is measured again (see ``measure_until``). On
    failure the publisher's own figures (encoder rate, quality limitation) are shown.
    """
    room.wait_receiving(key)
    try:
        figures, windows = room.measure_until(
            key,
            lambda w: w["fps"] >= MIN_FPS and w["audio_packets"] > 0 and w["audio_samples"] > 0,
            seconds=MEASURE_SECONDS,
            timeout=FPS_TIMEOUT_S,
        )
    except AssertionError as exc:
        sent = publisher.publish_stats() if publisher is not None else "n/a"
        raise AssertionError(f"{exc}\npublisher {key} sends: {sent}") from None
    print(f"{room.name} <- {key}: {figures} (windows measured: {len(windows)})")
    assert figures["frame_width"] > 0
    return figures


def tile_labels(room: RoomPage) -> dict[str, str]:
    """Site id -> the label shown on its tile."""
    labels: dict[str, str] = room.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('#tiles .tile')].map(
            (el) => [el.dataset.site, el.querySelector('.site-name').textContent]))"""
    )
    return labels


def wait_gone(
    room: RoomPage, key: str, remote: dict[str, Any], presence_states: tuple[str, ...] = ("left",)
) -> None:
    """``key``'s tile is gone from ``room``, its tracks ended (or muted), presence agrees.

    A remote track that the server stops sending is ``muted`` in Chromium when its m-line
    turns inactive, ``ended`` when the m-line is removed; either means it ended here.
    """
    wait_until(
        lambda: key not in room.remote_keys(),
        timeout=MEDIA_TIMEOUT_S,
        message=lambda: f"{room.name} still shows {key}{room.log_tail()}",
    )
    ids = [remote[kind]["id"] for kind in ("audio", "video")]
    wait_until(
        lambda: all(
            (track := room.evaluate("(id) => window.rb.receiverTrack(id)", id)) is not None
            and (track["readyState"] == "ended" or track["muted"])
            for id in ids
        ),
        timeout=MEDIA_TIMEOUT_S,
        message=lambda: (
            f"{room.name}: {key}'s tracks still live: "
            + str([room.evaluate("(id) => window.rb.receiverTrack(id)", id) for id in ids])
        ),
    )
    assert key not in room.stats()
    peers = {p["site"]: p["state"] for p in room.state()["peers"]}
    assert peers.get(key) in (None, *presence_states), peers


def test_central_office_and_province_see_and_hear_each_other(open_room: OpenRoom) -> None:
    hanoi = open_room("tw-hanoi")
    bac_ninh = open_room("bac-ninh")
    welcome = hanoi.wait_joined()
    bac_ninh.wait_joined()

    assert welcome["site"]["id"] == "tw-hanoi"
    notice = hanoi.page.locator("#recorded")
    assert notice.is_visible(), "the recording notice must show"
    assert "ghi hình" in notice.inner_text()
    assert hanoi.page.locator("#session-title").inner_text() == welcome["session"]["title"]

    assert_receives(hanoi, "bac-ninh", bac_ninh)
    assert_receives(bac_ninh, "tw-hanoi", hanoi)
    assert tile_labels(hanoi) == {"bac-ninh": "Ban Tiếp công dân tỉnh Bắc Ninh"}
    assert tile_labels(bac_ninh) == {"tw-hanoi": "Ban Tiếp công dân Trung ương"}
    assert hanoi.stats()["bac-ninh"]["videoCodec"] == "video/VP8"

    def both_connected() -> bool:
        peers = {p["site"]: p["state"] for p in hanoi.state()["peers"]}
        return peers.get("bac-ninh") == "connected" and peers.get("tw-hanoi") == "connected"

    wait_until(both_connected, timeout=MEDIA_TIMEOUT_S, message="presence never showed both")


def test_a_site_joins_later_and_another_leaves(open_room: OpenRoom) -> None:
    hanoi = open_room("tw-hanoi")
    bac_ninh = open_room("bac-ninh")
    hanoi.wait_joined()
    bac_ninh.wait_joined()
    hanoi.wait_receiving("bac-ninh")
    bac_ninh.wait_receiving("tw-hanoi")

    # A third site joins: both earlier pages receive it without reloading.
    ha_giang = open_room("ha-giang")
    ha_giang.wait_joined()
    for room in (hanoi, bac_ninh):
        assert_receives(room, "ha-giang", ha_giang)
    ha_giang.wait_receiving("tw-hanoi")
    ha_giang.wait_receiving("bac-ninh")
    assert hanoi.remote_keys() == {"bac-ninh", "ha-giang"}

    # Ha Giang leaves: its tiles go away and its tracks end on the others.
    before = {
        room.name: next(r for r in room.state()["remotes"] if r["key"] == "ha-giang")
        for room in (hanoi, bac_ninh)
    }
    ha_giang.leave()
    for room in (hanoi, bac_ninh):
        wait_gone(room, "ha-giang", before[room.name])

    # The two remaining sites carry on.
    assert_receives(hanoi, "bac-ninh", bac_ninh)
    assert_receives(bac_ninh, "tw-hanoi", hanoi)


def test_a_site_that_drops_disappears_from_the_others(open_room: OpenRoom) -> None:
    hanoi = open_room("tw-hanoi")
    bac_ninh = open_room("bac-ninh")
    hanoi.wait_joined()
    hanoi.wait_receiving("bac-ninh")
    remote = next(r for r in hanoi.state()["remotes"] if r["key"] == "bac-ninh")

    bac_ninh.close()  # the tab is closed: no leave, the connection just goes

    wait_gone(hanoi, "bac-ninh", remote, ("disconnected", "left"))
    shown = hanoi.page.locator("#presence li[data-site='bac-ninh']")
    if shown.count():
        assert shown.get_attribute("data-state") in ("disconnected", "left")
