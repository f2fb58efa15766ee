"""Sign-in through the real app: cookie sessions, CSRF, lockout, disable, minted tokens,
and a role matrix over every route of the route table."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from accounts.service import Accounts
from config.settings import Settings
from core.access import Role
from signaling.tokens import verify_token
from tests.conftest import free_port
from web.accounts.keys import ACCOUNTS
from web.accounts.middleware import COOKIE, CSRF_HEADER, LOGIN_COOKIE
from web.app import create_app
from web.keys import STORE

SECRET = "signin-test-secret-0123456789abcdef"
PASSWORD = "mật-khẩu-đủ-dài-2026"
WRONG = "Sai-mat-khau-7731"
USERS: dict[str, tuple[str, tuple[Role, ...]]] = {
    "admin-tw": ("tw-hanoi", (Role.ADMINISTRATOR,)),
    "sched-bn": ("bac-ninh", (Role.SCHEDULER,)),
    "oper-tw": ("tw-hanoi", (Role.OPERATOR,)),
    "clerk-tw": ("tw-hanoi", (Role.CLERK,)),
    "room-bn": ("bac-ninh", (Role.ROOM,)),
    "room-hp": ("hai-phong", (Role.ROOM,)),
}


@dataclass
class Site:
    url: str
    app: web.Application

    def accounts(self) -> Accounts:
        return self.app[ACCOUNTS]


@dataclass
class Browser:
    """A cookie jar with the CSRF token of its sign-in, as a page would hold them."""

    site: Site
    http: aiohttp.ClientSession
    csrf: str = ""
    set_cookie: str = ""
    """The ``Set-Cookie`` header of the last sign-in."""

    async def login(self, user: str, password: str = PASSWORD) -> tuple[int, Any]:
        async with self.http.get(self.site.url + "/login") as resp:
            assert resp.status == 200
        login_csrf = self.http.cookie_jar.filter_cookies(URL(self.site.url))[LOGIN_COOKIE].value
        async with self.http.post(
            self.site.url + "/api/login",
            json={"user": user, "password": password},
            headers={CSRF_HEADER: login_csrf},
        ) as resp:
            body = await resp.json()
            self.set_cookie = resp.headers.get("Set-Cookie", "")
            if resp.status == 200:
                self.csrf = body["csrf_token"]
            return resp.status, body

    async def call(
        self, method: str, path: str, *, csrf: bool = True, **kw: Any
    ) -> tuple[int, Any]:
        headers = dict(kw.pop("headers", {}))
        if csrf and self.csrf:
            headers.setdefault(CSRF_HEADER, self.csrf)
        async with self.http.request(
            method, self.site.url + path, headers=headers, allow_redirects=False, **kw
        ) as resp:
            if resp.content_type == "application/json":
                return resp.status, await resp.json()
            return resp.status, resp.headers.get("Location", "")


@contextlib.asynccontextmanager
async def running_site(
    tmp_path: Path, users: dict[str, tuple[str, tuple[Role, ...]]]
) -> AsyncIterator[Site]:
    """The whole app on a free port, the default site tree loaded, and ``users`` (name:
    site, roles) with the password :data:`PASSWORD`."""
    port = free_port()
    app = create_app(Settings(port=port, data_dir=tmp_path, secret=SECRET))
    runner = web.AppRunner(app)
    await runner.setup()
    await asyncio.to_thread(app[STORE].load_tree)
    accounts = app[ACCOUNTS]
    for name, (where, roles) in users.items():
        _, once = await asyncio.to_thread(accounts.add_user, name, name, where, roles, by="test")
        await asyncio.to_thread(accounts.set_password, name, once, PASSWORD)
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield Site(f"http://127.0.0.1:{port}", app)
    finally:
        await asyncio.wait_for(runner.cleanup(), 60)


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async with running_site(tmp_path, USERS) as running:
        yield running


@pytest.fixture
async def browser(site: Site) -> AsyncIterator[Browser]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        yield Browser(site, http)


async def test_sign_in_needs_the_form_token_and_sets_an_httponly_cookie(
    site: Site, browser: Browser
) -> None:
    status, body = await browser.call(
        "POST", "/api/login", json={"user": "oper-tw", "password": PASSWORD}
    )
    assert (status, body["error"]["code"]) == (403, "csrf_failed")
    status, body = await browser.login("oper-tw")
    assert status == 200, body
    assert body["roles"] == ["operator"] and body["site"] == "tw-hanoi"
    assert browser.set_cookie.startswith(f"{COOKIE}=")
    attributes = {a.strip().split("=")[0].lower() for a in browser.set_cookie.split(";")}
    assert {"httponly", "samesite", "path", "max-age"} <= attributes
    assert "SameSite=Lax" in browser.set_cookie
    status, me = await browser.call("GET", "/api/me")
    assert status == 200 and me["user"] == "oper-tw"
    status, body = await browser.call("POST", "/api/logout")
    assert status == 200
    status, body = await browser.call("GET", "/api/me")
    assert (status, body["error"]["code"]) == (401, "not_signed_in")


async def test_me_carries_the_scope_the_server_applies(site: Site, browser: Browser) -> None:
    """GET /api/me says which sites the person may act on: the scheduler's own rule."""
    store = site.app[STORE]
    for user, where in (
        ("admin-tw", "tw-hanoi"),
        ("sched-bn", "bac-ninh"),
        ("room-hp", "hai-phong"),
    ):
        browser.http.cookie_jar.clear()
        await browser.login(user)
        status, me = await browser.call("GET", "/api/me")
        assert status == 200 and me["user"] == user, me
        rule = await asyncio.to_thread(store.scope_for, where)
        if rule is None:
            assert me["scope"] == {"root": None, "sites": None}
        else:
            assert me["scope"]["root"] == where
            assert me["scope"]["sites"] == sorted(rule)
            assert where in me["scope"]["sites"] and "tw-hanoi" not in me["scope"]["sites"]
    # A commune's person acts for its province, as the server's rule says.
    communes = await asyncio.to_thread(store.subtree, "bac-ninh")
    commune = next(c for c in sorted(communes) if c != "bac-ninh")
    _, once = await asyncio.to_thread(
        site.accounts().add_user, "room-xa", "room-xa", commune, (Role.ROOM,), by="test"
    )
    await asyncio.to_thread(site.accounts().set_password, "room-xa", once, PASSWORD)
    browser.http.cookie_jar.clear()
    await browser.login("room-xa")
    status, me = await browser.call("GET", "/api/me")
    assert me["scope"]["root"] == "bac-ninh" and commune in me["scope"]["sites"]


async def test_a_cookie_request_that_changes_state_needs_the_csrf_token(browser: Browser) -> None:
    await browser.login("admin-tw")
    body = {"name": "new-clerk", "display_name": "Văn thư", "site": "tw-hanoi", "roles": ["clerk"]}
    status, answer = await browser.call("POST", "/api/users", csrf=False, json=body)
    assert (status, answer["error"]["code"]) == (403, "csrf_failed")
    status, answer = await browser.call(
        "POST", "/api/users", csrf=False, json=body, headers={CSRF_HEADER: "forged"}
    )
    assert (status, answer["error"]["code"]) == (403, "csrf_failed")
    status, answer = await browser.call("GET", "/api/users")
    assert status == 200 and "new-clerk" not in {u["name"] for u in answer["users"]}
    status, answer = await browser.call("POST", "/api/users", json=body)
    assert status == 201, answer
    assert len(answer["one_time_password"]) >= 10


async def test_five_failures_lock_the_name_and_are_audited(site: Site, browser: Browser) -> None:
    for _ in range(4):
        status, body = await browser.login("clerk-tw", WRONG)
        assert (status, body["error"]["code"]) == (401, "bad_credentials")
    status, body = await browser.login("clerk-tw", WRONG)
    assert (status, body["error"]["code"]) == (429, "locked")
    # Now even the right password is refused for 15 minutes.
    status, body = await browser.login("clerk-tw")
    assert (status, body["error"]["code"]) == (429, "locked")
    unknown, body = await browser.login("nobody-here", WRONG)
    assert (unknown, body["error"]["code"]) == (401, "bad_credentials")
    events = await asyncio.to_thread(site.accounts().events, user="clerk-tw")
    kinds = [str(e.event) for e in events]
    assert kinds.count("login_failed") >= 5 and "locked" in kinds
    assert all(PASSWORD not in e.detail and WRONG not in e.detail for e in events)


async def test_disabling_a_user_ends_their_session_at_once(site: Site, browser: Browser) -> None:
    await browser.login("oper-tw")
    assert (await browser.call("GET", "/api/me"))[0] == 200
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as other:
        admin = Browser(site, other)
        await admin.login("admin-tw")
        status, body = await admin.call("POST", "/api/users/oper-tw/disable")
        assert status == 200 and body["user"]["disabled"] is True
    assert (await browser.call("GET", "/api/me"))[0] == 401
    status, body = await browser.login("oper-tw")
    assert (status, body["error"]["code"]) == (403, "disabled")


async def test_the_last_enabled_administrator_stays(site: Site, browser: Browser) -> None:
    """Neither disabled nor stripped of the role: 409 ``last_administrator``, nothing done."""
    await browser.login("admin-tw")
    refused = [
        await browser.call("POST", "/api/users/admin-tw/disable"),
        await browser.call("PUT", "/api/users/admin-tw/roles", json={"roles": ["operator"]}),
    ]
    for status, body in refused:
        assert (status, body["error"]["code"]) == (409, "last_administrator"), body
        assert "last enabled administrator" in body["error"]["message"]
    user = site.accounts().get_user("admin-tw")
    assert user is not None and not user.disabled and Role.ADMINISTRATOR in user.roles
    assert (await browser.call("GET", "/api/me"))[0] == 200  # still signed in

    # With a second administrator either may go, but not both.
    status, _ = await browser.call(
        "POST",
        "/api/users",
        json={
            "name": "admin-two",
            "display_name": "Hai",
            "site": "tw-hanoi",
            "roles": ["administrator"],
        },
    )
    assert status == 201
    status, body = await browser.call(
        "PUT", "/api/users/admin-two/roles", json={"roles": ["clerk"]}
    )
    assert status == 200, body
    status, body = await browser.call("POST", "/api/users/admin-tw/disable")
    assert (status, body["error"]["code"]) == (409, "last_administrator")
    status, body = await browser.call(
        "PUT", "/api/users/admin-two/roles", json={"roles": ["administrator"]}
    )
    assert status == 200, body
    status, body = await browser.call("POST", "/api/users/admin-two/disable")
    assert status == 200 and body["user"]["disabled"] is True
    status, body = await browser.call("POST", "/api/users/admin-tw/disable")
    assert (status, body["error"]["code"]) == (409, "last_administrator")


async def _book(site: Site, browser: Browser, sites: list[str]) -> str:
    now = datetime.now(UTC)
    status, booked = await browser.call(
        "POST",
        "/api/sessions",
        json={
            "title": "Tiếp công dân",
            "host_site": "tw-hanoi",
            "starts_at": (now - timedelta(minutes=5)).isoformat(),
            "ends_at": (now + timedelta(hours=1)).isoformat(),
            "participants": sites,
            "allow_day_off": True,
        },
    )
    assert status == 201, booked
    return str(booked["id"])


async def test_pages_send_a_signed_in_person_on_with_a_token_of_their_own(
    site: Site, browser: Browser
) -> None:
    status, where = await browser.call("GET", "/room?session=x")
    assert status == 303 and where.startswith("/login?next=")
    await browser.login("admin-tw")
    session_id = await _book(site, browser, ["bac-ninh"])
    await browser.call("POST", "/api/logout")
    await browser.login("room-bn")
    status, where = await browser.call("GET", f"/room?session={session_id}")
    assert status == 303 and where.startswith("/room?token=")
    claims = verify_token(SECRET, where.split("token=", 1)[1])
    assert (claims.role, claims.site, claims.session) == (Role.ROOM, "bac-ninh", session_id)
    # A room account opens no console, no archive, and no other site's session.
    assert (await browser.call("GET", f"/console?session={session_id}"))[0] == 403
    assert (await browser.call("GET", "/archive"))[0] == 403
    status, body = await browser.call(
        "POST", "/api/me/tokens", json={"role": "operator", "session": session_id}
    )
    assert (status, body["error"]["code"]) == (403, "forbidden_role")
    await browser.call("POST", "/api/logout")
    await browser.login("room-hp")
    status, body = await browser.call(
        "POST", "/api/me/tokens", json={"role": "room", "session": session_id}
    )
    assert (status, body["error"]["code"]) == (404, "unknown_session")


# -- the role matrix -------------------------------------------------------------------

ANYONE = frozenset(Role) | {"anonymous"}
SIGNED = frozenset(Role)
STAFF = frozenset({Role.ADMINISTRATOR, Role.SCHEDULER, Role.OPERATOR})
SCHED = frozenset({Role.ADMINISTRATOR, Role.SCHEDULER})
ARCHIVE = frozenset({Role.ADMINISTRATOR, Role.CLERK})
ADMIN = frozenset({Role.ADMINISTRATOR})
BOOK = frozenset({Role.ADMINISTRATOR, Role.CLERK, Role.OPERATOR})
ACCESS: dict[tuple[str, str], frozenset[Any]] = {
    ("GET", "/"): ANYONE,
    ("GET", "/login"): ANYONE,
    ("POST", "/api/login"): ANYONE,
    ("POST", "/api/logout"): SIGNED,
    ("GET", "/api/me"): SIGNED,
    ("POST", "/api/me/password"): SIGNED,
    ("POST", "/api/me/tokens"): SIGNED,
    ("GET", "/api/users"): ADMIN,
    ("POST", "/api/users"): ADMIN,
    ("POST", "/api/users/{name}/disable"): ADMIN,
    ("POST", "/api/users/{name}/enable"): ADMIN,
    ("POST", "/api/users/{name}/reset-password"): ADMIN,
    ("PUT", "/api/users/{name}/roles"): ADMIN,
    ("GET", "/room"): frozenset({Role.ROOM}),
    ("GET", "/console"): frozenset({Role.OPERATOR}),
    ("GET", "/archive"): ARCHIVE,
    ("GET", "/schedule"): ANYONE,
    ("GET", "/desk"): SCHED,
    ("GET", "/api/openapi.json"): ANYONE,
    ("GET", "/api/sites"): ANYONE,
    ("GET", "/api/sites/{site_id}"): ANYONE,
    ("GET", "/api/sites/{site_id}/calendar.ics"): ANYONE,
    ("POST", "/api/sites"): SCHED,
    ("POST", "/api/sites/tree"): ADMIN,
    ("PUT", "/api/sites/{site_id}"): SCHED,
    ("POST", "/api/sites/{site_id}/rooms"): SCHED,
    ("GET", "/api/calendar/days"): ANYONE,
    ("GET", "/api/calendar/overrides"): ANYONE,
    ("PUT", "/api/calendar/overrides/{day}"): ADMIN,
    ("DELETE", "/api/calendar/overrides/{day}"): ADMIN,
    ("GET", "/api/rules"): SCHED,
    ("POST", "/api/rules"): SCHED,
    ("DELETE", "/api/rules/{rule_id}"): SCHED,
    ("POST", "/api/schedule/generate"): SCHED,
    ("GET", "/api/sessions"): ANYONE,
    ("GET", "/api/sessions/{session_id}"): ANYONE,
    ("POST", "/api/sessions"): SCHED,
    ("POST", "/api/sessions/check"): SCHED,
    ("POST", "/api/sessions/{session_id}/open"): STAFF,
    ("POST", "/api/sessions/{session_id}/close"): STAFF,
    ("POST", "/api/sessions/{session_id}/cancel"): SCHED,
    ("POST", "/api/sessions/{session_id}/slots/{slot_id}/booking"): STAFF,
    ("POST", "/api/sessions/{session_id}/room-token"): STAFF | {Role.ROOM},
    ("GET", "/api/archive/recordings"): ARCHIVE,
    ("GET", "/api/archive/recordings/{recording}"): ARCHIVE,
    ("GET", "/api/archive/recordings/{recording}/files/{name}"): ARCHIVE,
    ("POST", "/api/archive/recordings/{recording}/extracts"): ARCHIVE,
    ("POST", "/api/archive/recordings/{recording}/compose"): ARCHIVE,
    ("GET", "/api/archive/exports/{export}"): ARCHIVE,
    ("GET", "/api/archive/exports/{export}/file"): ARCHIVE,
    ("POST", "/api/archive/cases"): ARCHIVE | {Role.OPERATOR},
    ("GET", "/api/archive/cases/{number}"): ARCHIVE,
    ("POST", "/api/archive/sessions/{session}/markers"): frozenset(
        {Role.OPERATOR, Role.ADMINISTRATOR}
    ),
    ("GET", "/api/archive/audit"): ADMIN,
    ("POST", "/api/archive/verify"): ADMIN,
    ("GET", "/book"): ARCHIVE,
    ("POST", "/api/book/entries"): BOOK,
    ("GET", "/api/book/entries"): BOOK,
    ("GET", "/api/book/entries/{entry_id}"): BOOK,
    ("PUT", "/api/book/entries/{entry_id}"): BOOK,
    ("GET", "/api/book/entries.xlsx"): ARCHIVE,
    ("GET", "/api/book/watch"): BOOK,
    ("POST", "/api/book/watch"): BOOK,
    ("PUT", "/api/book/watch/{item_id}"): BOOK,
    ("GET", "/api/book/reports/{period}"): ARCHIVE,
    ("GET", "/api/book/reports/{period}/xlsx"): ARCHIVE,
    ("GET", "/api/book/reports/{period}/print"): ARCHIVE,
    # Operations: a scraper may also send RB_METRICS_TOKEN (tests/integration/test_ops.py).
    ("GET", "/metrics"): ADMIN,
    ("GET", "/healthz"): ANYONE,
    ("GET", "/readyz"): ANYONE,
    ("GET", "/api/webhooks/deliveries"): ADMIN,
}
SOCKET_IO = {("GET", "/socket.io/"), ("POST", "/socket.io/"), ("OPTIONS", "/socket.io/")}
"""Engine.IO's own routes: the media path admits by token in its handshake, per event
(tests/integration/test_bad_input.py), never by the cookie."""
ACCOUNT_OF = {
    Role.ADMINISTRATOR: "admin-tw",
    Role.SCHEDULER: "sched-bn",
    Role.OPERATOR: "oper-tw",
    Role.CLERK: "clerk-tw",
    Role.ROOM: "room-bn",
}
REFUSED = {401, 403, 404}


def _routes(app: web.Application) -> set[tuple[str, str]]:
    out = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("formatter") or info.get("path")
        if path is None or route.method in ("HEAD", "*"):
            continue
        out.add((route.method, str(path)))
    return out


def test_every_route_is_in_the_role_matrix(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path, secret=SECRET))
    routes = _routes(app)
    missing = sorted(r for r in routes - SOCKET_IO if r not in ACCESS)
    assert not missing, f"routes with no entry in the role matrix: {missing}"
    stale = sorted(r for r in ACCESS if r not in routes)
    assert not stale, f"role matrix entries with no route: {stale}"


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x1", path)


async def test_role_matrix_every_route_refuses_every_role_it_does_not_admit(site: Site) -> None:
    """Signed in as each role (cookie and CSRF token, as a person is), every route the
    role is not admitted to answers 401, 403 or 404; an admitted role is never told it
    lacks the right (its dummy input may still be refused for what it is)."""
    outcomes: dict[str, list[str]] = {"refused": [], "admitted": []}
    for role in [*ACCOUNT_OF, "anonymous"]:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            browser = Browser(site, http)
            if role != "anonymous":
                status, _ = await browser.login(ACCOUNT_OF[Role(role)])
                assert status == 200
            for (method, path), admitted in sorted(ACCESS.items()):
                if path in ("/api/login", "/api/logout"):
                    continue
                status, body = await browser.call(method, _concrete(path), json={})
                code = body["error"]["code"] if isinstance(body, dict) and "error" in body else ""
                where = f"{role} {method} {path} -> {status} {code}"
                if role in admitted:
                    assert status not in (401,) and code not in ("forbidden_role", "csrf_failed"), (
                        where
                    )
                    outcomes["admitted"].append(where)
                else:
                    assert status in REFUSED or (status == 303 and method == "GET"), where
                    outcomes["refused"].append(where)
    assert outcomes["refused"] and outcomes["admitted"]
