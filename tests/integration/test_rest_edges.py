"""REST edge cases of issue 12 (item 7, and the booking half of item 8), against the real
app and a real database (SQLite and PostgreSQL).

Dates near year 1 or 9999 are refused with 422 ``date_out_of_range`` (well-formed, outside
the calendar's years) and malformed ones with 400; the server keeps answering; a default
"today" is Vietnam's; ``generate`` answers 200 with its report; a booking without rooms
is still checked against the host's other sessions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from config.settings import Settings
from core.access import Role
from core.db import make_engine
from sessions.calendar import FIRST_DAY, LAST_DAY, VN_TZ, local_today
from sessions.store import Store
from signaling.tokens import issue_token
from tests.integration.sched_support import sched_url
from web.app import create_app

__all__ = ["sched_url"]

SECRET = "rest-edges-test-secret-0123456789abcdef"
ADMIN = {"Authorization": f"Bearer {issue_token(SECRET, role=Role.ADMINISTRATOR, site='tw-hanoi')}"}
MON = "2027-03-01"


@pytest.fixture
async def client(sched_url: str, tmp_path: Path) -> AsyncIterator[TestClient[Any, Any]]:
    engine = make_engine(sched_url)
    Store(engine).load_tree()
    settings = Settings(data_dir=tmp_path, database_url=sched_url, secret=SECRET)
    async with TestClient(TestServer(create_app(settings))) as c:
        yield c
    engine.dispose()


async def answer(resp: Any) -> Any:
    return await resp.json() if resp.content_type == "application/json" else await resp.text()


EDGE_DATES = ["0001-01-01", "0001-01-02", "9999-12-31", "9999-12-30", "1900-12-31", "2101-01-01"]


@pytest.mark.parametrize("value", EDGE_DATES)
async def test_dates_outside_the_calendar_are_422(client: TestClient[Any, Any], value: str) -> None:
    offset = "-12:00" if value.startswith("9999") else "+07:00"
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/api/calendar/days", {"params": {"from": value}}),
        ("GET", "/api/calendar/days", {"params": {"from": "2027-01-01", "to": value}}),
        ("GET", "/api/sessions", {"params": {"from": value}}),
        ("GET", "/api/sessions", {"params": {"to": value}}),
        ("GET", "/schedule", {"params": {"from": value}}),
        ("GET", "/api/sites", {"params": {"on": value}}),
        ("POST", "/api/schedule/generate", {"json": {"from": value, "to": value}}),
        ("POST", "/api/schedule/generate", {"json": {"from": "2027-01-01", "to": value}}),
        ("PUT", f"/api/calendar/overrides/{value}", {"json": {"working": False}}),
        (
            "POST",
            "/api/sessions",
            {
                "json": {
                    "title": "x",
                    "host_site": "tw-hanoi",
                    "starts_at": f"{value}T08:00:00+07:00",
                    "ends_at": f"{value}T09:00:00+07:00",
                }
            },
        ),
        (
            "POST",
            "/api/sessions/check",
            {
                "json": {
                    "title": "x",
                    "host_site": "tw-hanoi",
                    # Far west: the Hanoi time of 9999-12-31 23:30 -12:00 overflows.
                    "starts_at": f"{value}T23:30:00{offset}",
                    "ends_at": f"{value}T23:45:00{offset}",
                }
            },
        ),
    ]
    for method, path, kw in requests:
        resp = await client.request(method, path, headers=ADMIN, **kw)
        body = await answer(resp)
        assert resp.status == 422, (method, path, kw, body)
        if isinstance(body, dict):
            assert body["error"]["code"] == "date_out_of_range", body
            assert FIRST_DAY.isoformat() in body["error"]["message"]
    # The server still answers, and the calendar's own ends are served.
    resp = await client.get(
        "/api/calendar/days", params={"from": LAST_DAY.isoformat()}, headers=ADMIN
    )
    assert resp.status == 200, await resp.text()
    days = (await resp.json())["days"]
    assert [d["date"] for d in days] == [LAST_DAY.isoformat()]
    resp = await client.get("/api/sessions", params={"from": LAST_DAY.isoformat()})
    assert resp.status == 200
    resp = await client.get("/schedule", params={"from": FIRST_DAY.isoformat()})
    assert resp.status == 200


@pytest.mark.parametrize("value", ["2027-02-30", "10000-01-01", "-0001-01-01", "27-03-01"])
async def test_malformed_dates_are_400(client: TestClient[Any, Any], value: str) -> None:
    for path in ("/api/calendar/days", "/api/sessions", "/schedule"):
        resp = await client.get(path, params={"from": value})
        assert resp.status == 400, (path, await resp.text())


async def test_rule_reply_matches_the_document(client: TestClient[Any, Any]) -> None:
    """A POST /api/rules reply says null for what the rule does not set, and the
    document's Rule schema (the reply) allows exactly that."""
    rule = {
        "site": "tw-hanoi",
        "title": "Tiếp công dân thường xuyên",
        "kind": "regular",
        "start_time": "07:30",
        "end_time": "11:30",
    }
    resp = await client.post("/api/rules", json=rule, headers=ADMIN)
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    assert body["weekday"] is None and body["valid_from"] is None and body["room_id"] is None
    spec = await (await client.get("/api/openapi.json")).json()
    reply = spec["components"]["schemas"]["Rule"]
    assert set(reply["required"]) == set(body)
    for key, value in body.items():
        if value is None:
            assert "null" in str(reply["properties"][key]), key


async def test_generate_answers_200_as_documented(client: TestClient[Any, Any]) -> None:
    rule = {
        "site": "bac-ninh",
        "title": "Tiếp công dân định kỳ",
        "kind": "periodic",
        "frequency": "weekly",
        "weekday": 0,
        "start_time": "07:30",
        "end_time": "11:30",
    }
    assert (await client.post("/api/rules", json=rule, headers=ADMIN)).status == 201
    span = {"from": "2027-03-01", "to": "2027-03-14", "site": "bac-ninh"}
    spec = await (await client.get("/api/openapi.json")).json()
    documented = set(spec["paths"]["/api/schedule/generate"]["post"]["responses"])
    assert "200" in documented and "201" not in documented
    for created, existing in ((2, 0), (0, 2)):
        resp = await client.post("/api/schedule/generate", json=span, headers=ADMIN)
        assert resp.status == 200
        body = await resp.json()
        assert (body["created"], body["existing"]) == (created, existing)


async def test_default_today_is_vietnams(client: TestClient[Any, Any]) -> None:
    """Without ``from``, /api/sessions and /schedule list from Vietnam's today: a session
    at 00:30 Hanoi time today is listed by both (UTC's date is yesterday's until 07:00)."""
    today = local_today()
    assert today == datetime.now(UTC).astimezone(VN_TZ).date()
    starts = datetime.combine(today, datetime.min.time(), VN_TZ) + timedelta(minutes=30)
    if starts < datetime.now(UTC):
        # Past sessions cannot be booked; tomorrow's 00:30 is in both lists as well.
        starts += timedelta(days=1)
    body = {
        "title": "Tiếp công dân đột xuất lúc nửa đêm",
        "host_site": "tw-hanoi",
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(minutes=30)).isoformat(),
        "allow_day_off": True,
    }
    resp = await client.post("/api/sessions", json=body, headers=ADMIN)
    assert resp.status == 201, await resp.text()
    session_id = (await resp.json())["id"]
    listed = await (await client.get("/api/sessions")).json()
    assert session_id in [s["id"] for s in listed["sessions"]]
    page = await (await client.get("/schedule")).text()
    assert f'data-session="{session_id}"' in page


async def test_booking_without_rooms_is_checked_for_overlap(
    client: TestClient[Any, Any],
) -> None:
    """The same POST twice gives one session and a 409; so does an overlapping booking
    naming no rooms; a booking right after it is fine."""
    body = {
        "title": "Tiếp công dân đột xuất: vụ việc đông người",
        "host_site": "tw-hanoi",
        "starts_at": f"{MON}T08:00:00+07:00",
        "ends_at": f"{MON}T11:00:00+07:00",
        "participants": ["bac-ninh"],
    }
    first = await client.post("/api/sessions", json=body, headers=ADMIN)
    assert first.status == 201, await first.text()
    first_id = (await first.json())["id"]
    again = await client.post("/api/sessions", json=body, headers=ADMIN)
    assert again.status == 409, await again.text()
    error = (await again.json())["error"]
    assert error["code"] == "site_busy"
    assert "tw-hanoi" in error["message"] and "bac-ninh" in error["message"]
    check = await client.post("/api/sessions/check", json=body, headers=ADMIN)
    problems = (await check.json())["problems"]
    assert [p["code"] for p in problems] == ["site_busy"]
    assert problems[0]["session"]["id"] == first_id
    # A participant booked elsewhere at that time is busy too, host or not.
    other = dict(
        body,
        host_site="da-nang",
        participants=["bac-ninh"],
        starts_at=f"{MON}T10:00:00+07:00",
        ends_at=f"{MON}T12:00:00+07:00",
    )
    resp = await client.post("/api/sessions", json=other, headers=ADMIN)
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "site_busy"
    after = dict(body, starts_at=f"{MON}T11:00:00+07:00", ends_at=f"{MON}T12:00:00+07:00")
    resp = await client.post("/api/sessions", json=after, headers=ADMIN)
    assert resp.status == 201, await resp.text()
    listed = await (
        await client.get("/api/sessions", params={"from": MON, "to": MON, "site": "tw-hanoi"})
    ).json()
    assert len(listed["sessions"]) == 2


@pytest.mark.parametrize(("field", "value"), [("weekday", 7), ("weekday", -1), ("month_day", 0)])
async def test_rule_numbers_out_of_range_are_422(
    client: TestClient[Any, Any], field: str, value: int
) -> None:
    """Found by schemathesis: a monthly rule with weekday 7 was stored and answered."""
    rule = {
        "site": "bac-ninh",
        "title": "Tiếp công dân định kỳ",
        "kind": "periodic",
        "frequency": "monthly",
        "month_day": 15,
        "start_time": "07:30",
        "end_time": "11:30",
        field: value,
    }
    resp = await client.post("/api/rules", json=rule, headers=ADMIN)
    assert resp.status == 422, await resp.text()
    assert (await resp.json())["error"]["code"] == f"bad_{field}"
    rules = await (await client.get("/api/rules", headers=ADMIN)).json()
    assert rules["rules"] == []


@pytest.mark.parametrize("rule_id", ["4327329516142886125568", "2147483648", "999999999999"])
async def test_deleting_a_rule_id_beyond_the_database_is_404(
    client: TestClient[Any, Any], rule_id: str
) -> None:
    """Found by schemathesis: a rule id beyond SQLite's integer was a 500 (OverflowError)."""
    resp = await client.delete(f"/api/rules/{rule_id}", headers=ADMIN)
    assert resp.status == 404, await resp.text()
    assert (await resp.json())["error"]["code"] == "unknown_rule"
