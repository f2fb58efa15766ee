"""Reception rules as values, and the dates they give over a range.

A rule never stores its sessions' dates: they follow from the calendar, so a swap the
government announces later moves them when sessions are generated again.
"""

from __future__ import annotations

import calendar as _cal
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sessions.calendar import WorkCalendar, local_instant
from sessions.errors import invalid
from sessions.models import Frequency


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """When a rule holds sessions (wall-clock times in Asia/Ho_Chi_Minh)."""

    frequency: Frequency
    """Every working day, weekly, monthly, or every day (special period)."""
    start_time: time
    """Local start of each session."""
    end_time: time
    """Local end of each session, after the start on the same day."""
    weekday: int | None = None
    """Weekly rules: 0 = Monday ... 6 = Sunday."""
    month_day: int | None = None
    """Monthly rules: day 1-31 (past the month's end means its last day)."""
    valid_from: date | None = None
    """First day the rule applies (a special period's start)."""
    valid_to: date | None = None
    """Last day the rule applies (a special period's end)."""

    def __post_init__(self) -> None:
        if self.end_time <= self.start_time:
            raise invalid("end_before_start", "a rule's end time must be after its start time")
        # Out of range is refused whatever the frequency: a stored rule never carries a
        # weekday 7 or a month_day 0, even where the frequency does not read it.
        if (self.weekday is not None and not 0 <= self.weekday <= 6) or (
            self.frequency is Frequency.WEEKLY and self.weekday is None
        ):
            raise invalid("bad_weekday", "a weekly rule needs weekday 0 (Monday) to 6 (Sunday)")
        if (self.month_day is not None and not 1 <= self.month_day <= 31) or (
            self.frequency is Frequency.MONTHLY and self.month_day is None
        ):
            raise invalid("bad_month_day", "a monthly rule needs month_day 1 to 31")
        if self.frequency is Frequency.DAILY and (self.valid_from is None or self.valid_to is None):
            raise invalid("special_period_open", "a special period needs both from and to dates")
        if self.valid_from and self.valid_to and self.valid_to < self.valid_from:
            raise invalid("end_before_start", "a rule's valid_to is before its valid_from")


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One session a rule gives."""

    day: date
    """Local date of the session."""
    starts_at: datetime
    """Start (UTC)."""
    ends_at: datetime
    """End (UTC)."""
    on_day_off: bool
    """Held on a day off (only special periods do this)."""


def rule_days(spec: RuleSpec, cal: WorkCalendar, start: date, end: date) -> list[date]:
    """Local dates of the rule's sessions from ``start`` to ``end`` (both included).

    Weekly and monthly sessions that fall on a day off move to the next working day.
    """
    lo = max(start, spec.valid_from) if spec.valid_from else start
    hi = min(end, spec.valid_to) if spec.valid_to else end
    if hi < lo:
        return []
    if spec.frequency is Frequency.WORKING_DAYS:
        return cal.working_days(lo, hi)
    if spec.frequency is Frequency.DAILY:
        return [lo + timedelta(days=n) for n in range((hi - lo).days + 1)]
    nominal: list[date] = []
    if spec.frequency is Frequency.WEEKLY:
        assert spec.weekday is not None
        # Begin a week early: a day off there may roll into the range.
        first = lo - timedelta(days=7) + timedelta(days=(spec.weekday - lo.weekday()) % 7)
        nominal = [first + timedelta(days=7 * n) for n in range((hi - first).days // 7 + 1)]
    else:
        assert spec.month_day is not None
        year, month = (lo.year, lo.month - 1) if lo.month > 1 else (lo.year - 1, 12)
        while date(year, month, 1) <= hi:
            last = _cal.monthrange(year, month)[1]
            nominal.append(date(year, month, min(spec.month_day, last)))
            year, month = (year, month + 1) if month < 12 else (year + 1, 1)
    out: list[date] = []
    for day in nominal:
        moved = cal.next_working_day(day)
        if lo <= moved <= hi and (not out or out[-1] != moved):
            out.append(moved)
    return out


def occurrences(spec: RuleSpec, cal: WorkCalendar, start: date, end: date) -> list[Occurrence]:
    """The rule's sessions from ``start`` to ``end`` with their UTC times."""
    # Only a special period's days can be days off: the others roll to working days.
    daily = spec.frequency is Frequency.DAILY
    return [
        Occurrence(
            day,
            local_instant(day, spec.start_time),
            local_instant(day, spec.end_time),
            daily and not cal.is_working_day(day),
        )
        for day in rule_days(spec, cal, start, end)
    ]
