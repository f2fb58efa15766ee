"""The reception book over HTTP, signed in as people of different sites: scope by
province, the denouncer masked, versioned edits, bad input, reports read back from XLSX,
the printed report and the audit of every export."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from openpyxl import load_workbook

from core.access import Role
from tests.integration.test_signin import Browser, Site, running_site
from web.archive.keys import ARCHIVE

USERS: dict[str, tuple[str, tuple[Role, ...]]] = {
    "clerk-bn": ("bac-ninh", (Role.CLERK,)),
    "admin-bn": ("bac-ninh", (Role.ADMINISTRATOR,)),
    "admin-kb": ("phuong-kinh-bac", (Role.ADMINISTRATOR,)),
    "oper-bn": ("bac-ninh", (Role.OPERATOR,)),
    "clerk-hp": ("hai-phong", (Role.CLERK,)),
    "clerk-tw": ("tw-hanoi", (Role.CLERK,)),
}
DENOUNCER = {"name": "Phạm Thị Dung", "address": "Phường Kinh Bắc", "id_number": "027190004321"}
ENTRY: dict[str, Any] = {
    "received_on": "2026-02-06",
    "kind": "denunciation",
    "channel": "in_person",
    "persons": [DENOUNCER],
    "people_count": 1,
    "summary": "Tố cáo cán bộ địa chính xã nhận tiền",
    "outcome": "accepted",
    "official": "Nguyễn Văn Hùng",
}


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async with running_site(tmp_path, USERS) as running:
        yield running


class People:
    """One signed-in browser per user."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.sessions: list[aiohttp.ClientSession] = []
        self.browsers: dict[str, Browser] = {}

    async def __call__(self, user: str) -> Browser:
        if user not in self.browsers:
            http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
            self.sessions.append(http)
            browser = Browser(self.site, http)
            status, _ = await browser.login(user)
            assert status == 200
            self.browsers[user] = browser
        return self.browsers[user]

    async def close(self) -> None:
        for http in self.sessions:
            await http.close()


@pytest.fixture
async def people(site: Site) -> AsyncIterator[People]:
    out = People(site)
    yield out
    await out.close()


async def download(browser: Browser, path: str) -> tuple[int, bytes, str]:
    async with browser.http.get(browser.site.url + path) as resp:
        return resp.status, await resp.read(), resp.content_type


async def test_another_province_sees_neither_the_entry_nor_the_denouncer(
    site: Site, people: People
) -> None:
    clerk = await people("clerk-bn")
    status, made = await clerk.call("POST", "/api/book/entries", json=ENTRY)
    assert status == 201, made
    assert (made["reference"], made["province"], made["deadline"]) == (
        "1/2026",
        "bac-ninh",
        "2026-03-09",
    )
    # The clerk who wrote it is not an administrator: the identity comes back masked.
    assert made["masked"] and made["persons"][0]["name"] == "(bảo mật)"
    entry_id = made["id"]

    other = await people("clerk-hp")
    status, body = await other.call("GET", f"/api/book/entries/{entry_id}")
    assert (status, body["error"]["code"]) == (404, "no_entry")
    status, listed = await other.call("GET", "/api/book/entries")
    assert status == 200 and listed["entries"] == []
    status, body = await other.call("PUT", f"/api/book/entries/{entry_id}", json=ENTRY)
    assert status == 404
    status, monthly = await other.call("GET", "/api/book/reports/monthly?day=2026-02-10")
    assert status == 200 and "bac-ninh" not in monthly["rows"]

    central = await people("clerk-tw")
    status, seen = await central.call("GET", f"/api/book/entries/{entry_id}")
    assert status == 200 and seen["masked"] and DENOUNCER["name"] not in str(seen)
    commune_admin = await people("admin-kb")
    status, seen = await commune_admin.call("GET", f"/api/book/entries/{entry_id}")
    assert status == 200 and seen["masked"]

    admin = await people("admin-bn")
    status, seen = await admin.call("GET", f"/api/book/entries/{entry_id}")
    assert status == 200 and not seen["masked"] and seen["persons"] == [DENOUNCER]
    audit = site.app[ARCHIVE].audit
    reads = await asyncio.to_thread(audit.entries, action="view_denouncer")
    assert [(r.actor, r.target) for r in reads] == [("admin-bn", f"book:{entry_id}")]

    # The clerk completes the entry from what they read (masked): the identity stays.
    done = {**seen, "persons": made["persons"], "note": "bổ sung kết quả", "expect_version": 1}
    done.update(outcome="forwarded", forwarded_to="Thanh tra tỉnh Bắc Ninh")
    status, edited = await clerk.call("PUT", f"/api/book/entries/{entry_id}", json=done)
    assert status == 200, edited
    assert edited["version"] == 2 and edited["deadline"] == "2026-02-27"
    status, seen = await admin.call("GET", f"/api/book/entries/{entry_id}")
    assert seen["persons"] == [DENOUNCER] and [v["by"] for v in seen["versions"]] == [
        "clerk-bn",
        "clerk-bn",
    ]
    # Another kind would unmask the denouncer: only the site's administrator may change it.
    status, body = await clerk.call(
        "PUT",
        f"/api/book/entries/{entry_id}",
        json={**done, "kind": "mixed", "expect_version": 2},
    )
    assert (status, body["error"]["code"]) == (403, "forbidden_kind_change")
    # A stale edit is refused and loses nothing.
    status, body = await clerk.call("PUT", f"/api/book/entries/{entry_id}", json=done)
    assert (status, body["error"]["code"]) == (409, "stale_version")

    # An export by the central office masks the denouncer, and is audited.
    status, data, kind = await download(central, "/api/book/entries.xlsx")
    assert status == 200 and kind.endswith("sheet")
    sheet = load_workbook(io.BytesIO(data)).active
    assert sheet is not None
    cells = [[c.value for c in row] for row in sheet.iter_rows()]
    assert cells[1][0] == "1/2026" and str(cells[1][3]).startswith("(bảo mật)")
    assert DENOUNCER["name"] not in str(cells)
    exports = await asyncio.to_thread(audit.entries, action="export_book")
    assert [e.actor for e in exports] == ["clerk-tw"] and "1 masked" in exports[0].detail


async def test_bad_input_is_refused_and_loses_nothing(people: People) -> None:
    clerk = await people("clerk-bn")
    cases = [
        ({**ENTRY, "received_on": "6/2/2026"}, 400, "bad_date"),
        ({**ENTRY, "kind": "rumour"}, 400, "bad_kind"),
        ({**ENTRY, "outcome": "refused"}, 422, "refusal_reason"),
        ({**ENTRY, "persons": []}, 422, "no_person"),
        (
            {**ENTRY, "people_count": 3, "representatives": [DENOUNCER]},
            422,
            "representatives_without_crowd",
        ),
        ({**ENTRY, "site": "hai-phong"}, 403, "forbidden_site"),
    ]
    for body, status, code in cases:
        got, answer = await clerk.call("POST", "/api/book/entries", json=body)
        assert (got, answer["error"]["code"]) == (status, code), (body, answer)
    operator = await people("oper-bn")
    got, answer = await operator.call("POST", "/api/book/entries", json=ENTRY)
    assert (got, answer["error"]["code"]) == (403, "forbidden_channel")
    got, made = await clerk.call("POST", "/api/book/entries", json=ENTRY)
    assert got == 201 and made["reference"] == "1/2026"
    got, answer = await clerk.call("GET", "/api/book/entries/99999999999")
    assert (got, answer["error"]["code"]) == (404, "not_found")
    got, answer = await clerk.call("GET", "/api/book/entries/1x")
    assert (got, answer["error"]["code"]) == (400, "bad_id")
    got, answer = await clerk.call("GET", "/api/book/reports/yearly")
    assert (got, answer["error"]["code"]) == (400, "bad_period")


async def test_reports_download_as_xlsx_and_print_with_the_same_numbers(
    site: Site, people: People
) -> None:
    clerk = await people("clerk-bn")
    crowd = {
        **ENTRY,
        "kind": "complaint",
        "people_count": 12,
        "persons": [{"name": "Trần Văn Em"}],
        "representatives": [{"name": "Trần Văn Em"}, {"name": "Lê Thị Gấm"}],
        "outcome": "guided",
    }
    for body in (ENTRY, crowd, {**ENTRY, "received_on": "2026-01-20", "outcome": None}):
        status, _ = await clerk.call("POST", "/api/book/entries", json=body)
        assert status == 201
    status, watch = await clerk.call(
        "POST",
        "/api/book/watch",
        json={
            "kind": "crowd",
            "title": "Đoàn 12 hộ thôn Đông",
            "people_count": 12,
            "deadline": "2026-01-01",
        },
    )
    assert status == 201 and watch["overdue"]
    status, listed = await (await people("clerk-hp")).call("GET", "/api/book/watch")
    assert listed["items"] == []
    status, listed = await (await people("clerk-tw")).call("GET", "/api/book/watch")
    assert [i["title"] for i in listed["items"]] == ["Đoàn 12 hộ thôn Đông"]

    status, monthly = await clerk.call("GET", "/api/book/reports/monthly?day=2026-02-10")
    assert status == 200
    row = monthly["rows"]["bac-ninh"]
    assert (row["entries"], row["people"], row["crowd"]) == (2, 13, 1)
    assert row["by_kind"]["denunciation"] == 1 and row["by_outcome"]["guided"] == 1
    assert monthly["previous"]["rows"]["bac-ninh"]["by_outcome"]["pending"] == 1

    status, data, _ = await download(clerk, "/api/book/reports/monthly/xlsx?day=2026-02-10")
    assert status == 200
    book = load_workbook(io.BytesIO(data))
    sheet = book["Báo cáo"]
    rows = [[c.value for c in r] for r in sheet.iter_rows()]
    heading = rows[1]
    bn = next(r for r in rows if r[0] == "bac-ninh")
    assert bn[heading.index("Lượt tiếp")] == 2
    assert bn[heading.index("Số người được tiếp")] == 13
    assert bn[heading.index("Đoàn đông người")] == 1
    assert bn[heading.index("Tố cáo")] == 1
    before = [[c.value for c in r] for r in book["Kỳ trước"].iter_rows()]
    assert next(r for r in before if r[0] == "bac-ninh")[heading.index("Lượt tiếp")] == 1

    async with clerk.http.get(
        site.url + "/api/book/reports/monthly/print?day=2026-02-10&number=15"
    ) as resp:
        page = await resp.text()
    assert resp.status == 200
    for words in (
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "TỈNH BẮC NINH",
        "Số: 15/BC-TCD",
        "BÁO CÁO",
        "tháng 02/2026",
        "THỦ TRƯỞNG CƠ QUAN",
    ):
        assert words in page
    audit = site.app[ARCHIVE].audit
    lines = await asyncio.to_thread(audit.entries, site="bac-ninh")
    assert {"export_report_xlsx", "export_report_print"} <= {e.action for e in lines}
