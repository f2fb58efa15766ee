"""Where the browser pages live, and how a page that carries a token is served."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
"""``shared/`` (client modules and styles every page uses) and one folder per page."""

# A page's token travels in its address (?token=...): never leak it in a Referer
# header, and never keep the page in a shared cache.
PAGE_HEADERS = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


def page(relative: str) -> web.FileResponse:
    """The page at ``static/<relative>``, served with :data:`PAGE_HEADERS`."""
    return web.FileResponse(STATIC_DIR / relative, headers=PAGE_HEADERS)
