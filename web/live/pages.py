"""The browser pages that take a token in their address: reception room, operator console."""

from __future__ import annotations

from aiohttp import web

from core.access import Role
from web.http.minting import page_token
from web.http.static import page

routes = web.RouteTableDef()


@routes.get("/room")
async def room_page(request: web.Request) -> web.FileResponse:
    """The reception room; the page reads ``?token=`` itself and connects to /bridge.

    Signed in (a room account, or an operator checking a room), ``?session=`` is enough.
    """
    await page_token(request, (Role.ROOM,))
    return page("room/room.html")


@routes.get("/console")
async def console_page(request: web.Request) -> web.FileResponse:
    """The operator console; the page reads ``?token=`` (an operator's) and connects."""
    await page_token(request, (Role.OPERATOR,))
    return page("console/console.html")
