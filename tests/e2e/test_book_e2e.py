"""The reception book in Chromium: an operator writes an entry from the console during a
session, a clerk completes it on the book page, the monthly report shows it and its XLSX
download, read back with openpyxl, has the numbers the page shows."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook

from book.reports import Period, period_bounds
from core.access import Role
from sessions.calendar import VN_TZ
from tests.e2e.console_harness import ConsolePage
from tests.e2e.harness import BrowserPage, LiveServer, new_page, wait_until
from web.book.exports import COLUMNS
from web.keys import STORE

pytestmark = pytest.mark.chromium

HOST = "tw-hanoi"
SCREENS = Path("/tmp/rb-screens")
"""Where the page's screenshots go (for a person to look at; nothing reads them)."""


def test_console_entry_completed_by_a_clerk_shows_in_the_monthly_report(
    browser: object, live_server: LiveServer, tmp_path: Path
) -> None:
    live_server.app[STORE].load_tree()
    today = datetime.now(UTC).astimezone(VN_TZ).date()
    operator = new_page(
        browser,
        live_server.page_url("/console", token=live_server.token(HOST, role=Role.OPERATOR)),
        "console",
        ConsolePage,
    )
    clerk: BrowserPage | None = None
    try:
        operator.wait_joined()
        page = operator.page
        page.fill("#mark-number", "KN-15/2026")
        page.fill("#mark-text", "Khiếu nại việc thu hồi đất tại xã Yên Dũng")
        page.fill("#book-name", "Nguyễn Văn An")
        page.fill("#book-address", "Thôn Đông, xã Yên Dũng")
        page.fill("#book-id", "024090001234")
        page.select_option("#book-kind", "complaint")
        page.click("#mark-submit")
        wait_until(
            lambda: "1/" in (page.text_content("#book-status") or ""),
            timeout=30,
            message="the console did not write the book entry",
        )
        written = operator.evaluate("window.rbc.state.bookEntry")
        assert written["channel"] == "online" and written["recording_marker"] == "KN-15/2026"
        assert written["session_id"] == live_server.session.id and written["outcome"] is None

        clerk = new_page(
            browser,
            live_server.page_url("/book", token=live_server.token(HOST, role=Role.CLERK)),
            "book",
            BrowserPage,
        )
        book = clerk.page
        book.wait_for_selector("body[data-ready=true]")
        row = book.locator(f"#entries-body tr[data-id='{written['id']}']")
        assert "Nguyễn Văn An" in (row.text_content() or "")
        row.locator("button.complete").click()
        book.select_option("#entry-form select[name=outcome]", "guided")
        book.fill("#entry-form input[name=official]", "Trần Thị Bình")
        book.fill("#entry-form input[name=note]", "Hoàn thiện kết quả sau phiên")
        book.click("#entry-submit")
        wait_until(
            lambda: (clerk.evaluate("window.rbbook.saved") or {}).get("version") == 2,
            timeout=30,
            message="the clerk's completion was not saved",
        )
        saved = clerk.evaluate("window.rbbook.saved")
        assert saved["outcome"] == "guided" and saved["official"] == "Trần Thị Bình"
        assert saved["deadline"] is not None

        # The monthly report on screen (reloaded after the save) counts it.
        def shown() -> dict[str, str]:
            cells = book.locator("#report-body tr[data-group='tw-hanoi'] td")
            return {
                str(cells.nth(i).get_attribute("data-key")): str(cells.nth(i).text_content())
                for i in range(cells.count())
            }

        wait_until(
            lambda: shown().get("outcome:guided") == "1",
            timeout=30,
            message="the report does not show the completed entry",
        )
        on_screen = shown()
        assert on_screen["entries"] == "1" and on_screen["people"] == "1"
        start, end = period_bounds(Period.MONTHLY, today)
        report = clerk.evaluate("window.rbbook.report")
        assert (report["start"], report["end"]) == (start.isoformat(), end.isoformat())

        # The watch list: an overdue crowd delegation is marked, a status change is history.
        book.fill("#watch-form input[name=title]", "Đoàn 12 hộ dân thôn Đông")
        book.fill("#watch-form input[name=people_count]", "12")
        book.fill("#watch-form input[name=deadline]", "2026-01-15")
        book.click("#watch-form button[type=submit]")
        item = book.locator("#watch-body tr", has_text="Đoàn 12 hộ dân thôn Đông")
        item.wait_for()
        assert item.get_attribute("class") == "overdue"
        item.locator("select.watch-status").select_option("dialogue")
        item.locator("button").click()
        wait_until(
            lambda: "tình trạng: Đang đối thoại" in (item.text_content() or ""),
            timeout=30,
            message="the watch item's status change is not in its history",
        )

        # Both watch-list lines (opened, status) are changes of this month.
        book.click("#report-form button[type=submit]")
        wait_until(
            lambda: shown().get("watch_changes") == "2",
            timeout=30,
            message="the report does not count the watch-list changes",
        )
        on_screen = shown()

        SCREENS.mkdir(parents=True, exist_ok=True)
        book.set_viewport_size({"width": 1366, "height": 768})
        book.screenshot(path=str(SCREENS / "book-page.png"), full_page=True)
        operator.page.screenshot(path=str(SCREENS / "console-book-entry.png"))
        with book.expect_download() as info:
            book.click("#report-xlsx")
        target = tmp_path / "report.xlsx"
        info.value.save_as(target)
        sheet = load_workbook(io.BytesIO(target.read_bytes()))["Báo cáo"]
        rows = [[c.value for c in r] for r in sheet.iter_rows()]
        xlsx = next(r for r in rows if r[0] == "tw-hanoi")
        assert xlsx[1] == "Trụ sở Tiếp công dân Trung ương tại Hà Nội"
        assert {key: str(xlsx[i + 2]) for i, (key, _) in enumerate(COLUMNS)} == on_screen
    except Exception:
        print(operator.log_tail(), clerk.log_tail() if clerk else "")
        raise
    finally:
        operator.close()
        if clerk is not None:
            clerk.close()
