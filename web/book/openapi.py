"""The reception-book routes in the OpenAPI document (see web/book/api.py).

Entries (write, edit, list, detail, XLSX), the watch list (list, add, update) and the
reports (JSON, XLSX, printable HTML); entry and watch-item bodies as their ``as_dict``."""

from __future__ import annotations

from enum import StrEnum

from book.values import Channel, Kind, Outcome, RefusalReason, Status
from book.watch import WatchKind, WatchStatus
from web.http.openapi import (
    BINARY,
    BOOLEAN,
    INSTANT,
    INTEGER,
    STRING,
    STRINGS,
    Json,
    Part,
    body,
    nullable,
    obj,
    ok,
    op,
    path_param,
    query_param,
    ref,
)

ROLES = "clerk, operator, administrator (their site's book)"
REPORTERS = "clerk, administrator"
WRITERS = "clerk, operator (online receptions), administrator (their site's book)"
DAY: Json = {"type": "string", "format": "date"}
HTML = "text/html"


def _enum(values: type[StrEnum]) -> Json:
    return {"enum": [str(v) for v in values]}


PERSON: Json = obj({"name": STRING, "address": STRING, "id_number": STRING})
PERSON_IN: Json = {
    "type": "object",
    "properties": {"name": STRING, "address": STRING, "id_number": STRING},
}
VERSION: Json = obj({"version": INTEGER, "at": INSTANT, "by": STRING, "note": STRING})
ENTRY: Json = obj(
    {
        "id": INTEGER,
        "number": INTEGER,
        "year": INTEGER,
        "reference": STRING,
        "site": STRING,
        "province": STRING,
        "received_on": DAY,
        "persons": {"type": "array", "items": PERSON},
        "masked": BOOLEAN,
        "people_count": INTEGER,
        "crowd": BOOLEAN,
        "representatives": {"type": "array", "items": PERSON},
        "summary": STRING,
        "kind": _enum(Kind),
        "channel": _enum(Channel),
        "session_id": STRING,
        "recording_marker": STRING,
        "prior_bodies": STRINGS,
        "outcome": nullable(_enum(Outcome)),
        "forwarded_to": STRING,
        "refusal_reason": nullable(_enum(RefusalReason)),
        "official": STRING,
        "complex": BOOLEAN,
        "status": _enum(Status),
        "resolved_on": nullable(DAY),
        "deadline": nullable(DAY),
        "deadline_rule": STRING,
        "overdue": BOOLEAN,
        "version": INTEGER,
        "written_at": INSTANT,
        "written_by": STRING,
        "created_by": STRING,
        "versions": {"type": "array", "items": VERSION},
    }
)
ENTRY_IN: Json = {
    "type": "object",
    "required": ["received_on", "kind", "channel"],
    "properties": {
        "site": STRING,
        "received_on": DAY,
        "kind": _enum(Kind),
        "channel": _enum(Channel),
        "persons": {"type": "array", "items": PERSON_IN},
        "people_count": INTEGER,
        "representatives": {"type": "array", "items": PERSON_IN},
        "summary": STRING,
        "session_id": STRING,
        "recording_marker": STRING,
        "prior_bodies": STRINGS,
        "outcome": _enum(Outcome),
        "forwarded_to": STRING,
        "refusal_reason": _enum(RefusalReason),
        "official": STRING,
        "complex": BOOLEAN,
        "status": _enum(Status),
        "resolved_on": DAY,
        "note": STRING,
    },
}
ENTRY_EDIT: Json = {
    **ENTRY_IN,
    "properties": {**ENTRY_IN["properties"], "expect_version": INTEGER},
}
HISTORY: Json = obj({"at": INSTANT, "by": STRING, "change": STRING, "detail": STRING})
WATCH_ITEM: Json = obj(
    {
        "id": INTEGER,
        "site": STRING,
        "province": STRING,
        "kind": _enum(WatchKind),
        "title": STRING,
        "entry_id": nullable(INTEGER),
        "people_count": INTEGER,
        "official": STRING,
        "status": _enum(WatchStatus),
        "next_dialogue": nullable(DAY),
        "deadline": nullable(DAY),
        "overdue": BOOLEAN,
        "history": {"type": "array", "items": HISTORY},
    }
)
WATCH_IN: Json = {
    "type": "object",
    "required": ["kind", "title"],
    "properties": {
        "site": STRING,
        "kind": _enum(WatchKind),
        "title": STRING,
        "official": STRING,
        "people_count": INTEGER,
        "entry_id": INTEGER,
        "next_dialogue": DAY,
        "deadline": DAY,
    },
}
WATCH_CHANGE: Json = {
    "type": "object",
    "properties": {
        "official": STRING,
        "status": _enum(WatchStatus),
        "next_dialogue": DAY,
        "deadline": DAY,
        "note": STRING,
    },
}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
COUNTS: Json = {"type": "object"}
ROWS: Json = {"type": "object", "additionalProperties": COUNTS}
SPAN: Json = obj({"start": STRING, "end": STRING, "rows": ROWS, "total": COUNTS})
REPORT: Json = obj(
    {
        "period": {"enum": ["daily", "monthly", "quarterly"]},
        "group_by": STRING,
        "start": STRING,
        "end": STRING,
        "rows": ROWS,
        "total": COUNTS,
        "previous": SPAN,
    },
    optional=("previous",),
)


def openapi_part() -> Part:
    entry_id = path_param("entry_id", "the entry's number", {"type": "integer"})
    period = path_param(
        "period", "the report's period", {"enum": ["daily", "monthly", "quarterly"]}
    )
    day = query_param("day", "a day of the period (YYYY-MM-DD; today by default)")
    item_id = path_param("item_id", "the watch item's number", {"type": "integer"})
    filters = [
        query_param("start", "received on or after (YYYY-MM-DD)", DAY),
        query_param("end", "received on or before (YYYY-MM-DD)", DAY),
        query_param("kind", "only this kind", _enum(Kind)),
        query_param("site", "only this site"),
        query_param(
            "limit", "at most this many (500 by default)", {"type": "integer", "minimum": 0}
        ),
    ]
    paths: Json = {
        "/api/book/entries": {
            "get": op(
                "Entries in the reader's scope, newest first",
                ROLES,
                ok(
                    "the entries",
                    obj({"entries": {"type": "array", "items": ref("BookEntry")}}),
                    "400",
                    "401",
                    "403",
                    "422",
                ),
                cookie=True,
                parameters=filters,
            ),
            "post": op(
                "Write an entry",
                WRITERS,
                ok(
                    "the entry",
                    ref("BookEntry"),
                    "400",
                    "401",
                    "403",
                    "404",
                    "409",
                    "422",
                    status="201",
                ),
                cookie=True,
                requestBody=body(ENTRY_IN),
            ),
        },
        "/api/book/entries.xlsx": {
            "get": op(
                "The entries in scope as a spreadsheet",
                REPORTERS,
                ok("the workbook", BINARY, "400", "401", "403", "422", media=XLSX),
                cookie=True,
                parameters=filters,
            )
        },
        "/api/book/entries/{entry_id}": {
            "get": op(
                "One book entry",
                ROLES,
                ok("the entry", ref("BookEntry"), "400", "401", "403", "404"),
                cookie=True,
                parameters=[entry_id],
            ),
            "put": op(
                "A new version of an entry (the site stays)",
                WRITERS,
                ok("the entry", ref("BookEntry"), "400", "401", "403", "404", "409", "422"),
                cookie=True,
                parameters=[entry_id],
                requestBody=body(ENTRY_EDIT),
            ),
        },
        "/api/book/watch": {
            "get": op(
                "The watch list",
                ROLES,
                ok(
                    "the items",
                    obj({"items": {"type": "array", "items": ref("BookWatchItem")}}),
                    "400",
                    "401",
                    "403",
                ),
                cookie=True,
            ),
            "post": op(
                "Add a watch item",
                WRITERS,
                ok(
                    "the item",
                    ref("BookWatchItem"),
                    "400",
                    "401",
                    "403",
                    "404",
                    "409",
                    "422",
                    status="201",
                ),
                cookie=True,
                requestBody=body(WATCH_IN),
            ),
        },
        "/api/book/watch/{item_id}": {
            "put": op(
                "Update a watch item",
                WRITERS,
                ok(
                    "the item",
                    ref("BookWatchItem"),
                    "400",
                    "401",
                    "403",
                    "404",
                    "409",
                    "422",
                ),
                cookie=True,
                parameters=[item_id],
                requestBody=body(WATCH_CHANGE),
            )
        },
        "/api/book/reports/{period}": {
            "get": op(
                "A report as JSON",
                REPORTERS,
                ok("the report", REPORT, "400", "401", "403"),
                cookie=True,
                parameters=[period, day],
            )
        },
        "/api/book/reports/{period}/xlsx": {
            "get": op(
                "A report as a spreadsheet",
                REPORTERS,
                ok("the workbook", BINARY, "400", "401", "403", media=XLSX),
                cookie=True,
                parameters=[period, day],
            )
        },
        "/api/book/reports/{period}/print": {
            "get": op(
                "A report as a printable page in the administrative form",
                REPORTERS,
                ok("the page", STRING, "400", "401", "403", media=HTML),
                cookie=True,
                parameters=[
                    period,
                    day,
                    query_param("number", "the document's number, printed in its heading"),
                ],
            )
        },
    }
    return Part(paths, {"BookEntry": ENTRY, "BookWatchItem": WATCH_ITEM})
