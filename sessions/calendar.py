"""Vietnamese working days: the ``holidays`` package plus the government's yearly swaps.

Times are stored in UTC and shown in Asia/Ho_Chi_Minh; a "day" here is always a local
date in Vietnam (UTC+7, no daylight saving).
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
WEEKEND = frozenset({5, 6})
"""Saturday and Sunday."""


@dataclass(frozen=True, slots=True)
class Override:
    """An administrator's entry for one day, which wins over the package."""

    working: bool
    """True: worked (a swapped Saturday); False: a day off (a swapped weekday)."""
    note: str = ""
    """The announcement it comes from, in words."""


@dataclass(frozen=True, slots=True)
class DayInfo:
    """Whether a day is worked, and why not."""

    day: date
    """The local date."""
    working: bool
    """True on a working day."""
    reason: str = ""
    """Why the day is off (holiday name, weekend, override note), or why it is worked
    although a weekend day; empty on an ordinary working day."""


_VN_HOLIDAYS = holidays.country_holidays("VN")
FIRST_DAY = date(_VN_HOLIDAYS.start_year, 1, 1)
"""The first day the calendar knows (its holidays follow the lunar calendar, which the
``holidays`` package carries from this year on): earlier dates are refused."""
LAST_DAY = date(_VN_HOLIDAYS.end_year, 12, 31)
"""The last day the calendar knows: later dates are refused (an empty Tết is no answer)."""


def known_day(day: date) -> bool:
    """True if ``day`` is within the calendar's years (FIRST_DAY to LAST_DAY)."""
    return FIRST_DAY <= day <= LAST_DAY


class WorkCalendar:
    """Working days in Vietnam for any year, with overrides applied."""

    def __init__(self, overrides: Mapping[date, Override] | None = None) -> None:
        self._overrides = dict(overrides or {})
        self._years: dict[int, holidays.HolidayBase] = {}
        self._days_off: dict[int, frozenset[date]] = {}
        self._working: dict[int, list[date]] = {}

    @property
    def overrides(self) -> dict[date, Override]:
        return dict(self._overrides)

    def _year_days_off(self, year: int) -> frozenset[date]:
        cached = self._days_off.get(year)
        if cached is not None:
            return cached
        named = self._holidays(year)
        workdays = named.weekend_workdays
        off: set[date] = set()
        day = date(year, 1, 1)
        while day.year == year:
            if day.weekday() in WEEKEND:
                if day not in workdays:
                    off.add(day)
            elif day in named:
                off.add(day)
            day += timedelta(days=1)
        for when, override in self._overrides.items():
            if when.year == year:
                if override.working:
                    off.discard(when)
                else:
                    off.add(when)
        result = frozenset(off)
        self._days_off[year] = result
        return result

    def _holidays(self, year: int) -> holidays.HolidayBase:
        named = self._years.get(year)
        if named is None:
            named = holidays.country_holidays("VN", years=year, language="vi")
            self._years[year] = named
        return named

    def _year_working(self, year: int) -> list[date]:
        cached = self._working.get(year)
        if cached is None:
            off = self._year_days_off(year)
            first = date(year, 1, 1)
            cached = [
                d
                for d in (first + timedelta(days=n) for n in range(366))
                if d.year == year and d not in off
            ]
            self._working[year] = cached
        return cached

    def is_working_day(self, day: date) -> bool:
        return day not in self._year_days_off(day.year)

    def describe(self, day: date) -> DayInfo:
        working = self.is_working_day(day)
        override = self._overrides.get(day)
        if override is not None:
            return DayInfo(day, working, override.note)
        name = self._holidays(day.year).get(day)
        if name:
            return DayInfo(day, working, str(name))
        if day.weekday() in WEEKEND:
            return DayInfo(day, working, "ngày làm bù" if working else "cuối tuần")
        return DayInfo(day, working)

    def next_working_day(self, day: date) -> date:
        """``day`` itself if worked, else the first working day after it."""
        year = day.year
        while True:
            days = self._year_working(year)
            index = bisect.bisect_left(days, day)
            if index < len(days):
                return days[index]
            year += 1
            day = date(year, 1, 1)

    def working_days(self, start: date, end: date) -> list[date]:
        """Working days from ``start`` to ``end``, both included."""
        out: list[date] = []
        for year in range(start.year, end.year + 1):
            days = self._year_working(year)
            lo = bisect.bisect_left(days, start)
            hi = bisect.bisect_right(days, end)
            out.extend(days[lo:hi])
        return out


@functools.lru_cache(maxsize=4096)
def _offset(day: date, at: time) -> timedelta:
    offset = datetime.combine(day, at, VN_TZ).utcoffset()
    assert offset is not None
    return offset


def local_instant(day: date, at: time) -> datetime:
    """The UTC instant of wall-clock ``at`` on ``day`` in Vietnam."""
    return datetime.combine(day, at, UTC) - _offset(day, at)


def local_day(instant: datetime) -> date:
    """The Vietnamese date of a UTC instant."""
    return instant.astimezone(VN_TZ).date()


def local_today() -> date:
    """Today in Vietnam: the one "today" every default takes (UTC's date is yesterday's
    from 00:00 to 07:00 in Hanoi)."""
    return local_day(datetime.now(UTC))
