"""The room page itself: served with safe headers, clear errors, Vietnamese and English."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from core.access import Role
from tests.e2e.conftest import OpenRoom
from tests.e2e.harness import LiveServer, wait_until

pytestmark = pytest.mark.chromium


def test_room_page_is_served_without_leaking_the_token(live_server: LiveServer) -> None:
    with urllib.request.urlopen(live_server.room_url("bac-ninh"), timeout=30) as response:
        body = response.read().decode()
        assert response.status == 200
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert "no-store" in response.headers["Cache-Control"]
    assert '<html lang="vi">' in body
    assert "/static/room/room.js" in body


def test_without_a_token_or_a_sign_in_the_room_page_sends_to_sign_in(
    live_server: LiveServer,
) -> None:
    request = urllib.request.Request(live_server.page_url("/room"))
    opener = urllib.request.build_opener(_NoRedirect())
    with pytest.raises(urllib.error.HTTPError) as caught:
        opener.open(request, timeout=30)
    assert caught.value.code == 303
    assert caught.value.headers["Location"] in ("/login?next=%2Froom", "/login?next=/room")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def test_missing_token_is_explained_in_vietnamese(open_room: OpenRoom) -> None:
    # An invitation link whose token was cut off: the page explains what is missing.
    room = open_room(None, token="")
    state = room.wait_phase("error")
    assert state["error"]["code"] == "token_missing"
    shown = room.error_box()
    assert shown["code"] == "token_missing"
    assert "mã truy cập" in shown["text"]
    assert shown["title"] == "Không thể tham gia phiên tiếp"


def test_language_switch_to_english_and_back(open_room: OpenRoom) -> None:
    room = open_room(None, token="")
    room.wait_phase("error")
    room.page.locator("#lang").click()
    wait_until(
        lambda: room.page.locator("html").get_attribute("lang") == "en",
        timeout=10,
        message="page did not switch to English",
    )
    shown = room.error_box()
    assert shown["title"] == "Cannot join the reception session"
    assert "access token" in shown["text"]
    assert room.page.locator("#leave").inner_text() == "Leave"
    assert room.page.locator("#lang").inner_text() == "Tiếng Việt"
    assert room.page.locator("#phase").inner_text() == "Could not join the session"
    # The choice survives a reload (other pages read the same setting).
    room.page.reload()
    room.wait_phase("error")
    assert room.error_box()["title"] == "Cannot join the reception session"
    room.page.locator("#lang").click()
    assert room.error_box()["title"] == "Không thể tham gia phiên tiếp"
    assert room.page.locator("html").get_attribute("lang") == "vi"


def test_lang_parameter_opens_in_english(open_room: OpenRoom) -> None:
    room = open_room(None, token="", lang="en")
    room.wait_phase("error")
    assert room.page.locator("#leave").inner_text() == "Leave"


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("forged", "token_invalid"),
        ("garbage", "token_invalid"),
        ("expired", "token_expired"),
        ("unknown_session", "unknown_session"),
        ("site_not_in_session", "site_not_in_session"),
    ],
)
def test_bad_token_shows_a_clear_error(
    open_room: OpenRoom, live_server: LiveServer, case: str, code: str
) -> None:
    now = datetime.now(UTC)
    tokens: dict[str, Callable[[], str]] = {
        "forged": lambda: live_server.token("bac-ninh", secret="not-the-server-secret-" * 2),
        "garbage": lambda: "not.a.token",
        "expired": lambda: live_server.token(
            "bac-ninh", not_before=now - timedelta(hours=2), expires=now - timedelta(hours=1)
        ),
        "unknown_session": lambda: live_server.token("bac-ninh", session="no-such-session"),
        "site_not_in_session": lambda: live_server.token("lang-son", role=Role.ROOM),
    }
    room = open_room(token=tokens[case]())
    state = room.wait_phase("error")
    assert state["error"]["code"] == code, state
    shown = room.error_box()
    assert shown["code"] == code
    assert shown["text"] and shown["text"] != "Đã xảy ra lỗi."
    assert room.page.locator("#error").is_visible()
    assert room.page.locator("#leave").is_disabled()
