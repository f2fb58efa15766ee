"""The deadline that follows a reception, from its kind and outcome, on the working-day calendar.

The figures are data (:data:`RULES`), each with the kind of days it counts and the text
it comes from. Days are counted from the day after the reception ("kể từ ngày"): the
N-th working day after it, or N calendar days after it moved to the next working day
when that day is off (Civil Code 2015, art. 148: a term ending on a day off ends on the
next working day).

The calendar is the scheduler's :class:`sessions.calendar.WorkCalendar` (the
``holidays`` package plus the administrators' overrides), handed in by the web layer:
anything with ``working_days`` and ``next_working_day`` will do.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Protocol

from book.values import Kind, Outcome


class Calendar(Protocol):
    """What the deadline needs of a working-day calendar."""

    def working_days(self, start: date, end: date) -> list[date]: ...

    def next_working_day(self, day: date) -> date: ...


class DayCount(enum.StrEnum):
    WORKING = "working"
    """Ngày làm việc."""
    CALENDAR = "calendar"
    """Ngày (theo lịch)."""


@dataclass(frozen=True, slots=True)
class Rule:
    """N days of one kind, and where the figure comes from."""

    days: int
    count: DayCount
    source: str

    def describe(self) -> str:
        unit = "ngày làm việc" if self.count is DayCount.WORKING else "ngày"
        return f"{self.days} {unit} ({self.source})"


ANSWER = Rule(10, DayCount.WORKING, "trả lời người được tiếp, Luật Tiếp công dân 2013 điều 28")
RULES: dict[tuple[Kind, bool], Rule] = {
    (Kind.COMPLAINT, False): Rule(30, DayCount.WORKING, "giải quyết khiếu nại lần đầu"),
    (Kind.COMPLAINT, True): Rule(45, DayCount.WORKING, "khiếu nại lần đầu, vụ việc phức tạp"),
    (Kind.MIXED, False): Rule(30, DayCount.WORKING, "nội dung hỗn hợp, như khiếu nại lần đầu"),
    (Kind.MIXED, True): Rule(45, DayCount.WORKING, "nội dung hỗn hợp, vụ việc phức tạp"),
    (Kind.DENUNCIATION, False): Rule(30, DayCount.CALENDAR, "giải quyết tố cáo, Luật Tố cáo 2018"),
    (Kind.DENUNCIATION, True): Rule(30, DayCount.CALENDAR, "giải quyết tố cáo, Luật Tố cáo 2018"),
    (Kind.PETITION, False): ANSWER,
    (Kind.PETITION, True): ANSWER,
}
"""Accepted for resolution: the resolution deadline by kind and complexity.

Forwarded or guided: the answer to the person received (:data:`ANSWER`). Refused or
not concluded yet: no deadline. The kind of days per rule is configurable data; the
complaint figures count working days, the denunciation ones calendar days (not verified
against each circular: change them here, the tests name the consequences)."""


def rule_for(kind: Kind, outcome: Outcome | None, complex_case: bool = False) -> Rule | None:
    """The rule that sets the deadline, or None when there is none."""
    if outcome is None or outcome is Outcome.REFUSED:
        return None
    if outcome is Outcome.ACCEPTED:
        return RULES[(kind, complex_case)]
    return ANSWER


def deadline(received_on: date, rule: Rule, calendar: Calendar) -> date:
    """The last day of ``rule`` counted from the day after ``received_on``."""
    if rule.count is DayCount.CALENDAR:
        return calendar.next_working_day(received_on + timedelta(days=rule.days))
    span = rule.days * 2 + 30
    while True:
        days = calendar.working_days(
            received_on + timedelta(days=1), received_on + timedelta(days=span)
        )
        if len(days) >= rule.days:
            return days[rule.days - 1]
        span *= 2


def entry_deadline(
    received_on: date, kind: Kind, outcome: Outcome | None, complex_case: bool, calendar: Calendar
) -> tuple[date | None, str]:
    """The deadline of an entry and the rule in words ('' when none)."""
    rule = rule_for(kind, outcome, complex_case)
    if rule is None:
        return None, ""
    return deadline(received_on, rule, calendar), rule.describe()
