"""The sign-in page and the home page of each role, in Chromium against the real server.

The server answers from its scheduler database (no ``MemoryDirectory``): the site tree is
the default one, users are made with the accounts service and given a known password,
sessions are booked over REST. Each test signs in through the form as a person would.

Every page shown here is also saved as a 1366x768 screenshot (the pytest temporary folder,
``screens/``, and ``/tmp/rb-screens/``), and no visible text, placeholder, title or label
may be a message key: ``i18n.js`` shows a missing key as the key itself
(``home.room.join``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest

from core.access import Role
from tests.e2e.harness import JOIN_TIMEOUT_S, BrowserPage, wait_until
from tests.e2e.store_server import (
    HOST,
    VIEWPORT,
    StoreServer,
    fill_sign_in,
    raw_keys,
    store_server,
    wait_home,
)

__all__ = ["fill_sign_in", "wait_home"]

pytestmark = pytest.mark.chromium

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
PASSWORD = "mật-khẩu-kiểm-thử-2026"
ROOM_SITE = "bac-ninh"
KIOSK_SITE = "quang-ninh"  # no other test books it: the kiosk has one session at a time

# name -> (display name, site, roles). Names carry no dot, so a user name shown on a
# page cannot pass for a message key.
USERS: dict[str, tuple[str, str, tuple[Role, ...]]] = {
    "phong-bacninh": ("Phòng tiếp công dân tỉnh Bắc Ninh", ROOM_SITE, (Role.ROOM,)),
    "dieuhanh-tw": ("Nguyễn Văn An", HOST, (Role.OPERATOR,)),
    "truc-tw": ("Trần Thị Bình", HOST, (Role.OPERATOR, Role.SCHEDULER)),
    "luutru-tw": ("Lê Thị Cúc", HOST, (Role.CLERK,)),
    "lichbn": ("Phạm Văn Dũng", ROOM_SITE, (Role.SCHEDULER,)),
    "quantri-bn": ("Hoàng Thị Em", ROOM_SITE, (Role.ADMINISTRATOR,)),
    "khoa-thu": ("Người thử khóa tài khoản", "hai-phong", (Role.ROOM,)),
    "kiosk-quangninh": ("Phòng tiếp công dân tỉnh Quảng Ninh", KIOSK_SITE, (Role.ROOM,)),
}

HomesServer = StoreServer


def assert_translated(page: BrowserPage) -> None:
    """No message key shows, in Vietnamese and (after the switch) in English."""
    for lang in ("vi", "en"):
        found = raw_keys(page)
        assert not found, f"{page.name}: untranslated keys shown ({lang}): {found}"
        page.page.locator("#lang").click()
        page.page.wait_for_function(
            "(lang) => document.documentElement.lang === lang", arg="en" if lang == "vi" else "vi"
        )


def visible_text(page: BrowserPage, selector: str) -> str:
    return str(page.page.locator(selector).inner_text())


@pytest.fixture(scope="module")
def homes(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreServer]:
    """One server for the module (sign-ins are slow: argon2): each test books its own."""
    with store_server(
        browser, tmp_path_factory, users=USERS, password=PASSWORD, record_on_open=False
    ) as server:
        yield server


@pytest.fixture(autouse=True)
def close_pages(homes: HomesServer) -> Iterator[None]:
    """Each test's pages close when it ends (the server lives on)."""
    yield
    homes.close_pages()
    homes.end_booked()


# ---------------------------------------------------------------------- sign-in page


def test_wrong_password_shows_the_error(homes: HomesServer) -> None:
    page = homes.open_page("/login", "login")
    page.page.get_by_label("Tên đăng nhập").wait_for()
    homes.screenshot(page, "login")
    assert_translated(page)

    fill_sign_in(page, "phong-bacninh", "không-phải-mật-khẩu")
    error = page.page.locator("#signin-error")
    error.wait_for()
    assert "Tên đăng nhập hoặc mật khẩu không đúng." in error.inner_text()
    assert page.page.url.startswith(f"{homes.url}/login")
    assert page.page.get_by_label("Mật khẩu", exact=True).input_value() == ""
    homes.screenshot(page, "login-error")

    # The right password afterwards signs in (one failure does not lock the name).
    fill_sign_in(page, "phong-bacninh", PASSWORD)
    page.page.wait_for_url(f"{homes.url}/")


def test_five_failures_lock_the_name(homes: HomesServer) -> None:
    page = homes.open_page("/login", "locked")
    error = page.page.locator("#signin-error")
    shown = ""
    for _ in range(6):
        fill_sign_in(page, "khoa-thu", "sai-mật-khẩu-rồi")
        page.page.wait_for_function(
            "() => { const b = document.getElementById('signin-submit'); return !b.disabled; }"
        )
        shown = error.inner_text()
        if "tạm thời bị khóa" in shown:
            break
    assert "tạm thời bị khóa" in shown and "15 phút" in shown, shown
    # Locked, even the right password is refused for now.
    fill_sign_in(page, "khoa-thu", PASSWORD)
    page.page.wait_for_function("() => !document.getElementById('signin-submit').disabled")
    assert "tạm thời bị khóa" in error.inner_text()
    assert page.page.url.startswith(f"{homes.url}/login")


def test_sign_in_goes_on_to_next_and_never_off_site(homes: HomesServer) -> None:
    page = homes.open_page("/login?next=%2Fschedule", "next")
    fill_sign_in(page, "luutru-tw", PASSWORD)
    page.page.wait_for_url(f"{homes.url}/schedule")

    other = homes.open_page("/login?next=%2F%2Fevil.example%2F", "evil")
    fill_sign_in(other, "luutru-tw", PASSWORD)
    other.page.wait_for_url(f"{homes.url}/")


# ---------------------------------------------------------------------- room


def test_room_joins_today_session(homes: HomesServer) -> None:
    # Over before the next one starts: a room receives in one session at a time.
    now = homes.book("Tiếp công dân định kỳ tháng (kiểm thử phòng)", lasts=timedelta(minutes=19))
    # Joinable 15 minutes before the start: this one becomes joinable a few seconds in.
    soon_start = datetime.now(UTC) + timedelta(minutes=15, seconds=8)
    same_day = soon_start.astimezone(VIETNAM).date() == datetime.now(VIETNAM).date()
    soon = homes.book(
        "Tiếp công dân đột xuất (kiểm thử đếm ngược)",
        starts_in=timedelta(minutes=15, seconds=8),
        lasts=timedelta(minutes=30),
    )
    elsewhere = homes.book("Phiên của Hải Phòng", host="tw-hcm", sites=("hai-phong",))

    page = homes.sign_in("phong-bacninh")
    p = page.page
    assert p.locator("#sec-room").is_visible()
    assert not p.locator("#sec-operator").is_visible()
    item = p.locator(f"li.room-session[data-session='{now['id']}']")
    item.wait_for()
    link = item.locator("a.join")
    assert link.inner_text() == "Vào phiên"
    assert link.get_attribute("href") == f"/room?session={now['id']}"
    assert p.locator(f"li.room-session[data-session='{elsewhere['id']}']").count() == 0
    assert "Bắc Ninh" in visible_text(page, "#who-site")

    if same_day:
        waiting = p.locator(f"li.room-session[data-session='{soon['id']}']")
        assert waiting.locator("button.join").is_disabled()
        assert "Mở để vào phiên sau" in waiting.locator(".status-line").inner_text()
        homes.screenshot(page, "home-room")
        assert_translated(page)
        # The countdown ends: the disabled button turns into the link.
        waiting.locator("a.join").wait_for(timeout=30_000)
        assert waiting.locator("a.join").get_attribute("href") == f"/room?session={soon['id']}"
    else:
        homes.screenshot(page, "home-room")
        assert_translated(page)

    link.click()
    p.wait_for_url(re.compile(r"/room\?token="))
    query = parse_qs(urlsplit(p.url).query)
    assert "session" not in query and query["token"]
    wait_until(
        lambda: p.evaluate("() => window.rb?.state.phase") == "joined",
        timeout=JOIN_TIMEOUT_S,
        message=lambda: f"room page never joined{page.log_tail()}",
    )


def test_kiosk_joins_by_itself(homes: HomesServer) -> None:
    session = homes.book("Tiếp công dân (kiểm thử kiosk)")
    page = homes.sign_in("phong-bacninh")
    p = page.page
    # Ticking the box joins the session that is open for joining now, after a notice.
    p.get_by_label("Chế độ kiosk").check()
    p.locator("#room-auto .auto-text").wait_for()
    assert "Tự động vào phiên" in visible_text(page, "#room-auto")
    # "Không vào lúc này" stops it for this page.
    p.get_by_role("button", name="Không vào lúc này").click()
    p.wait_for_timeout(7000)
    assert p.url == f"{homes.url}/"

    # Remembered: opening the home again joins by itself.
    p.goto(f"{homes.url}/")
    p.wait_for_url(re.compile(r"/room\?token="), timeout=30_000)
    assert p.evaluate("() => localStorage.getItem('rb.home.kiosk')") == "1"
    p.evaluate("() => localStorage.removeItem('rb.home.kiosk')")
    assert session["id"]


def test_kiosk_goes_back_to_waiting_and_joins_the_next_session(homes: HomesServer) -> None:
    """A wall screen left alone: the session ends, the page goes back to waiting on the
    home and joins the day's next session by itself, nobody touching it."""
    first = homes.book("Phiên buổi sáng (kiểm thử kiosk)", sites=(KIOSK_SITE,))
    homes.call("POST", f"/api/sessions/{first['id']}/open")
    page = homes.sign_in("kiosk-quangninh")
    p = page.page
    p.get_by_label("Chế độ kiosk").check()
    p.wait_for_url(re.compile(r"/room\?token="), timeout=30_000)
    wait_until(
        lambda: (
            p.evaluate("() => window.rb?.state.phase") == "joined"
            and p.evaluate("() => window.rb.state.session.id") == first["id"]
        ),
        timeout=JOIN_TIMEOUT_S,
        message=lambda: f"the kiosk never joined the first session{page.log_tail()}",
    )

    homes.call("POST", f"/api/sessions/{first['id']}/close")
    notice = p.locator("#kiosk-return")
    notice.wait_for(timeout=JOIN_TIMEOUT_S * 1000)
    assert "Phiên đã kết thúc" in p.locator("#session-ended-title").inner_text()
    assert "trở về màn hình chờ" in notice.inner_text()
    homes.screenshot(page, "room-kiosk-ended")
    p.wait_for_url(f"{homes.url}/", timeout=30_000)
    wait_home(page)
    p.locator("#room-auto", has_text="đang chờ đến giờ vào phiên").wait_for()
    homes.screenshot(page, "home-room-kiosk-waiting")
    assert p.get_by_label("Chế độ kiosk").is_checked()
    assert p.locator(f"li.room-session[data-session='{first['id']}'] a.join").count() == 0

    # The afternoon's session is booked while the screen waits: it joins by itself.
    second = homes.book(
        "Phiên buổi chiều (kiểm thử kiosk)", sites=(KIOSK_SITE,), starts_in=timedelta(minutes=-1)
    )
    p.wait_for_url(re.compile(r"/room\?token="), timeout=90_000)
    wait_until(
        lambda: p.evaluate("() => window.rb?.state.session?.id") == second["id"],
        timeout=JOIN_TIMEOUT_S,
        message=lambda: f"the kiosk joined something else{page.log_tail()}",
    )
    p.evaluate("() => localStorage.removeItem('rb.home.kiosk')")


# ---------------------------------------------------------------------- operator


def test_operator_opens_runs_and_ends_a_session(homes: HomesServer) -> None:
    session = homes.book("Tiếp công dân định kỳ (kiểm thử điều hành)")
    sid = session["id"]
    page = homes.sign_in("dieuhanh-tw")
    p = page.page
    row = p.locator(f"#op-table tr[data-session='{sid}']")
    row.wait_for()
    assert row.get_attribute("data-state") == "planned"
    # Only an operator: the urgent form says booking needs another role, and is disabled.
    assert p.locator("#urgent-no-right").is_visible()
    assert "chưa có quyền lập lịch" in visible_text(page, "#urgent-no-right")
    assert p.locator("#urgent-submit").is_disabled()

    row.get_by_role("button", name="Mở phiên").click()
    p.locator(f"#op-table tr[data-session='{sid}'][data-state='open']").wait_for()
    assert homes.session_state(sid) == "open"
    assert "Đã mở phiên" in visible_text(page, "#flash")
    homes.screenshot(page, "home-operator")
    p.set_viewport_size({"width": 1920, "height": 1080})
    homes.screenshot(page, "home-operator-1920x1080")
    p.set_viewport_size(VIEWPORT)
    assert_translated(page)

    row = p.locator(f"#op-table tr[data-session='{sid}']")
    console = row.get_by_role("link", name="Bàn điều khiển")
    assert console.get_attribute("href") == f"/console?session={sid}"
    console.click()
    p.wait_for_url(re.compile(r"/console\?token="))
    wait_until(
        lambda: p.evaluate("() => window.rbc?.state.phase") == "joined",
        timeout=JOIN_TIMEOUT_S,
        message=lambda: f"console never joined{page.log_tail()}",
    )
    p.go_back()
    wait_home(page)

    row = p.locator(f"#op-table tr[data-session='{sid}']")
    row.get_by_role("button", name="Kết thúc").click()
    dialog = p.locator("dialog.confirm")
    assert "Kết thúc phiên" in dialog.inner_text()
    dialog.get_by_role("button", name="Quay lại").click()
    assert homes.session_state(sid) == "open"
    row.get_by_role("button", name="Kết thúc").click()
    p.locator("dialog.confirm").get_by_role("button", name="Kết thúc phiên").click()
    p.locator(f"#op-table tr[data-session='{sid}'][data-state='closed']").wait_for()
    assert homes.session_state(sid) == "closed"


def test_operator_with_scheduler_books_an_urgent_session(homes: HomesServer) -> None:
    page = homes.sign_in("truc-tw")
    p = page.page
    assert not p.locator("#urgent-no-right").is_visible()
    p.get_by_label("Tên phiên").fill("Tiếp công dân đột xuất: đoàn đông người Bắc Ninh")
    p.get_by_label("Tìm điểm cầu").fill("bac ninh")
    box = p.get_by_label("Tỉnh Bắc Ninh", exact=True)
    box.check()
    assert not p.locator("li[data-site='hai-phong']").is_visible()
    assert "Đã chọn 1 điểm cầu" in visible_text(page, "#urgent-chosen")
    homes.screenshot(page, "home-operator-urgent")
    p.get_by_role("button", name="Đặt và mở phiên ngay").click()
    p.locator("#flash .notice").wait_for()
    assert "Đã đặt và mở phiên" in visible_text(page, "#flash")
    row = p.locator("#op-table tr", has_text="đoàn đông người Bắc Ninh")
    row.wait_for()
    assert row.get_attribute("data-state") == "open"
    sid = str(row.get_attribute("data-session"))
    booked = homes.call("GET", f"/api/sessions/{sid}")
    assert {s["site"] for s in booked["sites"]} == {HOST, ROOM_SITE}
    start, end = (
        datetime.fromisoformat(booked["starts_at"]),
        datetime.fromisoformat(booked["ends_at"]),
    )
    assert end - start == timedelta(hours=1)
    assert abs(datetime.now(UTC) - start) < timedelta(minutes=2)
    homes.call("POST", f"/api/sessions/{sid}/close")


# ---------------------------------------------------------------------- clerk


def test_clerk_reaches_the_archive(homes: HomesServer) -> None:
    page = homes.sign_in("luutru-tw")
    p = page.page
    assert p.locator("#sec-clerk").is_visible()
    homes.screenshot(page, "home-clerk")
    assert_translated(page)

    p.get_by_role("link", name="Tra cứu hồ sơ ghi hình").click()
    p.wait_for_url(re.compile(r"/archive\?token="))
    p.locator("h1", has_text="Lưu trữ phiên tiếp công dân").wait_for()

    p.goto(f"{homes.url}/")
    wait_home(page)
    p.get_by_label("Số hồ sơ vụ việc").fill("125/TCD-2026")
    p.get_by_role("button", name="Tìm theo số hồ sơ").click()
    p.wait_for_url(re.compile(r"/archive\?.*token="))
    assert parse_qs(urlsplit(p.url).query)["case"] == ["125/TCD-2026"]
    p.locator("#search input[name='case']").wait_for()
    assert p.locator("#search input[name='case']").input_value() == "125/TCD-2026"


# ---------------------------------------------------------------------- scheduler


def test_scheduler_sees_the_week_and_cancels(homes: HomesServer) -> None:
    mine = homes.book(
        "Tiếp công dân của tỉnh Bắc Ninh (kiểm thử lập lịch)", host=ROOM_SITE, sites=()
    )
    theirs = homes.book("Phiên của Đà Nẵng", host="da-nang", sites=())
    page = homes.sign_in("lichbn")
    p = page.page
    row = p.locator(f"#sched-table tr[data-session='{mine['id']}']")
    row.wait_for()
    assert p.locator(f"#sched-table tr[data-session='{theirs['id']}']").count() == 0
    assert "Tỉnh Bắc Ninh" in visible_text(page, "#sched-scope")
    assert "Mở bàn lập lịch" in visible_text(page, "#sec-scheduler")
    homes.screenshot(page, "home-scheduler")
    assert_translated(page)

    row.get_by_role("button", name="Hủy phiên").click()
    dialog = p.locator("dialog.confirm")
    dialog.get_by_label("Lý do hủy (ghi vào phiên)").fill("Lãnh đạo bận họp đột xuất")
    dialog.get_by_role("button", name="Hủy phiên").click()
    p.locator(f"#sched-table tr[data-session='{mine['id']}'][data-state='cancelled']").wait_for()
    view = homes.call("GET", f"/api/sessions/{mine['id']}")
    assert view["state"] == "cancelled"
    assert "Lãnh đạo bận họp đột xuất" in view["note"]


# ---------------------------------------------------------------------- administrator


def test_administrator_adds_a_user_who_signs_in(homes: HomesServer) -> None:
    page = homes.sign_in("quantri-bn")
    p = page.page
    table = p.locator("#admin-table")
    table.locator("tr[data-user='lichbn']").wait_for()
    assert table.locator("tr[data-user='dieuhanh-tw']").count() == 0  # another province

    p.get_by_label("Tên đăng nhập").fill("canbo-kinhbac")
    p.get_by_label("Họ và tên").fill("Đỗ Văn Giang")
    p.get_by_label("Đơn vị").select_option("phuong-kinh-bac")
    p.locator("#new-roles").get_by_label("Phòng tiếp công dân").check()
    p.get_by_role("button", name="Thêm tài khoản").click()
    otp_box = p.locator(".otp-box")
    otp_box.wait_for()
    assert "canbo-kinhbac" in otp_box.locator("h3").inner_text()
    one_time = p.locator("#otp-value").inner_text()
    assert re.fullmatch(r"[a-z2-9]{4}(-[a-z2-9]{4}){3}", one_time), one_time
    table.locator("tr[data-user='canbo-kinhbac']").wait_for()
    homes.screenshot(page, "home-administrator")
    assert_translated(page)
    p.get_by_role("button", name="Đã giao mật khẩu, đóng lại").click()
    assert p.locator(".otp-box").count() == 0
    assert one_time not in p.locator("body").inner_text()

    # The new user signs in with it and must choose a password first.
    newcomer = homes.open_page("/login", "canbo-kinhbac")
    fill_sign_in(newcomer, "canbo-kinhbac", one_time)
    n = newcomer.page
    n.locator("#change").wait_for()
    homes.screenshot(newcomer, "login-change-password")
    assert_translated(newcomer)
    n.get_by_label("Mật khẩu mới (ít nhất 10 ký tự)").fill("ngắn")
    n.get_by_label("Nhập lại mật khẩu mới").fill("ngắn")
    n.get_by_role("button", name="Lưu mật khẩu mới").click()
    assert "ít nhất 10 ký tự" in n.locator("#change-error").inner_text()
    n.get_by_label("Mật khẩu mới (ít nhất 10 ký tự)").fill("phường-kinh-bắc-2026")
    n.get_by_label("Nhập lại mật khẩu mới").fill("phường-kinh-bắc-2026")
    n.get_by_role("button", name="Lưu mật khẩu mới").click()
    n.wait_for_url(f"{homes.url}/")
    wait_home(newcomer)
    assert visible_text(newcomer, "#who-name") == "Đỗ Văn Giang"

    # Disabled, the account is refused with the reason.
    user_row = p.locator("tr[data-user='canbo-kinhbac']")
    user_row.get_by_role("button", name="Vô hiệu hóa").click()
    p.locator("dialog.confirm").get_by_role("button", name="Vô hiệu hóa").click()
    p.locator("tr[data-user='canbo-kinhbac'] .user-disabled").wait_for()
    again = homes.open_page("/login", "disabled")
    fill_sign_in(again, "canbo-kinhbac", "phường-kinh-bắc-2026")
    again.page.locator("#signin-error").wait_for()
    assert "vô hiệu hóa" in again.page.locator("#signin-error").inner_text()

    # Enabled again and given a new one-time password, shown once.
    user_row.get_by_role("button", name="Kích hoạt lại").click()
    p.locator("tr[data-user='canbo-kinhbac'] .user-active").wait_for()
    user_row.get_by_role("button", name="Cấp lại mật khẩu").click()
    p.locator("dialog.confirm").get_by_role("button", name="Cấp lại mật khẩu").click()
    p.locator(".otp-box").wait_for()
    fresh = p.locator("#otp-value").inner_text()
    assert fresh != one_time and re.fullmatch(r"[a-z2-9]{4}(-[a-z2-9]{4}){3}", fresh)


# ---------------------------------------------------------------------- sign-out


def test_sign_out_returns_to_the_sign_in_page(homes: HomesServer) -> None:
    page = homes.sign_in("dieuhanh-tw")
    p = page.page
    p.get_by_role("button", name="Đăng xuất").click()
    p.wait_for_url(f"{homes.url}/login")
    p.get_by_label("Tên đăng nhập").wait_for()
    # Signed out: "/" is the public entrance again, and it links to the sign-in page.
    p.goto(f"{homes.url}/")
    assert p.get_by_role("link", name="Đăng nhập / Sign in").get_attribute("href") == "/login"
    assert p.locator("#who-name").count() == 0
