"""Deadlines of reception book entries over Tết 2026 and the 2 January 2026 swap, worked by hand.

The calendar is the scheduler's, with the swap the government announced for New Year
2026 (2 January off, Saturday 10 January worked) as the ``sessions`` migration seeds it.
Tết 2026: Saturday 14 to Sunday 22 February are days off (holidays 16-20, weekends
around them). Days are counted from the day after the reception.
"""

from __future__ import annotations

from datetime import date

import pytest

from book.deadlines import ANSWER, DayCount, Rule, entry_deadline, rule_for
from book.values import Kind, Outcome
from sessions.calendar import Override, WorkCalendar

SWAP = {
    date(2026, 1, 2): Override(False, "Nghỉ bù Tết Dương lịch 2026"),
    date(2026, 1, 10): Override(True, "Làm bù thứ Bảy 10/01/2026"),
}


@pytest.fixture
def calendar() -> WorkCalendar:
    return WorkCalendar(SWAP)


def test_an_answer_spanning_tet_counts_only_working_days(calendar: WorkCalendar) -> None:
    # Guided on Friday 6 Feb 2026, 10 working days:
    # Mon 9 (1), Tue 10 (2), Wed 11 (3), Thu 12 (4), Fri 13 (5),
    # Sat 14 .. Sun 22 off (weekend, Tết 16-20, weekend),
    # Mon 23 (6), Tue 24 (7), Wed 25 (8), Thu 26 (9), Fri 27 (10).
    due, rule = entry_deadline(date(2026, 2, 6), Kind.PETITION, Outcome.GUIDED, False, calendar)
    assert due == date(2026, 2, 27)
    assert "10 ngày làm việc" in rule


def test_a_first_complaint_accepted_before_tet(calendar: WorkCalendar) -> None:
    # Accepted Monday 2 Feb 2026, 30 working days:
    # Feb 3, 4, 5, 6 (4); 9-13 (9); 14-22 off; 23-27 (14);
    # Mar 2-6 (19); 9-13 (24); 16-20 (29); Mon 23 Mar (30).
    due, _ = entry_deadline(date(2026, 2, 2), Kind.COMPLAINT, Outcome.ACCEPTED, False, calendar)
    assert due == date(2026, 3, 23)


def test_a_denunciation_ending_in_tet_moves_to_the_next_working_day(
    calendar: WorkCalendar,
) -> None:
    # Accepted Thursday 22 Jan 2026, 30 calendar days: 22 Jan + 30 = Saturday 21 Feb,
    # inside the Tết break (14-22 Feb off), so it ends on Monday 23 Feb.
    due, rule = entry_deadline(
        date(2026, 1, 22), Kind.DENUNCIATION, Outcome.ACCEPTED, False, calendar
    )
    assert due == date(2026, 2, 23)
    assert rule.startswith("30 ngày (")


def test_the_2_january_swap_takes_a_day_off_the_count(calendar: WorkCalendar) -> None:
    # Forwarded Wednesday 24 Dec 2025, 10 working days:
    # Thu 25 (1), Fri 26 (2), Mon 29 (3), Tue 30 (4), Wed 31 (5),
    # Thu 1 Jan off (New Year), Fri 2 Jan off (swap), Sat 3, Sun 4 off,
    # Mon 5 (6), Tue 6 (7), Wed 7 (8), Thu 8 (9), Fri 9 (10).
    due, _ = entry_deadline(date(2025, 12, 24), Kind.COMPLAINT, Outcome.FORWARDED, False, calendar)
    assert due == date(2026, 1, 9)
    # Without the swap (the holidays package alone) Friday 2 January counts: Thursday 8.
    plain, _ = entry_deadline(
        date(2025, 12, 24), Kind.COMPLAINT, Outcome.FORWARDED, False, WorkCalendar()
    )
    assert plain == date(2026, 1, 8)


def test_the_saturday_worked_on_10_january_counts(calendar: WorkCalendar) -> None:
    # Guided Friday 9 Jan 2026, 10 working days:
    # Sat 10 (1, worked in lieu of 2 Jan), Sun 11 off,
    # Mon 12 (2), 13 (3), 14 (4), 15 (5), Fri 16 (6), Mon 19 (7), 20 (8), 21 (9), Thu 22 (10).
    due, _ = entry_deadline(date(2026, 1, 9), Kind.PETITION, Outcome.GUIDED, False, calendar)
    assert due == date(2026, 1, 22)


def test_a_calendar_deadline_on_the_swapped_day_off(calendar: WorkCalendar) -> None:
    # Denunciation accepted Wednesday 3 Dec 2025: + 30 days = Friday 2 Jan 2026, a day off
    # by the swap; Saturday 3 and Sunday 4 are off too: Monday 5 January.
    due, _ = entry_deadline(date(2025, 12, 3), Kind.DENUNCIATION, Outcome.ACCEPTED, False, calendar)
    assert due == date(2026, 1, 5)


def test_rules_by_kind_and_outcome() -> None:
    assert rule_for(Kind.COMPLAINT, Outcome.REFUSED) is None
    assert rule_for(Kind.COMPLAINT, None) is None
    assert rule_for(Kind.DENUNCIATION, Outcome.GUIDED) is ANSWER
    complex_rule = rule_for(Kind.COMPLAINT, Outcome.ACCEPTED, True)
    assert complex_rule == Rule(45, DayCount.WORKING, "khiếu nại lần đầu, vụ việc phức tạp")
