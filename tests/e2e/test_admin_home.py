"""The administrator's home page (issue 9) in Chromium against the real server: the
working-day calendar's overrides and the site tree loaded from a TOML file.

The server, the users and the helpers are those of ``test_signin_homes.py`` (a provincial
administrator of Bắc Ninh, ``quantri-bn``); screenshots go to /tmp/rb-screens at 1366x768.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from tests.e2e.harness import BrowserPage
from tests.e2e.store_server import StoreServer
from tests.e2e.test_signin_homes import (
    VIETNAM,
    assert_translated,
    close_pages,
    homes,
)

__all__ = ["close_pages", "homes"]

pytestmark = pytest.mark.chromium

ADMIN = "quantri-bn"

NEW_COMMUNE = """# Một xã mới của tỉnh Bắc Ninh
[[site]]
id = "xa-thu-nghiem"
name = "Xã Thử Nghiệm"
name_en = "Thu Nghiem Commune"
level = "commune"
parent = "bac-ninh"
valid_from = 2026-01-01
rooms = ["Phòng tiếp công dân xã"]
"""

BROKEN = """[[site]]
id = "xa-hong"
name = Xã Hỏng
level = "commune"
"""


def a_working_wednesday() -> date:
    """A Wednesday of March next year: an ordinary working day (no holiday in March)."""
    day = date(datetime.now(VIETNAM).year + 1, 3, 1)
    return day + timedelta(days=(2 - day.weekday()) % 7)


def show(page: BrowserPage, selector: str) -> None:
    page.page.locator(selector).scroll_into_view_if_needed()
    page.page.evaluate(f"document.querySelector('{selector}').scrollIntoView({{block: 'start'}})")


def test_administrator_changes_the_calendar(homes: StoreServer) -> None:
    page = homes.sign_in(ADMIN)
    p = page.page
    cal = p.locator("#admin-calendar")
    cal.locator("#cal-grid td.day").first.wait_for()
    day = a_working_wednesday().isoformat()

    # Choosing the day shows its month: a working day.
    # Typed as the office writes it, whatever the browser's locale.
    cal.get_by_label("Ngày", exact=True).fill(a_working_wednesday().strftime("%d/%m/%Y"))
    cell = cal.locator(f"#cal-grid td[data-day='{day}']")
    cell.wait_for()
    assert cell.get_attribute("data-working") == "true"
    assert cal.get_by_label("Ngày nghỉ").is_checked()  # the default kind
    cal.get_by_label("Ghi chú (căn cứ)").fill("Nghỉ bù theo thông báo thử nghiệm")
    cal.get_by_role("button", name="Lưu ngày điều chỉnh").click()

    row = cal.locator(f"#cal-table tr[data-day='{day}']")
    row.wait_for()
    assert "Ngày nghỉ" in row.inner_text()
    assert "Nghỉ bù theo thông báo thử nghiệm" in row.inner_text()
    p.locator(f"#cal-grid td.off.overridden[data-day='{day}']").wait_for()
    assert "Nghỉ bù theo thông báo thử nghiệm" in (cell.get_attribute("title") or "")
    assert (
        homes.call("GET", f"/api/calendar/days?from={day}&to={day}")["days"][0]["working"] is False
    )
    show(page, "#admin-calendar")
    homes.screenshot(page, "home-administrator-calendar")
    assert_translated(page)

    # Keyboard: the previous and next month buttons move the calendar.
    caption = cal.locator("#cal-grid caption")
    title = caption.inner_text()
    cal.locator("#cal-next").focus()
    p.keyboard.press("Enter")
    p.wait_for_function(
        "(old) => document.querySelector('#cal-grid caption').textContent !== old", arg=title
    )
    cal.locator("#cal-prev").focus()
    p.keyboard.press("Enter")
    p.locator(f"#cal-grid td[data-day='{day}']").wait_for()

    # Deleted, the day is a working day again.
    row.get_by_role("button", name="Xóa").click()
    p.locator("dialog.confirm").get_by_role("button", name="Xóa").click()
    row.wait_for(state="detached")
    p.locator(f"#cal-grid td.working[data-day='{day}']:not(.overridden)").wait_for()
    assert homes.call("GET", f"/api/calendar/days?from={day}&to={day}")["days"][0]["working"]
    assert "Đã xóa điều chỉnh" in p.locator("#flash").inner_text()


def test_administrator_loads_a_site_tree(homes: StoreServer) -> None:
    page = homes.sign_in(ADMIN)
    p = page.page
    tree = p.locator("#admin-sites")
    search = tree.get_by_label("Tìm theo tên hoặc mã")

    # Searching without accents finds a ward, with the way to it opened.
    search.fill("kinh bac")
    tree.locator("li.hit[data-site='phuong-kinh-bac']").wait_for()
    assert "Tỉnh Bắc Ninh" in tree.locator("#tree-root").inner_text()
    assert "khớp" in tree.locator("#tree-count").inner_text()
    # A legacy province shows what it was merged into.
    search.fill("bac giang")
    legacy = tree.locator("li[data-site='bac-giang'] > .tree-row")
    legacy.wait_for()
    assert "đã sáp nhập vào" in legacy.inner_text()
    search.fill("")

    # Collapsible with the keyboard: Enter on a toggle opens and closes it.
    tree.get_by_role("button", name="Thu gọn tất cả").click()
    toggle = tree.locator("li[data-site='bac-ninh'] > .tree-row > .toggle")
    toggle.focus()
    p.keyboard.press("Enter")
    tree.locator("li[data-site='phuong-kinh-bac']").wait_for()
    assert toggle.get_attribute("aria-expanded") == "true"
    p.keyboard.press("Enter")
    tree.locator("li[data-site='phuong-kinh-bac']").wait_for(state="detached")

    # A file adding a commune: loaded, and shown in the tree where it belongs.
    tree.get_by_label("Tệp TOML cần nạp").set_input_files(
        files=[
            {"name": "xa-moi.toml", "mimeType": "application/toml", "buffer": NEW_COMMUNE.encode()}
        ]
    )
    tree.get_by_role("button", name="Nạp cây đơn vị").click()
    result = tree.locator("#tree-load-result .notice")
    result.wait_for()
    assert "Đã nạp 1 đơn vị" in result.inner_text()
    assert "xa-thu-nghiem" in result.inner_text()
    node = tree.locator("li.loaded[data-site='xa-thu-nghiem'] > .tree-row")
    node.wait_for()
    text = node.inner_text()
    assert "Xã Thử Nghiệm" in text and "Xã, phường" in text and "1 phòng tiếp" in text, text
    assert "hiệu lực từ 01/01/2026" in text, text
    assert homes.call("GET", "/api/sites/xa-thu-nghiem")["parent"] == "bac-ninh"
    search.fill("thu nghiem")
    tree.locator("li.hit[data-site='xa-thu-nghiem']").wait_for()
    show(page, "#admin-sites")
    homes.screenshot(page, "home-administrator-sites")
    assert_translated(page)
    # Nothing runs off the side at 1366x768 nor at 1920x1080.
    for width, height in ((1366, 768), (1920, 1080)):
        p.set_viewport_size({"width": width, "height": height})
        assert p.evaluate("document.documentElement.scrollWidth <= innerWidth"), width
    homes.screenshot(page, "home-administrator-sites-1920")
    p.set_viewport_size({"width": 1366, "height": 768})

    # A malformed file: the error with its line, nothing loaded.
    tree.get_by_label("Tệp TOML cần nạp").set_input_files(
        files=[{"name": "hong.toml", "mimeType": "application/toml", "buffer": BROKEN.encode()}]
    )
    tree.get_by_role("button", name="Nạp cây đơn vị").click()
    error = tree.locator("#tree-load-error")
    error.wait_for()
    assert "dòng 3, cột 8" in error.inner_text(), error.inner_text()
    assert "bad_toml" in error.inner_text()
    assert tree.locator("#tree-load-result .notice").count() == 0
    show(page, "#tree-form")
    homes.screenshot(page, "home-administrator-sites-error")
