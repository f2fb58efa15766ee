"""The scheduler's desk (/desk) in Chromium against the real server and its database.

A central scheduler signs in through the form, opens the desk, and books tomorrow's
session for two provinces. On the way the dry run shows a clash (the same room booked
at the same time over the API beforehand) next to the room; moving the session later
clears it; the saved session shows in the week view. Screenshots go to ``/tmp/rb-screens/``:
``desk.png`` (1366x768, the week with the new session), ``desk-conflict.png`` and
``desk-1920x1080.png``.
"""

from __future__ import annotations

import json
import re
import shutil
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from zoneinfo import ZoneInfo

import pytest

from core.access import Role
from signaling.tokens import issue_token
from tests.e2e.harness import BrowserPage, ServerThread, data_dir_settings, new_page
from web.accounts.keys import ACCOUNTS
from web.app import create_app
from web.keys import STORE

pytestmark = pytest.mark.chromium

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
PASSWORD = "mật-khẩu-lập-lịch-2026"
SCHEDULER = "lichtw"
VIEWPORT = {"width": 1366, "height": 768}
UI_TIMEOUT_S = 20.0
SHARED_SCREENS = Path("/tmp/rb-screens")
TAKEN_TITLE = "Tiếp công dân định kỳ của Chủ tịch UBND tỉnh Bắc Ninh"
TITLE = "Tiếp công dân trực tuyến: vụ việc đông người liên tỉnh Bắc Ninh – Đà Nẵng"
# A message key shown as is ("desk.f.title"): i18n.js shows a missing key as the key.
RAW_KEY = re.compile(r"(?<![\w./:@-])[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+(?![\w/@-])")


@dataclass
class DeskServer:
    """A server on its scheduler database with the default site tree and one scheduler."""

    url: str
    secret: str
    browser: Any
    screens: Path
    pages: list[BrowserPage] = field(default_factory=list)

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """A REST call as a central administrator (a token, not a cookie); 2xx only."""
        token = issue_token(self.secret, role=Role.ADMINISTRATOR, site="tw-hanoi", subject="e2e")
        request = urllib.request.Request(
            self.url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read())
        except HTTPError as err:
            raise AssertionError(f"{method} {path}: {err.code} {err.read()!r}") from err

    def open_page(self, path: str, name: str) -> BrowserPage:
        page = new_page(self.browser, self.url + path, name, BrowserPage)
        page.page.set_viewport_size(VIEWPORT)
        page.context.set_default_timeout(UI_TIMEOUT_S * 1000)
        self.pages.append(page)
        return page

    def screenshot(self, page: BrowserPage, name: str) -> Path:
        path = self.screens / f"{name}.png"
        page.page.screenshot(path=str(path), full_page=False)
        SHARED_SCREENS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, SHARED_SCREENS / path.name)
        return path


@pytest.fixture(scope="module")
def desk(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeskServer]:
    data_dir = tmp_path_factory.mktemp("desk-data")
    screens = tmp_path_factory.mktemp("screens")

    def build(port: int) -> tuple[Any, Any]:
        settings = data_dir_settings(data_dir, port, record_on_open=False)
        return create_app(settings), settings

    thread = ServerThread(build)
    url = thread.start()
    assert thread.app is not None and thread.settings is not None
    thread.app[STORE].load_tree()
    accounts = thread.app[ACCOUNTS]
    _, one_time = accounts.add_user(
        SCHEDULER, "Trần Thị Lịch", "tw-hanoi", (Role.SCHEDULER,), by="e2e"
    )
    accounts.set_password(SCHEDULER, one_time, PASSWORD)
    server = DeskServer(url, thread.settings.signing_secret(), browser, screens)
    try:
        yield server
    finally:
        for page in server.pages:
            page.close()
        thread.stop()


def raw_keys(page: BrowserPage) -> list[str]:
    """Visible texts, placeholders, titles and labels that look like message keys."""
    texts: list[str] = page.evaluate(
        """() => {
          const out = [document.title, document.body.innerText];
          for (const node of document.querySelectorAll("*")) {
            if (!node.getClientRects().length) continue;
            for (const attr of ["placeholder", "title", "aria-label"]) {
              const value = node.getAttribute(attr);
              if (value) out.push(value);
            }
          }
          return out;
        }"""
    )
    return sorted({m.group(0) for text in texts for m in RAW_KEY.finditer(text)})


def test_scheduler_books_tomorrow_for_two_provinces_through_a_conflict(desk: DeskServer) -> None:
    tomorrow = (datetime.now(VIETNAM) + timedelta(days=1)).date().isoformat()
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
    assert book.get_by_label("Ngày bắt đầu").input_value() == tomorrow
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

    book.get_by_role("button", name="Lưu lịch").click()
    p.locator("#desk-flash .notice").wait_for()
    assert TITLE in p.locator("#desk-flash").inner_text()
    card = p.locator(f"li.desk-day[data-day='{tomorrow}'] article.desk-sess.desk-new")
    card.wait_for()
    assert TITLE in card.inner_text() and "10:00–11:30" in card.inner_text()
    assert "Tỉnh Bắc Ninh" in card.inner_text() and "Thành phố Đà Nẵng" in card.inner_text()
    assert p.locator(f"li.desk-day[data-day='{tomorrow}'] [data-session='{taken['id']}']").count()
    assert book.get_by_label("Tên phiên").input_value() == ""
    desk.screenshot(page, "desk")
    p.set_viewport_size({"width": 1920, "height": 1080})
    desk.screenshot(page, "desk-1920x1080")
    p.set_viewport_size(VIEWPORT)

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
