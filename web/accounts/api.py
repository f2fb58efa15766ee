"""Sign-in, sign-out, the signed-in person, their tokens, and users for administrators.

- ``POST /api/login`` (anyone; the form's ``rb_login`` cookie echoed in ``X-CSRF-Token``):
  ``{user, password}`` sets the ``rb_session`` cookie and returns ``Me``.
- ``POST /api/logout`` (signed in): ends the session, clears the cookie.
- ``GET /api/me``: ``Me`` = user, display name, site, roles, CSRF token, expiry, and
  ``scope`` ``{root, sites}`` (the sites the person may act on; null: every site).
- ``POST /api/me/password`` ``{old, new}``: a new password; the other sessions end.
- ``POST /api/me/tokens`` ``{role, session?}`` → ``{token, expires}``: a short-lived token.
- Administrators, for their province (all for a central one): ``GET /api/users``,
  ``POST /api/users`` ``{name, display_name, site, roles}`` (returns a one-time password),
  ``POST /api/users/{name}/disable|enable|reset-password``, ``PUT /api/users/{name}/roles``.

Every state-changing request authenticated by the cookie carries ``X-CSRF-Token``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

from aiohttp import web

from accounts.errors import (
    AccountError,
    InvalidAccountInput,
    LastAdministrator,
    LoginRefused,
    UnknownUser,
    UserExists,
)
from accounts.values import SignedIn, UserView
from core.access import Role
from sessions.errors import ScheduleError
from web.accounts.keys import ACCOUNTS
from web.accounts.middleware import COOKIE, CSRF_HEADER, LOGIN_COOKIE, same
from web.http.auth import require, signed_in
from web.http.errors import http_error, refused
from web.http.minting import mint
from web.http.parse import json_body, text
from web.keys import SETTINGS, STORE

logger = logging.getLogger(__name__)

routes = web.RouteTableDef()

P = ParamSpec("P")
T = TypeVar("T")

LOGIN_STATUS = {"bad_credentials": 401, "locked": 429, "disabled": 403}


async def _run(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """An accounts call in a worker thread; its refusals become HTTP errors."""
    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except LoginRefused as exc:
        raise http_error(LOGIN_STATUS.get(exc.code, 401), exc.code, exc.message) from None
    except UnknownUser as exc:
        raise http_error(404, exc.code, exc.message) from None
    except (UserExists, LastAdministrator) as exc:
        raise http_error(409, exc.code, exc.message) from None
    except InvalidAccountInput as exc:
        raise http_error(422, exc.code, exc.message) from None
    except AccountError as exc:
        raise http_error(422, exc.code, exc.message) from None


def remote(request: web.Request) -> str:
    return request.remote or ""


def me(person: SignedIn) -> dict[str, Any]:
    """The ``Me`` object."""
    return {
        "user": person.user,
        "display_name": person.display_name,
        "site": person.site,
        "roles": sorted(str(r) for r in person.roles),
        "csrf_token": person.csrf_token,
        "expires": person.expires.isoformat(),
        "must_change_password": person.must_change_password,
    }


def user_dict(user: UserView) -> dict[str, Any]:
    return {
        "name": user.name,
        "display_name": user.display_name,
        "site": user.site,
        "roles": sorted(str(r) for r in user.roles),
        "disabled": user.disabled,
        "must_change_password": user.must_change_password,
        "locked_until": user.locked_until.isoformat() if user.locked_until else None,
        "created_at": user.created_at.isoformat(),
    }


def _secure(request: web.Request) -> bool:
    return request.app[SETTINGS].base_url.startswith("https:")


def login_cookie(request: web.Request, response: web.StreamResponse) -> str:
    """The sign-in form's anti-forgery value, set as a cookie if it is not yet."""
    value = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
    response.set_cookie(
        LOGIN_COOKIE, value, httponly=False, samesite="Strict", secure=_secure(request), path="/"
    )
    return value


def session_cookie(
    request: web.Request, response: web.StreamResponse, raw: str, person: SignedIn
) -> None:
    """The ``rb_session`` cookie: HttpOnly, SameSite=Lax, until the session ends."""
    seconds = int((person.expires - datetime.now(UTC)).total_seconds())
    response.set_cookie(
        COOKIE,
        raw,
        httponly=True,
        samesite="Lax",
        secure=_secure(request),
        path="/",
        max_age=max(60, seconds),
    )


def signed_in_or_401(request: web.Request) -> SignedIn:
    person = signed_in(request)
    if person is None:
        raise http_error(401, "not_signed_in", "sign in first")
    return person


@routes.post("/api/login")
async def login(request: web.Request) -> web.Response:
    """Sign in with a user name and password (the form's anti-forgery cookie echoed)."""
    if not same(request.headers.get(CSRF_HEADER), request.cookies.get(LOGIN_COOKIE, "")):
        raise http_error(403, "csrf_failed", "reload the sign-in page and try again")
    body = await json_body(request)
    name = text(body, "user").strip().lower()
    password = text(body, "password")
    raw, person = await _run(request.app[ACCOUNTS].sign_in, name, password, remote=remote(request))
    response = web.json_response(me(person))
    session_cookie(request, response, raw, person)
    return response


@routes.post("/api/logout")
async def logout(request: web.Request) -> web.Response:
    """Sign out: the session ends on the server and the cookie is cleared."""
    signed_in_or_401(request)
    await _run(
        request.app[ACCOUNTS].end_session, request.cookies.get(COOKIE, ""), remote=remote(request)
    )
    response = web.json_response({"ok": True})
    response.del_cookie(COOKIE, path="/")
    return response


@routes.get("/api/me")
async def get_me(request: web.Request) -> web.Response:
    """``Me`` and the person's scope: ``{"root": <site> | null, "sites": [...] | null}``,
    the sites the person may act on (null: every site, a central office). The pages take
    it from here rather than working the rule out again (``sitetree.scope_root``)."""
    person = signed_in_or_401(request)
    try:
        root, sites = await asyncio.to_thread(request.app[STORE].scope_of, person.site)
    except ScheduleError as exc:
        raise refused(exc) from None
    answer = me(person)
    answer["scope"] = {"root": root, "sites": None if sites is None else sorted(sites)}
    return web.json_response(answer)


@routes.post("/api/me/password")
async def change_password(request: web.Request) -> web.Response:
    """Choose a new password; every session of the account ends, a new one starts."""
    person = signed_in_or_401(request)
    body = await json_body(request)
    accounts = request.app[ACCOUNTS]
    user = await _run(
        accounts.set_password,
        person.user,
        text(body, "old"),
        text(body, "new"),
        remote=remote(request),
    )
    raw, fresh = await _run(accounts.start_session, user, remote=remote(request))
    response = web.json_response(me(fresh))
    session_cookie(request, response, raw, fresh)
    return response


@routes.post("/api/me/tokens")
async def tokens(request: web.Request) -> web.Response:
    """A short-lived token for the pages: ``{role, session?}`` → ``{token, expires}``."""
    person = signed_in_or_401(request)
    body = await json_body(request)
    raw_role = text(body, "role")
    try:
        role = Role(raw_role)
    except ValueError:
        raise http_error(400, "bad_role", f"no role {raw_role!r}") from None
    session = body.get("session")
    if session is not None and not isinstance(session, str):
        raise http_error(400, "bad_field", "session must be a string")
    token, expires = await mint(request, person, role, session)
    return web.json_response({"token": token, "expires": expires.isoformat()}, status=201)


# -- users (administrators) -------------------------------------------------------------


async def _admin_scope(request: web.Request) -> frozenset[str] | None:
    claims = require(request, (Role.ADMINISTRATOR,))
    scope = await asyncio.to_thread(request.app[STORE].scope_for, claims.site)
    return None if scope is None else frozenset(scope)


def _in_scope(scope: frozenset[str] | None, site: str) -> None:
    if scope is not None and site not in scope:
        raise http_error(403, "outside_scope", f"site {site} is outside your province")


def _roles(body: dict[str, Any]) -> list[Role]:
    raw = body.get("roles")
    if not isinstance(raw, list) or not all(isinstance(r, str) for r in raw):
        raise http_error(400, "bad_field", "roles must be a list of role names")
    try:
        return [Role(r) for r in raw]
    except ValueError:
        raise http_error(400, "bad_role", f"roles must be among {', '.join(Role)}") from None


async def _user_in_scope(request: web.Request, scope: frozenset[str] | None) -> UserView:
    name = request.match_info["name"]
    user = await _run(request.app[ACCOUNTS].get_user, name)
    if user is None:
        raise http_error(404, "unknown_user", f"no user named {name!r}")
    _in_scope(scope, user.site)
    return user


@routes.get("/api/users")
async def list_users(request: web.Request) -> web.Response:
    scope = await _admin_scope(request)
    users = await _run(request.app[ACCOUNTS].list_users, scope)
    return web.json_response({"users": [user_dict(u) for u in users]})


@routes.post("/api/users")
async def add_user(request: web.Request) -> web.Response:
    scope = await _admin_scope(request)
    claims = require(request, (Role.ADMINISTRATOR,))
    body = await json_body(request)
    site = text(body, "site")
    _in_scope(scope, site)
    if await asyncio.to_thread(request.app[STORE].get_site, site) is None:
        raise http_error(422, "unknown_site", f"no site {site!r}")
    user, password = await _run(
        request.app[ACCOUNTS].add_user,
        text(body, "name").strip().lower(),
        text(body, "display_name"),
        site,
        _roles(body),
        by=claims.subject or f"{claims.role}@{claims.site}",
    )
    return web.json_response({"user": user_dict(user), "one_time_password": password}, status=201)


async def _admin_action(request: web.Request, action: str) -> web.Response:
    scope = await _admin_scope(request)
    claims = require(request, (Role.ADMINISTRATOR,))
    user = await _user_in_scope(request, scope)
    accounts = request.app[ACCOUNTS]
    by = claims.subject or f"{claims.role}@{claims.site}"
    if action == "disable":
        user = await _run(accounts.disable, user.name, by=by, remote=remote(request))
    elif action == "enable":
        user = await _run(accounts.enable, user.name, by=by, remote=remote(request))
    else:
        password = await _run(accounts.reset_password, user.name, by=by, remote=remote(request))
        fresh = await _run(accounts.get_user, user.name)
        assert fresh is not None
        return web.json_response({"user": user_dict(fresh), "one_time_password": password})
    return web.json_response({"user": user_dict(user)})


@routes.post("/api/users/{name}/disable")
async def disable_user(request: web.Request) -> web.Response:
    return await _admin_action(request, "disable")


@routes.post("/api/users/{name}/enable")
async def enable_user(request: web.Request) -> web.Response:
    return await _admin_action(request, "enable")


@routes.post("/api/users/{name}/reset-password")
async def reset_password(request: web.Request) -> web.Response:
    return await _admin_action(request, "reset")


@routes.put("/api/users/{name}/roles")
async def set_roles(request: web.Request) -> web.Response:
    scope = await _admin_scope(request)
    claims = require(request, (Role.ADMINISTRATOR,))
    user = await _user_in_scope(request, scope)
    body = await json_body(request)
    updated = await _run(
        request.app[ACCOUNTS].set_roles,
        user.name,
        _roles(body),
        by=claims.subject or f"{claims.role}@{claims.site}",
    )
    return web.json_response({"user": user_dict(updated)})
