"""OpenAPI 3.1 description of the scheduler's REST API, served at /api/openapi.json."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from web.http.openapi import Json, nullable, obj, ref
from web.keys import OPENAPI

routes = web.RouteTableDef()


def _body(schema: Json, example: Json | None = None) -> Json:
    media: Json = {"schema": schema}
    if example is not None:
        media["example"] = example
    return {"required": True, "content": {"application/json": media}}


ERRORS: dict[str, str] = {
    "400": "malformed input: not JSON, a field missing or of the wrong type, a date, time,"
    " time zone, number or enum value that does not parse, a bad id in the path",
    "401": "token missing, invalid or expired",
    "403": "role or site scope forbids it",
    "404": "unknown site, session, rule or slot",
    "409": "conflict: room or site taken, day off, state change not allowed",
    "422": "well-formed but inconsistent input: end before start, a range too long, a date"
    " outside the calendar's years (date_out_of_range), a frequency the rule's kind does"
    " not allow, unknown site or room in the body",
}
"""Every error status the scheduler's routes answer, each with the one error body."""


def _errors(*codes: str) -> Json:
    return {
        code: {
            "description": ERRORS[code],
            "content": {"application/json": {"schema": ref("Error")}},
        }
        for code in codes
    }


ALL_ERRORS = tuple(ERRORS)


def _ok(
    description: str,
    schema: Json,
    status: str = "200",
    errors: tuple[str, ...] = ALL_ERRORS,
    media: str = "application/json",
) -> Json:
    """The success answer (its schema is required: every operation says what it returns)
    and the error answers."""
    out: Json = {status: {"description": description, "content": {media: {"schema": schema}}}}
    out.update(_errors(*errors))
    return out


def _path(name: str, description: str, schema: Json | None = None, example: Any = None) -> Json:
    out: Json = {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema or {"type": "string"},
    }
    if example is not None:
        out["example"] = example
    return out


def _query(name: str, description: str, fmt: str | None = None) -> Json:
    schema: Json = {"type": "string"}
    if fmt:
        schema["format"] = fmt
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


def _op(summary: str, roles: str, responses: Json, **extra: Any) -> Json:
    op: Json = {"summary": summary, "description": f"Roles: {roles}.", "responses": responses}
    if roles != "public":
        op["security"] = [{"bearer": []}]
    op.update(extra)
    return op


STRINGS = {"type": "array", "items": {"type": "string"}}
DATE = {"type": "string", "format": "date"}
INSTANT = {"type": "string", "format": "date-time"}
CLOCK = {"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]$"}
SESSION_ID = _path("session_id", "session id")
SESSION_EXAMPLE: Json = {
    "title": "Tiếp công dân đột xuất: vụ việc đông người",
    "host_site": "tw-hanoi",
    "participants": ["bac-ninh", {"site": "da-nang"}],
    "starts_at": "2027-03-02T08:00:00",
    "ends_at": "2027-03-02T11:00:00",
    "time_zone": "Asia/Ho_Chi_Minh",
    "officials": ["Trưởng Ban Tiếp công dân Trung ương"],
    "slot_minutes": 30,
}


ENUMS = {
    "level": ["central", "province", "district", "commune", "department"],
    "rule_kind": ["regular", "periodic", "special"],
    "frequency": ["working_days", "weekly", "monthly", "daily"],
    "host_kind": ["head", "staff"],
    "session_kind": ["regular", "periodic", "ad_hoc", "special"],
    "state": ["planned", "open", "closed", "cancelled"],
    "case_kind": ["complaint", "denunciation", "petition", "mixed"],
}

SCHEMAS: Json = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                "required": ["code", "message"],
            }
        },
        "additionalProperties": False,
    },
    "Room": obj(
        {"id": {"type": "integer"}, "site": {"type": "string"}, "name": {"type": "string"}}
    ),
    "Site": obj(
        {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "name_en": {"type": "string"},
            "level": {"enum": ENUMS["level"]},
            "parent": {"type": ["string", "null"]},
            "valid_from": nullable(DATE),
            "valid_to": nullable(DATE),
            "merged_into": {"type": ["string", "null"]},
            "address": {"type": "string"},
            "rooms": {"type": "array", "items": ref("Room")},
        }
    ),
    "SiteInput": {
        "type": "object",
        "required": ["id", "name", "level"],
        "properties": {
            "id": {"type": "string", "pattern": "^[a-z0-9-]{1,64}$"},
            "name": {"type": "string"},
            "name_en": {"type": "string"},
            "level": {"enum": ENUMS["level"]},
            "parent": {"type": ["string", "null"]},
            "valid_from": nullable(DATE),
            "valid_to": nullable(DATE),
            "merged_into": {"type": ["string", "null"]},
            "address": {"type": "string"},
            "rooms": {
                "type": "array",
                "items": {"type": "string"},
                "description": "room names; rooms are added, never removed",
            },
        },
    },
    "Day": obj(
        {
            "date": DATE,
            "working": {"type": "boolean"},
            "reason": {"type": "string", "description": "why it is off (holiday, weekend, note)"},
        }
    ),
    "Override": obj({"date": DATE, "working": {"type": "boolean"}, "note": {"type": "string"}}),
    "RuleInput": {
        "type": "object",
        "required": ["site", "title", "kind", "start_time", "end_time"],
        "properties": {
            "site": {"type": "string"},
            "title": {"type": "string"},
            "kind": {"enum": ENUMS["rule_kind"]},
            "frequency": {
                "enum": ENUMS["frequency"],
                "description": "regular: working_days; periodic: weekly or monthly; "
                "special: daily (weekends and holidays included)",
            },
            "host_kind": {"enum": ENUMS["host_kind"]},
            "weekday": {"type": "integer", "minimum": 0, "maximum": 6},
            "month_day": {
                "type": "integer",
                "minimum": 1,
                "maximum": 31,
                "description": "rolled to the next working day when it is a day off",
            },
            "start_time": {"type": "string", "example": "07:30"},
            "end_time": {"type": "string", "example": "11:30"},
            "valid_from": DATE,
            "valid_to": DATE,
            "room_id": {"type": "integer"},
            "participants": STRINGS,
            "officials": STRINGS,
            "slot_minutes": {"type": "integer"},
        },
    },
    "Rule": {
        **obj(
            {
                "id": {"type": "integer"},
                "site": {"type": "string"},
                "title": {"type": "string"},
                "kind": {"enum": ENUMS["rule_kind"]},
                "frequency": {"enum": ENUMS["frequency"]},
                "host_kind": {"enum": ENUMS["host_kind"]},
                "weekday": {"type": ["integer", "null"], "minimum": 0, "maximum": 6},
                "month_day": {"type": ["integer", "null"], "minimum": 1, "maximum": 31},
                "start_time": CLOCK,
                "end_time": CLOCK,
                "valid_from": nullable(DATE),
                "valid_to": nullable(DATE),
                "room_id": {"type": ["integer", "null"]},
                "participants": STRINGS,
                "officials": STRINGS,
                "slot_minutes": {"type": ["integer", "null"]},
            }
        ),
        "description": "A stored rule: every field present, null where the rule sets none"
        " (weekday for a monthly rule, no room, no end of validity...).",
    },
    "SessionRequest": {
        "type": "object",
        "required": ["title", "host_site", "starts_at", "ends_at"],
        "properties": {
            "title": {"type": "string"},
            "host_site": {"type": "string"},
            "host_room_id": {"type": "integer"},
            "starts_at": {
                "type": "string",
                "format": "date-time",
                "description": "ISO 8601 with offset, or without and time_zone given",
            },
            "ends_at": INSTANT,
            "time_zone": {"type": "string", "example": "Asia/Ho_Chi_Minh"},
            "participants": {
                "type": "array",
                "items": {
                    "oneOf": [
                        {"type": "string"},
                        {
                            "type": "object",
                            "required": ["site"],
                            "properties": {
                                "site": {"type": "string"},
                                "room_id": {"type": "integer"},
                            },
                        },
                    ]
                },
            },
            "kind": {"enum": ENUMS["session_kind"]},
            "host_kind": {"enum": ENUMS["host_kind"]},
            "officials": STRINGS,
            "agenda": {"type": "string"},
            "allow_day_off": {
                "type": "boolean",
                "description": "book on a day off outside any special period (marked)",
            },
            "slot_minutes": {"type": "integer"},
            "record": {"type": "boolean"},
        },
    },
    "Clash": obj(
        {
            "id": {"type": "string"},
            "title": {"type": "string"},
            "host_site": {"type": "string"},
            "starts_at": INSTANT,
            "ends_at": INSTANT,
            "starts_at_local": INSTANT,
            "ends_at_local": INSTANT,
        }
    ),
    "Problem": obj(
        {
            "code": {
                "type": "string",
                "description": "the code POST /api/sessions would refuse with: missing_title,"
                " end_before_start, too_long, duplicate_site, bad_slot_minutes, unknown_site,"
                " outside_scope, site_inactive, in_the_past, unknown_room, room_taken,"
                " site_busy, day_off",
            },
            "message": {"type": "string"},
            "field": {
                "enum": [
                    "title",
                    "host_site",
                    "participants",
                    "starts_at",
                    "ends_at",
                    "slot_minutes",
                ]
            },
            "sites": STRINGS,
            "room": {
                **obj(
                    {
                        "id": {"type": "integer"},
                        "name": {"type": "string"},
                        "site": {"type": ["string", "null"]},
                    }
                ),
                "description": "room_taken, unknown_room: the room",
            },
            "session": {
                "allOf": [ref("Clash")],
                "description": "room_taken, site_busy: the planned or open session holding it",
            },
            "day": ref("Day"),
        },
        optional=("field", "sites", "room", "session", "day"),
    ),
    "BookingCheck": obj(
        {
            "ok": {"type": "boolean", "description": "POST /api/sessions would book it now"},
            "problems": {
                "type": "array",
                "items": ref("Problem"),
                "description": "every reason it would be refused, in the order the booking"
                " checks them (the booking answers the first)",
            },
            "on_day_off": {"type": "boolean"},
            "note": {"type": "string", "description": "the day-off mark the session would carry"},
            "day": {
                "oneOf": [ref("Day"), {"type": "null"}],
                "description": "the first Vietnamese day the session touches",
            },
            "days": {"type": "array", "items": ref("Day")},
            "special_period": {
                "type": ["string", "null"],
                "description": "title of the special period that allows a day off",
            },
        }
    ),
    "Slot": obj(
        {
            "id": {"type": "integer"},
            "starts_at": INSTANT,
            "ends_at": INSTANT,
            "booked": {"type": "boolean"},
            "citizen_name": {"type": ["string", "null"]},
            "case_kind": {"oneOf": [{"enum": ENUMS["case_kind"]}, {"type": "null"}]},
            "case_ref": {"type": ["string", "null"]},
            "people_count": {"type": "integer", "minimum": 0},
        },
        optional=("citizen_name", "case_kind", "case_ref", "people_count"),
    ),
    "Session": obj(
        {
            "id": {"type": "string"},
            "title": {"type": "string"},
            "kind": {"enum": ENUMS["session_kind"]},
            "state": {"enum": ENUMS["state"]},
            "host_site": {"type": "string"},
            "host_kind": {"enum": ENUMS["host_kind"]},
            "starts_at": INSTANT,
            "ends_at": INSTANT,
            "starts_at_local": INSTANT,
            "ends_at_local": INSTANT,
            "rule": {"type": ["integer", "null"]},
            "on_day_off": {"type": "boolean"},
            "record": {"type": "boolean"},
            "officials": STRINGS,
            "agenda": {"type": "string"},
            "note": {"type": "string"},
            "sites": {
                "type": "array",
                "items": obj(
                    {"site": {"type": "string"}, "room_id": {"type": ["integer", "null"]}}
                ),
            },
            "slots": {
                "type": "array",
                "items": ref("Slot"),
                "description": "staff tokens see who booked (citizen_name, case_kind,"
                " case_ref, people_count); the public view does not",
            },
        }
    ),
    "GenerationReport": obj(
        {
            "created": {"type": "integer", "minimum": 0},
            "existing": {"type": "integer", "minimum": 0},
            "skipped": {
                "type": "array",
                "items": {"type": "string"},
                "description": "occurrences left out because their room was taken",
            },
        }
    ),
    "RoomToken": obj(
        {
            "token": {"type": "string"},
            "site": {"type": "string"},
            "session": {"type": "string"},
            "not_before": INSTANT,
            "expires": INSTANT,
            "room_url": {"type": "string"},
        }
    ),
}


def _tree_answers() -> Json:
    out = _ok(
        "the sites loaded, in the document's order",
        obj({"loaded": {"type": "integer", "minimum": 0}, "sites": STRINGS}),
        errors=("401", "403", "404", "409"),
    )
    out["400"] = {
        "description": "bad_toml: not TOML (or not UTF-8); line and column where the parser"
        " stopped (null when it names no place)",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                                "line": {"type": ["integer", "null"]},
                                "column": {"type": ["integer", "null"]},
                            },
                        }
                    },
                }
            }
        },
    }
    out["413"] = {
        "description": "body_too_large: the document is larger than RB_MAX_MESSAGE_BYTES",
        "content": {"application/json": {"schema": ref("Error")}},
    }
    out["415"] = {
        "description": "unsupported_media_type: send text/plain or application/toml",
        "content": {"application/json": {"schema": ref("Error")}},
    }
    out["422"] = {
        "description": "an inconsistent tree, with the store's code: empty_tree, bad_level,"
        " bad_date, duplicate_site, unknown_site (parent or merged_into), site_cycle,"
        " bad_parent; nothing is written",
        "content": {"application/json": {"schema": ref("Error")}},
    }
    return out


def _list(key: str, item: Json) -> Json:
    return obj({key: {"type": "array", "items": item}})


PUBLIC_ERRORS = ("400", "401", "404", "422")
"""A public read: malformed or inconsistent query, unknown name, a bad token if one is sent."""


def spec() -> Json:
    s, r, ss = ref("Site"), ref("Rule"), ref("Session")
    sched, staff = "administrator, scheduler (own province)", "administrator, scheduler, operator"
    site_id = _path("site_id", "site id", example="bac-ninh")
    paths: Json = {
        "/api/openapi.json": {
            "get": _op(
                "This document",
                "public",
                {
                    "200": {
                        "description": "OpenAPI 3.1",
                        "content": {
                            "application/json": {
                                "schema": {"type": "object", "required": ["openapi", "paths"]}
                            }
                        },
                    }
                },
            ),
        },
        "/api/sites": {
            "get": _op(
                "List sites",
                "public",
                _ok("sites", _list("sites", s), errors=PUBLIC_ERRORS),
                parameters=[
                    _query("on", "only sites existing on this date", "date"),
                    _query("level", "central, province, district, commune or department"),
                ],
            ),
            "post": _op(
                "Create or replace sites (one object or {sites: [...]})",
                sched,
                _ok("the sites written", _list("sites", s), status="201"),
                requestBody=_body(
                    {
                        "oneOf": [
                            ref("SiteInput"),
                            {
                                "type": "object",
                                "required": ["sites"],
                                "properties": {
                                    "sites": {"type": "array", "items": ref("SiteInput")}
                                },
                            },
                        ]
                    }
                ),
            ),
        },
        "/api/sites/tree": {
            "post": _op(
                "Load a site tree from a TOML document (the format of config/sites.toml),"
                " all or nothing: each [[site]] creates or replaces that site, rooms are"
                " added, never removed",
                "administrator (a provincial one within its province)",
                _tree_answers(),
                requestBody={
                    "required": True,
                    "description": "a TOML document with [[site]] tables, at most"
                    " RB_MAX_MESSAGE_BYTES (413 body_too_large above; 415 for another"
                    " Content-Type)",
                    "content": {
                        "text/plain": {"schema": {"type": "string"}},
                        "application/toml": {"schema": {"type": "string"}},
                    },
                },
            ),
        },
        "/api/sites/{site_id}": {
            "get": _op(
                "One site with its rooms",
                "public",
                _ok("site", s, errors=PUBLIC_ERRORS),
                parameters=[site_id],
            ),
            "put": _op(
                "Replace a site (its id is the path's)",
                sched,
                _ok("site", s),
                requestBody=_body(
                    {
                        "type": "object",
                        "required": ["name", "level"],
                        "properties": {
                            k: v for k, v in SCHEMAS["SiteInput"]["properties"].items() if k != "id"
                        },
                    }
                ),
                parameters=[site_id],
            ),
        },
        "/api/sites/{site_id}/rooms": {
            "post": _op(
                "Add a reception room",
                sched,
                _ok("room", ref("Room"), status="201"),
                parameters=[site_id],
                requestBody=_body(
                    {
                        "type": "object",
                        "required": ["name"],
                        "properties": {"name": {"type": "string"}},
                    }
                ),
            ),
        },
        "/api/sites/{site_id}/calendar.ics": {
            "get": _op(
                "iCalendar feed of the site and its subtree (90 days back, a year ahead)",
                "public",
                _ok("the feed", {"type": "string"}, errors=("401", "404"), media="text/calendar"),
                parameters=[site_id],
            ),
        },
        "/api/calendar/days": {
            "get": _op(
                "Working days and days off with reasons",
                "public",
                _ok(
                    "days",
                    obj(
                        {
                            "time_zone": {"const": "Asia/Ho_Chi_Minh"},
                            "days": {"type": "array", "items": ref("Day")},
                        }
                    ),
                    errors=PUBLIC_ERRORS,
                ),
                parameters=[
                    {**_query("from", "first day", "date"), "required": True},
                    _query("to", "last day (default: 30 days after from)", "date"),
                ],
            ),
        },
        "/api/calendar/overrides": {
            "get": _op(
                "The government's announced swaps stored as overrides",
                "public",
                _ok("overrides", _list("overrides", ref("Override")), errors=("401",)),
            ),
        },
        "/api/calendar/overrides/{day}": {
            "put": _op(
                "Declare a weekday off or a weekend day worked",
                "administrator",
                _ok("stored", ref("Override")),
                parameters=[_path("day", "date", DATE)],
                requestBody=_body(
                    {
                        "type": "object",
                        "required": ["working"],
                        "properties": {"working": {"type": "boolean"}, "note": {"type": "string"}},
                    }
                ),
            ),
            "delete": _op(
                "Remove an override",
                "administrator",
                _ok("deleted", obj({"deleted": DATE})),
                parameters=[_path("day", "date", DATE)],
            ),
        },
        "/api/rules": {
            "get": _op(
                "Reception rules in the caller's scope", sched, _ok("rules", _list("rules", r))
            ),
            "post": _op(
                "Add a reception rule",
                sched,
                _ok("rule", r, "201"),
                requestBody=_body(
                    ref("RuleInput"),
                    {
                        "site": "bac-ninh",
                        "title": "Tiếp công dân định kỳ của Chủ tịch UBND tỉnh",
                        "kind": "periodic",
                        "frequency": "monthly",
                        "month_day": 15,
                        "host_kind": "head",
                        "start_time": "07:30",
                        "end_time": "11:30",
                        "participants": ["phuong-kinh-bac"],
                    },
                ),
            ),
        },
        "/api/rules/{rule_id}": {
            "delete": _op(
                "Remove a rule and its planned future sessions",
                sched,
                _ok("deleted", obj({"deleted": {"type": "integer"}})),
                parameters=[_path("rule_id", "rule id", {"type": "integer"})],
            ),
        },
        "/api/schedule/generate": {
            "post": _op(
                "Generate sessions from rules over a date range (idempotent)",
                sched,
                _ok(
                    "the report: 200 whether or not sessions were written (an account of an"
                    " idempotent action over a range, not one new resource)",
                    ref("GenerationReport"),
                ),
                requestBody=_body(
                    {
                        "type": "object",
                        "required": ["from", "to"],
                        "properties": {
                            "from": DATE,
                            "to": DATE,
                            "site": {"type": "string"},
                            "skip_conflicts": {"type": "boolean"},
                        },
                    }
                ),
            ),
        },
        "/api/sessions": {
            "get": _op(
                "Sessions (public view)",
                "public",
                _ok("sessions", _list("sessions", ss), errors=PUBLIC_ERRORS),
                parameters=[
                    _query("from", "first local date (default: today in Vietnam)", "date"),
                    _query("to", "last local date (default: 14 days after from)", "date"),
                    _query("site", "a site and its subtree"),
                    _query("state", "planned, open, closed or cancelled (repeatable)"),
                ],
            ),
            "post": _op(
                "Book a session ad hoc",
                sched,
                _ok("session", ss, "201"),
                requestBody=_body(ref("SessionRequest"), SESSION_EXAMPLE),
            ),
        },
        "/api/sessions/check": {
            "post": _op(
                "Dry run of a booking: every reason it would be refused, nothing written",
                sched,
                _ok("the check (200 whether or not the booking would pass)", ref("BookingCheck")),
                requestBody=_body(ref("SessionRequest"), SESSION_EXAMPLE),
            ),
        },
        "/api/sessions/{session_id}": {
            "get": _op(
                "One session (staff tokens see slot bookings)",
                "public",
                _ok("session", ss, errors=PUBLIC_ERRORS),
                parameters=[SESSION_ID],
            ),
        },
        "/api/sessions/{session_id}/slots/{slot_id}/booking": {
            "post": _op(
                "Book a citizen into a slot",
                staff,
                _ok("session", ss, "201"),
                parameters=[SESSION_ID, _path("slot_id", "slot id", {"type": "integer"})],
                requestBody=_body(
                    {
                        "type": "object",
                        "required": ["citizen_name", "case_kind"],
                        "properties": {
                            "citizen_name": {"type": "string"},
                            "case_kind": {"enum": ENUMS["case_kind"]},
                            "case_ref": {"type": "string"},
                            "people_count": {"type": "integer"},
                        },
                    }
                ),
            ),
        },
        "/api/sessions/{session_id}/room-token": {
            "post": _op(
                "Media-path token for a booked site, valid from 15 min before the start to the end",
                f"{staff} (host site), room (own site)",
                _ok("token", ref("RoomToken"), status="201"),
                parameters=[SESSION_ID],
                requestBody=_body(
                    {
                        "type": "object",
                        "required": ["site"],
                        "properties": {"site": {"type": "string"}},
                    }
                ),
            ),
        },
        "/schedule": {
            "get": _op(
                "Public schedule page (Vietnamese; ?lang=en for English)",
                "public",
                _ok("the page", {"type": "string"}, errors=PUBLIC_ERRORS, media="text/html"),
                parameters=[
                    _query("from", "first local date (default: today in Vietnam)", "date"),
                    _query("to", "last local date (default: 14 days after from)", "date"),
                    _query("site", "a site and its subtree"),
                    _query("lang", "en for English"),
                ],
            ),
        },
    }
    for verb, what in (("open", "Open"), ("close", "Close"), ("cancel", "Cancel")):
        roles = sched if verb == "cancel" else f"{staff} (host site)"
        paths[f"/api/sessions/{{session_id}}/{verb}"] = {
            "post": _op(
                f"{what} a session",
                roles,
                _ok("session", ss),
                parameters=[SESSION_ID],
                requestBody={
                    "required": False,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"reason": {"type": "string"}},
                            }
                        }
                    },
                },
            ),
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "reception-bridge scheduler",
            "version": "1",
            "description": "Sites, Vietnamese working days, reception rules, sessions, slots. "
            "Times are UTC on the wire (ISO 8601 with offset) and shown in Asia/Ho_Chi_Minh. "
            'Errors: {"error": {"code", "message"}}.',
        },
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
        "paths": paths,
    }


@routes.get("/api/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    """The whole document (``web.app`` adds the other parts' routes to this one's)."""
    return web.json_response(request.app.get(OPENAPI) or spec())
