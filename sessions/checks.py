"""What a dry run of a booking finds: every reason it would be refused, in one answer.

:func:`sessions.booking.find_problems` fills a :class:`BookingCheck`; the booking itself
raises the first of its problems, so a check and a booking never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sessions.calendar import VN_TZ, DayInfo
from sessions.errors import Refusal, ScheduleError


def day_dict(info: DayInfo) -> dict[str, Any]:
    return {"date": info.day.isoformat(), "working": info.working, "reason": info.reason}


@dataclass(frozen=True, slots=True)
class Clash:
    """A planned or open session that already holds a room."""

    session_id: str
    """Its id."""
    title: str
    """Its title."""
    host_site_id: str
    """Its host."""
    starts_at: datetime
    """Its start (UTC)."""
    ends_at: datetime
    """Its end (UTC)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.session_id,
            "title": self.title,
            "host_site": self.host_site_id,
            "starts_at": self.starts_at.isoformat(),
            "ends_at": self.ends_at.isoformat(),
            "starts_at_local": self.starts_at.astimezone(VN_TZ).isoformat(),
            "ends_at_local": self.ends_at.astimezone(VN_TZ).isoformat(),
        }


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason the booking would be refused, and where the form should show it."""

    kind: Refusal
    """How the booking would be refused (its HTTP status follows from it)."""
    code: str
    """Stable code, the same the booking's error carries."""
    message: str
    """The booking's error message (English, for people)."""
    field: str | None = None
    """The request field it concerns: title, host_site, participants, starts_at,
    ends_at or slot_minutes."""
    sites: tuple[str, ...] = ()
    """The sites it concerns (unknown, outside the scope, gone, the room's site)."""
    room_id: int | None = None
    """The room it concerns."""
    room_name: str = ""
    """That room's name."""
    clash: Clash | None = None
    """The session already holding the room."""
    day: DayInfo | None = None
    """The day it concerns (a day off, a day a site does not exist)."""

    def error(self) -> ScheduleError:
        """The refusal the booking raises for it."""
        return ScheduleError(self.kind, self.code, self.message)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            out["field"] = self.field
        if self.sites:
            out["sites"] = list(self.sites)
        if self.room_id is not None:
            site = self.sites[0] if self.sites else None
            out["room"] = {"id": self.room_id, "name": self.room_name, "site": site}
        if self.clash is not None:
            out["session"] = self.clash.as_dict()
        if self.day is not None:
            out["day"] = day_dict(self.day)
        return out


REQUEST_FIELDS = {
    "missing_title": "title",
    "missing_time_zone": "starts_at",
    "end_before_start": "ends_at",
    "too_long": "ends_at",
    "duplicate_site": "participants",
    "bad_slot_minutes": "slot_minutes",
}
"""The field each of :class:`sessions.requests.SessionRequest`'s own refusals concerns."""


def request_problem(exc: ScheduleError) -> Problem:
    """A refusal of the request in itself, as a problem."""
    return Problem(exc.kind, exc.code, exc.message, REQUEST_FIELDS.get(exc.code))


@dataclass(frozen=True, slots=True)
class BookingCheck:
    """The answer of a dry run: nothing was written."""

    problems: tuple[Problem, ...]
    """Every reason the booking would be refused, in the order the booking checks them
    (it raises the first)."""
    on_day_off: bool = False
    """The session would be marked as held on a day off (allowed by a special period or
    by ``allow_day_off``)."""
    note: str = ""
    """The mark the session would carry (which day off, and what allows it)."""
    days: tuple[DayInfo, ...] = ()
    """The Vietnamese days the session touches, with whether each is worked and why not
    (empty when its times are inconsistent)."""
    special_period: str = ""
    """Title of the special period covering a day off, if one does."""

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "problems": [p.as_dict() for p in self.problems],
            "on_day_off": self.on_day_off,
            "note": self.note,
            "day": day_dict(self.days[0]) if self.days else None,
            "days": [day_dict(d) for d in self.days],
            "special_period": self.special_period or None,
        }
