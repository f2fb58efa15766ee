"""Reading REST input for every route: JSON bodies, fields, enums, dates, instants,
time zones and case numbers, each refused with a clear 400 when malformed (the rule is
in :mod:`web.http.errors`); :func:`day_range` refuses an inconsistent range with 422.
"""

from __future__ import annotations

import enum
import json
from datetime import date, datetime, time, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web

from core.cases import check_case_number
from sessions.calendar import FIRST_DAY, LAST_DAY, VN_TZ, known_day
from web.http.errors import bad, inconsistent

E = TypeVar("E", bound=enum.Enum)


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's body as a JSON object (400 ``bad_json`` if it is not one)."""
    try:
        raw = await request.text()
        body = json.loads(raw) if raw.strip() else None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise bad("bad_json", f"the body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise bad("bad_json", "the body must be a JSON object")
    return body


def text(body: dict[str, Any], key: str, *, required: bool = True, default: str = "") -> str:
    value = body.get(key)
    if value is None:
        if required:
            raise bad("missing_field", f"{key} is required")
        return default
    if not isinstance(value, str):
        raise bad("bad_field", f"{key} must be a string")
    return value


def optional_text(body: dict[str, Any], key: str) -> str | None:
    return None if body.get(key) is None else text(body, key)


def integer(body: dict[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad("bad_field", f"{key} must be an integer")
    return value


def boolean(body: dict[str, Any], key: str, default: bool = False) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise bad("bad_field", f"{key} must be true or false")
    return value


def enum_value(value: Any, key: str, cls: type[E]) -> E:
    """``value`` as a member of ``cls``, or 400 ``bad_<key>`` naming the allowed values."""
    try:
        return cls(value)
    except (ValueError, TypeError):
        allowed = ", ".join(str(m.value) for m in cls)
        raise bad(f"bad_{key}", f"{key} must be one of {allowed}") from None


def optional_enum(value: Any, key: str, cls: type[E]) -> E | None:
    """As :func:`enum_value`; absent or empty is None."""
    return None if value in (None, "") else enum_value(value, key, cls)


def choice(body: dict[str, Any], key: str, cls: type[E], default: E | None = None) -> E:
    """The body's ``key`` as a member of ``cls``; required unless there is a default."""
    raw = body.get(key)
    if raw is None:
        if default is None:
            raise bad("missing_field", f"{key} is required")
        return default
    return enum_value(raw, key, cls)


def strings(body: dict[str, Any], key: str) -> tuple[str, ...]:
    value = body.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise bad("bad_field", f"{key} must be a list of strings")
    return tuple(value)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise bad("bad_time_zone", f"unknown time zone {name!r} (use an IANA name)") from None


def instant(value: Any, key: str, tz_name: str | None) -> datetime:
    """An ISO 8601 date-time; without an offset, ``tz_name`` (IANA) must say the zone."""
    if not isinstance(value, str):
        raise bad("missing_field" if value is None else "bad_datetime", f"{key} is required")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise bad("bad_datetime", f"{key} is not an ISO 8601 date-time: {value!r}") from None
    if parsed.tzinfo is None:
        if tz_name is None:
            raise bad(
                "missing_time_zone",
                f"{key} has no UTC offset; add one (e.g. +07:00) or give time_zone",
            )
        parsed = parsed.replace(tzinfo=zone(tz_name))
    try:
        local = parsed.astimezone(VN_TZ).date()
    except OverflowError:
        local = parsed.date()
    in_range(local, key)
    return parsed


def in_range(value: date, key: str) -> date:
    """``value`` if the working-day calendar knows its year, else 422 ``date_out_of_range``
    (well-formed, but no answer about it would be true: a date near year 1 or 9999)."""
    if not known_day(value):
        raise inconsistent(
            "date_out_of_range",
            f"{key} ({value.isoformat()}) is outside the calendar's years"
            f" ({FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()})",
        )
    return value


def day(value: Any, key: str) -> date:
    if not isinstance(value, str):
        raise bad(
            "missing_field" if value is None else "bad_date", f"{key} is required (YYYY-MM-DD)"
        )
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        raise bad("bad_date", f"{key} is not a date (YYYY-MM-DD): {value!r}") from None
    return in_range(parsed, key)


def optional_day(value: Any, key: str) -> date | None:
    return None if value in (None, "") else day(value, key)


def clock(value: Any, key: str) -> time:
    if not isinstance(value, str):
        raise bad("missing_field" if value is None else "bad_time", f"{key} is required (HH:MM)")
    try:
        parsed = time.fromisoformat(value)
    except ValueError:
        raise bad("bad_time", f"{key} is not a time of day (HH:MM): {value!r}") from None
    if parsed.tzinfo is not None:
        raise bad("bad_time", f"{key} is wall-clock time in Asia/Ho_Chi_Minh, without offset")
    return parsed


def query_day(request: web.Request, key: str, default: date) -> date:
    """The query's ``key`` as a date (400 malformed, 422 outside the calendar); absent, the
    default, kept within the calendar's last day (a range from its end stops there)."""
    raw = request.query.get(key)
    return min(default, LAST_DAY) if raw is None else day(raw, key)


def days_after(start: date, days: int) -> date:
    """``start`` plus ``days``, or the calendar's last day if that is sooner (a default
    end near year 9999 neither overflows nor leaves the calendar)."""
    return start + timedelta(days=days) if (LAST_DAY - start).days > days else LAST_DAY


def query_integer(request: web.Request, key: str, default: int) -> int:
    """A whole number from the query string, or 400 ``bad_<key>``."""
    raw = request.query.get(key)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise bad(f"bad_{key}", f"{key} must be a whole number: {raw!r}") from None


def day_range(start: date, end: date, *, max_days: int | None = None) -> None:
    """422 if ``end`` is before ``start`` (``end_before_start``) or, when ``max_days`` is
    given, more than that many days after it (``range_too_long``): both dates parsed, but
    they do not make a range."""
    if end < start:
        raise inconsistent("end_before_start", f"to ({end}) is before from ({start})")
    if max_days is not None and (end - start).days > max_days:
        raise inconsistent("range_too_long", f"ask for at most {max_days} days")


def case_number(value: Any) -> str:
    """A case number as stored (the rule of :func:`core.cases.check_case_number`), or
    400 ``bad_case_number``."""
    if not isinstance(value, str):
        raise bad("bad_case_number", "a case number is a string")
    try:
        return check_case_number(value)
    except ValueError as exc:
        raise bad("bad_case_number", str(exc)) from None
