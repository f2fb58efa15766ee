"""The reception-book read routes in the OpenAPI document (see web/book/api.py).

Partial (issue 12 item 6): the entry, watch-list and report bodies are described as
objects only; the write routes (POST/PUT) and the archive routes are not described yet."""

from __future__ import annotations

from web.http.openapi import STRING, Json, Part, obj, ok, op, path_param, query_param

ROLES = "clerk, operator, administrator (their site's book)"
REPORTERS = "clerk, administrator"
ANY_OBJECT: Json = {"type": "object"}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
BINARY: Json = {"type": "string", "format": "binary"}
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
    paths: Json = {
        "/api/book/entries/{entry_id}": {
            "get": op(
                "One book entry",
                ROLES,
                ok("the entry", ANY_OBJECT, "400", "401", "403", "404"),
                cookie=True,
                parameters=[entry_id],
            )
        },
        "/api/book/watch": {
            "get": op(
                "The watch list",
                ROLES,
                ok(
                    "the items",
                    obj({"items": {"type": "array", "items": ANY_OBJECT}}),
                    "400",
                    "401",
                    "403",
                ),
                cookie=True,
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
    }
    return Part(paths, {})
