"""Rule dates from the calendar alone (no database): rolling, clamping, special periods."""

from __future__ import annotations

from datetime import date, time

import pytest

from sessions.calendar import Override, WorkCalendar, local_instant
from sessions.errors import ScheduleError
from sessions.models import Frequency
from sessions.rules import RuleSpec, occurrences, rule_days

CAL = WorkCalendar({date(2026, 1, 2): Override(False), date(2026, 1, 10): Override(True)})


def test_weekly_rule_moves_off_a_holiday_and_never_doubles() -> None:
    mondays = RuleSpec(Frequency.WEEKLY, time(8), time(11), weekday=0)
    days = rule_days(mondays, CAL, date(2026, 2, 1), date(2026, 3, 2))
    # 16 Feb (Tết) rolls to 23 Feb, which is also that week's Monday: one session.
    assert days == [date(2026, 2, 2), date(2026, 2, 9), date(2026, 2, 23), date(2026, 3, 2)]


def test_monthly_day_past_the_month_end_is_the_last_day() -> None:
    spec = RuleSpec(Frequency.MONTHLY, time(8), time(11), month_day=31)
    days = rule_days(spec, CAL, date(2026, 4, 1), date(2026, 6, 30))
    # April's is the 30th, a holiday (then 1 May and a weekend): Monday 4 May.
    # May's is the 31st, a Sunday: Monday 1 June.
    assert days == [date(2026, 5, 4), date(2026, 6, 1), date(2026, 6, 30)]


def test_a_day_off_at_the_range_start_rolls_in() -> None:
    spec = RuleSpec(Frequency.MONTHLY, time(8), time(11), month_day=31)
    assert rule_days(spec, CAL, date(2026, 2, 1), date(2026, 2, 5)) == [date(2026, 2, 2)]


def test_regular_hours_skip_every_day_off() -> None:
    spec = RuleSpec(Frequency.WORKING_DAYS, time(7, 30), time(11, 30))
    days = rule_days(spec, CAL, date(2026, 1, 1), date(2026, 1, 11))
    assert days == [date(2026, 1, d) for d in (5, 6, 7, 8, 9, 10)]


def test_times_are_utc_from_hanoi_wall_clock() -> None:
    spec = RuleSpec(Frequency.MONTHLY, time(7, 30), time(11, 30), month_day=15)
    (occ,) = occurrences(spec, CAL, date(2026, 3, 1), date(2026, 3, 31))
    assert occ.starts_at == local_instant(date(2026, 3, 16), time(7, 30))
    assert occ.starts_at.isoformat() == "2026-03-16T00:30:00+00:00"
    assert not occ.on_day_off


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"frequency": Frequency.WEEKLY}, "bad_weekday"),
        ({"frequency": Frequency.WEEKLY, "weekday": 7}, "bad_weekday"),
        ({"frequency": Frequency.MONTHLY, "month_day": 0}, "bad_month_day"),
        ({"frequency": Frequency.DAILY, "valid_from": date(2026, 1, 1)}, "special_period_open"),
        ({"frequency": Frequency.WORKING_DAYS, "end_time": time(7)}, "end_before_start"),
    ],
)
def test_bad_rules(kwargs: dict[str, object], code: str) -> None:
    args: dict[str, object] = {"start_time": time(8), "end_time": time(11), **kwargs}
    with pytest.raises(ScheduleError) as info:
        RuleSpec(**args)  # type: ignore[arg-type]
    assert info.value.code == code
