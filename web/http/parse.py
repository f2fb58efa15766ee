"""Reading REST input: JSON bodies, dates, instants and time zones, with clear 400s."""

from __future__ import annotations

import json
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web

from web.http.errors import http_error


def bad(code: str, message: str) -> web.HTTPException:
    return http_error(400, code, message)


async def json_body(request: web.Request) -> dict[str, Any]:
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
    return parsed


def day(value: Any, key: str) -> date:
    if not isinstance(value, str):
        raise bad(
            "missing_field" if value is None else "bad_date", f"{key} is required (YYYY-MM-DD)"
        )
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise bad("bad_date", f"{key} is not a date (YYYY-MM-DD): {value!r}") from None


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
    raw = request.query.get(key)
    return default if raw is None else day(raw, key)
