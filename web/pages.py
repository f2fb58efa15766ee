"""The browser pages that take a token in their address: reception room, operator console."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC_DIR = Path(__file__).parent / "static"

# The token travels in the page's address (?token=...): never leak it in a Referer
# header, and never keep the page in a shared cache.
_PAGE_HEADERS = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}

routes = web.RouteTableDef()


@routes.get("/room")
async def room_page(request: web.Request) -> web.FileResponse:
    """The reception room; the page reads ``?token=`` itself and connects to /bridge."""
    return web.FileResponse(STATIC_DIR / "room.html", headers=_PAGE_HEADERS)


@routes.get("/console")
async def console_page(request: web.Request) -> web.FileResponse:
    """The operator console; the page reads ``?token=`` (an operator's) and connects."""
    return web.FileResponse(STATIC_DIR / "console.html", headers=_PAGE_HEADERS)
