"""Who is asking: a signed token (``Authorization: Bearer`` or ``?token=``) or a signed-in
session (the ``rb_session`` cookie), turned into :class:`Claims` for the routes' checks.

The sign-in middleware (``web.accounts``) looks the cookie up before a handler runs and
leaves the session on the request; a cookie-authenticated request that changes state
must carry the session's CSRF token (checked there). A token wins over the cookie.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from aiohttp import web

from accounts.values import SignedIn
from core.access import Claims, Role, TokenError
from signaling.tokens import verify_token
from web.http.errors import http_error
from web.keys import SECRET

SIGNED_IN = web.RequestKey("signed_in", SignedIn)
"""The request key under which the sign-in middleware leaves the :class:`SignedIn`."""
ROLE_ORDER: Sequence[Role] = (
    Role.ADMINISTRATOR,
    Role.SCHEDULER,
    Role.OPERATOR,
    Role.CLERK,
    Role.ROOM,
)
"""Which of a signed-in person's roles acts when a route does not say."""


def token_from_request(request: web.Request) -> str | None:
    """The bearer token from ``Authorization: Bearer`` or the ``token`` query parameter."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.query.get("token")


def signed_in(request: web.Request) -> SignedIn | None:
    """The request's signed-in session, if its cookie named a valid one."""
    return request.get(SIGNED_IN)


def session_claims(person: SignedIn, roles: Iterable[Role] = ROLE_ORDER) -> Claims:
    """Claims of a signed-in person acting in the first of ``roles`` they hold (else in
    their first role by :data:`ROLE_ORDER`)."""
    role = next((r for r in roles if r in person.roles), None)
    if role is None:
        role = next(r for r in ROLE_ORDER if r in person.roles)
    return Claims(
        role=role,
        site=person.site,
        session=None,
        not_before=min(datetime.now(UTC), person.expires - timedelta(seconds=1)),
        expires=person.expires,
        subject=person.user,
    )


def authenticate(request: web.Request, roles: Iterable[Role] = ROLE_ORDER) -> Claims:
    """Claims of the request's token, else of its signed-in session, or 401 with why."""
    token = token_from_request(request)
    person = signed_in(request)
    if token is None and person is not None:
        return session_claims(person, roles)
    try:
        return verify_token(request.app[SECRET], token)
    except TokenError as exc:
        raise http_error(401, exc.code, exc.message) from None


def require(request: web.Request, roles: Iterable[Role]) -> Claims:
    """Claims whose role is one of ``roles``, or 401/403 with the reason."""
    allowed = tuple(roles)
    claims = authenticate(request, allowed)
    if claims.role not in allowed:
        names = ", ".join(sorted(str(r) for r in allowed))
        raise http_error(
            403, "forbidden_role", f"role {claims.role} may not do this (needs {names})"
        )
    return claims
