"""Issue 9's one chain through the pages only, in Chromium, against the real server.

1. The central scheduler signs in, opens the desk and books tomorrow's session for Bắc
   Ninh and Đà Nẵng; Bắc Ninh's room is already taken at that hour, the clash shows next
   to the room, moving the session later fixes it. She then books a session of the same
   two provinces starting now (the chain goes on with it: a session of tomorrow cannot be
   joined today).
2. The room account of Bắc Ninh signs in, sees the session on its home with "Vào phiên".
3. The operator signs in, opens the session from his home; the room joins; the central
   office's room account joins too (so that media crosses the bridge both ways).
4. From his home the operator goes to the console, patches Bắc Ninh in, marks a case,
   and ends the session with the console's button.
5. The clerk signs in, searches the case number from his home and plays the recording.

Media is judged over the final window (``final_window.py``) once Bắc Ninh is on the
bridge, and the recording's files with ffprobe. The main pages are saved at 1366x768 and
1920x1080 under ``/tmp/rb-screens/journey-*.png``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from core.access import Role
from tests.e2e.console_harness import ConsolePage
from tests.e2e.final_window import assert_steady, measure_final_window
from tests.e2e.harness import JOIN_TIMEOUT_S, MEDIA_TIMEOUT_S, BrowserPage, RoomPage, wait_until
from tests.e2e.store_server import StoreServer, raw_keys, store_server
from tests.recorder_support import ffprobe
from web.archive.keys import ARCHIVE

pytestmark = pytest.mark.chromium

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
PASSWORD = "mật-khẩu-hành-trình-2026"
HOST = "tw-hanoi"
ROOM_SITE = "bac-ninh"
OTHER = "da-nang"
CASE = "215/TCD-2026"
TAKEN_TITLE = "Tiếp công dân định kỳ của Chủ tịch UBND tỉnh Bắc Ninh"
TOMORROW_TITLE = "Tiếp công dân trực tuyến: đất đai liên tỉnh Bắc Ninh – Đà Nẵng"
NOW_TITLE = "Tiếp công dân đột xuất: đoàn đông người tỉnh Bắc Ninh"

USERS = {
    "lich-tw": ("Trần Thị Lịch", HOST, (Role.SCHEDULER,)),
    "phong-bacninh": ("Phòng tiếp công dân tỉnh Bắc Ninh", ROOM_SITE, (Role.ROOM,)),
    "phong-tw": ("Phòng tiếp công dân Trung ương", HOST, (Role.ROOM,)),
    "dieuhanh-tw": ("Nguyễn Văn An", HOST, (Role.OPERATOR,)),
    "luutru-tw": ("Lê Thị Cúc", HOST, (Role.CLERK,)),
}


@pytest.fixture
def journey(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreServer]:
    with store_server(browser, tmp_path_factory, users=USERS, password=PASSWORD) as server:
        yield server


def vn_day(day: datetime) -> str:
    """A day as the office writes it, and the desk's date fields show and take it."""
    return day.strftime("%d/%m/%Y")


def date_entry_follows_the_office(p: Any, tomorrow: datetime) -> None:
    """The desk's day fields show and take dd/mm/yyyy in an English-speaking browser (an
    ``<input type=date>`` would show mm/dd/yyyy there), by keyboard, with their labels."""
    assert p.evaluate("navigator.language").startswith("en"), p.evaluate("navigator.language")
    book = p.get_by_role("form", name="Đặt lịch phiên tiếp công dân")
    start = book.get_by_label("Ngày bắt đầu")
    assert start.get_attribute("type") == "text"
    assert start.get_attribute("placeholder") == "ngày/tháng/năm"
    assert start.input_value() == vn_day(tomorrow)  # tomorrow is the default
    # Not a day: said next to the field.
    start.fill("31/02/2027")
    p.locator("#desk-prob-start [data-code='bad_date']").wait_for()
    assert "ngày/tháng/năm" in p.locator("#desk-prob-start").inner_text()
    assert start.get_attribute("aria-invalid") == "true"
    # Typed by keyboard, without leading zeros: taken and tidied when leaving the field.
    start.fill("")
    start.press_sequentially(f"{tomorrow.day}/{tomorrow.month}/{tomorrow.year}")
    start.press("Tab")
    assert start.input_value() == vn_day(tomorrow)
    assert book.get_by_label("Ngày kết thúc").input_value() == vn_day(tomorrow)
    # Arrow keys move a day, and the end follows the start.
    start.focus()
    start.press("ArrowUp")
    assert start.input_value() == vn_day(tomorrow + timedelta(days=1))
    start.press("ArrowDown")
    assert start.input_value() == vn_day(tomorrow)
    assert book.get_by_label("Ngày kết thúc").input_value() == vn_day(tomorrow)
    p.locator("#desk-prob-start [data-code='bad_date']").wait_for(state="detached")


def no_page_errors(*pages: BrowserPage) -> None:
    for page in pages:
        errors = [line for line in page.console if line.startswith("pageerror")]
        assert not errors, page.log_tail()


def book_through_the_desk(
    p: Any, *, title: str, day: datetime, start: str, end: str, end_day: datetime | None = None
) -> Any:
    """Fill the desk's form for the host and Bắc Ninh + Đà Nẵng; the form, not saved."""
    book = p.get_by_role("form", name="Đặt lịch phiên tiếp công dân")
    book.get_by_label("Tên phiên").fill(title)
    book.get_by_label("Ngày bắt đầu").fill(vn_day(day))
    book.get_by_label("Ngày kết thúc").fill(vn_day(end_day or day))
    book.get_by_label("Giờ bắt đầu").fill(start)
    book.get_by_label("Giờ kết thúc").fill(end)
    book.get_by_label("Lãnh đạo chủ trì tiếp").fill("Đồng chí Phó Trưởng Ban Tiếp công dân TW")
    search = book.get_by_label("Tìm điểm cầu")
    for words, site in (("bac ninh", ROOM_SITE), ("da nang", OTHER)):
        search.fill(words)
        p.locator(f"#desk-opt-{site}").check()
        p.locator(f"#desk-picked li[data-site='{site}']").wait_for()
    return book


def test_scheduler_room_operator_clerk(journey: StoreServer, ffprobe_path: str) -> None:
    server = journey
    now = datetime.now(VIETNAM)
    tomorrow = now + timedelta(days=1)
    tomorrow_iso = tomorrow.date().isoformat()
    bac_ninh_room = server.call("GET", f"/api/sites/{ROOM_SITE}")["rooms"][0]
    taken = server.call(
        "POST",
        "/api/sessions",
        {
            "title": TAKEN_TITLE,
            "host_site": ROOM_SITE,
            "host_room_id": bac_ninh_room["id"],
            "starts_at": f"{tomorrow_iso}T08:00",
            "ends_at": f"{tomorrow_iso}T10:00",
            "time_zone": "Asia/Ho_Chi_Minh",
            "allow_day_off": True,
            "record": False,
        },
    )
    day_off = not server.call("GET", f"/api/calendar/days?from={tomorrow_iso}&to={tomorrow_iso}")[
        "days"
    ][0]["working"]

    # ---------------------------------------------------------------- 1. the scheduler
    scheduler = server.sign_in("lich-tw")
    s = scheduler.page
    s.get_by_role("link", name="Mở bàn lập lịch").click()
    s.wait_for_url(f"{server.url}/desk")
    s.locator("#desk-cal-body[aria-busy='false'] .desk-week").wait_for()
    date_entry_follows_the_office(s, tomorrow)
    book = book_through_the_desk(s, title=TOMORROW_TITLE, day=tomorrow, start="08:30", end="09:30")
    clash = s.locator(f"#desk-prob-site-{ROOM_SITE}")
    clash.wait_for()
    assert "Trùng lịch" in clash.inner_text() and TAKEN_TITLE in clash.inner_text()
    if day_off:
        s.locator("#desk-prob-start [data-code='day_off']").wait_for()
        book.get_by_label("Vẫn đặt lịch vào ngày nghỉ").check()
    server.screenshots(scheduler, "journey-desk-conflict")
    book.get_by_label("Giờ bắt đầu").fill("10:00")
    book.get_by_label("Giờ kết thúc").fill("11:30")
    s.locator("#desk-check[data-state='ok']").wait_for()
    assert clash.is_hidden()
    book.get_by_role("button", name="Lưu lịch").click()
    s.locator(f"li.desk-day[data-day='{tomorrow_iso}'] article.desk-sess.desk-new").wait_for()

    # Now: from this minute for an hour (the end on the next day if it is that late).
    start = now.replace(second=0, microsecond=0)
    end = start + timedelta(hours=1)
    book = book_through_the_desk(
        s,
        title=NOW_TITLE,
        day=start,
        end_day=end,
        start=start.strftime("%H:%M"),
        end=end.strftime("%H:%M"),
    )
    s.locator("#desk-check[data-state='ok'], #desk-check[data-state='problems']").wait_for()
    if s.locator("#desk-prob-start [data-code='day_off']").count():
        book.get_by_label("Vẫn đặt lịch vào ngày nghỉ").check()
    s.locator("#desk-check[data-state='ok']").wait_for()
    book.get_by_role("button", name="Lưu lịch").click()
    s.locator("#desk-flash .notice", has_text=NOW_TITLE).wait_for()
    server.screenshots(scheduler, "journey-desk")
    assert not raw_keys(scheduler), raw_keys(scheduler)
    listed = server.call("GET", f"/api/sessions?from={start.date()}&to={end.date()}")["sessions"]
    (session,) = [x for x in listed if x["title"] == NOW_TITLE]
    sid = session["id"]
    assert {x["site"] for x in session["sites"]} == {HOST, ROOM_SITE, OTHER}
    assert session["record"] is True
    later = server.call("GET", f"/api/sessions?from={tomorrow_iso}&to={tomorrow_iso}")["sessions"]
    (booked,) = [x for x in later if x["title"] == TOMORROW_TITLE]
    assert booked["starts_at_local"] == f"{tomorrow_iso}T10:00:00+07:00"
    assert taken["id"] != booked["id"]

    # ---------------------------------------------------------------- 2. the room sees it
    room = server.sign_in_as(RoomPage, "phong-bacninh")
    r = room.page
    item = r.locator(f"li.room-session[data-session='{sid}']")
    item.wait_for()
    assert NOW_TITLE in item.inner_text()
    join = item.get_by_role("link", name="Vào phiên")
    assert join.get_attribute("href") == f"/room?session={sid}"
    server.screenshots(room, "journey-room-home")

    # ---------------------------------------------------------------- 3. the operator opens it
    operator = server.sign_in_as(ConsolePage, "dieuhanh-tw")
    o = operator.page
    row = o.locator(f"#op-table tr[data-session='{sid}']")
    row.wait_for()
    row.get_by_role("button", name="Mở phiên").click()
    o.locator(f"#op-table tr[data-session='{sid}'][data-state='open']").wait_for()
    server.screenshots(operator, "journey-operator-home")

    # Open: the room joins with its button, the central office's room from its own home.
    join.click()
    r.wait_for_url(re.compile(r"/room\?token="))
    room.wait_joined()
    central = server.sign_in_as(RoomPage, "phong-tw")
    central.page.locator(f"li.room-session[data-session='{sid}']").get_by_role(
        "link", name="Vào phiên"
    ).click()
    central.wait_joined()

    # ---------------------------------------------------------------- 4. the console
    o.locator(f"#op-table tr[data-session='{sid}']").get_by_role(
        "link", name="Bàn điều khiển"
    ).click()
    o.wait_for_url(re.compile(r"/console\?token="))
    operator.wait_joined()
    operator.wait_point(ROOM_SITE, connection="connected")
    operator.wait_preview(ROOM_SITE)
    # The rooms came first (an undirected session puts everyone on the bridge): the
    # operator sends Bắc Ninh to standby, then back onto the bridge.
    if operator.point(ROOM_SITE)["patch"] == "live":
        operator.click(ROOM_SITE, "patch_out")
        operator.wait_point(ROOM_SITE, patch="standby")
    operator.click(ROOM_SITE, "patch_in")
    operator.wait_point(ROOM_SITE, patch="live")
    room.wait_receiving(HOST)
    central.wait_receiving(ROOM_SITE)
    o.get_by_label("Số vụ việc").fill(CASE)
    o.get_by_label("Nội dung").fill("Khiếu nại về bồi thường khi thu hồi đất")
    o.get_by_role("button", name="Đánh dấu").click()
    wait_until(
        lambda: (operator.board()["current_case"] or {}).get("case_number") == CASE,
        timeout=JOIN_TIMEOUT_S,
        message=lambda: f"the case was never marked: {operator.dump()}",
    )
    room.wait_on_air(case=CASE)
    server.screenshots(operator, "journey-console")
    # Both ways across the bridge, judged over the final window (figures printed).
    assert_steady(measure_final_window((room, HOST), (central, ROOM_SITE)))

    o.once("dialog", lambda dialog: dialog.accept())
    o.locator("#close-session").click()
    for page in (room, central):
        page.wait_phase("closed")
    assert server.session_state(sid) == "closed"

    # ---------------------------------------------------------------- 5. the clerk
    clerk = server.sign_in("luutru-tw")
    c = clerk.page
    c.get_by_label("Số hồ sơ vụ việc").fill(CASE)
    c.get_by_role("button", name="Tìm theo số hồ sơ").click()
    c.wait_for_url(re.compile(r"/archive\?.*token="))
    found = c.locator(f"#results tr[data-session='{sid}']")
    found.wait_for(timeout=MEDIA_TIMEOUT_S * 1000)
    assert CASE in found.inner_text()
    # The files are complete once the recorder has finished them after the close.
    recording = wait_until(
        lambda: (
            (view := server.call("GET", f"/api/archive/recordings/{sid}", role=Role.CLERK))[
                "status"
            ]
            == "complete"
            and view
        ),
        timeout=MEDIA_TIMEOUT_S * 2,
        message=lambda: "the recording never completed",
    )
    assert [m["case_number"] for m in recording["markers"]] == [CASE]
    folder = server.app[ARCHIVE].storage.root / "recordings" / sid
    assert {f["site"] for f in recording["files"]} >= {HOST, ROOM_SITE}
    for entry in recording["files"]:
        probe = ffprobe(ffprobe_path, folder / entry["name"])
        codecs = {x["codec_type"]: x["codec_name"] for x in probe["streams"]}
        assert codecs == {"video": "vp8", "audio": "opus"}, entry
        video = next(x for x in probe["streams"] if x["codec_type"] == "video")
        assert int(video["nb_read_frames"]) > 0, entry

    found.click()
    c.locator("#chapters li").first.wait_for()
    assert CASE in c.locator("#chapters").inner_text()
    c.locator("#chapters li button").first.click()
    wait_until(
        lambda: c.evaluate(
            "() => { const v = document.querySelector('#video');"
            " return v.readyState >= 2 && v.currentTime > 0 && v.videoWidth > 0; }"
        ),
        timeout=MEDIA_TIMEOUT_S,
        message=lambda: f"the clerk's player did not play{clerk.log_tail()}",
    )
    server.screenshots(clerk, "journey-archive")
    no_page_errors(scheduler, room, central, operator, clerk)
