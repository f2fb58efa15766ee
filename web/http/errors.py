"""One JSON shape for every REST error, and one rule for its status.

Every error is ``{"error": {"code": ..., "message": ...}}``; the code is stable, the
message is for people. The status follows one rule on every route of ``web/``:

=====  ================================================================================
400    **Malformed**: the request cannot be read into typed values. The body is not
       JSON or not an object; a field has the wrong JSON type; a required field is
       absent; a date, time, number or enum value does not parse; a path parameter, a
       site id or a case number breaks its syntax. (:func:`bad`; every helper of
       :mod:`web.http.parse`.)
401    No token, or a bad or expired one.
403    The role or the site scope forbids it.
404    What the path names does not exist, or the caller's site may not see it.
409    It clashes with what is stored: a room or slot taken, a day off, a state change
       not allowed, a case already recorded, an export not ready yet.
413    The body is too large.
415    The body's Content-Type is not one the route reads (a TOML site tree: text/plain
       or application/toml).
416    The Range header cannot be satisfied (or cannot be read).
422    **Inconsistent**: every value parsed, but they break a rule together or against
       what they name. An end before its start, a range too long or empty within a
       file, a required text that is blank or too long (a reason), a number out of
       its range, a date outside the working-day calendar's years
       (``date_out_of_range``: near year 1 or 9999, or any year the ``holidays``
       package does not cover), a site that takes no part in the session; and every
       refusal the domain raises as invalid. (:func:`inconsistent`.)
429    Too many failed sign-ins for one user name: it is locked for a while.
=====  ================================================================================

Refusals raised below the web layer (:class:`sessions.errors.ScheduleError`,
:class:`recorder.archive.ArchiveError`, :class:`recorder.storage.StorageError`) become
HTTP errors through :func:`refused` and its one table, :func:`refusal_status`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from aiohttp import web

from recorder.archive import ArchiveError
from recorder.storage import StorageError
from sessions.errors import Refusal, ScheduleError

MALFORMED = 400
INCONSISTENT = 422

KIND_STATUS: dict[Refusal, int] = {
    Refusal.INVALID: INCONSISTENT,
    Refusal.NOT_FOUND: 404,
    Refusal.CONFLICT: 409,
    Refusal.FORBIDDEN: 403,
}
"""A scheduler refusal's status by its kind, unless :data:`CODE_STATUS` names its code."""

CODE_STATUS: dict[str, int] = {
    # Syntax, whichever layer finds it out.
    "bad_case_number": MALFORMED,
    "bad_name": MALFORMED,
    "bad_site_id": MALFORMED,
    "bad_case_kind": MALFORMED,
    "bad_toml": MALFORMED,
    # The archive's and the storage's refusals carry a code only.
    "not_found": 404,
    "unknown_case": 404,
    "case_exists": 409,
    "bad_case": INCONSISTENT,
    "bad_marker": INCONSISTENT,
}
"""Status by refusal code: syntax refusals, and every code of the archive and storage."""


def refusal_status(code: str, kind: Refusal | None = None) -> int:
    """The status of a domain refusal: by its code if listed, else by its kind (422)."""
    if code in CODE_STATUS:
        return CODE_STATUS[code]
    return KIND_STATUS[kind] if kind is not None else INCONSISTENT


def error_body(code: str, message: str, **extra: object) -> str:
    """``{"error": {"code", "message", ...extra}}`` (extra: e.g. a TOML error's line)."""
    return json.dumps({"error": {"code": code, "message": message, **extra}}, ensure_ascii=False)


def http_error(status: int, code: str, message: str, **extra: object) -> web.HTTPException:
    """An aiohttp HTTP exception carrying the JSON error body."""
    classes: dict[int, type[web.HTTPException]] = {
        400: web.HTTPBadRequest,
        401: web.HTTPUnauthorized,
        403: web.HTTPForbidden,
        404: web.HTTPNotFound,
        409: web.HTTPConflict,
        413: web.HTTPRequestEntityTooLarge,
        415: web.HTTPUnsupportedMediaType,
        416: web.HTTPRequestRangeNotSatisfiable,
        422: web.HTTPUnprocessableEntity,
        429: web.HTTPTooManyRequests,
    }
    cls = classes.get(status, web.HTTPBadRequest)
    if cls is web.HTTPRequestEntityTooLarge:
        return web.HTTPRequestEntityTooLarge(
            max_size=0,
            actual_size=0,
            text=error_body(code, message, **extra),
            content_type="application/json",
        )
    return cls(text=error_body(code, message, **extra), content_type="application/json")


def bad(code: str, message: str) -> web.HTTPException:
    """400: the input is malformed (see the module's rule)."""
    return http_error(MALFORMED, code, message)


def inconsistent(code: str, message: str) -> web.HTTPException:
    """422: the input is well-formed but inconsistent (see the module's rule)."""
    return http_error(INCONSISTENT, code, message)


def refused(exc: ScheduleError | ArchiveError | StorageError) -> web.HTTPException:
    """The HTTP error of a refusal raised by the scheduler, the archive or the storage."""
    if isinstance(exc, ScheduleError):
        return http_error(refusal_status(exc.code, exc.kind), exc.code, exc.message)
    return http_error(refusal_status(exc.code), exc.code, str(exc))


@web.middleware
async def api_not_found(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """A path under ``/api/`` that no route matches (an unknown route, or a parameter no
    route pattern takes, such as a newline in a case number) answers 404 with the JSON error
    body, as every other API error; aiohttp's own answer is ``404: Not Found`` in plain text."""
    try:
        return await handler(request)
    except web.HTTPNotFound as exc:
        if not request.path.startswith("/api/") or exc.content_type == "application/json":
            raise
        raise http_error(404, "not_found", f"no such resource: {request.path}") from None
