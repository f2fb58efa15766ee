"""OpenAPI 3.1 description of the scheduler's REST API, served at /api/openapi.json."""

from __future__ import annotations

from typing import Any

from aiohttp import web

routes = web.RouteTableDef()

Json = dict[str, Any]


def _ref(name: str) -> Json:
    return {"$ref": f"#/components/schemas/{name}"}


def _body(schema: Json) -> Json:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _ok(description: str, schema: Json | None = None, status: str = "200") -> Json:
    out: Json = {status: {"description": description}}
    if schema is not None:
        out[status]["content"] = {"application/json": {"schema": schema}}
    for code, why in (
        (
            "400",
            "malformed input: not JSON, a field missing or of the wrong type, a date, time,"
            " time zone, number or enum value that does not parse, a bad id in the path",
        ),
        ("401", "token missing, invalid or expired"),
        ("403", "role or site scope forbids it"),
        ("404", "unknown site, session, rule or slot"),
        ("409", "conflict: room taken, day off, state change not allowed"),
        (
            "422",
            "well-formed but inconsistent input: end before start, a range too long,"
            " a frequency the rule's kind does not allow, unknown site or room in the body",
        ),
    ):
        out[code] = {"description": why, "content": {"application/json": {"schema": _ref("Error")}}}
    return out


def _path(name: str, description: str, schema: Json | None = None) -> Json:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema or {"type": "string"},
    }


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
SESSION_ID = _path("session_id", "session id")

SCHEMAS: Json = {
    "Error": {
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                "required": ["code", "message"],
            }
        },
    },
    "Site": {
        "type": "object",
        "required": ["id", "name", "level"],
        "properties": {
            "id": {"type": "string", "pattern": "^[a-z0-9-]{1,64}$"},
            "name": {"type": "string"},
            "name_en": {"type": "string"},
            "level": {"enum": ["central", "province", "district", "commune", "department"]},
            "parent": {"type": ["string", "null"]},
            "valid_from": {"type": ["string", "null"], "format": "date"},
            "valid_to": {"type": ["string", "null"], "format": "date"},
            "merged_into": {"type": ["string", "null"]},
            "address": {"type": "string"},
            "rooms": {"type": "array", "items": {}},
        },
    },
    "Rule": {
        "type": "object",
        "required": ["site", "title", "kind", "start_time", "end_time"],
        "properties": {
            "site": {"type": "string"},
            "title": {"type": "string"},
            "kind": {"enum": ["regular", "periodic", "special"]},
            "frequency": {
                "enum": ["working_days", "weekly", "monthly", "daily"],
                "description": "regular: working_days; periodic: weekly or monthly; "
                "special: daily (weekends and holidays included)",
            },
            "host_kind": {"enum": ["head", "staff"]},
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
            "ends_at": {"type": "string", "format": "date-time"},
            "time_zone": {"type": "string", "example": "Asia/Ho_Chi_Minh"},
            "participants": {
                "type": "array",
                "items": {
                    "oneOf": [
                        {"type": "string"},
                        {
                            "type": "object",
                            "properties": {
                                "site": {"type": "string"},
                                "room_id": {"type": "integer"},
                            },
                        },
                    ]
                },
            },
            "kind": {"enum": ["regular", "periodic", "ad_hoc", "special"]},
            "host_kind": {"enum": ["head", "staff"]},
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
    "Problem": {
        "type": "object",
        "required": ["code", "message"],
        "properties": {
            "code": {
                "type": "string",
                "description": "the code POST /api/sessions would refuse with: missing_title,"
                " end_before_start, too_long, duplicate_site, bad_slot_minutes, unknown_site,"
                " outside_scope, site_inactive, in_the_past, unknown_room, room_taken, day_off",
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
            "sites": {"type": "array", "items": {"type": "string"}},
            "room": {
                "type": "object",
                "description": "room_taken, unknown_room: the room",
                "properties": {
                    "id": {"type": "integer"},
                    "name": {"type": "string"},
                    "site": {"type": "string"},
                },
            },
            "session": {
                "type": "object",
                "description": "room_taken: the planned or open session holding the room",
                "properties": {
                    "id": {"type": "string"},
                    "title": {"type": "string"},
                    "host_site": {"type": "string"},
                    "starts_at": {"type": "string", "format": "date-time"},
                    "ends_at": {"type": "string", "format": "date-time"},
                    "starts_at_local": {"type": "string", "format": "date-time"},
                    "ends_at_local": {"type": "string", "format": "date-time"},
                },
            },
            "day": {"$ref": "#/components/schemas/Day"},
        },
    },
    "Day": {
        "type": "object",
        "properties": {
            "date": DATE,
            "working": {"type": "boolean"},
            "reason": {"type": "string", "description": "why it is off (holiday, weekend, note)"},
        },
    },
    "BookingCheck": {
        "type": "object",
        "required": ["ok", "problems", "on_day_off"],
        "properties": {
            "ok": {"type": "boolean", "description": "POST /api/sessions would book it now"},
            "problems": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/Problem"},
                "description": "every reason it would be refused, in the order the booking"
                " checks them (the booking answers the first)",
            },
            "on_day_off": {"type": "boolean"},
            "note": {"type": "string", "description": "the day-off mark the session would carry"},
            "day": {
                "oneOf": [{"$ref": "#/components/schemas/Day"}, {"type": "null"}],
                "description": "the first Vietnamese day the session touches",
            },
            "days": {"type": "array", "items": {"$ref": "#/components/schemas/Day"}},
            "special_period": {
                "type": ["string", "null"],
                "description": "title of the special period that allows a day off",
            },
        },
    },
    "Session": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "title": {"type": "string"},
            "kind": {"type": "string"},
            "state": {"enum": ["planned", "open", "closed", "cancelled"]},
            "host_site": {"type": "string"},
            "starts_at": {"type": "string", "format": "date-time"},
            "ends_at": {"type": "string", "format": "date-time"},
            "on_day_off": {"type": "boolean"},
            "sites": {"type": "array", "items": {"type": "object"}},
            "slots": {"type": "array", "items": {"type": "object"}},
        },
    },
}


def _tree_answers() -> Json:
    out = _ok(
        "the sites loaded, in the document's order",
        {
            "type": "object",
            "properties": {"loaded": {"type": "integer"}, "sites": STRINGS},
        },
    )
    out["400"] = {
        "description": "bad_toml: not TOML (or not UTF-8); line and column where the parser"
        " stopped (null when it names no place)",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "error": {
                            "type": "object",
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
    out["422"] = {
        "description": "an inconsistent tree, with the store's code: empty_tree, bad_level,"
        " bad_date, duplicate_site, unknown_site (parent or merged_into), site_cycle,"
        " bad_parent; nothing is written",
        "content": {"application/json": {"schema": _ref("Error")}},
    }
    return out


def spec() -> Json:
    s, r, ss = _ref("Site"), _ref("Rule"), _ref("Session")
    sched, staff = "administrator, scheduler (own province)", "administrator, scheduler, operator"
    paths: Json = {
        "/api/sites": {
            "get": _op(
                "List sites",
                "public",
                _ok("sites"),
                parameters=[
                    _query("on", "only sites existing on this date", "date"),
                    _query("level", "central, province, district, commune or department"),
                ],
            ),
            "post": _op(
                "Create or replace sites (one object or {sites: [...]})",
                sched,
                _ok("created", status="201"),
                requestBody=_body(s),
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
                _ok("site", s),
                parameters=[_path("site_id", "site id")],
            ),
            "put": _op(
                "Replace a site",
                sched,
                _ok("site", s),
                requestBody=_body(s),
                parameters=[_path("site_id", "site id")],
            ),
        },
        "/api/sites/{site_id}/rooms": {
            "post": _op(
                "Add a reception room",
                sched,
                _ok("room", status="201"),
                parameters=[_path("site_id", "site id")],
                requestBody=_body({"type": "object", "properties": {"name": {"type": "string"}}}),
            ),
        },
        "/api/sites/{site_id}/calendar.ics": {
            "get": {
                "summary": "iCalendar feed of the site and its subtree",
                "parameters": [_path("site_id", "site id")],
                "responses": {"200": {"description": "text/calendar"}},
            },
        },
        "/api/calendar/days": {
            "get": _op(
                "Working days and days off with reasons",
                "public",
                _ok("days"),
                parameters=[_query("from", "first day", "date"), _query("to", "last day", "date")],
            ),
        },
        "/api/calendar/overrides": {
            "get": _op(
                "The government's announced swaps stored as overrides", "public", _ok("overrides")
            ),
        },
        "/api/calendar/overrides/{day}": {
            "put": _op(
                "Declare a weekday off or a weekend day worked",
                "administrator",
                _ok("stored"),
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
                _ok("deleted"),
                parameters=[_path("day", "date", DATE)],
            ),
        },
        "/api/rules": {
            "get": _op("Reception rules in the caller's scope", sched, _ok("rules")),
            "post": _op("Add a reception rule", sched, _ok("rule", r, "201"), requestBody=_body(r)),
        },
        "/api/rules/{rule_id}": {
            "delete": _op(
                "Remove a rule and its planned future sessions",
                sched,
                _ok("deleted"),
                parameters=[_path("rule_id", "rule id", {"type": "integer"})],
            ),
        },
        "/api/schedule/generate": {
            "post": _op(
                "Generate sessions from rules over a date range (idempotent)",
                sched,
                _ok("report"),
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
                _ok("sessions"),
                parameters=[
                    _query("from", "first local date", "date"),
                    _query("to", "last local date", "date"),
                    _query("site", "a site and its subtree"),
                    _query("state", "planned, open, closed or cancelled (repeatable)"),
                ],
            ),
            "post": _op(
                "Book a session ad hoc",
                sched,
                _ok("session", ss, "201"),
                requestBody=_body(_ref("SessionRequest")),
            ),
        },
        "/api/sessions/check": {
            "post": _op(
                "Dry run of a booking: every reason it would be refused, nothing written",
                sched,
                _ok("the check (200 whether or not the booking would pass)", _ref("BookingCheck")),
                requestBody=_body(_ref("SessionRequest")),
            ),
        },
        "/api/sessions/{session_id}": {
            "get": _op(
                "One session (staff tokens see slot bookings)",
                "public",
                _ok("session", ss),
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
                            "case_kind": {
                                "enum": ["complaint", "denunciation", "petition", "mixed"]
                            },
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
                _ok("token", status="201"),
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
            "get": {
                "summary": "Public schedule page (Vietnamese; ?lang=en for English)",
                "responses": {"200": {"description": "text/html"}},
            },
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
    return web.json_response(spec())
