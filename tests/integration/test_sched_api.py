"""The scheduler's REST API against a real database (SQLite and PostgreSQL).

Every refusal is a 4xx with a code and a reason, and leaves the database as it was.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from config.settings import Settings
from core.access import Role
from core.db import make_engine
from sessions.models import ReceptionSession, Room, SessionSite, Site
from sessions.store import Store
from signaling.tokens import issue_token, verify_token
from tests.integration.sched_support import sched_url
from web.accounts import api as accounts_api
from web.app import create_app
from web.archive.keys import RECORDER
from web.keys import DIRECTORY
from web.ops import api as ops_api
from web.schedule import api as schedule_api
from web.schedule import sites_api as schedule_sites_api

__all__ = ["sched_url"]

SECRET = "scheduler-api-test-secret-0123456789abcdef"

# A Monday and a Tuesday in 2027, working days, safely in the future.
MON = "2027-03-01"
TUE = "2027-03-02"


def token(role: Role, site: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(SECRET, role=role, site=site)}"}


ADMIN = token(Role.ADMINISTRATOR, "tw-hanoi")
CENTRAL = token(Role.SCHEDULER, "tw-hanoi")
BAC_NINH = token(Role.SCHEDULER, "bac-ninh")
KINH_BAC = token(Role.SCHEDULER, "phuong-kinh-bac")


class Api:
    """A test client plus direct counts of what is stored."""

    def __init__(self, client: TestClient[Any, Any], store: Store) -> None:
        self.client = client
        self.store = store

    async def call(
        self, method: str, path: str, headers: dict[str, str] | None = None, **kw: Any
    ) -> tuple[int, Any]:
        resp = await self.client.request(method, path, headers=headers, **kw)
        body = await resp.json() if resp.content_type == "application/json" else await resp.text()
        return resp.status, body

    def counts(self) -> tuple[int, int, int]:
        with self.store.read() as db:
            return (
                int(db.scalar(select(func.count()).select_from(ReceptionSession)) or 0),
                int(db.scalar(select(func.count()).select_from(SessionSite)) or 0),
                int(db.scalar(select(func.count()).select_from(Site)) or 0),
            )

    def room(self, site: str) -> int:
        with self.store.read() as db:
            room_id = db.scalar(select(Room.id).where(Room.site_id == site).order_by(Room.id))
        assert room_id is not None
        return int(room_id)


@pytest.fixture
async def api(sched_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    engine = make_engine(sched_url)
    store = Store(engine)
    store.load_tree()
    settings = Settings(data_dir=tmp_path, database_url=sched_url, secret=SECRET)
    async with TestClient(TestServer(create_app(settings))) as client:
        yield Api(client, store)
    engine.dispose()


def session_body(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Tiếp công dân đột xuất: vụ việc đông người",
        "host_site": "tw-hanoi",
        "starts_at": f"{MON}T08:00:00+07:00",
        "ends_at": f"{MON}T11:00:00+07:00",
        "participants": ["bac-ninh"],
        "officials": ["Trưởng Ban Tiếp công dân Trung ương"],
    }
    body.update(over)
    return body


async def refused(
    api: Api, status: int, code: str, body: Any, headers: dict[str, str] = CENTRAL
) -> str:
    before = api.counts()
    got, answer = await api.call("POST", "/api/sessions", headers, json=body)
    assert got == status, answer
    assert answer["error"]["code"] == code
    assert answer["error"]["message"]
    assert api.counts() == before
    return str(answer["error"]["message"])


async def test_booking_round_trip(api: Api) -> None:
    status, body = await api.call("POST", "/api/sessions", CENTRAL, json=session_body())
    assert status == 201, body
    assert body["starts_at"] == f"{MON}T01:00:00+00:00"
    assert body["starts_at_local"] == f"{MON}T08:00:00+07:00"
    assert {s["site"] for s in body["sites"]} == {"tw-hanoi", "bac-ninh"}
    assert body["state"] == "planned"
    status, fetched = await api.call("GET", f"/api/sessions/{body['id']}")
    assert status == 200 and fetched["id"] == body["id"]


async def test_overlapping_room_bookings_are_refused(api: Api) -> None:
    room = api.room("bac-ninh")
    first = session_body(participants=[{"site": "bac-ninh", "room_id": room}])
    status, _ = await api.call("POST", "/api/sessions", CENTRAL, json=first)
    assert status == 201
    clash = session_body(
        starts_at=f"{MON}T10:30:00+07:00",
        ends_at=f"{MON}T12:00:00+07:00",
        participants=[{"site": "bac-ninh", "room_id": room}],
    )
    message = await refused(api, 409, "room_taken", clash)
    assert "bac-ninh" in message
    after = session_body(
        starts_at=f"{MON}T11:00:00+07:00",
        ends_at=f"{MON}T12:00:00+07:00",
        participants=[{"site": "bac-ninh", "room_id": room}],
    )
    status, _ = await api.call("POST", "/api/sessions", CENTRAL, json=after)
    assert status == 201


async def test_concurrent_bookings_of_one_room_give_one_session(api: Api) -> None:
    room = api.room("ha-noi")
    body = session_body(
        starts_at=f"{TUE}T14:00:00+07:00",
        ends_at=f"{TUE}T16:00:00+07:00",
        participants=[{"site": "ha-noi", "room_id": room}],
    )
    results = await asyncio.gather(
        *(api.call("POST", "/api/sessions", CENTRAL, json=body) for _ in range(6))
    )
    statuses = sorted(status for status, _ in results)
    assert statuses == [201, 409, 409, 409, 409, 409]
    assert api.counts()[0] == 1


async def test_unknown_sites_and_rooms(api: Api) -> None:
    message = await refused(
        api, 422, "unknown_site", session_body(participants=["bac-ninh", "nowhere"])
    )
    assert "nowhere" in message
    await refused(api, 422, "unknown_site", session_body(host_site="atlantis"))
    other_room = api.room("ha-noi")
    await refused(
        api,
        422,
        "unknown_room",
        session_body(participants=[{"site": "bac-ninh", "room_id": other_room}]),
    )


async def test_merged_site_is_refused_with_its_successor(api: Api) -> None:
    message = await refused(api, 422, "site_inactive", session_body(participants=["bac-giang"]))
    assert "bac-ninh" in message


async def test_end_before_start(api: Api) -> None:
    await refused(
        api,
        422,
        "end_before_start",
        session_body(starts_at=f"{MON}T11:00:00+07:00", ends_at=f"{MON}T08:00:00+07:00"),
    )


@pytest.mark.parametrize(
    ("over", "code"),
    [
        ({"starts_at": "2027-13-01T08:00:00+07:00"}, "bad_datetime"),
        ({"starts_at": "tomorrow morning"}, "bad_datetime"),
        ({"starts_at": f"{MON}T08:00:00+25:00"}, "bad_datetime"),
        ({"starts_at": f"{MON}T08:00:00"}, "missing_time_zone"),
        ({"starts_at": f"{MON}T08:00:00", "time_zone": "Mars/Olympus"}, "bad_time_zone"),
        ({"starts_at": 1700000000}, "bad_datetime"),
        ({"participants": "bac-ninh"}, "bad_field"),
        ({"allow_day_off": "yes"}, "bad_field"),
    ],
)
async def test_malformed_input(api: Api, over: dict[str, Any], code: str) -> None:
    await refused(api, 400, code, session_body(**over))


async def test_naive_times_with_a_time_zone(api: Api) -> None:
    body = session_body(
        starts_at=f"{MON}T08:00:00", ends_at=f"{MON}T09:00:00", time_zone="Asia/Ho_Chi_Minh"
    )
    status, answer = await api.call("POST", "/api/sessions", CENTRAL, json=body)
    assert status == 201, answer
    assert answer["starts_at"] == f"{MON}T01:00:00+00:00"


async def test_not_json(api: Api) -> None:
    before = api.counts()
    status, answer = await api.call("POST", "/api/sessions", CENTRAL, data=b"{not json")
    assert (status, answer["error"]["code"]) == (400, "bad_json")
    assert api.counts() == before


async def test_day_off_outside_a_special_period(api: Api) -> None:
    tet = session_body(starts_at="2027-02-08T08:00:00+07:00", ends_at="2027-02-08T11:00:00+07:00")
    message = await refused(api, 409, "day_off", tet)
    assert "2027-02-08" in message and "allow_day_off" in message
    saturday = session_body(
        starts_at="2027-03-06T08:00:00+07:00", ends_at="2027-03-06T11:00:00+07:00"
    )
    await refused(api, 409, "day_off", saturday)
    status, booked = await api.call(
        "POST", "/api/sessions", CENTRAL, json={**saturday, "allow_day_off": True}
    )
    assert status == 201 and booked["on_day_off"] is True and "explicitly" in booked["note"]


async def test_special_period_allows_days_off_and_marks_them(api: Api) -> None:
    rule = {
        "site": "tw-hanoi",
        "title": "Tiếp công dân phục vụ bầu cử",
        "kind": "special",
        "start_time": "08:00",
        "end_time": "17:00",
        "valid_from": "2027-03-05",
        "valid_to": "2027-03-08",
    }
    status, answer = await api.call("POST", "/api/rules", CENTRAL, json=rule)
    assert status == 201, answer
    body = session_body(
        host_site="bac-ninh",
        participants=[],
        starts_at="2027-03-06T08:00:00+07:00",
        ends_at="2027-03-06T11:00:00+07:00",
    )
    status, booked = await api.call("POST", "/api/sessions", BAC_NINH, json=body)
    assert status == 201, booked
    assert booked["on_day_off"] is True and "special period" in booked["note"]


async def test_scheduler_is_limited_to_their_province(api: Api) -> None:
    message = await refused(
        api,
        403,
        "outside_scope",
        session_body(host_site="bac-ninh", participants=["ha-noi"]),
        BAC_NINH,
    )
    assert "ha-noi" in message
    await refused(api, 403, "outside_scope", session_body(), BAC_NINH)
    # A commune's scheduler acts for its whole province.
    ok = session_body(host_site="bac-ninh", participants=["bac-ninh-so-nnmt", "phuong-kinh-bac"])
    status, _ = await api.call("POST", "/api/sessions", KINH_BAC, json=ok)
    assert status == 201
    before = api.counts()
    status, answer = await api.call(
        "POST",
        "/api/sites",
        BAC_NINH,
        json={"id": "phuong-x", "name": "Phường X", "level": "commune", "parent": "ha-noi"},
    )
    assert (status, answer["error"]["code"]) == (403, "outside_scope")
    assert api.counts() == before


async def test_roles(api: Api) -> None:
    await refused(api, 401, "token_missing", session_body(), {})
    await refused(api, 403, "forbidden_role", session_body(), token(Role.PUBLIC, "tw-hanoi"))
    await refused(api, 403, "forbidden_role", session_body(), token(Role.ROOM, "bac-ninh"))
    status, answer = await api.call(
        "PUT",
        "/api/calendar/overrides/2027-03-06",
        CENTRAL,
        json={"working": True},
    )
    assert (status, answer["error"]["code"]) == (403, "forbidden_role")


async def test_site_tree_changes_are_all_or_nothing(api: Api) -> None:
    before = api.counts()
    status, answer = await api.call(
        "POST",
        "/api/sites",
        ADMIN,
        json={
            "sites": [
                {"id": "phuong-moi", "name": "Phường Mới", "level": "commune", "parent": "ha-noi"},
                {"id": "xa-sai", "name": "Xã Sai", "level": "commune", "parent": "khong-co"},
            ]
        },
    )
    assert (status, answer["error"]["code"]) == (422, "unknown_site")
    assert api.counts() == before
    status, answer = await api.call(
        "POST",
        "/api/sites",
        ADMIN,
        json={"id": "tinh-sai", "name": "Tỉnh sai", "level": "province", "parent": "ha-noi"},
    )
    assert (status, answer["error"]["code"]) == (422, "bad_parent")
    assert api.counts() == before
    status, answer = await api.call(
        "POST",
        "/api/sites",
        ADMIN,
        json={
            "id": "phuong-moi",
            "name": "Phường Mới",
            "level": "commune",
            "parent": "ha-noi",
            "rooms": ["Phòng 1"],
        },
    )
    assert status == 201, answer
    assert api.counts()[2] == before[2] + 1


async def test_state_changes_go_through_the_lifecycle(api: Api) -> None:
    status, booked = await api.call("POST", "/api/sessions", CENTRAL, json=session_body())
    sid = booked["id"]
    operator_elsewhere = token(Role.OPERATOR, "bac-ninh")
    status, answer = await api.call("POST", f"/api/sessions/{sid}/open", operator_elsewhere)
    assert (status, answer["error"]["code"]) == (403, "outside_scope")
    status, answer = await api.call(
        "POST", f"/api/sessions/{sid}/open", token(Role.OPERATOR, "tw-hanoi")
    )
    assert status == 200 and answer["state"] == "open"
    # The lifecycle told the recorder: the session is recorded from its opening...
    recorder = api.client.app[RECORDER]
    assert recorder.is_recording(sid)
    status, answer = await api.call("POST", f"/api/sessions/{sid}/cancel", CENTRAL)
    assert (status, answer["error"]["code"]) == (409, "bad_transition")
    status, answer = await api.call("POST", f"/api/sessions/{sid}/close", CENTRAL)
    assert status == 200 and answer["state"] == "closed"
    # ...and sealed at its close.
    assert not recorder.is_recording(sid)
    info = await api.client.app[DIRECTORY].session(sid)
    assert info is not None and str(info.state) == "closed" and "bac-ninh" in info.sites


async def test_room_token_window(api: Api) -> None:
    status, booked = await api.call("POST", "/api/sessions", CENTRAL, json=session_body())
    sid = booked["id"]
    status, answer = await api.call(
        "POST", f"/api/sessions/{sid}/room-token", CENTRAL, json={"site": "bac-ninh"}
    )
    assert status == 201, answer
    start = datetime.fromisoformat(booked["starts_at"])
    end = datetime.fromisoformat(booked["ends_at"])
    claims = verify_token(SECRET, answer["token"], now=start - timedelta(minutes=15))
    assert (claims.role, claims.site, claims.session) == (Role.ROOM, "bac-ninh", sid)
    assert claims.not_before == start - timedelta(minutes=15) and claims.expires == end
    status, answer = await api.call(
        "POST", f"/api/sessions/{sid}/room-token", CENTRAL, json={"site": "ha-noi"}
    )
    assert (status, answer["error"]["code"]) == (422, "site_not_booked")
    status, answer = await api.call(
        "POST",
        f"/api/sessions/{sid}/room-token",
        token(Role.ROOM, "ha-noi"),
        json={"site": "bac-ninh"},
    )
    assert (status, answer["error"]["code"]) == (403, "other_room")
    status, answer = await api.call(
        "POST",
        f"/api/sessions/{sid}/room-token",
        token(Role.ROOM, "bac-ninh"),
        json={"site": "bac-ninh"},
    )
    assert status == 201


async def test_slot_booking_keeps_names_private(api: Api) -> None:
    status, booked = await api.call(
        "POST", "/api/sessions", CENTRAL, json=session_body(slot_minutes=30)
    )
    assert status == 201 and len(booked["slots"]) == 6
    slot = booked["slots"][0]["id"]
    citizen = {"citizen_name": "Nguyễn Văn A", "case_kind": "denunciation", "people_count": 1}
    path = f"/api/sessions/{booked['id']}/slots/{slot}/booking"
    status, answer = await api.call("POST", path, CENTRAL, json=citizen)
    assert status == 201, answer
    status, answer = await api.call("POST", path, CENTRAL, json=citizen)
    assert (status, answer["error"]["code"]) == (409, "slot_taken")
    # Staff of a taking-part site may book; staff of another province may not.
    other = f"/api/sessions/{booked['id']}/slots/{booked['slots'][1]['id']}/booking"
    status, answer = await api.call("POST", other, token(Role.SCHEDULER, "ha-noi"), json=citizen)
    assert (status, answer["error"]["code"]) == (403, "outside_scope")
    status, answer = await api.call("POST", other, token(Role.OPERATOR, "tw-hanoi"), json=citizen)
    assert status == 201, answer
    status, answer = await api.call("POST", other, BAC_NINH, json={**citizen, "case_kind": "x"})
    assert (status, answer["error"]["code"]) == (400, "bad_case_kind")
    status, public = await api.call("GET", f"/api/sessions/{booked['id']}")
    assert public["slots"][0]["booked"] is True and "citizen_name" not in public["slots"][0]
    status, page = await api.call("GET", "/schedule?from=2027-03-01&to=2027-03-01")
    assert "Nguyễn Văn A" not in page and "Tỉnh Bắc Ninh" in page


async def test_openapi_lists_every_api_route(api: Api) -> None:
    status, spec = await api.call("GET", "/api/openapi.json")
    assert status == 200 and spec["openapi"].startswith("3.")
    for table in (
        schedule_api.routes,
        schedule_sites_api.routes,
        accounts_api.routes,
        [r for r in ops_api.routes if r.path.startswith("/api/")],  # type: ignore[attr-defined]
    ):
        for route in table:
            path = route.path  # type: ignore[attr-defined]
            assert path in spec["paths"], path
            assert route.method.lower() in spec["paths"][path]  # type: ignore[attr-defined]


async def test_generation_is_all_or_nothing(api: Api) -> None:
    room = api.room("bac-ninh")
    rule = {
        "site": "bac-ninh",
        "title": "Chủ tịch UBND tỉnh tiếp công dân định kỳ",
        "kind": "periodic",
        "frequency": "monthly",
        "month_day": 15,
        "host_kind": "head",
        "start_time": "07:30",
        "end_time": "11:30",
        "room_id": room,
        "participants": ["phuong-kinh-bac"],
    }
    status, answer = await api.call("POST", "/api/rules", BAC_NINH, json=rule)
    assert status == 201, answer
    # 15 March 2027 is a Monday: an ad-hoc booking takes the room first.
    taken = session_body(
        host_site="bac-ninh",
        participants=[{"site": "bac-ninh", "room_id": room}],
        starts_at="2027-03-15T09:00:00+07:00",
        ends_at="2027-03-15T10:00:00+07:00",
    )
    status, _ = await api.call("POST", "/api/sessions", BAC_NINH, json=taken)
    assert status == 201
    before = api.counts()
    span = {"from": "2027-01-01", "to": "2027-06-30", "site": "bac-ninh"}
    status, answer = await api.call("POST", "/api/schedule/generate", BAC_NINH, json=span)
    assert (status, answer["error"]["code"]) == (409, "room_taken")
    assert "2027-03-15" in answer["error"]["message"]
    assert api.counts() == before
    status, answer = await api.call(
        "POST", "/api/schedule/generate", BAC_NINH, json={**span, "skip_conflicts": True}
    )
    assert status == 200 and answer["created"] == 5 and len(answer["skipped"]) == 1
    # Generation is idempotent; the clash stays reported until the booking moves.
    status, answer = await api.call(
        "POST", "/api/schedule/generate", BAC_NINH, json={**span, "skip_conflicts": True}
    )
    assert (status, answer["created"], answer["existing"], len(answer["skipped"])) == (200, 0, 5, 1)
    status, answer = await api.call(
        "POST", "/api/schedule/generate", BAC_NINH, json={**span, "site": "ha-noi"}
    )
    assert (status, answer["error"]["code"]) == (403, "outside_scope")
    status, answer = await api.call(
        "POST", "/api/schedule/generate", BAC_NINH, json={**span, "to": "2026-12-31"}
    )
    assert (status, answer["error"]["code"]) == (422, "end_before_start")


async def test_overrides_through_the_api(api: Api) -> None:
    status, answer = await api.call("GET", "/api/calendar/days?from=2027-03-06&to=2027-03-06")
    assert answer["days"] == [{"date": "2027-03-06", "working": False, "reason": "cuối tuần"}]
    status, answer = await api.call(
        "PUT", "/api/calendar/overrides/2027-03-06", ADMIN, json={"working": True, "note": "bù"}
    )
    assert status == 200, answer
    status, answer = await api.call("GET", "/api/calendar/days?from=2027-03-06&to=2027-03-06")
    assert answer["days"][0]["working"] is True and answer["days"][0]["reason"] == "bù"
    saturday = session_body(
        starts_at="2027-03-06T08:00:00+07:00", ends_at="2027-03-06T11:00:00+07:00"
    )
    status, booked = await api.call("POST", "/api/sessions", CENTRAL, json=saturday)
    assert status == 201 and booked["on_day_off"] is False
    status, answer = await api.call("PUT", "/api/calendar/overrides/2027-02-30", ADMIN, json={})
    assert (status, answer["error"]["code"]) == (400, "bad_date")
    status, answer = await api.call("DELETE", "/api/calendar/overrides/2027-03-07", ADMIN)
    assert (status, answer["error"]["code"]) == (404, "unknown_override")


async def test_public_page_languages_and_bad_ranges(api: Api) -> None:
    status, page = await api.call("GET", "/schedule")
    assert status == 200 and "Lịch tiếp công dân" in page and 'lang="vi"' in page
    status, page = await api.call("GET", "/schedule?lang=en&site=bac-ninh")
    assert status == 200 and "Citizen reception schedule" in page
    assert "/api/sites/bac-ninh/calendar.ics" in page
    status, answer = await api.call("GET", "/schedule?from=27/11/2026")
    assert (status, answer["error"]["code"]) == (400, "bad_date")
    status, answer = await api.call("GET", "/schedule?site=atlantis")
    assert (status, answer["error"]["code"]) == (404, "unknown_site")
    status, answer = await api.call("GET", "/api/sessions?from=2027-03-02&to=2027-03-01")
    assert (status, answer["error"]["code"]) == (422, "end_before_start")
