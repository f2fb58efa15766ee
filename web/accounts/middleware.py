"""The sign-in middleware: the cookie's session onto the request, and the CSRF check."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from accounts.service import Accounts
from web.http.auth import SIGNED_IN, token_from_request
from web.http.errors import http_error

COOKIE = "rb_session"
"""The sign-in session's cookie (HttpOnly, SameSite=Lax): a random token, stored hashed."""
LOGIN_COOKIE = "rb_login"
"""The sign-in form's anti-forgery cookie (double submit: the form echoes it)."""
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
EXEMPT_PREFIXES = ("/socket.io/",)
"""Socket.IO authenticates with tokens in its own handshake, never with the cookie."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def same(sent: str | None, expected: str) -> bool:
    """Constant-time comparison of a sent anti-forgery token."""
    return bool(sent) and hmac.compare_digest(str(sent), expected)


def signin_middleware(accounts: Accounts) -> Middleware:
    """Looks the ``rb_session`` cookie up and leaves the session on the request.

    A request authenticated by that cookie alone (no token) that changes state must
    send the session's CSRF token in ``X-CSRF-Token``; otherwise 403 ``csrf_failed``.
    """

    @web.middleware
    async def signin(request: web.Request, handler: Handler) -> web.StreamResponse:
        raw = request.cookies.get(COOKIE, "")
        person = await asyncio.to_thread(accounts.session, raw) if raw else None
        if person is not None:
            request[SIGNED_IN] = person
            if (
                request.method not in SAFE_METHODS
                and token_from_request(request) is None
                and not request.path.startswith(EXEMPT_PREFIXES)
                and not same(request.headers.get(CSRF_HEADER), person.csrf_token)
            ):
                raise http_error(
                    403, "csrf_failed", "this request lacks the page's anti-forgery token"
                )
        return await handler(request)

    return signin
