"""The browser pages that take a token in their address: reception room, operator console."""

from __future__ import annotations

from aiohttp import web

from web.http.static import page

routes = web.RouteTableDef()


@routes.get("/room")
async def room_page(request: web.Request) -> web.FileResponse:
    """The reception room; the page reads ``?token=`` itself and connects to /bridge."""
    return page("room/room.html")


@routes.get("/console")
async def console_page(request: web.Request) -> web.FileResponse:
    """The operator console; the page reads ``?token=`` (an operator's) and connects."""
    return page("console/console.html")
