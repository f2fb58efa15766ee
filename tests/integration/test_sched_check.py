"""The booking's dry run (``Store.check``, ``POST /api/sessions/check``) on SQLite and
PostgreSQL: it reports every reason the booking would be refused, the first of them is
the one the booking answers with, and it writes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from config.settings import Settings
from core.access import Role
from core.db import make_engine
from sessions.calendar import VN_TZ
from sessions.errors import Refusal, ScheduleError
from sessions.models import Frequency, ReceptionSession, Room, RuleKind
from sessions.requests import Participant, RuleRequest, SessionRequest
from sessions.rules import RuleSpec
from sessions.store import Store
from signaling.tokens import issue_token
from tests.integration.sched_support import sched_url
from web.app import create_app

__all__ = ["sched_url"]

SECRET = "scheduler-check-test-secret-0123456789abcdef"
NOW = datetime(2027, 2, 25, 3, 0, tzinfo=UTC)
"""The store's clock: Thursday 25 February 2027, 10:00 in Vietnam."""
MON = "2027-03-01"
SAT = "2027-03-06"
NATIONAL_DAY = "2027-09-02"


def at(day: str, hhmm: str) -> datetime:
    return datetime.fromisoformat(f"{day}T{hhmm}:00").replace(tzinfo=VN_TZ)


def room_of(store: Store, site: str, n: int = 0) -> int:
    with store.read() as db:
        ids = list(db.scalars(select(Room.id).where(Room.site_id == site).order_by(Room.id)))
    return int(ids[n])


def sessions_stored(store: Store) -> int:
    with store.read() as db:
        return int(db.scalar(select(func.count()).select_from(ReceptionSession)) or 0)


@pytest.fixture
def store(sched_url: str) -> Iterator[Store]:
    engine = make_engine(sched_url)
    s = Store(engine, clock=lambda: NOW)
    s.load_tree()
    yield s
    engine.dispose()


def request(**over: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "title": "Tiếp công dân đột xuất: vụ việc đông người",
        "host_site_id": "tw-hanoi",
        "starts_at": at(MON, "08:00"),
        "ends_at": at(MON, "11:00"),
        "participants": (Participant("bac-ninh"),),
    }
    fields.update(over)
    return fields


def booking_error(store: Store, fields: dict[str, Any], scope: frozenset[str] | None) -> str:
    """The code the booking refuses ``fields`` with ("" when it books them)."""
    try:
        store.book(SessionRequest(**fields), scope)
    except ScheduleError as exc:
        return exc.code
    return ""


def test_check_and_book_agree_and_the_check_writes_nothing(store: Store) -> None:
    bn_room = room_of(store, "bac-ninh")
    store.book(
        SessionRequest(**request(participants=(Participant("bac-ninh", bn_room),))),
    )
    bac_ninh = store.scope_for("bac-ninh")
    cases: list[tuple[dict[str, Any], frozenset[str] | None]] = [
        (request(starts_at=at(MON, "13:00"), ends_at=at(MON, "15:00")), None),
        (request(participants=(Participant("bac-ninh", bn_room),)), None),
        (request(starts_at=at(SAT, "08:00"), ends_at=at(SAT, "11:00")), None),
        (request(), bac_ninh),
        (request(participants=(Participant("nowhere"),)), None),
        (request(participants=(Participant("bac-giang"),)), None),
        (request(starts_at=at("2027-02-01", "08:00"), ends_at=at("2027-02-01", "09:00")), None),
        (request(participants=(Participant("bac-ninh", room_of(store, "ha-noi")),)), None),
        (request(title="  "), None),
        (request(starts_at=at(MON, "11:00"), ends_at=at(MON, "08:00")), None),
        (request(slot_minutes=2), None),
    ]
    for fields, scope in cases:
        before = sessions_stored(store)
        check = store.check(SessionRequest.draft(**fields), scope)
        assert sessions_stored(store) == before
        expected = booking_error(store, fields, scope)
        first = check.problems[0].code if check.problems else ""
        assert first == expected, (fields, check)
        assert check.ok is (expected == "")


def test_every_problem_at_once(store: Store) -> None:
    bn_room = room_of(store, "bac-ninh")
    taken = store.book(
        SessionRequest(
            **request(
                title="Phiên đã đặt trước",
                starts_at=at(SAT, "08:00"),
                ends_at=at(SAT, "10:00"),
                participants=(Participant("bac-ninh", bn_room),),
                allow_day_off=True,
            )
        )
    )
    draft = SessionRequest.draft(
        **request(
            title="",
            host_site_id="bac-ninh",
            starts_at=at(SAT, "09:00"),
            ends_at=at(SAT, "11:00"),
            participants=(Participant("bac-ninh", bn_room), Participant("da-nang")),
        )
    )
    check = store.check(draft, store.scope_for("bac-ninh"))
    codes = [p.code for p in check.problems]
    assert codes == ["missing_title", "outside_scope", "room_taken", "day_off"], codes
    title, scope, room, day = check.problems
    assert title.field == "title"
    assert (scope.kind, scope.field, scope.sites) == (
        Refusal.FORBIDDEN,
        "participants",
        ("da-nang",),
    )
    assert room.field == "host_site" and room.sites == ("bac-ninh",)
    assert room.room_id == bn_room and room.room_name
    assert room.clash is not None and room.clash.session_id == taken.id
    assert room.clash.title == "Phiên đã đặt trước"
    assert day.day is not None and not day.day.working and day.day.reason == "cuối tuần"
    answer = check.as_dict()
    assert answer["ok"] is False
    clash = answer["problems"][2]
    assert clash["room"] == {"id": bn_room, "name": room.room_name, "site": "bac-ninh"}
    assert clash["session"]["id"] == taken.id
    assert clash["session"]["starts_at_local"] == f"{SAT}T08:00:00+07:00"
    assert answer["day"] == {"date": SAT, "working": False, "reason": "cuối tuần"}


def test_days_off_allowed_and_explained(store: Store) -> None:
    holiday = request(starts_at=at(NATIONAL_DAY, "08:00"), ends_at=at(NATIONAL_DAY, "10:00"))
    check = store.check(SessionRequest.draft(**holiday))
    assert [p.code for p in check.problems] == ["day_off"]
    reason = check.problems[0].day.reason if check.problems[0].day else ""
    assert reason and reason != "cuối tuần"
    assert reason in check.problems[0].message
    allowed = store.check(SessionRequest.draft(**{**holiday, "allow_day_off": True}))
    assert allowed.ok and allowed.on_day_off and "booked explicitly" in allowed.note
    store.add_rule(
        RuleRequest(
            site_id="tw-hanoi",
            title="Tiếp công dân phục vụ bầu cử",
            kind=RuleKind.SPECIAL,
            spec=RuleSpec(
                Frequency.DAILY,
                at(MON, "08:00").time(),
                at(MON, "17:00").time(),
                valid_from=at(NATIONAL_DAY, "00:00").date(),
                valid_to=at(NATIONAL_DAY, "00:00").date(),
            ),
        )
    )
    covered = store.check(SessionRequest.draft(**holiday))
    assert covered.ok and covered.on_day_off
    assert covered.special_period == "Tiếp công dân phục vụ bầu cử"
    booked = store.book(SessionRequest(**holiday))
    assert booked.on_day_off and booked.note == covered.note


def test_inconsistent_times_stop_the_stored_checks(store: Store) -> None:
    draft = SessionRequest.draft(
        **request(starts_at=at(MON, "11:00"), ends_at=at(MON, "08:00"), slot_minutes=1)
    )
    assert draft.request is None
    check = store.check(draft)
    assert [(p.code, p.field) for p in check.problems] == [
        ("end_before_start", "ends_at"),
        ("bad_slot_minutes", "slot_minutes"),
    ]
    assert check.days == ()
    long = store.check(
        SessionRequest.draft(**request(ends_at=at(MON, "08:00") + timedelta(days=2)))
    )
    assert [p.code for p in long.problems] == ["too_long"]


def test_a_blank_title_does_not_hide_a_taken_room(store: Store) -> None:
    room = room_of(store, "tw-hanoi", 1)
    host = (Participant("tw-hanoi", room),)
    store.book(SessionRequest(**request(participants=host)))
    draft = SessionRequest.draft(**request(title="", participants=host))
    assert draft.request is not None
    check = store.check(draft)
    assert [p.code for p in check.problems] == ["missing_title", "room_taken"]
    assert check.problems[1].field == "host_site"


def test_a_problem_is_the_error_the_booking_raises(store: Store) -> None:
    fields = request(participants=(Participant("bac-giang"),))
    problem = store.check(SessionRequest.draft(**fields)).problems[0]
    with pytest.raises(ScheduleError) as raised:
        store.book(SessionRequest(**fields))
    error = problem.error()
    assert (raised.value.kind, raised.value.code, raised.value.message) == (
        error.kind,
        error.code,
        error.message,
    )
    assert "merged into bac-ninh" in error.message
    assert problem.day is not None and problem.day.day.isoformat() == MON


# -- the REST route --------------------------------------------------------------------


def token(role: Role, site: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(SECRET, role=role, site=site)}"}


CENTRAL = token(Role.SCHEDULER, "tw-hanoi")
BAC_NINH = token(Role.SCHEDULER, "bac-ninh")


class Api:
    def __init__(self, client: TestClient[Any, Any], store: Store) -> None:
        self.client = client
        self.store = store

    async def call(
        self, method: str, path: str, headers: dict[str, str] | None = None, **kw: Any
    ) -> tuple[int, Any]:
        resp = await self.client.request(method, path, headers=headers, **kw)
        return resp.status, await resp.json()


@pytest.fixture
async def api(sched_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    engine = make_engine(sched_url)
    store = Store(engine)
    store.load_tree()
    settings = Settings(data_dir=tmp_path, database_url=sched_url, secret=SECRET)
    async with TestClient(TestServer(create_app(settings))) as client:
        yield Api(client, store)
    engine.dispose()


def body(**over: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "title": "Tiếp công dân đột xuất",
        "host_site": "tw-hanoi",
        "starts_at": "2027-03-01T08:00",
        "ends_at": "2027-03-01T11:00",
        "time_zone": "Asia/Ho_Chi_Minh",
        "participants": ["bac-ninh", "da-nang"],
    }
    out.update(over)
    return out


async def test_check_route_answers_200_with_the_problems_and_books_nothing(api: Api) -> None:
    status, answer = await api.call("POST", "/api/sessions/check", CENTRAL, json=body())
    assert status == 200, answer
    assert answer["ok"] is True and answer["problems"] == []
    assert answer["day"] == {"date": MON, "working": True, "reason": ""}
    assert sessions_stored(api.store) == 0

    room = room_of(api.store, "bac-ninh")
    taken = body(participants=[{"site": "bac-ninh", "room_id": room}])
    status, booked = await api.call("POST", "/api/sessions", CENTRAL, json=taken)
    assert status == 201, booked
    clash = body(
        starts_at="2027-03-01T10:00",
        ends_at="2027-03-01T12:00",
        participants=[{"site": "bac-ninh", "room_id": room}, "da-nang"],
    )
    status, answer = await api.call("POST", "/api/sessions/check", CENTRAL, json=clash)
    assert status == 200 and answer["ok"] is False
    # The room is taken, and so is the host, which names no room in either (site_busy).
    problem, busy = answer["problems"]
    assert busy["code"] == "site_busy" and busy["sites"] == ["tw-hanoi"]
    assert busy["session"]["id"] == booked["id"]
    assert problem["code"] == "room_taken" and problem["field"] == "participants"
    assert problem["room"]["id"] == room and problem["session"]["id"] == booked["id"]
    status, refused = await api.call("POST", "/api/sessions", CENTRAL, json=clash)
    assert (status, refused["error"]["code"]) == (409, "room_taken")
    assert refused["error"]["message"] == problem["message"]
    assert sessions_stored(api.store) == 1


async def test_check_route_reports_what_the_booking_refuses_with_403_and_422(api: Api) -> None:
    outside = body(host_site="bac-ninh", participants=["ha-noi"])
    status, answer = await api.call("POST", "/api/sessions/check", BAC_NINH, json=outside)
    assert status == 200
    assert [(p["code"], p["sites"]) for p in answer["problems"]] == [("outside_scope", ["ha-noi"])]
    backwards = body(starts_at="2027-03-01T11:00", ends_at="2027-03-01T08:00", title="")
    status, answer = await api.call("POST", "/api/sessions/check", CENTRAL, json=backwards)
    assert status == 200
    assert [(p["code"], p.get("field")) for p in answer["problems"]] == [
        ("missing_title", "title"),
        ("end_before_start", "ends_at"),
    ]
    assert answer["day"] is None
    holiday = body(starts_at="2027-09-02T08:00", ends_at="2027-09-02T10:00")
    status, answer = await api.call("POST", "/api/sessions/check", CENTRAL, json=holiday)
    assert [p["code"] for p in answer["problems"]] == ["day_off"]
    assert answer["problems"][0]["day"]["reason"]
    status, answer = await api.call(
        "POST", "/api/sessions/check", CENTRAL, json={**holiday, "allow_day_off": True}
    )
    assert answer["ok"] is True and answer["on_day_off"] is True
    assert sessions_stored(api.store) == 0


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, "token_missing"),
        (token(Role.OPERATOR, "tw-hanoi"), 403, "forbidden_role"),
        (token(Role.ROOM, "bac-ninh"), 403, "forbidden_role"),
    ],
)
async def test_check_route_roles(api: Api, headers: dict[str, str], status: int, code: str) -> None:
    got, answer = await api.call("POST", "/api/sessions/check", headers, json=body())
    assert (got, answer["error"]["code"]) == (status, code)


@pytest.mark.parametrize(
    ("over", "code"),
    [
        ({"starts_at": "tomorrow morning"}, "bad_datetime"),
        ({"participants": "bac-ninh"}, "bad_field"),
        ({"title": None}, "missing_field"),
        ({"allow_day_off": "yes"}, "bad_field"),
    ],
)
async def test_check_route_malformed_input_is_400(
    api: Api, over: dict[str, Any], code: str
) -> None:
    status, answer = await api.call("POST", "/api/sessions/check", CENTRAL, json=body(**over))
    assert (status, answer["error"]["code"]) == (400, code)
