"""The sign-in page and the home page (one per role, in ``static/home/``)."""

from __future__ import annotations

from aiohttp import web

from web.accounts.api import login_cookie
from web.http.auth import signed_in
from web.http.static import page

routes = web.RouteTableDef()


@routes.get("/login")
async def login_page(request: web.Request) -> web.FileResponse:
    """The sign-in form (Vietnamese first); it sets the form's anti-forgery cookie."""
    response = page("login/login.html")
    login_cookie(request, response)
    return response


@routes.get("/")
async def home(request: web.Request) -> web.FileResponse:
    """Signed in: the home of the person's roles. Otherwise the public entrance."""
    if signed_in(request) is None:
        return page("index.html")
    return page("home/home.html")
