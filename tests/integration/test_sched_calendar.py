"""Working days against the government's announcements, on SQLite and PostgreSQL.

Sources: holidays for 2025 (Tết 25 Jan-2 Feb, 30/4-1/5 with 2 May swapped for Saturday
26 April, National Day 1-2 September) and 2026 (New Year 1 January plus 2 January
swapped for Saturday 10 January; Tết 16-20 February; Hùng Kings 26 April observed on
27 April; 30 April and 1 May; National Day 1-2 September; Vietnam Culture Day 24 November).
"""

from __future__ import annotations

from datetime import date, datetime, time

import pytest

from sessions.calendar import local_day, local_instant
from sessions.models import Frequency, RuleKind
from sessions.requests import RuleRequest
from sessions.rules import RuleSpec, rule_days
from sessions.store import Store
from tests.integration.sched_support import sched_url, store

__all__ = ["sched_url", "store"]

D = date


def midnight(day: date) -> datetime:
    return local_instant(day, time(0))


DAYS_OFF = [
    D(2025, 1, 1),
    *(D(2025, 1, d) for d in range(27, 32)),
    D(2025, 4, 7),
    D(2025, 4, 30),
    D(2025, 5, 1),
    D(2025, 5, 2),
    D(2025, 9, 1),
    D(2025, 9, 2),
    D(2026, 1, 1),
    D(2026, 1, 2),
    *(D(2026, 2, d) for d in range(16, 21)),
    D(2026, 4, 27),
    D(2026, 4, 30),
    D(2026, 5, 1),
    D(2026, 9, 1),
    D(2026, 9, 2),
    D(2026, 11, 24),
]

WORKED = [
    D(2025, 1, 24),  # Friday before Tết 2025
    D(2025, 2, 3),  # Monday after Tết 2025
    D(2025, 4, 26),  # Saturday worked for Friday 2 May
    D(2025, 9, 3),
    D(2026, 1, 5),
    D(2026, 1, 10),  # Saturday worked for Friday 2 January (override table)
    D(2026, 2, 13),  # Friday before Tết 2026
    D(2026, 2, 23),  # Monday after Tết 2026
    D(2026, 4, 28),
    D(2026, 9, 3),
]


@pytest.mark.parametrize("day", DAYS_OFF, ids=str)
def test_announced_days_off(store: Store, day: date) -> None:
    assert not store.calendar().is_working_day(day)


@pytest.mark.parametrize("day", WORKED, ids=str)
def test_announced_working_days(store: Store, day: date) -> None:
    assert store.calendar().is_working_day(day)


def test_tet_2026_is_one_block_with_its_weekends(store: Store) -> None:
    days = store.days(D(2026, 2, 13), D(2026, 2, 23))
    assert [d.day for d in days if not d.working] == [D(2026, 2, d) for d in range(14, 23)]
    assert "Tết" in days[3].reason


def test_new_year_2026_swap_comes_from_the_override_table(store: Store) -> None:
    assert store.list_overrides()[D(2026, 1, 2)].working is False
    assert store.list_overrides()[D(2026, 1, 10)].working is True
    store.delete_override(D(2026, 1, 10))
    assert not store.calendar().is_working_day(D(2026, 1, 10))
    store.set_override(D(2027, 2, 20), True, "test: Saturday worked")
    assert store.calendar().is_working_day(D(2027, 2, 20))


MONTHLY_15 = {
    # 15 Feb 2026 is a Sunday, then Tết (16-20) and a weekend: the next working day is 23 Feb.
    D(2026, 2, 15): D(2026, 2, 23),
    D(2025, 11, 15): D(2025, 11, 17),  # Saturday
    D(2026, 3, 15): D(2026, 3, 16),  # Sunday
    D(2026, 8, 15): D(2026, 8, 17),  # Saturday
    D(2026, 4, 15): D(2026, 4, 15),  # Wednesday, worked
}


def test_monthly_rule_rolls_over_days_off(store: Store) -> None:
    rule = store.add_rule(
        RuleRequest(
            site_id="bac-ninh",
            title="Chủ tịch UBND tỉnh tiếp công dân định kỳ",
            kind=RuleKind.PERIODIC,
            spec=RuleSpec(Frequency.MONTHLY, time(7, 30), time(11, 30), month_day=15),
        )
    )
    report = store.generate(D(2025, 7, 1), D(2026, 12, 31), site_id="bac-ninh")
    assert report.created == 18
    sessions = [
        s
        for s in store.list_sessions(midnight(D(2025, 7, 1)), midnight(D(2027, 1, 1)))
        if s.rule_id == rule.id
    ]
    days = {local_day(s.starts_at) for s in sessions}
    for nominal, held in MONTHLY_15.items():
        assert held in days, nominal
        if nominal != held:
            assert nominal not in days
    assert all(store.calendar().is_working_day(d) for d in days)
    first = min(sessions, key=lambda s: s.starts_at)
    assert first.starts_at.isoformat() == "2025-07-15T00:30:00+00:00"  # 07:30 in Hanoi
    again = store.generate(D(2025, 7, 1), D(2026, 12, 31), site_id="bac-ninh")
    assert (again.created, again.existing) == (0, 18)


def test_monthly_rule_follows_the_new_year_2026_override(store: Store) -> None:
    cal = store.calendar()
    spec = RuleSpec(Frequency.MONTHLY, time(8), time(11), month_day=1)
    assert rule_days(spec, cal, D(2026, 1, 1), D(2026, 1, 31)) == [D(2026, 1, 5)]
    spec10 = RuleSpec(Frequency.MONTHLY, time(8), time(11), month_day=10)
    assert rule_days(spec10, cal, D(2026, 1, 1), D(2026, 1, 31)) == [D(2026, 1, 10)]


def test_special_period_runs_every_day(store: Store) -> None:
    store.add_rule(
        RuleRequest(
            site_id="tw-hanoi",
            title="Tiếp công dân phục vụ Đại hội",
            kind=RuleKind.SPECIAL,
            spec=RuleSpec(
                Frequency.DAILY,
                time(8),
                time(17),
                valid_from=D(2026, 2, 13),
                valid_to=D(2026, 2, 22),
            ),
        )
    )
    report = store.generate(D(2026, 2, 1), D(2026, 2, 28), site_id="tw-hanoi")
    assert report.created == 10
    held = store.list_sessions(midnight(D(2026, 2, 13)), midnight(D(2026, 2, 23)))
    assert sum(s.on_day_off for s in held) == 9
