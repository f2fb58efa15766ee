"""A room that opens its link early (issue 12, item 8): real Chromium, real server.

The token becomes valid a few seconds later (as a room token does 15 minutes before its
session). The page must not fail: it says from when the room may join in Vietnam time
(dd/mm/yyyy HH:mm, not UTC ISO), counts down, keeps trying with backoff, and joins by
itself once the token is valid, with the camera on.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from tests.e2e.conftest import OpenRoom
from tests.e2e.harness import JOIN_TIMEOUT_S, LiveServer, wait_until

VN = timedelta(hours=7)
WAIT_S = 20
"""Seconds until the token is valid: room enough for a slow page load on a busy machine."""


def test_early_room_counts_down_and_joins_by_itself(
    open_room: OpenRoom, live_server: LiveServer
) -> None:
    opens = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=WAIT_S)
    token = live_server.token("bac-ninh", not_before=opens, expires=opens + timedelta(hours=2))
    room = open_room(token=token)
    state = room.wait_phase("waiting")
    assert state["error"] is None, state
    assert state["opensAt"] == int(opens.timestamp() * 1000)
    notice = room.page.locator("#waiting")
    assert notice.is_visible()
    first = notice.inner_text()
    local = (opens + VN).strftime("%d/%m/%Y %H:%M")
    assert local in first, first
    assert "T" not in first.split("(")[0] and "+00:00" not in first, first
    assert "giờ Việt Nam" in first and re.search(r"còn 00:00:[0-5]\d", first), first
    # The countdown moves (the clock ticks every second).
    wait_until(
        lambda: notice.is_visible() and notice.inner_text() != first,
        timeout=JOIN_TIMEOUT_S,
        message=lambda: f"countdown never changed: {first!r}",
    )
    # Joins by itself once the token is valid: no click, no reload.
    state = room.wait_phase("joined", timeout=WAIT_S + JOIN_TIMEOUT_S)
    assert state["error"] is None, state
    assert state["waitAttempts"] >= 1, state
    assert state["opensAt"] is None
    assert not notice.is_visible()
    assert not room.page.locator("#error").is_visible()
    assert datetime.now(UTC) >= opens
    log = "\n".join(room.console)
    assert "trying again" in log, log[-2000:]


def test_early_room_in_english(open_room: OpenRoom, live_server: LiveServer) -> None:
    opens = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=3)
    token = live_server.token("bac-ninh", not_before=opens, expires=opens + timedelta(hours=2))
    room = open_room(token=token, lang="en")
    room.wait_phase("waiting")
    text = room.page.locator("#waiting").inner_text()
    assert (opens + VN).strftime("%d/%m/%Y %H:%M") in text and "Vietnam time" in text, text
    assert room.page.locator("#phase").inner_text() == "Not open yet"
