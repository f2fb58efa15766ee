"""The scheduler's desk (/desk) in Chromium against the real server and its database.

A central scheduler signs in through the form, opens the desk, and books tomorrow's
session for two provinces. On the way the dry run shows a clash (the same room booked
at the same time over the API beforehand) next to the room; moving the session later
clears it; the saved session shows in the week view. Screenshots go to ``/tmp/rb-screens/``:
``desk.png`` (1366x768, the week with the new session), ``desk-conflict.png`` and
``desk-1920x1080.png``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from core.access import Role
from tests.e2e.store_server import StoreServer, raw_keys, store_server

pytestmark = pytest.mark.chromium

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
PASSWORD = "mật-khẩu-lập-lịch-2026"
SCHEDULER = "lichtw"
TAKEN_TITLE = "Tiếp công dân định kỳ của Chủ tịch UBND tỉnh Bắc Ninh"
TITLE = "Tiếp công dân trực tuyến: vụ việc đông người liên tỉnh Bắc Ninh – Đà Nẵng"


@pytest.fixture(scope="module")
def desk(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreServer]:
    users = {SCHEDULER: ("Trần Thị Lịch", "tw-hanoi", (Role.SCHEDULER,))}
    with store_server(
        browser, tmp_path_factory, users=users, password=PASSWORD, record_on_open=False
    ) as server:
        yield server


def test_scheduler_books_tomorrow_for_two_provinces_through_a_conflict(desk: StoreServer) -> None:
    tomorrow_day = (datetime.now(VIETNAM) + timedelta(days=1)).date()
    tomorrow = tomorrow_day.isoformat()
    day_off = not desk.call("GET", f"/api/calendar/days?from={tomorrow}&to={tomorrow}")["days"][0][
        "working"
    ]
    bac_ninh_room = desk.call("GET", "/api/sites/bac-ninh")["rooms"][0]
    taken = desk.call(
        "POST",
        "/api/sessions",
        {
            "title": TAKEN_TITLE,
            "host_site": "bac-ninh",
            "host_room_id": bac_ninh_room["id"],
            "starts_at": f"{tomorrow}T08:00",
            "ends_at": f"{tomorrow}T10:00",
            "time_zone": "Asia/Ho_Chi_Minh",
            "allow_day_off": True,
            "record": False,
        },
    )

    # Not signed in: the desk sends to the sign-in form, which comes back to it.
    page = desk.open_page("/desk", SCHEDULER)
    p = page.page
    p.wait_for_url(re.compile(r"/login\?next=(%2F|/)desk$"))
    p.get_by_label("Tên đăng nhập").fill(SCHEDULER)
    p.get_by_label("Mật khẩu", exact=True).fill(PASSWORD)
    p.get_by_role("button", name="Đăng nhập").click()
    p.wait_for_url(f"{desk.url}/desk")
    p.locator("#desk-cal-body[aria-busy='false'] .desk-week").wait_for()
    assert "Trần Thị Lịch" in p.locator("#desk-who").inner_text()
    assert "tất cả các điểm cầu" in p.locator("#desk-scope").inner_text()

    # The form, by its labels. Tomorrow is the default day; the times are typed.
    book = p.get_by_role("form", name="Đặt lịch phiên tiếp công dân")
    book.get_by_label("Tên phiên").fill(TITLE)
    assert book.get_by_label("Đơn vị chủ trì", exact=True).input_value() == "tw-hanoi"
    assert book.get_by_label("Ngày bắt đầu").input_value() == tomorrow_day.strftime("%d/%m/%Y")
    book.get_by_label("Giờ bắt đầu").fill("08:30")
    book.get_by_label("Giờ kết thúc").fill("09:30")
    book.get_by_label("Lãnh đạo chủ trì tiếp").fill(
        "Đồng chí Trưởng Ban Tiếp công dân Trung ương\nĐồng chí Phó Chủ tịch UBND tỉnh Bắc Ninh"
    )
    book.get_by_label("Nội dung dự kiến").fill("Tiếp đoàn đông người về đất đai liên tỉnh.")

    # Participants through the search, accents optional; Đà Nẵng by keyboard alone.
    search = book.get_by_label("Tìm điểm cầu")
    search.fill("bac ninh")
    p.locator("#desk-opt-bac-ninh").check()
    search.fill("da nang")
    p.locator("#desk-opt-da-nang").wait_for()
    assert p.locator("#desk-site-options .desk-opt").count() == 1
    search.press("Tab")
    p.keyboard.press("Space")
    p.locator("#desk-picked li[data-site='da-nang']").wait_for()
    room = book.get_by_label("Phòng tiếp của Tỉnh Bắc Ninh")
    assert room.input_value() == str(bac_ninh_room["id"])

    # The clash shows next to Bắc Ninh's room, and in the summary above Save.
    clash = p.locator("#desk-prob-site-bac-ninh")
    clash.wait_for()
    text = clash.inner_text()
    assert "Trùng lịch" in text and TAKEN_TITLE in text and "08:00" in text, text
    assert room.get_attribute("aria-invalid") == "true"
    p.locator(
        "#desk-check[data-state='problems'] #desk-check-list li[data-code='room_taken']"
    ).wait_for()
    if day_off:
        p.locator("#desk-prob-start [data-code='day_off']").wait_for()
        book.get_by_label("Vẫn đặt lịch vào ngày nghỉ").check()
    desk.screenshot(page, "desk-conflict")

    # Later that morning the room is free: the problem goes, the check says so.
    book.get_by_label("Giờ bắt đầu").fill("10:00")
    book.get_by_label("Giờ kết thúc").fill("11:30")
    p.locator("#desk-check[data-state='ok']").wait_for()
    assert clash.is_hidden()
    assert room.get_attribute("aria-invalid") is None
    assert "Lịch hợp lệ" in p.locator("#desk-check-status").inner_text()
    assert not raw_keys(page), raw_keys(page)
    # An edit makes the last answer stale at once, in the same turn of the page's event
    # loop: the box stops saying "valid" for a form it has not checked yet (for the 350 ms
    # of the debounce it used to, and a test waiting for "ok" went on with a stale answer).
    stale = book.get_by_label("Giờ kết thúc").evaluate(
        """(input) => {
            input.value = "11:30";
            input.dispatchEvent(new Event("input", { bubbles: true }));
            return document.querySelector("#desk-check").dataset.state;
        }"""
    )
    assert stale == "running", stale
    p.locator("#desk-check[data-state='ok']").wait_for()

    book.get_by_role("button", name="Lưu lịch").click()
    p.locator("#desk-flash .notice").wait_for()
    assert TITLE in p.locator("#desk-flash").inner_text()
    card = p.locator(f"li.desk-day[data-day='{tomorrow}'] article.desk-sess.desk-new")
    card.wait_for()
    assert TITLE in card.inner_text() and "10:00–11:30" in card.inner_text()
    assert "Tỉnh Bắc Ninh" in card.inner_text() and "Thành phố Đà Nẵng" in card.inner_text()
    assert p.locator(f"li.desk-day[data-day='{tomorrow}'] [data-session='{taken['id']}']").count()
    assert book.get_by_label("Tên phiên").input_value() == ""
    desk.screenshots(page, "desk")

    sessions = desk.call("GET", f"/api/sessions?from={tomorrow}&to={tomorrow}")["sessions"]
    (booked,) = [s for s in sessions if s["title"] == TITLE]
    assert card.get_attribute("data-session") == booked["id"]
    assert booked["starts_at_local"] == f"{tomorrow}T10:00:00+07:00"
    assert booked["ends_at_local"] == f"{tomorrow}T11:30:00+07:00"
    rooms = {s["site"]: s["room_id"] for s in booked["sites"]}
    assert set(rooms) == {"tw-hanoi", "bac-ninh", "da-nang"}
    assert rooms["bac-ninh"] == bac_ninh_room["id"]
    assert booked["on_day_off"] is day_off
    assert len(booked["officials"]) == 2

    # The month view and English show the same session, without a raw key.
    p.get_by_role("button", name="Theo tháng").click()
    p.locator(
        f"table.desk-month td[data-day='{tomorrow}'] [data-session='{booked['id']}']"
    ).wait_for()
    p.locator("#lang").click()
    p.wait_for_function("() => document.documentElement.lang === 'en'")
    p.get_by_role("button", name="Week", exact=True).wait_for()
    assert not raw_keys(page), raw_keys(page)
    assert not [line for line in page.console if line.startswith("pageerror")], page.log_tail()
