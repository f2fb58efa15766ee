"""Role and site checks for REST routes."""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web

from core.access import Claims, Role, TokenError
from signaling.tokens import verify_token
from web.http.errors import http_error
from web.keys import SECRET


def token_from_request(request: web.Request) -> str | None:
    """The bearer token from ``Authorization: Bearer`` or the ``token`` query parameter."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.query.get("token")


def authenticate(request: web.Request) -> Claims:
    """Verified claims of the request's token, or 401 with the reason."""
    try:
        return verify_token(request.app[SECRET], token_from_request(request))
    except TokenError as exc:
        raise http_error(401, exc.code, exc.message) from None


def require(request: web.Request, roles: Iterable[Role]) -> Claims:
    """Claims of a token whose role is one of ``roles``, or 401/403 with the reason."""
    claims = authenticate(request)
    allowed = set(roles)
    if claims.role not in allowed:
        names = ", ".join(sorted(str(r) for r in allowed))
        raise http_error(
            403, "forbidden_role", f"role {claims.role} may not do this (needs {names})"
        )
    return claims
