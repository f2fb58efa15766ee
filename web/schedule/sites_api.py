"""REST routes for the site tree and the working-day calendar."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from core.access import Role
from sessions.calendar import VN_TZ
from sessions.errors import ScheduleError
from sessions.models import SiteLevel
from sessions.requests import SiteInput
from sessions.sitetree import Scope, TreeSyntaxError, decode_tree
from web.http.auth import require
from web.http.errors import bad, http_error, refused
from web.http.parse import (
    boolean,
    choice,
    day,
    days_after,
    enum_value,
    json_body,
    optional_day,
    optional_text,
    text,
)
from web.keys import SETTINGS, STORE
from web.schedule.http import refusals, run

logger = logging.getLogger(__name__)

routes = web.RouteTableDef()


def site_input(body: dict[str, Any], site_id: str | None = None) -> SiteInput:
    level = choice(body, "level", SiteLevel)
    rooms = body.get("rooms", [])
    if not isinstance(rooms, list) or not all(isinstance(r, str) for r in rooms):
        raise bad("bad_field", "rooms must be a list of names")
    with refusals():
        return SiteInput(
            id=site_id or text(body, "id"),
            name=text(body, "name"),
            level=level,
            parent_id=optional_text(body, "parent"),
            name_en=text(body, "name_en", required=False),
            valid_from=optional_day(body.get("valid_from"), "valid_from"),
            valid_to=optional_day(body.get("valid_to"), "valid_to"),
            merged_into_id=optional_text(body, "merged_into"),
            address=text(body, "address", required=False),
            rooms=tuple(rooms),
        )


@routes.get("/api/sites")
async def list_sites(request: web.Request) -> web.Response:
    """Every site, or those existing on ``on`` (YYYY-MM-DD), optionally of one level."""
    on = optional_day(request.query.get("on"), "on")
    level = None
    if "level" in request.query:
        level = enum_value(request.query["level"], "level", SiteLevel)
    sites = await run(request.app[STORE].list_sites, on=on, level=level)
    return web.json_response({"sites": [s.as_dict() for s in sites]})


@routes.get("/api/sites/{site_id}")
async def get_site(request: web.Request) -> web.Response:
    site_id = request.match_info["site_id"]
    site = await run(request.app[STORE].get_site, site_id)
    if site is None:
        raise http_error(404, "unknown_site", f"site {site_id} does not exist")
    return web.json_response(site.as_dict())


async def tree_scope(request: web.Request) -> Scope:
    """Who may change the site tree, and where: a scheduler or an administrator, each
    within the province of their site (a central one everywhere). Unlike the schedule's
    routes, a provincial administrator is limited too, as ``POST /api/sites/tree`` is."""
    claims = require(request, (Role.ADMINISTRATOR, Role.SCHEDULER))
    return await run(request.app[STORE].scope_for, claims.site)


@routes.post("/api/sites")
async def create_sites(request: web.Request) -> web.Response:
    """One site (an object) or several (``{"sites": [...]}``), in one transaction."""
    scope = await tree_scope(request)
    body = await json_body(request)
    entries = body.get("sites", [body]) if "sites" in body else [body]
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise bad("bad_field", "sites must be a list of objects")
    inputs = [site_input(e) for e in entries]
    views = await run(request.app[STORE].put_sites, inputs, scope)
    return web.json_response({"sites": [v.as_dict() for v in views]}, status=201)


TOML_TYPES = frozenset({"text/plain", "application/toml"})


@routes.post("/api/sites/tree")
async def load_tree(request: web.Request) -> web.Response:
    """A TOML site tree (the format of ``config/sites.toml``, read by the same code as
    ``reception-bridge load-sites``), applied all or nothing. Administrators only: a
    central one for every site, a provincial one within its province's subtree."""
    claims = require(request, (Role.ADMINISTRATOR,))
    if request.content_type not in TOML_TYPES:
        raise http_error(
            415,
            "unsupported_media_type",
            f"send the TOML document as text/plain or application/toml, not {request.content_type}",
        )
    try:
        data = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise http_error(
            413,
            "body_too_large",
            f"the site tree is larger than {request.app[SETTINGS].max_message_bytes} bytes",
        ) from None
    scope = await run(request.app[STORE].scope_for, claims.site)
    try:
        document = decode_tree(data, "the site tree")
        views = await asyncio.to_thread(
            request.app[STORE].load_tree_text, document, scope, "the site tree"
        )
    except TreeSyntaxError as exc:
        raise http_error(400, exc.code, exc.message, line=exc.line, column=exc.column) from None
    except ScheduleError as exc:
        raise refused(exc) from None
    logger.info("site tree loaded by %s (%s): %d sites", claims.subject, claims.site, len(views))
    return web.json_response({"loaded": len(views), "sites": [v.id for v in views]})


@routes.put("/api/sites/{site_id}")
async def replace_site(request: web.Request) -> web.Response:
    scope = await tree_scope(request)
    body = await json_body(request)
    item = site_input(body, request.match_info["site_id"])
    views = await run(request.app[STORE].put_sites, [item], scope)
    return web.json_response(views[0].as_dict())


@routes.post("/api/sites/{site_id}/rooms")
async def add_room(request: web.Request) -> web.Response:
    scope = await tree_scope(request)
    body = await json_body(request)
    room = await run(
        request.app[STORE].add_room, request.match_info["site_id"], text(body, "name"), scope
    )
    return web.json_response(room.as_dict(), status=201)


@routes.get("/api/calendar/days")
async def calendar_days(request: web.Request) -> web.Response:
    """Working days and days off (with the reason) from ``from`` to ``to``."""
    start = day(request.query.get("from"), "from")
    end = optional_day(request.query.get("to"), "to") or days_after(start, 30)
    days = await run(request.app[STORE].days, start, end)
    return web.json_response(
        {
            "time_zone": str(VN_TZ),
            "days": [
                {"date": d.day.isoformat(), "working": d.working, "reason": d.reason} for d in days
            ],
        }
    )


@routes.get("/api/calendar/overrides")
async def list_overrides(request: web.Request) -> web.Response:
    overrides = await run(request.app[STORE].list_overrides)
    return web.json_response(
        {
            "overrides": [
                {"date": d.isoformat(), "working": o.working, "note": o.note}
                for d, o in sorted(overrides.items())
            ]
        }
    )


@routes.put("/api/calendar/overrides/{day}")
async def put_override(request: web.Request) -> web.Response:
    """Declare a weekday off or a weekend day worked (administrators only)."""
    require(request, (Role.ADMINISTRATOR,))
    when = day(request.match_info["day"], "day")
    body = await json_body(request)
    if "working" not in body:
        raise bad("missing_field", "working is required (true: worked, false: day off)")
    working = boolean(body, "working")
    note = text(body, "note", required=False)
    await run(request.app[STORE].set_override, when, working, note)
    logger.info("calendar override %s: working=%s (%s)", when, working, note)
    return web.json_response({"date": when.isoformat(), "working": working, "note": note})


@routes.delete("/api/calendar/overrides/{day}")
async def delete_override(request: web.Request) -> web.Response:
    require(request, (Role.ADMINISTRATOR,))
    when = day(request.match_info["day"], "day")
    await run(request.app[STORE].delete_override, when)
    return web.json_response({"deleted": when.isoformat()})
