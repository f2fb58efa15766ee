"""The iCalendar feed parses with the icalendar package and round-trips every session."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from icalendar import Calendar

from config.settings import Settings
from core.db import make_engine
from core.sessions import SessionState
from sessions.calendar import local_day
from sessions.models import Frequency, RuleKind
from sessions.requests import Participant, RuleRequest, SessionRequest
from sessions.rules import RuleSpec
from sessions.store import Store
from tests.integration.sched_support import sched_url
from web.app import create_app

__all__ = ["sched_url"]


@pytest.fixture
async def feed_app(sched_url: str, tmp_path: Path) -> AsyncIterator[tuple[TestClient, Store]]:  # type: ignore[type-arg]
    engine = make_engine(sched_url)
    store = Store(engine)
    store.load_tree()
    settings = Settings(data_dir=tmp_path, database_url=sched_url, secret="x" * 40)
    async with TestClient(TestServer(create_app(settings))) as client:
        yield client, store
    engine.dispose()


async def test_feed_round_trips_every_session(
    feed_app: tuple[TestClient, Store],  # type: ignore[type-arg]
) -> None:
    client, store = feed_app
    today = local_day(datetime.now(UTC))
    store.add_rule(
        RuleRequest(
            site_id="bac-ninh",
            title="Chủ tịch UBND tỉnh tiếp công dân định kỳ",
            kind=RuleKind.PERIODIC,
            spec=RuleSpec(Frequency.MONTHLY, time(7, 30), time(11, 30), month_day=15),
            participants=("phuong-kinh-bac",),
        )
    )
    store.add_rule(
        RuleRequest(
            site_id="phuong-kinh-bac",
            title="Chủ tịch UBND phường tiếp công dân",
            kind=RuleKind.PERIODIC,
            spec=RuleSpec(Frequency.WEEKLY, time(14), time(16, 30), weekday=3),
        )
    )
    store.generate(today, today + timedelta(days=120))
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    adhoc = store.book(
        SessionRequest(
            title="Tiếp công dân trực tuyến với Trung ương",
            host_site_id="tw-hanoi",
            starts_at=start,
            ends_at=start + timedelta(hours=2, minutes=15),
            participants=(Participant("bac-ninh"),),
            allow_day_off=True,
        )
    )
    store.set_state(adhoc.id, SessionState.CANCELLED, note="test")
    unrelated = store.book(
        SessionRequest(
            title="Không liên quan",
            host_site_id="ha-noi",
            starts_at=start,
            ends_at=start + timedelta(hours=1),
            allow_day_off=True,
        )
    )

    resp = await client.get("/api/sites/bac-ninh/calendar.ics")
    assert resp.status == 200
    assert resp.content_type == "text/calendar"
    cal = Calendar.from_ical(await resp.read())
    events = {str(e["uid"]): e for e in cal.walk("VEVENT")}

    expected = store.list_sessions(
        datetime.now(UTC) - timedelta(days=90),
        datetime.now(UTC) + timedelta(days=366),
        site_ids=store.subtree("bac-ninh"),
    )
    assert len(expected) > 20
    assert {f"{s.id}@reception-bridge" for s in expected} == set(events)
    assert f"{unrelated.id}@reception-bridge" not in events
    for session in expected:
        event = events[f"{session.id}@reception-bridge"]
        assert event.decoded("dtstart") == session.starts_at
        assert event.decoded("dtend") == session.ends_at
        assert str(event["summary"]) == session.title
        assert str(event["status"]) == (
            "CANCELLED" if session.state is SessionState.CANCELLED else "CONFIRMED"
        )
    cancelled = events[f"{adhoc.id}@reception-bridge"]
    assert "Tỉnh Bắc Ninh" in str(cancelled["description"])


async def test_unknown_site_feed(feed_app: tuple[TestClient, Store]) -> None:  # type: ignore[type-arg]
    client, _ = feed_app
    resp = await client.get("/api/sites/atlantis/calendar.ics")
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "unknown_site"
