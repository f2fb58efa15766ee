"""One JSON shape for every REST error: ``{"error": {"code": ..., "message": ...}}``."""

from __future__ import annotations

import json

from aiohttp import web


def error_body(code: str, message: str) -> str:
    return json.dumps({"error": {"code": code, "message": message}}, ensure_ascii=False)


def http_error(status: int, code: str, message: str) -> web.HTTPException:
    """An aiohttp HTTP exception carrying the JSON error body."""
    classes: dict[int, type[web.HTTPException]] = {
        400: web.HTTPBadRequest,
        401: web.HTTPUnauthorized,
        403: web.HTTPForbidden,
        404: web.HTTPNotFound,
        409: web.HTTPConflict,
        413: web.HTTPRequestEntityTooLarge,
        416: web.HTTPRequestRangeNotSatisfiable,
        422: web.HTTPUnprocessableEntity,
    }
    cls = classes.get(status, web.HTTPBadRequest)
    if cls is web.HTTPRequestEntityTooLarge:
        return web.HTTPRequestEntityTooLarge(
            max_size=0,
            actual_size=0,
            text=error_body(code, message),
            content_type="application/json",
        )
    return cls(text=error_body(code, message), content_type="application/json")
